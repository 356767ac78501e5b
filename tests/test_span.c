/* test_span.c — the page heap (heap_alloc_span / heap_free_span, the page
 * map of in-use and free spans, coalescing, byte accounting) and span
 * reuse through the public API. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "heap.h"
#include "sizeclass.h"

/* Every page of s (first and last byte) maps to s. */
static void expect_mapped(const tc_span *s)
{
    for (size_t i = 0; i < s->npages; i++) {
        uintptr_t page = s->base + i * TC_PAGE_SIZE;
        if (heap_span_of(page) != s || heap_span_of(page + TC_PAGE_SIZE - 1) != s)
            fail_msg("page %zu of the %zu-page span at %#lx does not map to it", i, s->npages,
                     (unsigned long)s->base);
    }
}

static void expect_unmapped(uintptr_t base, size_t npages)
{
    for (size_t i = 0; i < npages; i++)
        if (heap_span_of(base + i * TC_PAGE_SIZE) != NULL)
            fail_msg("page %zu of the freed range at %#lx still maps to a span", i,
                     (unsigned long)base);
}

/* The page-table entry of page p (no state filtering, unlike heap_span_of). */
static tc_span *page_entry(uintptr_t p)
{
    tc_arena *a = at_load_ptr(&heap_arena_map[p >> TC_ARENA_SHIFT]);
    assert_non_null(a);
    return at_load_ptr(&a->pages[(p - a->base) >> TC_PAGE_SHIFT]);
}

/* heap.h's page-map invariant over the arena holding p: a page maps to an
 * in-use span that contains it, to a free span of which it is the first
 * or last page, or to nothing.  Returns the number of free spans seen. */
static size_t check_page_map(uintptr_t p)
{
    tc_arena *a = at_load_ptr(&heap_arena_map[p >> TC_ARENA_SHIFT]);
    assert_non_null(a);
    size_t nfree = 0;
    for (size_t i = 0; i < a->npages; i++) {
        uintptr_t page = a->base + i * TC_PAGE_SIZE;
        tc_span *s = at_load_ptr(&a->pages[i]);
        if (!s)
            continue;
        uintptr_t st = at_load(&s->state);
        uintptr_t last = s->base + (s->npages - 1) * TC_PAGE_SIZE;
        if (st == SPAN_FREE) {
            if (page != s->base && page != last)
                fail_msg("page %zu maps to the free span [%#lx, +%zu pages) but is neither its "
                         "first nor its last page", i, (unsigned long)s->base, s->npages);
            nfree += page == s->base;
        } else if (st == SPAN_SMALL || st == SPAN_LARGE) {
            if (page < s->base || page > last)
                fail_msg("page %zu maps to the in-use span [%#lx, +%zu pages) that does not "
                         "contain it", i, (unsigned long)s->base, s->npages);
        } else {
            fail_msg("page %zu maps to a span in state %lu (released?)", i, (unsigned long)st);
        }
    }
    return nfree;
}

/* ------------------------------------------------- the page heap itself */

static void spans_disjoint_aligned_mapped(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 5, 8, 13, 64, 127, 128, 200, 1, 1};
    enum { N = sizeof sizes / sizeof sizes[0] };
    tc_span *sp[N];
    assert_int_equal(heap_inuse_bytes(), 0); /* nothing allocated yet */
    assert_int_equal(heap_mapped_bytes(), 0);
    uint64_t inuse = 0;
    for (size_t i = 0; i < N; i++) {
        int st = i % 2 ? SPAN_LARGE : SPAN_SMALL;
        sp[i] = heap_alloc_span(sizes[i], st);
        assert_non_null(sp[i]);
        assert_int_equal(sp[i]->npages, sizes[i]);
        assert_int_equal(at_load(&sp[i]->state), st);
        assert_int_equal(sp[i]->base % TC_PAGE_SIZE, 0);
        inuse += sizes[i] * TC_PAGE_SIZE;
        assert_int_equal(heap_inuse_bytes(), inuse);
        expect_mapped(sp[i]);
        assert_int_equal(check_page_map(sp[i]->base), 1); /* the arena's rest */
    }
    uintptr_t arena = sp[0]->base & ~(uintptr_t)(TC_ARENA_SIZE - 1);
    assert_int_equal(heap_mapped_bytes(), TC_ARENA_SIZE);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++) {
            uintptr_t a0 = sp[i]->base, a1 = a0 + sp[i]->npages * TC_PAGE_SIZE;
            uintptr_t b0 = sp[j]->base, b1 = b0 + sp[j]->npages * TC_PAGE_SIZE;
            if (a0 < b1 && b0 < a1)
                fail_msg("spans %zu [%#lx,%#lx) and %zu [%#lx,%#lx) overlap", i,
                         (unsigned long)a0, (unsigned long)a1, j, (unsigned long)b0,
                         (unsigned long)b1);
        }
    /* The memory is usable (mapped read-write). */
    memset((void *)sp[6]->base, 0x77, sp[6]->npages * TC_PAGE_SIZE);
    /* Free in a scrambled order; the accounting goes down exactly. */
    static const size_t order[] = {3, 0, 11, 7, 5, 1, 9, 2, 10, 4, 8, 6};
    for (size_t k = 0; k < N; k++) {
        tc_span *s = sp[order[k]];
        uintptr_t base = s->base;
        size_t np = s->npages;
        heap_free_span(s);
        inuse -= np * TC_PAGE_SIZE;
        assert_int_equal(heap_inuse_bytes(), inuse);
        expect_unmapped(base, np);
        for (size_t m = k + 1; m < N; m++)
            expect_mapped(sp[order[m]]);
        check_page_map(base);
    }
    /* All coalesced back into one free span covering the arena. */
    assert_int_equal(check_page_map(arena), 1);
    assert_int_equal(heap_inuse_bytes(), 0);
    assert_int_equal(heap_mapped_bytes(), TC_ARENA_SIZE); /* never unmapped */
}

/* A fresh heap cuts spans from the front of the arena, in order. */
static void fresh_heap_is_contiguous(void **state)
{
    (void)state;
    tc_span *a = heap_alloc_span(4, SPAN_SMALL);
    tc_span *b = heap_alloc_span(4, SPAN_SMALL);
    tc_span *c = heap_alloc_span(1, SPAN_SMALL);
    assert_int_equal(a->base % TC_ARENA_SIZE, 0);
    assert_int_equal(b->base, a->base + 4 * TC_PAGE_SIZE);
    assert_int_equal(c->base, b->base + 4 * TC_PAGE_SIZE);
    heap_free_span(a);
    heap_free_span(b);
    heap_free_span(c);
}

/* Freeing two neighbours (either order) coalesces them: a span of their
 * combined size is then cut at the same base, where the free lists would
 * otherwise offer two 4-page spans and the rest of the arena elsewhere. */
static void coalesce_pair(int free_low_first)
{
    tc_span *a = heap_alloc_span(4, SPAN_SMALL);
    tc_span *b = heap_alloc_span(4, SPAN_LARGE);
    tc_span *guard = heap_alloc_span(1, SPAN_SMALL); /* keeps b off the arena's rest */
    uintptr_t base = a->base;
    assert_int_equal(b->base, base + 4 * TC_PAGE_SIZE);
    assert_int_equal(guard->base, base + 8 * TC_PAGE_SIZE);
    uint64_t inuse = heap_inuse_bytes();
    assert_int_equal(inuse, 9 * TC_PAGE_SIZE);
    if (free_low_first) {
        heap_free_span(a);
        heap_free_span(b);
    } else {
        heap_free_span(b);
        heap_free_span(a);
    }
    assert_int_equal(heap_inuse_bytes(), 1 * TC_PAGE_SIZE);
    expect_unmapped(base, 8);
    expect_mapped(guard);
    /* One free span of 8 pages: first and last page map to it, the six
     * between to nothing. */
    tc_span *f = page_entry(base);
    assert_non_null(f);
    assert_ptr_equal(page_entry(base + 7 * TC_PAGE_SIZE), f);
    assert_int_equal(at_load(&f->state), SPAN_FREE);
    assert_int_equal(f->base, base);
    assert_int_equal(f->npages, 8);
    for (int i = 1; i < 7; i++)
        assert_null(page_entry(base + (uintptr_t)i * TC_PAGE_SIZE));
    assert_int_equal(check_page_map(base), 2); /* this one and the arena's rest */
    tc_span *big = heap_alloc_span(8, SPAN_LARGE);
    assert_non_null(big);
    assert_int_equal(big->base, base);
    assert_int_equal(big->npages, 8);
    assert_int_equal(heap_inuse_bytes(), 9 * TC_PAGE_SIZE);
    expect_mapped(big);
    expect_mapped(guard);
    heap_free_span(big);
    heap_free_span(guard);
    assert_int_equal(heap_inuse_bytes(), 0);
}

static void coalesce_low_then_high(void **state)
{
    (void)state;
    coalesce_pair(1);
}

static void coalesce_high_then_low(void **state)
{
    (void)state;
    coalesce_pair(0);
}

/* Freeing the middle of three free-to-be spans merges both sides. */
static void coalesce_both_sides(void **state)
{
    (void)state;
    tc_span *x[3];
    for (int i = 0; i < 3; i++)
        x[i] = heap_alloc_span(2, SPAN_SMALL);
    tc_span *guard = heap_alloc_span(1, SPAN_SMALL);
    uintptr_t base = x[0]->base;
    assert_int_equal(x[2]->base, base + 4 * TC_PAGE_SIZE);
    heap_free_span(x[0]);
    heap_free_span(x[2]);
    heap_free_span(x[1]);
    expect_unmapped(base, 6);
    assert_int_equal(heap_inuse_bytes(), TC_PAGE_SIZE);
    assert_int_equal(check_page_map(base), 2);
    tc_span *f = page_entry(base);
    assert_non_null(f);
    assert_int_equal(f->npages, 6);
    assert_ptr_equal(page_entry(base + 5 * TC_PAGE_SIZE), f);
    /* Best fit: the 6-page hole serves a 6-page request... */
    tc_span *six = heap_alloc_span(6, SPAN_SMALL);
    assert_int_equal(six->base, base);
    heap_free_span(six);
    /* ...and, cut up, a 3- and a 3-page one in order. */
    tc_span *t1 = heap_alloc_span(3, SPAN_SMALL);
    tc_span *t2 = heap_alloc_span(3, SPAN_SMALL);
    assert_int_equal(t1->base, base);
    assert_int_equal(t2->base, base + 3 * TC_PAGE_SIZE);
    expect_mapped(t1);
    expect_mapped(t2);
    expect_mapped(guard);
    assert_int_equal(heap_inuse_bytes(), 7 * TC_PAGE_SIZE);
    heap_free_span(t1);
    heap_free_span(t2);
    heap_free_span(guard);
    assert_int_equal(heap_inuse_bytes(), 0);
}

/* Freeing everything gives back one free span: the whole arena can be
 * allocated again at its base without mapping more. */
static void whole_arena_coalesces(void **state)
{
    (void)state;
    enum { N = 50 };
    tc_span *sp[N];
    for (int i = 0; i < N; i++)
        sp[i] = heap_alloc_span((size_t)(i % 7) + 1, SPAN_SMALL);
    uintptr_t base = sp[0]->base;
    for (int i = 0; i < N; i += 2)
        heap_free_span(sp[i]);
    for (int i = 1; i < N; i += 2)
        heap_free_span(sp[i]);
    assert_int_equal(heap_inuse_bytes(), 0);
    assert_int_equal(check_page_map(base), 1);
    assert_int_equal(page_entry(base)->npages, TC_ARENA_SIZE / TC_PAGE_SIZE);
    size_t all = TC_ARENA_SIZE / TC_PAGE_SIZE;
    tc_span *whole = heap_alloc_span(all, SPAN_LARGE);
    assert_non_null(whole);
    assert_int_equal(whole->base, base);
    assert_int_equal(whole->npages, all);
    assert_int_equal(heap_mapped_bytes(), TC_ARENA_SIZE);
    assert_int_equal(heap_inuse_bytes(), TC_ARENA_SIZE);
    expect_mapped(whole);
    heap_free_span(whole);
    assert_int_equal(heap_inuse_bytes(), 0);
}

/* A request bigger than one arena maps a bigger arena. */
static void span_bigger_than_arena(void **state)
{
    (void)state;
    size_t np = TC_ARENA_SIZE / TC_PAGE_SIZE + 1;
    tc_span *s = heap_alloc_span(np, SPAN_LARGE);
    assert_non_null(s);
    assert_int_equal(s->npages, np);
    assert_int_equal(s->base % TC_ARENA_SIZE, 0);
    assert_int_equal(heap_mapped_bytes(), 2 * TC_ARENA_SIZE);
    assert_int_equal(heap_inuse_bytes(), np * TC_PAGE_SIZE);
    expect_mapped(s);
    /* The second 64 MiB of the arena maps too. */
    assert_ptr_equal(heap_span_of(s->base + TC_ARENA_SIZE), s);
    uintptr_t base = s->base;
    heap_free_span(s);
    assert_int_equal(heap_inuse_bytes(), 0);
    expect_unmapped(base, np);
}

/* ------------------------------------------------- through the public API */

/* Empty spans go back to the page heap and can serve another size class:
 * with no automatic cycles, 40 MiB of dead objects of one class, a
 * collection, then 40 MiB of another class fit in the one arena. */
static void empty_spans_serve_other_classes(void **state)
{
    (void)state;
    tc_set_gc_percent(-1); /* only tc_collect runs cycles */
    const size_t total = (size_t)40 << 20;
    tc_stats st;
    for (size_t done = 0; done < total; done += 1024) {
        void *p = tc_alloc(&tu_leaf_type, 1000); /* slot 1024 */
        assert_non_null(p);
        memset(p, 0xee, 1000);
    }
    tc_read_stats(&st);
    assert_int_equal(st.cycles, 0);
    assert_int_equal(st.heap_mapped, TC_ARENA_SIZE);
    assert_true(st.heap_inuse >= total);
    tc_collect();
    tc_read_stats(&st);
    assert_int_equal(st.cycles, 1);
    assert_int_equal(st.heap_inuse, 0); /* every span was empty */
    assert_int_equal(heap_inuse_bytes(), 0);
    static const unsigned char zero[3064];
    for (size_t done = 0; done < total; done += 3072) {
        void *p = tc_alloc(&tu_pair_type, 3000); /* slot 3072 */
        assert_non_null(p);
        assert_int_equal(tc_size(p), sizeof zero);
        if (memcmp(p, zero, sizeof zero) != 0)
            fail_msg("object %p on reused pages is not zeroed", p);
    }
    tc_read_stats(&st);
    assert_int_equal(st.cycles, 1);
    assert_int_equal(st.heap_mapped, TC_ARENA_SIZE);
    assert_int_equal(heap_mapped_bytes(), TC_ARENA_SIZE);
    assert_true(st.heap_inuse >= total);
}

/* Same idea with large objects turning into small spans. */
static void freed_large_span_serves_small(void **state)
{
    (void)state;
    tc_set_gc_percent(-1);
    char *big = tc_alloc(&tu_leaf_type, (size_t)60 << 20);
    assert_non_null(big);
    uintptr_t big_base = heap_span_of((uintptr_t)big)->base;
    memset(big, 0xcc, tc_size(big));
    tc_stats st;
    tc_read_stats(&st);
    assert_int_equal(st.heap_mapped, TC_ARENA_SIZE);
    big = NULL;
    tc_collect();
    tc_read_stats(&st);
    assert_int_equal(st.heap_inuse, 0);
    void *first = tc_alloc(&tu_leaf_type, 24);
    assert_int_equal(heap_span_of((uintptr_t)first)->base, big_base);
    assert_int_equal(*(const uint64_t *)first, 0);
    assert_int_equal(*(const uint64_t *)((char *)first + 16), 0);
    static const unsigned char zero[504];
    for (size_t done = 0; done < ((size_t)50 << 20); done += 512) {
        void *p = tc_alloc(&tu_leaf_type, 500);
        assert_non_null(p);
        if (memcmp(p, zero, sizeof zero) != 0)
            fail_msg("object %p on the dead large object's pages is not zeroed", p);
    }
    tc_read_stats(&st);
    assert_int_equal(st.heap_mapped, TC_ARENA_SIZE);
}

static void *survivors[85];

/* After a collection frees some slots of a span, new objects of the class
 * reuse exactly those slots, lowest first, zeroed. */
static void freed_slots_reused_and_zeroed(void **state)
{
    (void)state;
    const size_t payload = 40; /* slot 48: one page, 170 slots */
    unsigned c = sc_class_of(payload + TC_HEADER_SIZE);
    assert_int_equal(sc_table[c].nelems, 170);
    assert_int_equal(sc_table[c].npages, 1);
    enum { N = 170 };
    static unsigned char *obj[N];
    for (int i = 0; i < N; i++) {
        obj[i] = tc_alloc(&tu_leaf_type, payload);
        memset(obj[i], 0xa0 + (i & 15), payload);
    }
    tc_span *s = heap_span_of((uintptr_t)obj[0]);
    for (int i = 0; i < N; i++) {
        assert_ptr_equal(heap_span_of((uintptr_t)obj[i]), s);
        assert_int_equal(span_slot_index(s, (uintptr_t)obj[i]), i);
    }
    for (int i = 0; i < N / 2; i++)
        survivors[i] = obj[2 * i];
    assert_int_equal(tc_root_add(survivors, N / 2), TC_OK);
    tc_collect();
    assert_ptr_equal(heap_span_of((uintptr_t)obj[0]), s); /* span kept */
    for (int i = 0; i < N; i++) {
        uintptr_t header = *(const uintptr_t *)((uintptr_t)obj[i] - TC_HEADER_SIZE);
        if (i % 2 == 0) {
            assert_int_equal(header, (uintptr_t)&tu_leaf_type);
            for (size_t k = 0; k < payload; k++)
                assert_int_equal(obj[i][k], 0xa0 + (i & 15));
        } else {
            assert_int_equal(header, 0); /* freed slot: header 0 */
        }
    }
    /* 85 new objects land in the 85 freed slots, in address order. */
    for (int i = 1; i < N; i += 2) {
        unsigned char *p = tc_alloc(&tu_leaf_type, payload);
        if (p != obj[i])
            fail_msg("new object %d at %p, expected the freed slot %p", i / 2, (void *)p,
                     (void *)obj[i]);
        for (size_t k = 0; k < tc_size(p); k++)
            if (p[k] != 0)
                fail_msg("reused slot %p: byte %zu is %#x, not zero", (void *)p, k, p[k]);
        assert_ptr_equal(tc_type_of(p), &tu_leaf_type);
    }
    /* The span is full again: the next one comes from elsewhere. */
    void *next = tc_alloc(&tu_leaf_type, payload);
    assert_ptr_not_equal(heap_span_of((uintptr_t)next), s);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(obj[i][payload - 1], 0xa0 + (i & 15)); /* survivors intact */
    assert_int_equal(tc_root_remove(survivors), TC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(spans_disjoint_aligned_mapped, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(fresh_heap_is_contiguous, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(coalesce_low_then_high, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(coalesce_high_then_low, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(coalesce_both_sides, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(whole_arena_coalesces, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(span_bigger_than_arena, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(empty_spans_serve_other_classes, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(freed_large_span_serves_small, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(freed_slots_reused_and_zeroed, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
