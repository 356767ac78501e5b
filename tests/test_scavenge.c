/* test_scavenge.c — returning free heap pages to the OS: the released-page
 * accounting of the page heap, heap_scavenge, zeroing of released pages,
 * the background scavenger's effect on RSS, its off mode, and the
 * memory-limit path (scavenge_for_limit and the grow hook). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_util.h"

#include "heap.h"
#include "pacer.h"
#include "scavenge.h"

/* Sanitizers' shadow memory follows the heap's (ASan 1/8 of it, TSan
 * several times it) and madvise does not return it, so process RSS says
 * little there: those builds check the heap's own pages with mincore. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define MiB ((uint64_t)1 << 20)
/* A large object whose span is exactly 1 MiB (128 pages). */
#define OBJ_BYTES (MiB - 64)
#define MAX_OBJS 256

static void *objs[MAX_OBJS];       /* roots while registered */
static uintptr_t spans[MAX_OBJS];  /* span bases of dropped objects */

static int setup(void **state)
{
    int err = tu_setup(state);
    if (!err)
        err = tc_root_add(objs, MAX_OBJS);
    return err;
}

static int teardown(void **state)
{
    memset(objs, 0, sizeof objs);
    tc_root_remove(objs);
    return tu_teardown(state);
}

/* The page heap's accounting holds: the bitmaps agree with the counter,
 * in-use pages are never released, released + retained = mapped. */
static void check_heap(void)
{
    assert_int_equal(heap_verify_released(), 0);
    assert_true(heap_released_bytes() + heap_retained_bytes() == heap_mapped_bytes());
    assert_true(heap_released_bytes() <= heap_mapped_bytes() - heap_inuse_bytes());
}

/* n large objects of `bytes` each into objs[]; touch: write 0xab into each
 * (tc_alloc does not touch fresh memory, and RSS only counts touched). */
static void alloc_objs(size_t n, size_t bytes, int touch)
{
    for (size_t i = 0; i < n; i++) {
        objs[i] = tc_alloc(&tu_leaf_type, bytes);
        assert_non_null(objs[i]);
        if (touch)
            memset(objs[i], 0xab, bytes);
    }
}

/* Also remembers where the objects were, for freed_resident. */
static void drop_objs_and_collect(void)
{
    for (size_t i = 0; i < MAX_OBJS; i++) {
        tc_span *s = objs[i] ? heap_span_of((uintptr_t)objs[i]) : NULL;
        spans[i] = s ? s->base : 0;
    }
    memset(objs, 0, sizeof objs);
    tc_collect(); /* returns once swept: the spans are free */
}

/* Only explicit heap_scavenge calls release pages in this test. */
static void no_background(void)
{
    scavenge_stop();
    assert_int_equal(scavenge_mode(), -1);
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Resident OS pages in [p, p + len). */
static size_t resident_pages(uintptr_t p, size_t len)
{
    size_t os_page = (size_t)sysconf(_SC_PAGESIZE), n = (len + os_page - 1) / os_page, count = 0;
    unsigned char vec[n];
    assert_int_equal(mincore((void *)p, len, vec), 0);
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    return count;
}

/* Resident bytes of the 1 MiB spans of the objects last dropped. */
static uint64_t freed_resident(void)
{
    uint64_t pages = 0;
    for (size_t i = 0; i < MAX_OBJS; i++)
        if (spans[i])
            pages += resident_pages(spans[i], MiB);
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ------------------------------------------------------------ accounting */

static void accounting_and_scavenge(void **state)
{
    (void)state;
    no_background();
    check_heap();
    uint64_t retained0 = heap_retained_bytes();
    alloc_objs(64, OBJ_BYTES, 1);
    check_heap();
    uint64_t grew = heap_retained_bytes() - retained0;
    if (grew < 64 * MiB || grew > 65 * MiB)
        fail_msg("64 MiB of objects grew the retained heap by %llu bytes",
                 (unsigned long long)grew);
    drop_objs_and_collect();
    uintptr_t first = spans[0];
    check_heap();
    uint64_t free_backed = heap_free_backed_bytes(), released0 = heap_released_bytes();
    assert_true(free_backed >= 64 * MiB);
    assert_true(resident_pages(first, OBJ_BYTES) > 0); /* freed, still backed */

    uint64_t got = heap_scavenge(UINT64_MAX, 0);
    check_heap();
    assert_int_equal(got, free_backed);
    assert_int_equal(heap_released_bytes(), released0 + got);
    assert_int_equal(heap_retained_bytes(), heap_inuse_bytes());
    assert_int_equal(heap_free_backed_bytes(), 0);
    assert_int_equal(resident_pages(first, OBJ_BYTES), 0); /* really given back */
    assert_int_equal(heap_scavenge(UINT64_MAX, 0), 0);     /* nothing left */
}

/* heap_scavenge(bytes) releases at least bytes, in whole pages, a piece at a time. */
static void scavenge_partial_amounts(void **state)
{
    (void)state;
    no_background();
    alloc_objs(16, OBJ_BYTES, 1);
    drop_objs_and_collect();
    uint64_t released0 = heap_released_bytes();
    assert_int_equal(heap_scavenge(1, 0), TC_PAGE_SIZE);
    assert_int_equal(heap_scavenge(3 * MiB + 1, 0), 3 * MiB + TC_PAGE_SIZE);
    assert_int_equal(heap_released_bytes(), released0 + 3 * MiB + 2 * TC_PAGE_SIZE);
    check_heap();
}

/* Free pages are reused before the heap maps more, released or not. */
static void reuse_before_map(void **state)
{
    (void)state;
    no_background();
    alloc_objs(64, OBJ_BYTES, 1);
    drop_objs_and_collect();
    heap_scavenge(UINT64_MAX, 0);
    uint64_t mapped = heap_mapped_bytes(), released = heap_released_bytes();
    alloc_objs(64, OBJ_BYTES, 0);
    check_heap();
    assert_int_equal(heap_mapped_bytes(), mapped);
    assert_int_equal(heap_released_bytes(), released - 64 * MiB); /* the same pages */
}

/* ------------------------------------------------------------- zeroing */

#define SMALL_BYTES 1000
#define NSMALL 2000
#define LARGE_BYTES 200000
#define NLARGE 32

static void *smalls[NSMALL];

static void expect_bytes(const void *p, size_t n, unsigned char want, const char *what, size_t i)
{
    const unsigned char *b = p;
    for (size_t k = 0; k < n; k++)
        if (b[k] != want)
            fail_msg("%s %zu: byte %zu is %#x, expected %#x", what, i, k, b[k], want);
}

/* Every other object (filled with 0xab) is freed, the free pages released
 * with madvise (MADV_FREE leaves the old bytes in place until the kernel
 * needs the memory), and new objects on those pages must read as zero;
 * the survivors between them (0xcd) must not lose a byte. */
static void released_pages_read_zero(int madv_free)
{
    no_background();
    assert_int_equal(tc_root_add(smalls, NSMALL), TC_OK);
    alloc_objs(NLARGE, LARGE_BYTES, 0);
    for (size_t i = 0; i < NSMALL; i++)
        smalls[i] = tc_alloc(&tu_leaf_type, SMALL_BYTES);
    for (size_t i = 0; i < NLARGE; i++)
        memset(objs[i], i % 2 ? 0xcd : 0xab, LARGE_BYTES);
    for (size_t i = 0; i < NSMALL; i++)
        memset(smalls[i], 0xab, SMALL_BYTES);
    for (size_t i = 0; i < NLARGE; i += 2)
        objs[i] = NULL;
    memset(smalls, 0, sizeof smalls);
    tc_collect();
    assert_true(heap_scavenge(UINT64_MAX, madv_free) >= NLARGE / 2 * LARGE_BYTES);
    check_heap();
    for (size_t i = 1; i < NLARGE; i += 2)
        expect_bytes(objs[i], LARGE_BYTES, 0xcd, "surviving large object", i);

    uint64_t released = heap_released_bytes();
    for (size_t i = 0; i < NLARGE; i += 2)
        objs[i] = tc_alloc(&tu_leaf_type, LARGE_BYTES);
    for (size_t i = 0; i < NSMALL; i++)
        smalls[i] = tc_alloc(&tu_leaf_type, SMALL_BYTES);
    assert_true(heap_released_bytes() < released); /* new objects sit on released pages */
    for (size_t i = 0; i < NLARGE; i++)
        expect_bytes(objs[i], LARGE_BYTES, i % 2 ? 0xcd : 0, "large object", i);
    for (size_t i = 0; i < NSMALL; i++)
        expect_bytes(smalls[i], SMALL_BYTES, 0, "small object", i);
    check_heap();
    assert_int_equal(tc_root_remove(smalls), TC_OK);
}

static void released_pages_read_zero_dontneed(void **state)
{
    (void)state;
    released_pages_read_zero(0);
}

static void released_pages_read_zero_madv_free(void **state)
{
    (void)state;
    released_pages_read_zero(1);
}

/* ------------------------------------------------- the background thread */

/* The thread running in `mode`, whether or not tc_init started it. */
static void ensure_scavenger(int mode)
{
    int err = scavenge_start(mode);
    if (err == TC_ESTATE && scavenge_mode() != mode) {
        scavenge_stop();
        err = scavenge_start(mode);
    }
    if (err != TC_OK && err != TC_ESTATE)
        fail_msg("scavenge_start(%d): %s", mode, tc_strerror(err));
    assert_int_equal(scavenge_mode(), mode);
}

/* A 200 MiB peak, touched and dropped, goes back to the OS (in well under
 * a second on an idle machine; the deadline, 60 s, only catches a
 * scavenger that stopped working):
 * RSS falls to at most the baseline (before the peak) + 1.25 x the heap
 * goal (the target is goal x 1.1) + 8 MiB of slack for what else the
 * process touches meanwhile (span metadata, the page tables of the heap,
 * the C library); and the freed spans themselves keep at most 1.25 x goal
 * + 8 MiB resident (the only check under sanitizers). */
static void background_returns_peak(void **state)
{
    (void)state;
    ensure_scavenger(SCAVENGE_DONTNEED);
    uint64_t base = rss_bytes();
    alloc_objs(200, OBJ_BYTES, 1);
    uint64_t peak = rss_bytes();
    assert_true(peak >= base + 190 * MiB);
    /* The collector may wake the thread itself once the cycle has swept:
     * start the clocks before the cycle. */
    uint64_t cpu0 = scavenge_cpu_ns(), released0 = scavenge_released_total();
    uint64_t t0 = tu_now_ns();
    drop_objs_and_collect();
    scavenge_wake(); /* as the collector does after sweeping */
    uint64_t allowed = 0, rss = 0, resident = 0;
    while (tu_now_ns() - t0 < 60000000000ull) {
        allowed = pacer_goal() / 4 * 5 + 8 * MiB;
        rss = rss_bytes();
        resident = freed_resident();
        if ((SANITIZED || rss <= base + allowed) && resident <= allowed)
            break;
        tu_sleep_blocking(10);
    }
    uint64_t wall = tu_now_ns() - t0, cpu = scavenge_cpu_ns() - cpu0;
    print_message("200 MiB peak: RSS %llu -> %llu MiB (baseline %llu + allowed %llu), freed "
                  "spans %llu MiB resident, in %.2f s; scavenger released %llu MiB using "
                  "%.2f ms CPU\n",
                  (unsigned long long)(peak >> 20), (unsigned long long)(rss >> 20),
                  (unsigned long long)(base >> 20), (unsigned long long)(allowed >> 20),
                  (unsigned long long)(resident >> 20), (double)wall / 1e9,
                  (unsigned long long)((scavenge_released_total() - released0) >> 20),
                  (double)cpu / 1e6);
    if (!SANITIZED && rss > base + allowed)
        fail_msg("RSS still %llu MiB after 60 s (baseline %llu + allowed %llu)",
                 (unsigned long long)(rss >> 20), (unsigned long long)(base >> 20),
                 (unsigned long long)(allowed >> 20));
    if (resident > allowed)
        fail_msg("freed spans still hold %llu MiB after 60 s (allowed %llu)",
                 (unsigned long long)(resident >> 20), (unsigned long long)(allowed >> 20));
    /* About 1% of a CPU over time: 1% of the wall time plus the 50 ms the
     * thread may bank while idle, plus 5 ms for a round's overrun. */
    if (cpu > wall / 100 + 55000000)
        fail_msg("the scavenger used %.2f ms of CPU in %.2f s", (double)cpu / 1e6,
                 (double)wall / 1e9);
    assert_int_equal(heap_verify_released(), 0);
}

/* SCAVENGE_OFF: no thread, nothing released behind the program's back
 * (for 1 s, past the thread's idle poll); heap_scavenge still works. */
static void off_mode_releases_nothing(void **state)
{
    (void)state;
    scavenge_stop();
    assert_int_equal(scavenge_start(SCAVENGE_OFF), TC_OK);
    uint64_t base = rss_bytes(), released0 = scavenge_released_total();
    alloc_objs(64, OBJ_BYTES, 1);
    drop_objs_and_collect();
    scavenge_wake();
    uint64_t released = heap_released_bytes();
    tu_sleep_blocking(1100);
    assert_int_equal(heap_released_bytes(), released);
    assert_int_equal(scavenge_released_total(), released0);
    assert_true(rss_bytes() >= base + 60 * MiB);
    assert_int_equal(freed_resident(), 64 * MiB);
    assert_true(heap_scavenge(UINT64_MAX, 0) >= 64 * MiB);
    assert_int_equal(freed_resident(), 0);
    assert_true(SANITIZED || rss_bytes() < base + 8 * MiB);
    check_heap();
}

/* ------------------------------------------------------- memory limit */

static void limit_paths_release_at_once(void **state)
{
    (void)state;
    scavenge_stop();
    assert_int_equal(scavenge_start(SCAVENGE_OFF), TC_OK); /* the hook, no thread */
    assert_int_equal(scavenge_for_limit(0), 0);            /* no limit: nothing */
    uint64_t released0 = scavenge_released_total(); /* the counters span restarts */
    alloc_objs(64, OBJ_BYTES, 1);
    drop_objs_and_collect();
    assert_true(heap_free_backed_bytes() >= 64 * MiB);

    /* Lowering the limit (tc_set_memory_limit calls scavenge_for_limit):
     * retained + metadata back to the limit at once, to the page. */
    int64_t limit = (int64_t)(48 * MiB);
    uint64_t over = heap_retained_bytes() + heap_metadata_bytes() - (uint64_t)limit;
    tc_set_memory_limit(limit);
    uint64_t got = scavenge_released_total() - released0;
    assert_int_equal(got, (over + TC_PAGE_SIZE - 1) / TC_PAGE_SIZE * TC_PAGE_SIZE);
    assert_true(heap_retained_bytes() + heap_metadata_bytes() <= (uint64_t)limit);
    assert_int_equal(scavenge_released_total() - released0, got);
    assert_int_equal(scavenge_for_limit(0), 0);
    check_heap();

    /* The grow hook: a span no free span can hold maps a new arena; before
     * its released pages are backed, the hook releases the other free
     * pages that 64 MiB more would push over the limit (all of them). */
    size_t npages = TC_ARENA_SIZE / TC_PAGE_SIZE + 1;
    uint64_t backed = heap_free_backed_bytes();
    assert_true(backed > 0);
    tc_span *s = heap_alloc_span(npages, SPAN_LARGE);
    assert_non_null(s);
    assert_int_equal(heap_free_backed_bytes(), 0); /* 64 MiB more cannot fit in 48 */
    assert_int_equal(scavenge_released_total() - released0, got + backed);
    check_heap();
    heap_free_span(s);
    tc_set_memory_limit(INT64_MAX);
}

static uint64_t hook_bytes;
static int hook_calls;

static void recording_hook(uint64_t bytes)
{
    hook_bytes += bytes;
    hook_calls++;
}

/* The page heap calls the grow hook exactly when a reservation takes
 * released pages, with their bytes: fresh arena pages, or pages given back
 * by heap_scavenge; never for backed ones. */
static void grow_hook_sees_released_pages(void **state)
{
    (void)state;
    no_background(); /* and its hook */
    heap_set_grow_hook(recording_hook);
    tc_span *s = heap_alloc_span(16, SPAN_LARGE); /* a fresh arena */
    assert_non_null(s);
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_bytes, 16 * TC_PAGE_SIZE);
    uintptr_t base = s->base;
    memset((void *)base, 0x5a, 16 * TC_PAGE_SIZE);
    heap_free_span(s);
    s = heap_alloc_span(16, SPAN_LARGE); /* the same pages, still backed */
    assert_int_equal(s->base, base);
    assert_int_equal(hook_calls, 1);
    heap_free_span(s);
    assert_true(heap_scavenge(8 * TC_PAGE_SIZE, 0) == 8 * TC_PAGE_SIZE);
    s = heap_alloc_span(16, SPAN_LARGE); /* 8 of them released */
    assert_int_equal(s->base, base);
    assert_int_equal(hook_calls, 2);
    assert_int_equal(hook_bytes, 24 * TC_PAGE_SIZE);
    heap_set_grow_hook(NULL);
    heap_free_span(s);
    check_heap();
}

/* scavenge_target follows the goal, the heap in use, the last cycle's
 * peak and the limit. */
static void target_formula(void **state)
{
    (void)state;
    scavenge_note_cycle_need(0); /* no cycle's peak */
    uint64_t goal = pacer_goal();
    uint64_t expect = goal + goal / 10;
    if (expect < heap_inuse_bytes())
        expect = heap_inuse_bytes();
    assert_int_equal(scavenge_target(), expect);
    /* The last cycle says the next one needs more than that. */
    uint64_t need = expect + 64 * MiB;
    scavenge_note_cycle_need(need);
    assert_int_equal(scavenge_target(), need);
    scavenge_note_cycle_need(expect / 2); /* less: no effect */
    assert_int_equal(scavenge_target(), expect);
    scavenge_note_cycle_need(0);
    assert_int_equal(scavenge_target(), expect);
    tc_set_memory_limit((int64_t)(100 * MiB));
    uint64_t cap = 95 * MiB - heap_metadata_bytes();
    assert_true(scavenge_target() <= cap);
    tc_set_memory_limit(INT64_MAX);
}

/* The scavenger steps aside while a pause is wanted: a root scanner keeps
 * the world stopped for 220 ms right after a 200 MiB peak was dropped,
 * while the scavenger still has most of it to release (paced, it needs
 * over 100 ms for it); in the last 200 ms it releases at most the piece
 * it may have been in when the pause began (on a busy machine it may lose
 * its core in the middle of one), and nothing more until the world
 * restarts.  Without the step aside it released 140 MiB in that window. */
static uint64_t window_released[2], window_excess;
static int window_on;

static void pausing_scanner(tc_visitor *v, void *ctx)
{
    (void)v;
    (void)ctx;
    if (!window_on)
        return;
    window_on = 0;
    tu_nap_ms(20);
    window_released[0] = scavenge_released_total();
    uint64_t retained = heap_retained_bytes(), target = scavenge_target();
    window_excess = retained > target ? retained - target : 0;
    tu_nap_ms(200);
    window_released[1] = scavenge_released_total();
}

static void steps_aside_for_pauses(void **state)
{
    (void)state;
    ensure_scavenger(SCAVENGE_DONTNEED);
    alloc_objs(200, OBJ_BYTES, 1);
    assert_int_equal(tc_root_scanner_add(pausing_scanner, NULL), TC_OK);
    drop_objs_and_collect(); /* the scavenger is woken: 200 MiB to release */
    window_on = 1;
    tc_collect(); /* pause 1 runs the scanner */
    assert_int_equal(tc_root_scanner_remove(pausing_scanner, NULL), TC_OK);
    print_message("with the world stopped: %llu MiB over the target, %llu MiB released in "
                  "200 ms\n", (unsigned long long)(window_excess >> 20),
                  (unsigned long long)((window_released[1] - window_released[0]) >> 20));
    assert_int_equal(window_on, 0);
    /* The scavenger had work to do (or the test proves nothing). */
    assert_true(window_excess >= 16 * MiB);
    assert_true(window_released[1] - window_released[0] <=
                (uint64_t)HEAP_SCAVENGE_PIECE_PAGES * TC_PAGE_SIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(accounting_and_scavenge, setup, teardown),
        cmocka_unit_test_setup_teardown(scavenge_partial_amounts, setup, teardown),
        cmocka_unit_test_setup_teardown(reuse_before_map, setup, teardown),
        cmocka_unit_test_setup_teardown(released_pages_read_zero_dontneed, setup, teardown),
        cmocka_unit_test_setup_teardown(released_pages_read_zero_madv_free, setup, teardown),
        cmocka_unit_test_setup_teardown(background_returns_peak, setup, teardown),
        cmocka_unit_test_setup_teardown(off_mode_releases_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(limit_paths_release_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(grow_hook_sees_released_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(target_formula, setup, teardown),
        cmocka_unit_test_setup_teardown(steps_aside_for_pauses, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
