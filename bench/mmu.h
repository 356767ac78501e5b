/*
 * mmu.h — minimum mutator utilization (MMU) from the intervals in which the
 * mutator did not run, shared by the benchmarks and tested by mmu_test.c.
 *
 * For a measured phase [t0, t1] and a window length w,
 *
 *   MMU(w) = min over t in [t0, t1 - w] of (w - busy(t, t + w)) / w
 *
 * where busy(a, b) is the time in [a, b] covered by the intervals.  When
 * w >= t1 - t0 there is only one window, the whole phase, and MMU(w) is the
 * utilization over the phase.
 *
 * The worst window can be taken to start at t0, at t1 - w or at a gap's
 * start: d busy(t, t + w) / dt = [t + w in a gap] - [t in a gap], so from
 * any worst window, slide it right while its start is outside every gap
 * (busy cannot fall) or left while its start is inside one (busy cannot
 * fall either); it stops at a gap's start or at an end of the phase.  The
 * candidates come in increasing order from sorted gaps, so tracking the
 * busy time with two cursors that only move forward (one at the window's
 * start, one at its end) is a single O(n) sweep after the O(n log n) sort
 * in mmu_normalize.
 *
 * Needs nothing but libc; record.h applies it to every benchmark.
 */
#ifndef BENCH_MMU_H
#define BENCH_MMU_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An interval in which the mutator did not run: [start, end], ns. */
typedef struct mmu_gap {
    uint64_t start, end;
} mmu_gap;

/* A fixed-capacity log of gaps, malloc'd: outside any GC heap, and it
 * holds no pointers for a collector to find.  Gaps past the capacity are
 * counted but not kept, which can only make the MMU look better. */
typedef struct mmu_log {
    mmu_gap *v;
    size_t n, cap;
    uint64_t dropped;
} mmu_log;

static inline void mmu_log_init(mmu_log *log, size_t cap)
{
    log->v = malloc(cap * sizeof log->v[0]);
    if (!log->v) {
        fprintf(stderr, "mmu: cannot allocate a log of %zu gaps\n", cap);
        exit(1);
    }
    log->n = 0;
    log->cap = cap;
    log->dropped = 0;
}

static inline void mmu_log_free(mmu_log *log)
{
    free(log->v);
    log->v = NULL;
    log->n = log->cap = 0;
}

static inline void mmu_log_add(mmu_log *log, uint64_t start, uint64_t end)
{
    if (log->n < log->cap)
        log->v[log->n++] = (mmu_gap){start, end};
    else
        log->dropped++;
}

static inline int mmu__cmp_start(const void *a, const void *b)
{
    uint64_t x = ((const mmu_gap *)a)->start, y = ((const mmu_gap *)b)->start;
    return (x > y) - (x < y);
}

/* Clips the gaps to [t0, t1], drops empty ones, sorts them by start and
 * merges overlapping ones, in place; returns how many remain.  mmu() needs
 * its input in this form. */
static inline size_t mmu_normalize(mmu_gap *g, size_t n, uint64_t t0, uint64_t t1)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = g[i].start < t0 ? t0 : g[i].start;
        uint64_t e = g[i].end > t1 ? t1 : g[i].end;
        if (s < e)
            g[m++] = (mmu_gap){s, e};
    }
    qsort(g, m, sizeof g[0], mmu__cmp_start);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (k > 0 && g[i].start <= g[k - 1].end) {
            if (g[i].end > g[k - 1].end)
                g[k - 1].end = g[i].end;
        } else {
            g[k++] = g[i];
        }
    }
    return k;
}

/* Busy time in [t0, x] for non-decreasing x: k gaps lie wholly before x
 * and add up to done; gap k may hold x. */
typedef struct mmu__cursor {
    const mmu_gap *g;
    size_t n, k;
    uint64_t done;
} mmu__cursor;

static inline uint64_t mmu__busy_upto(mmu__cursor *c, uint64_t x)
{
    while (c->k < c->n && c->g[c->k].end <= x) {
        c->done += c->g[c->k].end - c->g[c->k].start;
        c->k++;
    }
    if (c->k < c->n && c->g[c->k].start < x)
        return c->done + (x - c->g[c->k].start);
    return c->done;
}

/* MMU(w) over the phase [t0, t1] for gaps as left by mmu_normalize(g, n,
 * t0, t1).  An empty phase or w = 0 gives 1. */
static inline double mmu(const mmu_gap *g, size_t n, uint64_t t0, uint64_t t1, uint64_t w)
{
    if (t1 <= t0 || w == 0)
        return 1.0;
    if (w >= t1 - t0) {
        mmu__cursor c = {g, n, 0, 0};
        uint64_t busy = mmu__busy_upto(&c, t1);
        return (double)(t1 - t0 - busy) / (double)(t1 - t0);
    }

    uint64_t last = t1 - w; /* the latest window start */
    mmu__cursor lo = {g, n, 0, 0}, hi = {g, n, 0, 0};
    uint64_t worst = 0;
    /* Candidates t0, each gap's start, last: in order, as the gaps are
     * sorted and lie in [t0, t1]; starts past last are clamped to it. */
    for (size_t i = 0; i <= n + 1; i++) {
        uint64_t t = i == 0 ? t0 : i <= n && g[i - 1].start < last ? g[i - 1].start : last;
        uint64_t busy = mmu__busy_upto(&hi, t + w) - mmu__busy_upto(&lo, t);
        if (busy > worst)
            worst = busy;
        if (t == last)
            break;
    }
    return (double)(w - worst) / (double)w;
}

/* The benchmarks' gap log (record.h): its capacity, and the shortest gap
 * counted as time the mutator was kept from running (shorter ones are the
 * mutator's own work between two clock readings). */
enum { MMU_LOG_CAP = 1 << 20 };
#define MMU_GAP_MIN_NS 20000u

#endif /* BENCH_MMU_H */
