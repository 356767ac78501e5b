/*
 * backend.h — lets one benchmark source build against two collectors.
 *
 *   -DBACKEND_TRICOLOR   tricolor: typed tc_alloc, TC_ROOTS frames, TC_WRITE
 *   -DBACKEND_BOEHM      Boehm GC at its default settings (GC_INIT(),
 *                        non-incremental, parallel marking as shipped):
 *                        GC_MALLOC / GC_MALLOC_ATOMIC, conservative stack
 *                        scanning, so roots and barriers become no-ops and
 *                        plain stores.
 *
 * What a benchmark uses:
 *   BK_PTR_TYPE(id, "name")    a type of objects holding references
 *   BK_LEAF_TYPE(id, "name")   a type of objects holding none (never scanned)
 *   bk_init()                  start the collector (exits on failure)
 *   bk_alloc(&id, size)        a zeroed object of a pointer type
 *   bk_alloc_leaf(&id, size)   a zeroed object of a leaf type
 *   BK_ROOTS(a, b, ...)        register C locals as roots to end of scope
 *   BK_WRITE(obj, field, val)  obj->field = val, through the write barrier
 *   BK_WRITE_SLOT(obj, p, v)   *p = v where p points into heap object obj
 *   bk_gc_stats(&cycles, &max_pause_ns)
 *   bk_pause_summary(&ps)      number, max and 99th percentile of pauses
 *   bk_pause_times(s, e, &n)   tricolor only: when the newest pauses were
 *   bk_start_clock() / bk_print_result(bench, checksum, extra_json)
 *
 * "Longest pause": tricolor reports it (tc_stats.pause_max_ns, stop request
 * to restart).  For Boehm we time every collection from GC_EVENT_START to
 * GC_EVENT_END; in the default non-incremental mode the whole collection
 * runs with the world stopped (and the allocation lock held), so each one is
 * a pause.  Sweeping is lazy in both collectors and is not part of a pause.
 *
 * Boehm's incremental mode is switched on by libgc itself when the
 * environment has GC_ENABLE_INCREMENTAL set (read in GC_init).  Its
 * collections then advance in small marking steps inside allocations and
 * finish in GC_stopped_mark without any GC_EVENT_START/END, so outside a
 * START..END window a pause is timed from GC_EVENT_PRE_STOP_WORLD to
 * GC_EVENT_POST_START_WORLD instead.  The marking steps themselves are not
 * counted as pauses: a benchmark that wants to see them measures the gaps
 * between its own allocations.  Non-incremental runs are unaffected: every
 * world stop there lies inside a START..END window.
 */
#ifndef BENCH_BACKEND_H
#define BENCH_BACKEND_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#if defined(BACKEND_TRICOLOR) == defined(BACKEND_BOEHM)
#error "define exactly one of BACKEND_TRICOLOR and BACKEND_BOEHM"
#endif

static inline uint64_t bk_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bk_oom(size_t size)
{
    fprintf(stderr, "bench: allocation of %zu bytes failed\n", size);
    exit(1);
}

/* ================================================================ tricolor */
#if defined(BACKEND_TRICOLOR)

#include "tricolor.h"

#define BK_NAME "tricolor"

typedef tc_type bk_type;
#define BK_PTR_TYPE(id, name_)                                                \
    static const tc_type id = {.name = (name_), .layout = TC_LAYOUT_SLOTS}
#define BK_LEAF_TYPE(id, name_)                                               \
    static const tc_type id = {.name = (name_), .layout = TC_LAYOUT_LEAF}

/* bk_now_ns() just before tc_init.  tricolor's pause_end_ns count from its
 * own reading of the same clock (CLOCK_MONOTONIC) early in tc_init, a few
 * microseconds later, so origin + pause_end_ns is a time in bk_now_ns()'s
 * clock that is early by those microseconds: approximate to the µs. */
static uint64_t bk__tc_origin_ns;

static inline void bk_init(void)
{
    bk__tc_origin_ns = bk_now_ns();
    int err = tc_init(NULL);
    if (err != TC_OK) {
        fprintf(stderr, "bench: tc_init failed: %s\n", tc_strerror(err));
        exit(1);
    }
}

static inline void bk_shutdown(void) { tc_shutdown(); }

static inline void *bk_alloc(const bk_type *t, size_t size)
{
    void *p = tc_alloc(t, size);
    if (!p)
        bk_oom(size);
    return p;
}

static inline void *bk_alloc_leaf(const bk_type *t, size_t size)
{
    return bk_alloc(t, size);
}

#define BK_ROOTS(...) TC_ROOTS(__VA_ARGS__)
#define BK_WRITE(obj, field, val) TC_WRITE(obj, field, val)
#define BK_WRITE_SLOT(obj, slotp, val)                                        \
    tc_write((void *)(obj), (void **)(slotp), (void *)(val))

/* tc_stats is large (two 256-entry rings): keep it off the stack. */
static tc_stats bk__stats;

static inline void bk_gc_stats(uint64_t *cycles, uint64_t *max_pause_ns)
{
    tc_read_stats(&bk__stats);
    *cycles = bk__stats.cycles;
    *max_pause_ns = bk__stats.pause_max_ns;
}

#define BK_PAUSE_RING TC_PAUSE_RING

/* The newest min(num_pauses, BK_PAUSE_RING) pauses, oldest first, as
 * [start[i], end[i]] in bk_now_ns()'s clock (see bk__tc_origin_ns); returns
 * how many, and the number of pauses in the whole run in *total.  tricolor
 * only: Boehm's events are timed but not placed in time here. */
static inline unsigned bk_pause_times(uint64_t *start, uint64_t *end, uint64_t *total)
{
    tc_read_stats(&bk__stats);
    uint64_t n = bk__stats.num_pauses;
    unsigned w = n < BK_PAUSE_RING ? (unsigned)n : BK_PAUSE_RING;
    for (unsigned i = 0; i < w; i++) {
        unsigned slot = (unsigned)((n - w + i) % BK_PAUSE_RING);
        end[i] = bk__tc_origin_ns + bk__stats.pause_end_ns[slot];
        start[i] = end[i] - bk__stats.pause_ns[slot];
    }
    *total = n;
    return w;
}

/* =================================================================== Boehm */
#else

#include <gc.h>

#define BK_NAME "boehm"

typedef struct bk_type {
    const char *name;
} bk_type;
#define BK_PTR_TYPE(id, name_) static const bk_type id = {(name_)}
#define BK_LEAF_TYPE(id, name_) static const bk_type id = {(name_)}

/* Same shape as tricolor's stats: newest pause at (n - 1) % BK_PAUSE_RING. */
#define BK_PAUSE_RING 256
static uint64_t bk__pause_ring[BK_PAUSE_RING], bk__num_pauses, bk__max_pause_ns;
static uint64_t bk__pause_start_ns; /* 0 when no pause is being timed */
static int bk__in_collection;       /* inside GC_EVENT_START..END */

static inline void bk__record_pause(uint64_t d)
{
    bk__pause_ring[bk__num_pauses++ % BK_PAUSE_RING] = d;
    if (d > bk__max_pause_ns)
        bk__max_pause_ns = d;
}

static inline void bk__pause_end(void)
{
    if (bk__pause_start_ns)
        bk__record_pause(bk_now_ns() - bk__pause_start_ns);
    bk__pause_start_ns = 0;
}

static inline void GC_CALLBACK bk__on_event(GC_EventType ev)
{
    /* Called by the collecting thread with the allocation lock held.  A
     * whole collection is one pause; a world stop outside one is the end
     * of an incremental collection (see the top of this file). */
    switch (ev) {
    case GC_EVENT_START:
        bk__in_collection = 1;
        bk__pause_start_ns = bk_now_ns();
        break;
    case GC_EVENT_END:
        bk__in_collection = 0;
        bk__pause_end();
        break;
    case GC_EVENT_PRE_STOP_WORLD:
        if (!bk__in_collection)
            bk__pause_start_ns = bk_now_ns();
        break;
    case GC_EVENT_POST_START_WORLD:
        if (!bk__in_collection)
            bk__pause_end();
        break;
    default:
        break;
    }
}

static inline void bk_init(void)
{
    GC_INIT();
    GC_set_on_collection_event(bk__on_event);
}

static inline void bk_shutdown(void) {}

static inline void *bk_alloc(const bk_type *t, size_t size)
{
    (void)t;
    void *p = GC_MALLOC(size); /* zeroed, scanned conservatively */
    if (!p)
        bk_oom(size);
    return p;
}

static inline void *bk_alloc_leaf(const bk_type *t, size_t size)
{
    (void)t;
    void *p = GC_MALLOC_ATOMIC(size); /* never scanned, NOT zeroed */
    if (!p)
        bk_oom(size);
    memset(p, 0, size); /* same contract as tc_alloc: zeroed */
    return p;
}

#define BK_ROOTS(...) ((void)0)
#define BK_WRITE(obj, field, val) ((void)((obj)->field = (val)))
#define BK_WRITE_SLOT(obj, slotp, val) ((void)(obj), (void)(*(slotp) = (val)))

static inline void bk_gc_stats(uint64_t *cycles, uint64_t *max_pause_ns)
{
    *cycles = (uint64_t)GC_get_gc_no();
    *max_pause_ns = bk__max_pause_ns;
}

#endif

/* ================================================================= pauses */

typedef struct bk_pauses {
    uint64_t n;      /* pauses in the whole run */
    uint64_t max_ns; /* the longest of them all */
    uint64_t p99_ns; /* 99th percentile, nearest rank, of the newest <= 256 */
    unsigned window; /* how many pauses p99_ns was taken over */
} bk_pauses;

static inline int bk__cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* ring holds the newest min(n, BK_PAUSE_RING) pauses: which slot holds the
 * newest does not matter once they are sorted. */
static inline void bk__summarize(const uint64_t *ring, uint64_t n, uint64_t max_ns,
                                 bk_pauses *out)
{
    static uint64_t v[BK_PAUSE_RING];
    unsigned w = n < BK_PAUSE_RING ? (unsigned)n : BK_PAUSE_RING;
    memcpy(v, ring, w * sizeof v[0]);
    qsort(v, w, sizeof v[0], bk__cmp_u64);
    out->n = n;
    out->max_ns = max_ns;
    out->window = w;
    /* Nearest rank: the smallest value with at least 99% of them <= it. */
    out->p99_ns = w ? v[(99 * w + 99) / 100 - 1] : 0;
}

static inline void bk_pause_summary(bk_pauses *out)
{
#if defined(BACKEND_TRICOLOR)
    tc_read_stats(&bk__stats);
    bk__summarize(bk__stats.pause_ns, bk__stats.num_pauses, bk__stats.pause_max_ns, out);
#else
    bk__summarize(bk__pause_ring, bk__num_pauses, bk__max_pause_ns, out);
#endif
}

/* ========================================================== arguments */

/* "usage: argv0 usage" on stderr, exit status 2. */
static inline void bk_usage(const char *argv0, const char *usage)
{
    fprintf(stderr, "usage: %s %s\n", argv0, usage);
    exit(2);
}

/* s as a decimal in [lo, hi]; anything else: bk_usage. */
static inline long bk_arg(const char *s, long lo, long hi, const char *argv0, const char *usage)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        bk_usage(argv0, usage);
    return v;
}

/* ===================================================== timing and results */

static uint64_t bk__wall0_ns, bk__cpu0_us;

static inline uint64_t bk__cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Call before bk_init: the measurement covers start-up too. */
static inline void bk_start_clock(void)
{
    bk__wall0_ns = bk_now_ns();
    bk__cpu0_us = bk__cpu_us();
}

/* Print the one JSON result line.  extra is "" or more fields, each
 * starting with a comma: ",\"ns_per_alloc\":12.3". */
static inline void bk_print_result(const char *bench, uint64_t checksum, const char *extra)
{
    uint64_t wall = bk_now_ns() - bk__wall0_ns;
    uint64_t cpu = bk__cpu_us() - bk__cpu0_us;
    uint64_t cycles, max_pause;
    bk_gc_stats(&cycles, &max_pause);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"bench\":\"%s\",\"backend\":\"%s\",\"wall_s\":%.4f,\"cpu_s\":%.4f,"
           "\"max_rss_kib\":%ld,\"gc_cycles\":%llu,\"max_pause_ms\":%.3f,"
           "\"checksum\":%llu%s}\n",
           bench, BK_NAME, wall / 1e9, cpu / 1e6, ru.ru_maxrss, (unsigned long long)cycles,
           max_pause / 1e6, (unsigned long long)checksum, extra);
    fflush(stdout);
}

#endif /* BENCH_BACKEND_H */
