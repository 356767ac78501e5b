/* test_markbits.c — mark bits and the marking visitor, driven by hand:
 * mark_visitor_init / tc_visit / mark_drain / mark_is_marked, at_set_bits,
 * byte and object counts, grey chunks, the checkmark visitor.
 *
 * These tests set mark bits outside a cycle.  Marks are only cleared by
 * sweeping, so each test ends with tc_shutdown (the teardown) and never
 * runs a real cycle after marking by hand. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "atomics.h"
#include "heap.h"
#include "mark.h"

static long index_of(const void *p)
{
    tc_span *s = heap_span_of((uintptr_t)p);
    assert_non_null(s);
    long idx = span_slot_index(s, (uintptr_t)p);
    assert_true(idx >= 0);
    return idx;
}

static int check_bit(const void *p)
{
    tc_span *s = heap_span_of((uintptr_t)p);
    long idx = index_of(p);
    return (int)(at_load(&s->checkbits[idx / 64]) >> (idx & 63) & 1);
}

static void at_set_bits_semantics(void **state)
{
    (void)state;
    tc_aword w = 0;
    assert_int_equal(at_set_bits(&w, (uintptr_t)1 << 3), 1);
    assert_int_equal(w, 8);
    assert_int_equal(at_set_bits(&w, (uintptr_t)1 << 3), 0);
    assert_int_equal(w, 8);
    /* A mask partly set: this call sets the rest, so it "wins". */
    assert_int_equal(at_set_bits(&w, 0x18), 1);
    assert_int_equal(w, 0x18);
    assert_int_equal(at_set_bits(&w, 0x18), 0);
    assert_int_equal(at_set_bits(&w, 0x10), 0);
    assert_int_equal(at_set_bits(&w, (uintptr_t)1 << 63), 1);
    assert_int_equal(w, ((uintptr_t)1 << 63) | 0x18);
    assert_int_equal(at_set_bits(&w, (uintptr_t)1 << 63), 0);
}

/* The object graph:
 *   L      leaf (root)
 *   P      pair: car A, cdr B; its third usable word G
 *   T      traced: refs C, Q (n = 2); refs[2] = E is beyond n
 *   Q      pair: car D, cdr a tagged integer
 *   P2     pair: car F+16 (interior), cdr a malloc'd pointer
 *   U, E, F unreachable (E only beyond T's n, F only through an
 *          interior pointer)
 * Leaves are 24-byte payloads and pairs 16: both slot 32.  T is slot 64. */
static void visit_and_drain(void **state)
{
    (void)state;
    void *L = tc_alloc(&tu_leaf_type, 24);
    void *A = tc_alloc(&tu_leaf_type, 24);
    void *B = tc_alloc(&tu_leaf_type, 24);
    void *C = tc_alloc(&tu_leaf_type, 24);
    void *D = tc_alloc(&tu_leaf_type, 24);
    void *E = tc_alloc(&tu_leaf_type, 24);
    void *F = tc_alloc(&tu_leaf_type, 24);
    void *G = tc_alloc(&tu_leaf_type, 24);
    void *U = tc_alloc(&tu_leaf_type, 24);
    tu_pair *P = tc_alloc(&tu_pair_type, sizeof(tu_pair));
    tu_pair *Q = tc_alloc(&tu_pair_type, sizeof(tu_pair));
    tu_pair *P2 = tc_alloc(&tu_pair_type, sizeof(tu_pair));
    tu_traced *T = tc_alloc(&tu_traced_type, sizeof(tu_traced));
    void *m = malloc(64);
    TC_WRITE(P, car, A);
    TC_WRITE(P, cdr, B);
    assert_int_equal(tc_size(P), 24); /* slot 32: three words usable */
    tc_write(P, &((void **)P)[2], G);
    TC_WRITE(Q, car, D);
    Q->cdr = (void *)(uintptr_t)0x55; /* tagged integer, no barrier needed */
    TC_WRITE(P2, car, (char *)F + 16);
    TC_WRITE(P2, cdr, m);
    T->magic = 0x1234567890abcdefu;
    T->n = 2;
    tc_write(T, &T->refs[0], C);
    tc_write(T, &T->refs[1], Q);
    tc_write(T, &T->refs[2], E);

    void *all[] = {L, A, B, C, D, E, F, G, U, P, Q, P2, T};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        assert_false(mark_is_marked(all[i])); /* not allocated black */

    tc_visitor v;
    mark_visitor_init(&v, VISIT_MARK);
    assert_int_equal(v.mode, VISIT_MARK);
    assert_null(v.chunk);
    assert_int_equal(v.bytes, 0);
    assert_int_equal(v.objects, 0);
    assert_int_equal(v.roots, 0);
    assert_null(v.current);

    /* A leaf: marked, counted once, never pushed. */
    tc_visit(&v, L);
    assert_true(mark_is_marked(L));
    assert_int_equal(v.objects, 1);
    assert_int_equal(v.bytes, 32);
    assert_int_equal(v.roots, 1);
    assert_null(v.chunk);
    tc_visit(&v, L);
    assert_int_equal(v.objects, 1);
    assert_int_equal(v.bytes, 32);
    assert_int_equal(v.roots, 2);
    assert_null(v.chunk);

    /* Words that are no object: ignored (but counted as root words). */
    int local;
    tc_visit(&v, NULL);
    tc_visit(&v, (void *)(uintptr_t)0x55);
    tc_visit(&v, (char *)L + 16);
    tc_visit(&v, &local);
    tc_visit(&v, m);
    assert_int_equal(v.roots, 7);
    assert_int_equal(v.objects, 1);
    assert_int_equal(v.bytes, 32);
    assert_null(v.chunk);
    assert_false(mark_is_marked((char *)L + 16)); /* interior: never "marked" */
    assert_false(mark_is_marked(&local));

    /* Scanned objects: marked and pushed grey, children still white. */
    tc_visit(&v, P);
    assert_true(mark_is_marked(P));
    assert_non_null(v.chunk);
    assert_int_equal(v.chunk->n, 1);
    assert_ptr_equal(v.chunk->items[0], P);
    assert_false(mark_is_marked(A));
    assert_false(mark_is_marked(B));
    tc_visit(&v, P); /* already grey: not pushed again */
    assert_int_equal(v.chunk->n, 1);
    void *roots2[] = {T, P2, T};
    tc_visit_slots(&v, roots2, 3);
    assert_int_equal(v.chunk->n, 3);
    assert_ptr_equal(v.chunk->items[1], T);
    assert_ptr_equal(v.chunk->items[2], P2);
    assert_int_equal(v.objects, 4);
    assert_int_equal(v.bytes, 32 + 32 + 64 + 32);
    assert_int_equal(v.roots, 7 + 2 + 3);

    mark_drain(&v);
    assert_null(v.current);
    assert_non_null(v.chunk);
    assert_int_equal(v.chunk->n, 0);
    assert_int_equal(v.roots, 12); /* scanning objects adds no roots */
    void *marked[] = {L, A, B, C, D, G, P, Q, P2, T};
    void *white[] = {E, F, U};
    for (size_t i = 0; i < sizeof marked / sizeof marked[0]; i++)
        if (!mark_is_marked(marked[i]))
            fail_msg("object %zu of the reachable set (%p) is not marked", i, marked[i]);
    for (size_t i = 0; i < sizeof white / sizeof white[0]; i++)
        if (mark_is_marked(white[i]))
            fail_msg("unreachable object %zu (%p) got marked", i, white[i]);
    assert_int_equal(v.objects, 10);
    assert_int_equal(v.bytes, 9 * 32 + 64);
    /* The drain did not modify the objects. */
    assert_ptr_equal(P->car, A);
    assert_int_equal(T->magic, 0x1234567890abcdefu);

    /* The mark bitmap of the slot-32 span holds exactly the marked slots. */
    tc_span *s = heap_span_of((uintptr_t)L);
    uint64_t expect = 0;
    for (size_t i = 0; i < sizeof marked / sizeof marked[0]; i++)
        if (heap_span_of((uintptr_t)marked[i]) == s)
            expect |= (uint64_t)1 << index_of(marked[i]);
    assert_int_equal(at_load(&s->markbits[0]), expect);
    for (unsigned w = 1; w < TC_BITWORDS; w++)
        assert_int_equal(at_load(&s->markbits[w]), 0);
    assert_ptr_not_equal(heap_span_of((uintptr_t)T), s);
    assert_int_equal(at_load(&heap_span_of((uintptr_t)T)->markbits[0]),
                     (uint64_t)1 << index_of(T));

    /* Visiting a marked object again after the drain changes nothing. */
    tc_visit(&v, Q);
    assert_int_equal(v.objects, 10);
    assert_int_equal(v.chunk->n, 0);

    /* Done: the chunk goes back and the counts move to the cycle's. */
    uint64_t bytes = 1, objects = 1;
    mark_take_counts(&bytes, &objects); /* drop what earlier tests left */
    mark_visitor_done(&v);
    assert_null(v.chunk);
    assert_int_equal(v.bytes, 0);
    assert_int_equal(v.objects, 0);
    mark_take_counts(&bytes, &objects);
    assert_int_equal(bytes, 9 * 32 + 64);
    assert_int_equal(objects, 10);

    /* The counts: add, take once, then zero. */
    mark_take_counts(&bytes, &objects);
    assert_int_equal(bytes, 0);
    assert_int_equal(objects, 0);
    mark_add_counts(100, 1);
    mark_add_counts(28, 2);
    mark_take_counts(&bytes, &objects);
    assert_int_equal(bytes, 128);
    assert_int_equal(objects, 3);
    mark_take_counts(&bytes, &objects);
    assert_int_equal(bytes, 0);
    assert_int_equal(objects, 0);

    /* The checkmark visitor sets its own bits, counts nothing, and does
     * not abort: everything it reaches is marked. */
    tc_visitor c;
    mark_visitor_init(&c, VISIT_CHECK);
    void *croots[] = {L, P, T, P2};
    tc_visit_slots(&c, croots, 4);
    mark_drain(&c);
    mark_visitor_done(&c);
    assert_int_equal(c.bytes, 0);
    assert_int_equal(c.objects, 0);
    for (size_t i = 0; i < sizeof marked / sizeof marked[0]; i++)
        assert_int_equal(check_bit(marked[i]), 1);
    for (size_t i = 0; i < sizeof white / sizeof white[0]; i++)
        assert_int_equal(check_bit(white[i]), 0);
    free(m);
}

/* Large objects: one mark bit (slot 0), the whole span's bytes counted,
 * every payload word of a SLOTS one scanned, the last one included. */
static void large_objects(void **state)
{
    (void)state;
    void **big = tc_alloc(&tu_pair_type, 100000);
    void *leafbig = tc_alloc(&tu_leaf_type, 40000);
    void *first = tc_alloc(&tu_leaf_type, 24);
    void *last = tc_alloc(&tu_leaf_type, 24);
    void *middle = tc_alloc(&tu_leaf_type, 24);
    size_t words = tc_size(big) / sizeof(void *);
    assert_int_equal(tc_size(big), 13 * TC_PAGE_SIZE - 16);
    tc_write(big, &big[0], first);
    tc_write(big, &big[words - 1], last);
    tc_write(big, &big[words / 2], leafbig);
    tc_write(big, &big[words / 2 + 1], (char *)middle + 32); /* interior */

    tc_visitor v;
    mark_visitor_init(&v, VISIT_MARK);
    tc_visit(&v, big);
    assert_true(mark_is_marked(big));
    assert_int_equal(v.objects, 1);
    assert_int_equal(v.bytes, 13 * TC_PAGE_SIZE);
    tc_span *s = heap_span_of((uintptr_t)big);
    assert_int_equal(at_load(&s->markbits[0]), 1);
    mark_drain(&v);
    assert_true(mark_is_marked(first));
    assert_true(mark_is_marked(last));
    assert_true(mark_is_marked(leafbig));
    assert_false(mark_is_marked(middle));
    assert_int_equal(v.objects, 4);
    assert_int_equal(v.bytes, 13 * TC_PAGE_SIZE + 5 * TC_PAGE_SIZE + 32 + 32);
    /* An interior address of a marked large object is not "marked". */
    assert_false(mark_is_marked((char *)big + TC_PAGE_SIZE));
    mark_visitor_done(&v);
}

/* More grey objects than one chunk holds: full chunks go to the global
 * list and the drain still reaches every one. */
static void many_grey_objects(void **state)
{
    (void)state;
    enum { N = 1200 };
    assert_true(N > 2 * GREY_CHUNK_ITEMS);
    void **arr = tc_alloc(&tu_pair_type, N * sizeof(void *));
    TC_ROOTS(arr);
    static tu_pair *pairs[N];
    static void *leaves[N];
    for (int i = 0; i < N; i++) {
        leaves[i] = tc_alloc(&tu_leaf_type, 8);       /* slot 16 */
        pairs[i] = tc_alloc(&tu_pair_type, sizeof(tu_pair)); /* slot 32 */
        TC_WRITE(pairs[i], car, leaves[i]);
        tc_write(arr, &arr[i], pairs[i]);
    }
    tc_stats st;
    tc_read_stats(&st);
    assert_int_equal(st.cycles, 0); /* no real cycle ran: bits are all ours */

    tc_visitor v;
    mark_visitor_init(&v, VISIT_MARK);
    tc_visit(&v, arr);
    assert_int_equal(v.chunk->n, 1);
    /* Scanning arr by hand pushes N pairs: more than two chunks. */
    mark_drain(&v);
    for (int i = 0; i < N; i++) {
        if (!mark_is_marked(pairs[i]) || !mark_is_marked(leaves[i]))
            fail_msg("element %d not marked (pair %d, leaf %d)", i, mark_is_marked(pairs[i]),
                     mark_is_marked(leaves[i]));
    }
    assert_int_equal(v.objects, 1 + 2 * N);
    assert_int_equal(v.bytes, tc_size(arr) + TC_HEADER_SIZE + N * 32 + N * 16);
    assert_int_equal(v.chunk->n, 0);
    mark_visitor_done(&v);

    /* A second visitor sees everything already marked: nothing to do. */
    tc_visitor w;
    mark_visitor_init(&w, VISIT_MARK);
    tc_visit(&w, arr);
    mark_drain(&w);
    assert_int_equal(w.objects, 0);
    assert_int_equal(w.bytes, 0);
    assert_null(w.chunk);
    mark_visitor_done(&w);
}

/* A long list is marked by a loop, not recursion. */
static void long_list(void **state)
{
    (void)state;
    enum { N = 50000 };
    tu_pair *head = NULL;
    TC_ROOTS(head);
    for (intptr_t i = 0; i < N; i++) {
        tu_pair *p = tc_alloc(&tu_pair_type, sizeof *p);
        p->car = (void *)(i * 2 + 1);
        TC_WRITE(p, cdr, head);
        head = p;
    }
    tc_stats st;
    tc_read_stats(&st);
    assert_int_equal(st.cycles, 0);
    tc_visitor v;
    mark_visitor_init(&v, VISIT_MARK);
    tc_visit(&v, head);
    mark_drain(&v);
    assert_int_equal(v.objects, N);
    assert_int_equal(v.bytes, (uint64_t)N * 32);
    mark_visitor_done(&v);
    long n = 0;
    for (tu_pair *p = head; p; p = p->cdr, n++)
        assert_true(mark_is_marked(p));
    assert_int_equal(n, N);
}

/* mark_set_allocated (black allocation) sets the bit; a later visit finds
 * it black and neither counts nor scans it. */
static void black_allocated_not_counted(void **state)
{
    (void)state;
    tu_pair *p = tc_alloc(&tu_pair_type, sizeof *p);
    void *child = tc_alloc(&tu_leaf_type, 24);
    TC_WRITE(p, car, child);
    tc_span *s = heap_span_of((uintptr_t)p);
    mark_set_allocated(s, (size_t)index_of(p));
    assert_true(mark_is_marked(p));
    assert_false(mark_is_marked(child));
    tc_visitor v;
    mark_visitor_init(&v, VISIT_MARK);
    tc_visit(&v, p);
    mark_drain(&v);
    assert_int_equal(v.objects, 0);
    assert_int_equal(v.bytes, 0);
    assert_false(mark_is_marked(child)); /* black objects are not scanned */
    mark_visitor_done(&v);
}

static void *kept[3];

/* A real cycle: the mark bits it sets are turned into allocation bits by
 * the sweep and cleared; the stats count exactly the marked objects. */
static void sweep_turns_marks_into_alloc_bits(void **state)
{
    (void)state;
    void *obj[6];
    for (int i = 0; i < 6; i++)
        obj[i] = tc_alloc(&tu_leaf_type, 24); /* slot 32, indices 0..5 */
    kept[0] = obj[0];
    kept[1] = obj[3];
    kept[2] = obj[5];
    assert_int_equal(tc_root_add(kept, 3), TC_OK);
    tc_span *s = heap_span_of((uintptr_t)obj[0]);
    assert_non_null(s);
    for (int i = 0; i < 6; i++)
        assert_int_equal(index_of(obj[i]), i);
    tc_collect();
    tc_stats st;
    tc_read_stats(&st);
    assert_int_equal(st.cycles, 1);
    assert_int_equal(st.objects_live, 3);
    assert_int_equal(st.heap_live, 3 * 32);
    assert_ptr_equal(heap_span_of((uintptr_t)obj[0]), s);
    for (unsigned w = 0; w < TC_BITWORDS; w++)
        assert_int_equal(at_load(&s->markbits[w]), 0);
    for (int i = 0; i < 6; i++)
        assert_false(mark_is_marked(obj[i]));
    /* 255 slots: words 0-2 all real, word 3 has 63, words 4-7 none; bits
     * for slots that do not exist read "in use". */
    assert_int_equal(s->nelems, 255);
    assert_int_equal(s->allocbits[0], (1u << 0) | (1u << 3) | (1u << 5));
    assert_int_equal(s->allocbits[1], 0);
    assert_int_equal(s->allocbits[2], 0);
    assert_int_equal(s->allocbits[3], (uint64_t)1 << 63);
    for (unsigned w = 4; w < TC_BITWORDS; w++)
        assert_int_equal(s->allocbits[w], ~(uint64_t)0);
    assert_int_equal(s->alloc_count, 3);
    assert_int_equal(tc_root_remove(kept), TC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(at_set_bits_semantics),
        cmocka_unit_test_setup_teardown(visit_and_drain, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(large_objects, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(many_grey_objects, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(long_list, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(black_allocated_not_counted, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(sweep_turns_marks_into_alloc_bits, tu_setup,
                                        tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
