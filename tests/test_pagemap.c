/* test_pagemap.c — the page map (heap_span_of), span_slot_index,
 * tc_is_heap_object, tc_size and tc_type_of on good and bad addresses,
 * with the collector running. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "heap.h"
#include "sizeclass.h"

/* ------------------------------------------------------------- helpers */

struct query {
    const void *p;
    size_t size;
    const tc_type *type;
};

static void call_tc_size(void *arg)
{
    struct query *q = arg;
    q->size = tc_size(q->p);
}

static void call_tc_type_of(void *arg)
{
    struct query *q = arg;
    q->type = tc_type_of(q->p);
}

/* p is not an object: tc_is_heap_object says 0, tc_size returns 0 and
 * tc_type_of NULL, each printing exactly one diagnostic line that names
 * the call and contains `why`. */
static void expect_bad_object(const void *p, const char *why)
{
    assert_int_equal(tc_is_heap_object(p), 0);

    struct query q = {.p = p, .size = 12345};
    char *out = tu_capture_stderr(call_tc_size, &q);
    assert_non_null(out);
    assert_int_equal(q.size, 0);
    assert_int_equal(tu_count_lines(out), 1);
    assert_non_null(strstr(out, "tc_size("));
    if (!strstr(out, why))
        fail_msg("tc_size(%p) said \"%s\", expected it to contain \"%s\"", p, out, why);
    free(out);

    q.type = &tu_pair_type;
    out = tu_capture_stderr(call_tc_type_of, &q);
    assert_non_null(out);
    assert_null(q.type);
    assert_int_equal(tu_count_lines(out), 1);
    assert_non_null(strstr(out, "tc_type_of("));
    if (!strstr(out, why))
        fail_msg("tc_type_of(%p) said \"%s\", expected it to contain \"%s\"", p, out, why);
    free(out);
}

/* A good object: no diagnostic, the right size and type. */
static void expect_good_object(const void *p, size_t size, const tc_type *type)
{
    assert_int_equal(tc_is_heap_object(p), 1);
    struct query q = {.p = p};
    char *out = tu_capture_stderr(call_tc_size, &q);
    assert_non_null(out);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(q.size, size);
    out = tu_capture_stderr(call_tc_type_of, &q);
    assert_non_null(out);
    assert_string_equal(out, "");
    free(out);
    assert_ptr_equal(q.type, type);
}

/* A span's state; 0 for NULL (keeps gcc from warning about a NULL
 * dereference on the failure path of assert_non_null). */
static uintptr_t state_of(const tc_span *s)
{
    return s ? at_load(&s->state) : 0;
}

#define NOT_HEAP "not the address of a GC heap object"
#define INTERIOR "(an interior pointer)"
#define HEADER "in the header word of the"
#define SPAN_HEAD "before the first object of its span"
#define FREE_HEAP "in free heap memory, where no object lives"
#define FREED "a freed object"

/* --------------------------------------------------------------- tests */

/* Small objects: found, the right span and index; payloads where the
 * layout says they are. */
static void small_objects_found(void **state)
{
    (void)state;
    enum { N = 10 };
    void *obj[N];
    for (int i = 0; i < N; i++)
        obj[i] = tc_alloc(&tu_leaf_type, 24); /* slot 32: class 2 */
    tc_span *s = heap_span_of((uintptr_t)obj[0]);
    assert_non_null(s);
    assert_int_equal(state_of(s), SPAN_SMALL);
    assert_int_equal(s->sizeclass, sc_class_of(24 + TC_HEADER_SIZE));
    assert_int_equal(s->sizeclass, 2);
    assert_int_equal(s->slot_size, 32);
    assert_int_equal(s->nelems, sc_table[2].nelems);
    assert_int_equal(s->npages, sc_table[2].npages);
    assert_int_equal(s->base % TC_PAGE_SIZE, 0);
    /* The very first span of a fresh heap starts its (64 MiB aligned) arena. */
    assert_int_equal(s->base % TC_ARENA_SIZE, 0);
    for (int i = 0; i < N; i++) {
        uintptr_t p = (uintptr_t)obj[i];
        assert_int_equal(p % 16, 0);
        assert_ptr_equal(heap_span_of(p), s);
        assert_int_equal(span_slot_index(s, p), i);
        assert_int_equal(p, s->base + 16 + (uintptr_t)i * 32);
        assert_int_equal(span_slot_addr(s, (size_t)i) + TC_HEADER_SIZE, p);
        /* The header word holds the type. */
        assert_ptr_equal(*(const tc_type *const *)(p - TC_HEADER_SIZE), &tu_leaf_type);
        expect_good_object(obj[i], 24, &tu_leaf_type);
    }
    /* Another class gets another span. */
    void *big = tc_alloc(&tu_pair_type, 200); /* slot 208 */
    tc_span *s2 = heap_span_of((uintptr_t)big);
    assert_non_null(s2);
    assert_ptr_not_equal(s2, s);
    assert_int_equal(s2->slot_size, 208);
    assert_int_equal(span_slot_index(s2, (uintptr_t)big), 0);
    expect_good_object(big, 200, &tu_pair_type);
}

/* Usable sizes: the class's slot minus the header; 32760 is the largest
 * small payload, 32761 the smallest large one. */
static void usable_sizes(void **state)
{
    (void)state;
    static const struct {
        size_t ask, usable;
        int large;
    } cases[] = {
        {1, 8, 0},       {8, 8, 0},         {9, 24, 0},     {24, 24, 0},
        {25, 40, 0},     {120, 120, 0},     {121, 136, 0},  {1000, 1016, 0},
        {1017, 1144, 0}, {32760, 32760, 0}, {32761, 5 * TC_PAGE_SIZE - 16, 1},
        {40944, 40944, 1}, {40945, 6 * TC_PAGE_SIZE - 16, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *p = tc_alloc(&tu_leaf_type, cases[i].ask);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        tc_span *s = heap_span_of((uintptr_t)p);
        assert_non_null(s);
        assert_int_equal(state_of(s), cases[i].large ? SPAN_LARGE : SPAN_SMALL);
        if (!cases[i].large)
            assert_int_equal(s->sizeclass, sc_class_of(cases[i].ask + TC_HEADER_SIZE));
        if (tc_size(p) != cases[i].usable)
            fail_msg("tc_alloc(%zu): tc_size %zu, expected %zu", cases[i].ask, tc_size(p),
                     cases[i].usable);
        long idx = span_slot_index(s, (uintptr_t)p);
        assert_true(idx >= 0);
        if (cases[i].large)
            assert_int_equal(idx, 0);
        assert_int_equal(span_slot_addr(s, (size_t)idx) + TC_HEADER_SIZE, (uintptr_t)p);
    }
}

/* Interior and header addresses map to the span but are no object. */
static void interior_and_header_addresses(void **state)
{
    (void)state;
    void *a = tc_alloc(&tu_pair_type, 40); /* slot 48 */
    void *b = tc_alloc(&tu_pair_type, 40);
    uintptr_t p = (uintptr_t)a;
    tc_span *s = heap_span_of(p);
    assert_non_null(s);
    assert_int_equal(s->slot_size, 48);
    assert_int_equal((uintptr_t)b, p + 48);
    uintptr_t bad[] = {p + 8, p + 16, p + 32, p + 40 /* b's header */, p - 8 /* a's header */,
                       p + 1, p + 24};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_ptr_equal(heap_span_of(bad[i]), s);
        assert_int_equal(span_slot_index(s, bad[i]), -1);
    }
    expect_bad_object((void *)(p + 16), "16 bytes into a pair object");
    expect_bad_object((void *)(p + 32), INTERIOR);
    /* Not 16-byte aligned: still described by what it points into. */
    expect_bad_object((void *)(p + 8), "8 bytes into a pair object");
    expect_bad_object((void *)(p + 1), INTERIOR);
    expect_bad_object((void *)(p + 40), HEADER " pair object");
    /* The span base itself (before slot 0's header), and that header:
     * no unsigned underflow in the offset. */
    assert_ptr_equal(heap_span_of(s->base), s);
    assert_int_equal(span_slot_index(s, s->base), -1);
    expect_bad_object((void *)s->base, SPAN_HEAD);
    expect_bad_object((void *)(p - 8), SPAN_HEAD);
    /* The slot after the last one allocated is inside the span but free. */
    uintptr_t free_slot = p + 2 * 48;
    assert_int_equal(span_slot_index(s, free_slot), 2);
    expect_bad_object((void *)free_slot, FREED);
    /* Past the last slot of the span, in the tail waste. */
    uintptr_t tail = span_slot_addr(s, s->nelems) + TC_HEADER_SIZE;
    if (tail < s->base + s->npages * TC_PAGE_SIZE) {
        assert_ptr_equal(heap_span_of(tail), s);
        assert_int_equal(span_slot_index(s, tail), -1);
    }
    expect_good_object(a, 40, &tu_pair_type);
    expect_good_object(b, 40, &tu_pair_type);
}

static void non_heap_addresses(void **state)
{
    (void)state;
    void *obj = tc_alloc(&tu_leaf_type, 8);
    assert_non_null(obj);
    int local = 0;
    void *stack_16 = (void *)(((uintptr_t)&local + 15) & ~(uintptr_t)15);
    void *m = malloc(64);
    assert_non_null(m);
    static _Alignas(16) char global_buf[32];
    const void *addrs[] = {
        &local, stack_16, m, global_buf, NULL,
        (void *)(uintptr_t)((42 << 1) | 1), /* odd tagged integer */
        (void *)(uintptr_t)16,
        (void *)((uintptr_t)1 << 48),          /* beyond the address space */
        (void *)~(uintptr_t)15,
    };
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        assert_null(heap_span_of((uintptr_t)addrs[i]));
        expect_bad_object(addrs[i], NOT_HEAP);
    }
    /* An odd word pointing into the heap is no object either. */
    expect_bad_object((char *)obj + 1, "1 byte into a leaf object");
    free(m);
}

/* Large objects: one span of their own; every page maps to it; only the
 * payload start is an object. */
static void large_object(void **state)
{
    (void)state;
    void *small = tc_alloc(&tu_leaf_type, 24);
    size_t want = 100000;
    char *big = tc_alloc(&tu_leaf_type, want);
    assert_non_null(big);
    uintptr_t p = (uintptr_t)big;
    tc_span *s = heap_span_of(p);
    assert_non_null(s);
    assert_ptr_not_equal(s, heap_span_of((uintptr_t)small));
    assert_int_equal(state_of(s), SPAN_LARGE);
    assert_int_equal(s->sizeclass, 0);
    size_t npages = (want + 16 + TC_PAGE_SIZE - 1) / TC_PAGE_SIZE; /* 13 */
    assert_int_equal(npages, 13);
    assert_int_equal(s->npages, npages);
    assert_int_equal(s->nelems, 1);
    assert_int_equal(p, s->base + 16);
    assert_int_equal(span_slot_index(s, p), 0);
    expect_good_object(big, npages * TC_PAGE_SIZE - 16, &tu_leaf_type);

    /* An address in the third page: same span, interior. */
    uintptr_t third = s->base + 2 * TC_PAGE_SIZE + 64;
    assert_ptr_equal(heap_span_of(third), s);
    assert_int_equal(span_slot_index(s, third), -1);
    expect_bad_object((void *)third, INTERIOR);
    /* Every page, first and last byte. */
    for (size_t i = 0; i < npages; i++) {
        assert_ptr_equal(heap_span_of(s->base + i * TC_PAGE_SIZE), s);
        assert_ptr_equal(heap_span_of(s->base + i * TC_PAGE_SIZE + TC_PAGE_SIZE - 1), s);
    }
    assert_int_equal(span_slot_index(s, p + TC_PAGE_SIZE), -1);
    assert_int_equal(span_slot_index(s, p + 16), -1);
    expect_bad_object((void *)(p + 16), INTERIOR);
    expect_bad_object((void *)(p + npages * TC_PAGE_SIZE - 32), INTERIOR);
    /* The page after the large span is not in use (fresh heap: free). */
    uintptr_t after = s->base + npages * TC_PAGE_SIZE;
    assert_null(heap_span_of(after));
    expect_bad_object((void *)(after + 16), FREE_HEAP);
    /* The object is writable over its whole usable size. */
    memset(big, 0x5a, tc_size(big));
    assert_int_equal((unsigned char)big[tc_size(big) - 1], 0x5a);
}

/* Arena edges: the first arena is 64 MiB at a 64 MiB boundary; the bytes
 * before and after it, and its unused free pages, are not heap. */
static void arena_edges(void **state)
{
    (void)state;
    void *obj = tc_alloc(&tu_leaf_type, 24);
    tc_span *s = heap_span_of((uintptr_t)obj);
    assert_non_null(s);
    assert_int_equal(heap_mapped_bytes(), TC_ARENA_SIZE); /* one arena */
    uintptr_t arena = s->base & ~(uintptr_t)(TC_ARENA_SIZE - 1);
    assert_int_equal(arena, s->base); /* the first span opens the arena */
    uintptr_t end = arena + TC_ARENA_SIZE;
    uintptr_t outside[] = {end, end + 16, end + TC_PAGE_SIZE, end + TC_ARENA_SIZE - 16,
                           arena - 16, arena - TC_PAGE_SIZE, arena - 1};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        assert_null(heap_span_of(outside[i]));
        if (outside[i] % 16 == 0)
            expect_bad_object((void *)outside[i], NOT_HEAP);
    }
    /* Inside the arena but in free pages: the last page (mapped to the
     * free span for coalescing), the middle (mapped to nothing). */
    uintptr_t last_page = end - TC_PAGE_SIZE;
    assert_null(heap_span_of(last_page));
    assert_null(heap_span_of(end - 16));
    assert_null(heap_span_of(arena + TC_ARENA_SIZE / 2));
    expect_bad_object((void *)(last_page + 16), FREE_HEAP);
    expect_bad_object((void *)(arena + TC_ARENA_SIZE / 2 + 16), FREE_HEAP);
    /* The first page after the small span is free. */
    uintptr_t next = s->base + s->npages * TC_PAGE_SIZE;
    assert_null(heap_span_of(next));
}

/* A freed slot (its span still in use): not an object any more. */
static void freed_object(void **state)
{
    (void)state;
    void *keep = tc_alloc(&tu_leaf_type, 24);
    void *gone = tc_alloc(&tu_leaf_type, 24);
    TC_ROOTS(keep);
    tc_span *s = heap_span_of((uintptr_t)gone);
    assert_ptr_equal(heap_span_of((uintptr_t)keep), s);
    expect_good_object(gone, 24, &tu_leaf_type);
    tc_collect();
    /* The span survives (keep is live), the slot of `gone` is free. */
    assert_ptr_equal(heap_span_of((uintptr_t)gone), s);
    assert_int_equal(span_slot_index(s, (uintptr_t)gone), 1);
    assert_int_equal(*(const uintptr_t *)((uintptr_t)gone - TC_HEADER_SIZE), 0);
    expect_bad_object(gone, FREED);
    expect_good_object(keep, 24, &tu_leaf_type);
}

/* A dead large object's span goes back to the page heap: its pages map to
 * nothing and its address is no object. */
static void freed_large_object(void **state)
{
    (void)state;
    void *keep = tc_alloc(&tu_leaf_type, 24);
    TC_ROOTS(keep);
    void *big = tc_alloc(&tu_leaf_type, 50000);
    uintptr_t base = heap_span_of((uintptr_t)big)->base;
    size_t npages = heap_span_of((uintptr_t)big)->npages;
    assert_int_equal(npages, 7);
    tc_collect();
    for (size_t i = 0; i < npages; i++)
        assert_null(heap_span_of(base + i * TC_PAGE_SIZE));
    expect_bad_object(big, FREE_HEAP);
    expect_good_object(keep, 24, &tu_leaf_type);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(small_objects_found, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(usable_sizes, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(interior_and_header_addresses, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(non_heap_addresses, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(large_object, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(arena_edges, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(freed_object, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(freed_large_object, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
