/* test_sizeclass.c — properties of the size-class table (sizeclass.h):
 * slot sizes, rounding waste, span tail waste, the lookup tables and the
 * multiply-shift division.  No collector needed: sc_init() alone. */
#include <stdint.h>
#include <string.h>

#include "test_util.h"

#include "heap.h"
#include "sizeclass.h"

static int setup_table(void **state)
{
    (void)state;
    sc_init();
    return 0;
}

/* The documented shape: 16..128 in steps of 16, then 8 classes per power
 * of two up to 32 KiB. */
static void table_shape(void **state)
{
    (void)state;
    assert_int_equal(sc_table[0].slot_size, 0); /* class 0 = large */
    for (unsigned c = 1; c <= 8; c++)
        assert_int_equal(sc_table[c].slot_size, 16 * c);
    assert_int_equal(sc_table[9].slot_size, 144);
    assert_int_equal(sc_table[16].slot_size, 256);
    assert_int_equal(sc_table[17].slot_size, 288);
    assert_int_equal(sc_table[TC_NUM_CLASSES - 1].slot_size, TC_MAX_SMALL_SLOT);
    assert_int_equal(TC_MAX_SMALL_SLOT, 32768);
}

static void sc_init_is_idempotent(void **state)
{
    (void)state;
    sc_info copy[TC_NUM_CLASSES];
    uint8_t l16[sizeof sc_lookup16], l128[sizeof sc_lookup128];
    memcpy(copy, sc_table, sizeof copy);
    memcpy(l16, sc_lookup16, sizeof l16);
    memcpy(l128, sc_lookup128, sizeof l128);
    sc_init();
    sc_init();
    assert_memory_equal(copy, sc_table, sizeof copy);
    assert_memory_equal(l16, sc_lookup16, sizeof l16);
    assert_memory_equal(l128, sc_lookup128, sizeof l128);
}

static void slot_sizes_aligned_and_increasing(void **state)
{
    (void)state;
    uint32_t prev = 0;
    for (unsigned c = 1; c < TC_NUM_CLASSES; c++) {
        uint32_t s = sc_table[c].slot_size;
        assert_int_equal(s % 16, 0);
        assert_true(s > prev);
        prev = s;
    }
}

/* Above 128 bytes, a request rounded up to its class wastes at most 1/8:
 * the step from the class below is <= slot_size / 8. */
static void rounding_waste_bounded(void **state)
{
    (void)state;
    for (unsigned c = 2; c < TC_NUM_CLASSES; c++) {
        uint32_t s = sc_table[c].slot_size, p = sc_table[c - 1].slot_size;
        if (s <= 128) {
            assert_int_equal(s - p, 16);
            continue;
        }
        assert_true((uint64_t)(s - p) * 8 <= s);
    }
}

/* Slots per span, as sizeclass.c's slots_in() defines them. */
static uint32_t slots_in(uint32_t npages, uint32_t slot)
{
    return (uint32_t)((npages * TC_PAGE_SIZE - TC_SPAN_SLOT0) / slot);
}

/* A span length is acceptable (pick_npages): at least one slot, tail waste
 * npages*8192 - nelems*slot_size <= 1/8 of the span, nelems <= max. */
static int span_len_ok(uint32_t npages, uint32_t slot)
{
    uint32_t n = slots_in(npages, slot);
    uint64_t waste = npages * TC_PAGE_SIZE - (uint64_t)n * slot;
    return n > 0 && waste * 8 <= npages * TC_PAGE_SIZE && n <= TC_SPAN_MAX_OBJECTS;
}

static void span_geometry(void **state)
{
    (void)state;
    for (unsigned c = 1; c < TC_NUM_CLASSES; c++) {
        const sc_info *ci = &sc_table[c];
        uint64_t span = (uint64_t)ci->npages * TC_PAGE_SIZE;
        assert_true(ci->npages >= 1 && ci->npages <= 16);
        /* nelems is every slot that fits after the 8-byte offset. */
        assert_int_equal(ci->nelems, slots_in(ci->npages, ci->slot_size));
        assert_true(ci->nelems >= 1);
        assert_true(ci->nelems <= TC_SPAN_MAX_OBJECTS);
        assert_true(TC_SPAN_SLOT0 + (uint64_t)ci->nelems * ci->slot_size <= span);
        /* Tail waste <= 1/8 of the span. */
        uint64_t waste = span - (uint64_t)ci->nelems * ci->slot_size;
        assert_true(waste * 8 <= span);
        assert_true(span_len_ok(ci->npages, ci->slot_size));
        /* The fewest pages that qualify. */
        for (uint32_t np = 1; np < ci->npages; np++)
            assert_false(span_len_ok(np, ci->slot_size));
    }
    /* Spot checks worked out by hand. */
    assert_int_equal(sc_table[1].npages, 1);
    assert_int_equal(sc_table[1].nelems, 511);  /* (8192-8)/16 */
    assert_int_equal(sc_table[3].nelems, 170);  /* (8192-8)/48 */
    unsigned c1024 = sc_class_of(1024);
    assert_int_equal(sc_table[c1024].slot_size, 1024);
    assert_int_equal(sc_table[c1024].npages, 1);
    assert_int_equal(sc_table[c1024].nelems, 7);
    const sc_info *top = &sc_table[TC_NUM_CLASSES - 1];
    assert_int_equal(top->npages, 9);
    assert_int_equal(top->nelems, 2);
}

/* Smallest class whose slot holds n bytes, by linear search. */
static unsigned class_by_search(size_t n)
{
    for (unsigned c = 1; c < TC_NUM_CLASSES; c++)
        if (sc_table[c].slot_size >= n)
            return c;
    return 0;
}

static void class_of_is_smallest_fit(void **state)
{
    (void)state;
    for (size_t n = 1; n <= TC_MAX_SMALL_SLOT; n++) {
        unsigned c = sc_class_of(n);
        if (c != class_by_search(n))
            fail_msg("sc_class_of(%zu) = %u, expected %u", n, c, class_by_search(n));
        assert_true(c >= 1 && c < TC_NUM_CLASSES);
        assert_true(sc_table[c].slot_size >= n);
        if (c > 1)
            assert_true(sc_table[c - 1].slot_size < n);
    }
    /* Exact boundaries. */
    assert_int_equal(sc_class_of(16), 1);
    assert_int_equal(sc_class_of(17), 2);
    assert_int_equal(sc_class_of(128), 8);
    assert_int_equal(sc_class_of(129), 9);
    assert_int_equal(sc_class_of(1024), sc_class_of(1009));
    assert_int_equal(sc_table[sc_class_of(1025)].slot_size, 1152);
    assert_int_equal(sc_class_of(TC_MAX_SMALL_SLOT), TC_NUM_CLASSES - 1);
    /* Above the largest class: 0, "large". */
    for (size_t n = TC_MAX_SMALL_SLOT + 1; n <= TC_MAX_SMALL_SLOT + 100000; n++)
        if (sc_class_of(n) != 0)
            fail_msg("sc_class_of(%zu) = %u, expected 0", n, sc_class_of(n));
    assert_int_equal(sc_class_of((size_t)1 << 40), 0);
    assert_int_equal(sc_class_of(SIZE_MAX), 0);
}

/* The divmul magic: (off * divmul) >> 32 == off / slot_size for every
 * offset inside a span of the class (exhaustive). */
static void divmul_exact_everywhere(void **state)
{
    (void)state;
    uint64_t checked = 0;
    for (unsigned c = 1; c < TC_NUM_CLASSES; c++) {
        const sc_info *ci = &sc_table[c];
        uint64_t span = (uint64_t)ci->npages * TC_PAGE_SIZE;
        uint64_t q = 0, r = 0; /* off / slot_size, off % slot_size */
        for (uint64_t off = 0; off < span; off++) {
            if ((off * ci->divmul) >> 32 != q)
                fail_msg("class %u (slot %u): (%llu * %u) >> 32 = %llu, expected %llu", c,
                         ci->slot_size, (unsigned long long)off, ci->divmul,
                         (unsigned long long)((off * ci->divmul) >> 32),
                         (unsigned long long)q);
            if (++r == ci->slot_size) {
                r = 0;
                q++;
            }
        }
        checked += span;
    }
    assert_true(checked > 1000000);
}

/* span_slot_index (heap.h) built on the same magic: exact payload starts
 * give their index, every other offset -1. */
static void slot_index_on_fake_spans(void **state)
{
    (void)state;
    static tc_span s; /* only base, sizeclass, slot_size, nelems, divmul used */
    for (unsigned c = 1; c < TC_NUM_CLASSES; c++) {
        const sc_info *ci = &sc_table[c];
        memset(&s, 0, sizeof s);
        s.base = (uintptr_t)1 << 30;
        s.npages = ci->npages;
        s.sizeclass = (uint8_t)c;
        s.slot_size = ci->slot_size;
        s.nelems = ci->nelems;
        s.divmul = ci->divmul;
        uintptr_t end = s.base + ci->npages * TC_PAGE_SIZE;
        long expect_next = 0;
        for (uintptr_t p = s.base; p < end; p += 8) {
            long idx = span_slot_index(&s, p);
            uintptr_t first = s.base + TC_SPAN_SLOT0 + TC_HEADER_SIZE;
            int is_start = p >= first && (p - first) % ci->slot_size == 0 &&
                           (p - first) / ci->slot_size < ci->nelems;
            if (is_start) {
                if (idx != expect_next)
                    fail_msg("class %u: index of %#lx = %ld, expected %ld", c,
                             (unsigned long)(p - s.base), idx, expect_next);
                assert_int_equal(span_slot_addr(&s, (size_t)idx) + TC_HEADER_SIZE, p);
                expect_next++;
            } else if (idx != -1) {
                fail_msg("class %u: offset %#lx is no payload start but got index %ld", c,
                         (unsigned long)(p - s.base), idx);
            }
        }
        assert_int_equal(expect_next, (long)ci->nelems);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_shape),
        cmocka_unit_test(sc_init_is_idempotent),
        cmocka_unit_test(slot_sizes_aligned_and_increasing),
        cmocka_unit_test(rounding_waste_bounded),
        cmocka_unit_test(span_geometry),
        cmocka_unit_test(class_of_is_smallest_fit),
        cmocka_unit_test(divmul_exact_everywhere),
        cmocka_unit_test(slot_index_on_fake_spans),
    };
    return cmocka_run_group_tests(tests, setup_table, NULL);
}
