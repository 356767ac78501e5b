/*
 * pacer.h — when to start a cycle, and who pays for marking.
 *
 * Two layers.  The *model* (pacer_model_*) is pure arithmetic over a
 * struct: no clocks, no atomics, no threads, so tests drive it with a
 * simulated allocator and scanner.  The *runtime* (everything else) holds
 * one model under pacer_lock and the per-cycle counters the allocator and
 * the markers update lock-free.  docs/design.md §10 has the equations.
 *
 * Heap in use ("heap live") is estimated as Go estimates heapLive: bytes
 * marked by the last cycle, plus every free slot handed to a thread cache
 * (counted when handed out, uncounted when the cache returns it unused) and
 * every large object.  "marked" below is what the markers found live:
 * objects allocated (black) during the cycle are in the heap afterwards
 * but not in the goal's base, so the floating garbage of one cycle does
 * not inflate the next one's goal.
 *
 *   goal     = max(4 MiB x GC percent / 100, marked x (1 + GC percent / 100)),
 *              lowered to
 *              what the memory limit allows (limit - overhead, minus 3%
 *              headroom), but never below marked + 1 MiB
 *   trigger  = goal - runway, runway = consmark x (1 - u)/u x marked,
 *              clamped to 70..95% of the way from marked to goal
 *   assists  while marking, each allocated byte owes `ratio` bytes of scan
 *              work, ratio = scan work left / heap left before the goal
 */
#ifndef TC_PACER_H
#define TC_PACER_H

#include "namespace.h"

#include <stdint.h>

/* The smallest goal at GC percent 100; it scales with GC percent, as
 * Go's heapMinimum does: 4 MiB x GC percent / 100. */
#define TC_MIN_HEAP_GOAL ((uint64_t)4 << 20)
/* Background marking's target share of all cores (Go: 25%). */
#define PACER_BG_UTILIZATION 0.25
/* The trigger lies this far between the marked heap and the goal. */
#define PACER_TRIGGER_MIN 0.70
#define PACER_TRIGGER_MAX 0.95
/* Cycles of allocation/scan history the runway takes the maximum over. */
#define PACER_HISTORY 4
/* The memory limit's goal keeps this much headroom below the limit. */
#define PACER_LIMIT_HEADROOM_PERCENT 3
#define PACER_LIMIT_MIN_GROWTH ((uint64_t)1 << 20)
/* Past the goal, assists aim at goal x 1.1, the overrun line; past it an
 * assist with nothing to mark waits for markers.  (The hard goal, how far
 * extra scan work may push the goal back, is pacer_model_hard_goal's:
 * goal x (1 + P/100), never below the overrun line.) */
#define PACER_OVERRUN_FACTOR 1.1
/* Past goal x 2 ("the ceiling"), an allocation assists until its debt is
 * paid: the per-allocation time cap no longer applies. */
#define PACER_CEILING_FACTOR 2
/* An assist pays at least this much scan work at once (amortises it). */
#define PACER_ASSIST_PREPAY ((int64_t)64 << 10)
/* How long one allocation may assist (pacer_model_assist_cap_ns): a
 * slice below the goal, longer past it, without limit past the ceiling.
 * The slice keeps a program's gaps short while the heap has room; its
 * debt stays, and is paid by its next allocations or by the workers'
 * credit.  Past the goal the longer cap is what holds a program whose
 * marking cannot keep up near its goal (test_pacer's 16x burst: within 5%
 * with it, 17% past the goal and 9% in every later cycle with slices
 * everywhere).  An assist with no work to take waits at most one slice
 * below the ceiling. */
#define PACER_ASSIST_SLICE_NS 100000
#define PACER_ASSIST_MAX_NS 500000
/* An allocation this large takes PACER_ASSIST_MAX_NS below the goal too:
 * it owes 8 spans' worth of scan work or more, and takes the time to
 * clear its own pages. */
#define PACER_ASSIST_LARGE ((uint64_t)64 << 10)
/* GC CPU limiter: a leaky bucket of this many ns per core; GC CPU fills
 * it, mutator CPU drains it; while full, assists are suspended. */
#define PACER_LIMITER_CAPACITY_NS 200000000ull
#define PACER_LIMITER_MAX_FRACTION 0.5

/* ------------------------------------------------------------- the model */

typedef struct pacer_model {
    /* Settings. */
    int gc_percent;          /* < 0: off */
    int64_t memory_limit;    /* INT64_MAX: none */
    double bg_utilization;   /* planned background marking share, 0..1 */
    /* Learned from the cycles so far. */
    uint64_t heap_marked;    /* live bytes the last cycle's markers found:
                                its scan work, objects allocated black
                                during it not included */
    uint64_t overhead;       /* memory held outside the heap estimate */
    double consmark[PACER_HISTORY]; /* allocation/scan ratios, newest first */
    int nconsmark;
    /* Results of pacer_model_update. */
    uint64_t goal, trigger;
} pacer_model;

/* What one cycle measured, for pacer_model_end_cycle. */
typedef struct pacer_cycle {
    uint64_t heap_start;     /* heap live when the cycle started (not the
                                trigger: tc_cycle_info.heap_trigger is) */
    uint64_t heap_end;       /* heap live at mark termination */
    uint64_t heap_marked;    /* heap in use after it: marked + black */
    uint64_t scan_work;      /* bytes the markers marked */
    uint64_t mark_wall_ns;   /* pause 1 end to mark termination */
    uint64_t mark_cpu_ns;    /* dedicated workers' + assists' CPU */
    uint64_t idle_cpu_ns;    /* idle-priority workers' CPU */
    int ncpu;
} pacer_cycle;

void pacer_model_init(pacer_model *m, int gc_percent, int64_t memory_limit,
                      double bg_utilization);
/* Goal and trigger from the settings and what was learned. */
void pacer_model_update(pacer_model *m);
uint64_t pacer_model_goal(const pacer_model *m);
/* TC_MIN_HEAP_GOAL x gc_percent / 100 (0 when off or 0). */
uint64_t pacer_model_min_goal(int gc_percent);
/* A cycle ended: learn its allocation/scan ratio, adopt its marked heap. */
void pacer_model_end_cycle(pacer_model *m, const pacer_cycle *c);
/* The allocation/scan ratio a cycle shows (0 if it measured too little). */
double pacer_model_consmark(const pacer_cycle *c);
/* Scan work owed per allocated byte, with `scan_left` work left and the
 * heap at `heap_live`, aiming at `goal` (past it, at goal x 1.1). */
double pacer_model_assist_ratio(uint64_t goal, uint64_t heap_live, uint64_t scan_left);
/* The ratio a cycle's assists use (Go's rules): aim at `goal` with the
 * expected scan work; once more than that has been scanned, the live heap
 * grew: assume everything in use at the cycle's start (`scan_max`) may be
 * live and push the goal back in proportion, scan_max + (goal - scan_max)
 * x scan_max / scan_expected, at most to `hard_goal`; past the goal,
 * likewise assume the worst, and owe at least PACER_ASSIST_PREPAY. */
double pacer_model_assist(uint64_t goal, uint64_t hard_goal, uint64_t heap_live,
                          uint64_t scan_expected, uint64_t scan_max, uint64_t scan_done);
/* How long an allocation of `bytes` may assist with the heap at
 * `heap_live` and the cycle's goal `goal`: PACER_ASSIST_SLICE_NS below the
 * goal (PACER_ASSIST_MAX_NS from PACER_ASSIST_LARGE bytes up), then
 * PACER_ASSIST_MAX_NS up to the ceiling (goal x PACER_CEILING_FACTOR),
 * UINT64_MAX past it. */
uint64_t pacer_model_assist_cap_ns(uint64_t goal, uint64_t heap_live, uint64_t bytes);
/* The goal a cycle falls back to when its live heap grew. */
uint64_t pacer_model_hard_goal(const pacer_model *m);

/* The CPU limiter's bucket.  Feed it, over an interval, the CPU time the
 * whole process had (wall x cores) and what GC used of it. */
typedef struct pacer_limiter {
    double fill_ns, capacity_ns;
    int full;
} pacer_limiter;

void pacer_limiter_init(pacer_limiter *l, int ncpu);
void pacer_limiter_feed(pacer_limiter *l, uint64_t total_cpu_ns, uint64_t gc_cpu_ns);

/* ------------------------------------------------------------ the runtime */

void pacer_init(int gc_percent, int64_t memory_limit, double bg_utilization);
/* fork() support (PLAT_FORK_*): pacer_lock, limiter_lock. */
void pacer_fork(int stage);
void pacer_note_allocated(uint64_t bytes);
void pacer_note_unused(uint64_t bytes);
int pacer_should_trigger(void);

/* Pause 1: a cycle starts marking; assists may begin. */
void pacer_start_cycle(void);
/* Pause 2: marking ended.  The caller fills in what the cycle measured
 * (collector.c); heap_start, scan_work and ncpu are set here from the
 * pacer's own counters. */
void pacer_end_cycle(pacer_cycle *c);
/* After sweeping: memory held outside the heap estimate changed. */
void pacer_set_overhead(uint64_t bytes);

/* Markers report scan work: bytes of objects they marked.  background: a
 * mark worker (its work becomes credit that assists may take). */
void pacer_note_scan(uint64_t bytes, int background);
/* Any GC CPU, for the limiter (workers, assists, pauses, sweeping). */
void pacer_note_gc_cpu(uint64_t ns);

/* Charge the calling thread for `bytes` just allocated while marking, and
 * make it pay: steal background credit, else mark, for at most
 * pacer_model_assist_cap_ns.  Cheap when not marking. */
struct tc_thread;
void pacer_assist(struct tc_thread *t, uint64_t bytes);
/* Assist CPU this cycle so far, and take it (resets). */
uint64_t pacer_take_cycle_assist_ns(void);
/* Nonzero if the CPU limiter suspended an assist this cycle. */
int pacer_take_cycle_limited(void);

int pacer_limiter_full(void);
uint64_t pacer_heap_estimate(void);
uint64_t pacer_goal(void);
uint64_t pacer_trigger(void);
int pacer_gc_percent(void);
int64_t pacer_memory_limit(void);

#endif
