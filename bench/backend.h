/*
 * backend.h — lets one benchmark source build against three collectors.
 *
 *   -DBACKEND_TRICOLOR   tricolor: typed tc_alloc, TC_ROOTS frames, TC_WRITE
 *   -DBACKEND_BOEHM      Boehm GC at its default settings (GC_INIT(),
 *                        non-incremental, parallel marking as shipped):
 *                        GC_MALLOC / GC_MALLOC_ATOMIC, conservative stack
 *                        scanning, so roots and barriers become no-ops and
 *                        plain stores.
 *   -DBACKEND_BOEHM -DBACKEND_BOEHM_INCREMENTAL
 *                        the same, after GC_enable_incremental(): Boehm's
 *                        own low-pause mode, the second baseline.
 *
 * What a benchmark uses:
 *   BK_PTR_TYPE(id, "name")    a type of objects holding references
 *   BK_LEAF_TYPE(id, "name")   a type of objects holding none (never scanned)
 *   bk_start_clock(); bk_init()   start the clock, then the collector (and
 *                              the recorder of record.h)
 *   bk_alloc(&id, size)        a zeroed object of a pointer type
 *   bk_alloc_leaf(&id, size)   a zeroed object of a leaf type
 *   BK_ROOTS(a, b, ...)        register C locals as roots to end of scope
 *   BK_WRITE(obj, field, val)  obj->field = val, through the write barrier
 *   BK_WRITE_SLOT(obj, p, v)   *p = v where p points into heap object obj
 *   BK_SAFEPOINT()             in loops that do not allocate (tree walks)
 *   bk_thread_start / bk_thread_join   a mutator thread that may allocate
 *   bk_print_result(bench, checksum, extra_json)   the one result line
 * and from record.h the measured phase and the mutator-observed gaps; weak
 * references, finalizers and full collections are at the end of this
 * file (bk_weak_new, bk_finalizer_set, bk_collect, ...).
 *
 * Pauses.  tricolor times each stop-the-world pause itself (stop request
 * to restart) and keeps the newest TC_PAUSE_RING in its stats, with the
 * time each ended; the recorder polls that ring often enough to keep
 * every one.  For Boehm, every collection from GC_EVENT_START to
 * GC_EVENT_END is a pause: in the default non-incremental mode the whole
 * collection runs with the world stopped (and the allocation lock held).
 * In incremental mode, collections advance in small marking steps inside
 * allocations and finish in GC_stopped_mark without any
 * GC_EVENT_START/END, so outside a START..END window a pause is timed from
 * GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD.  The incremental
 * marking steps are not pauses: the mutator-observed gaps see them.
 * Sweeping is lazy in both collectors and is not part of a pause.
 */
#ifndef BENCH_BACKEND_H
#define BENCH_BACKEND_H

#include <pthread.h>
#include <stdarg.h>
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

static inline void bk_die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

static inline uint64_t bk__gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A stride that visits every position of n once per n steps, scattered:
 * the first integer from floor(n * 0.6180339887) up that is coprime with
 * n (ephemeron and finalizer drop their objects in this order; bench/run
 * computes the same for their checksums). */
static inline uint64_t bk_stride_of(uint64_t n)
{
    uint64_t m = (uint64_t)((double)n * 0.6180339887);
    while (bk__gcd(m, n) != 1)
        m++;
    return m;
}

#include "mmu.h"

/* Every pause of the run as [start, end] in bk_now_ns()'s clock, kept
 * outside any GC heap.  Boehm's collection
 * events append to it (with the allocation lock held); for tricolor the
 * recorder's poll does (under bk__pause_lock). */
enum { BK_PAUSE_CAP = 1 << 20 };
static mmu_gap *bk__pauses;
static uint64_t bk__npauses, bk__pauses_lost;

static inline void bk__pause_add(uint64_t start, uint64_t end)
{
    if (bk__npauses < BK_PAUSE_CAP)
        bk__pauses[bk__npauses++] = (mmu_gap){start, end};
    else
        bk__pauses_lost++;
}

static inline void bk__pauses_init(void)
{
    bk__pauses = malloc(BK_PAUSE_CAP * sizeof bk__pauses[0]);
    if (!bk__pauses)
        bk_die("cannot allocate the pause log");
}

/* A thread's entry and its argument, handed to the backend's trampoline. */
typedef struct bk__thread_arg {
    void *(*fn)(void *);
    void *arg;
} bk__thread_arg;

static inline bk__thread_arg *bk__thread_arg_new(void *(*fn)(void *), void *arg)
{
    bk__thread_arg *a = malloc(sizeof *a);
    if (!a)
        bk_die("cannot allocate a thread argument");
    a->fn = fn;
    a->arg = arg;
    return a;
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

/* How near its goal the pacer keeps the heap, from every cycle the trigger
 * started (tc_collect's are left out): the worst heap at mark end over that
 * cycle's goal, how many cycles ended more than 5% past it, and the peak
 * heap at mark end over the live heap the cycle before it had found.
 * These are benchmark figures, not test bounds: on a busy machine the mark
 * workers get less CPU and cycles end later (tests/test_pacing.c). */
static struct {
    pthread_mutex_t lock;
    double worst_end_over_goal, peak_end_over_live;
    uint64_t cycles, over_5pct, last_marked;
} bk__pace = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void bk__on_cycle(const tc_cycle_info *c, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&bk__pace.lock);
    if (!c->forced && c->heap_goal != UINT64_MAX && c->heap_goal > 0) {
        double r = (double)c->heap_end / (double)c->heap_goal;
        bk__pace.cycles++;
        bk__pace.over_5pct += r > 1.05;
        if (r > bk__pace.worst_end_over_goal)
            bk__pace.worst_end_over_goal = r;
        if (bk__pace.last_marked) {
            double p = (double)c->heap_end / (double)bk__pace.last_marked;
            if (p > bk__pace.peak_end_over_live)
                bk__pace.peak_end_over_live = p;
        }
    }
    bk__pace.last_marked = c->heap_marked;
    pthread_mutex_unlock(&bk__pace.lock);
}

/* BENCH_STALLS_US=N (bench/run sets 1000): tricolor's stall tracer at N
 * microseconds; its lines go to stderr, its totals into the result. */
static inline int bk__stalls_us(void)
{
    const char *s = getenv("BENCH_STALLS_US");
    return s && *s ? atoi(s) : 0;
}

static inline void bk__backend_init(void)
{
    bk__tc_origin_ns = bk_now_ns();
    tc_config cfg = TC_CONFIG_INIT;
    if (bk__stalls_us() > 0)
        cfg.debug_stalls_us = bk__stalls_us();
    int err = tc_init(&cfg);
    if (err != TC_OK) {
        fprintf(stderr, "bench: tc_init failed: %s\n", tc_strerror(err));
        exit(1);
    }
    tc_set_cycle_callback(bk__on_cycle, NULL);
}

static inline void bk_shutdown(void) { tc_shutdown(); }

static inline void *bk__alloc(const bk_type *t, size_t size)
{
    void *p = tc_alloc(t, size);
    if (!p)
        bk_oom(size);
    return p;
}

static inline void *bk__alloc_leaf(const bk_type *t, size_t size) { return bk__alloc(t, size); }

#define BK_ROOTS(...) TC_ROOTS(__VA_ARGS__)
/* tricolor stops threads cooperatively: a loop that does not allocate
 * polls, or a pause waits for it to finish (time-to-safepoint). */
#define BK_SAFEPOINT() tc_safepoint()
/* Long work on memory the collector does not manage (sorting the
 * measurements): in a blocking region, or a pause would wait for it to
 * end (tricolor stops threads cooperatively).  Sorting latency's million
 * samples once held a pause 2 for 84 ms of time-to-safepoint. */
#define BK_BLOCKING_BEGIN() tc_blocking_enter()
#define BK_BLOCKING_END() tc_blocking_leave()
#define BK_WRITE(obj, field, val) TC_WRITE(obj, field, val)
#define BK_WRITE_SLOT(obj, slotp, val)                                        \
    tc_write((void *)(obj), (void **)(slotp), (void *)(val))

/* tc_stats is large (two 256-entry rings): keep it off the stack.  Used
 * by the recorder's thread and, after it has stopped, the main thread. */
static tc_stats bk__stats;
static pthread_mutex_t bk__pause_lock = PTHREAD_MUTEX_INITIALIZER;

/* Moves the pauses that ended since the last poll from tricolor's ring to
 * the pause log.  Polled every few ms, far faster than 256 pauses can
 * happen; bk__pauses_lost counts any the ring overwrote first. */
static inline void bk__poll_pauses(const tc_stats *st)
{
    pthread_mutex_lock(&bk__pause_lock);
    static uint64_t seen;
    uint64_t n = st->num_pauses;
    if (n - seen > TC_PAUSE_RING) {
        bk__pauses_lost += n - seen - TC_PAUSE_RING;
        seen = n - TC_PAUSE_RING;
    }
    for (; seen < n; seen++) {
        unsigned slot = (unsigned)(seen % TC_PAUSE_RING);
        uint64_t end = bk__tc_origin_ns + st->pause_end_ns[slot];
        bk__pause_add(end - st->pause_ns[slot], end);
    }
    pthread_mutex_unlock(&bk__pause_lock);
}

static inline void bk_gc_stats(uint64_t *cycles, uint64_t *max_pause_ns)
{
    tc_read_stats(&bk__stats);
    bk__poll_pauses(&bk__stats);
    *cycles = bk__stats.cycles;
    *max_pause_ns = bk__stats.pause_max_ns;
}

/* What the recorder samples: the heap in use, the heap held (mapped and
 * backed), and the pacer's goal and trigger. */
static inline void bk__heap_sample(uint64_t *inuse, uint64_t *held, uint64_t *goal,
                                   uint64_t *trigger)
{
    tc_read_stats(&bk__stats);
    bk__poll_pauses(&bk__stats);
    *inuse = bk__stats.heap_inuse;
    /* The two are read one after the other while the heap changes. */
    uint64_t mapped = bk__stats.heap_mapped, released = bk__stats.heap_released;
    *held = mapped > released ? mapped - released : 0;
    *goal = bk__stats.heap_goal;
    *trigger = bk__stats.next_gc_trigger;
}

static inline void *bk__thread_main(void *p)
{
    bk__thread_arg a = *(bk__thread_arg *)p;
    free(p);
    if (tc_thread_attach() != TC_OK)
        bk_die("tc_thread_attach failed");
    void *r = a.fn(a.arg);
    tc_thread_detach();
    return r;
}

typedef pthread_t bk_thread;

/* A mutator thread running fn(arg), attached to the collector. */
static inline void bk_thread_start(bk_thread *t, void *(*fn)(void *), void *arg)
{
    if (pthread_create(t, NULL, bk__thread_main, bk__thread_arg_new(fn, arg)) != 0)
        bk_die("pthread_create failed");
}

/* Waits in a blocking region: the collector may stop the world meanwhile. */
static inline void *bk_thread_join(bk_thread t)
{
    void *r = NULL;
    tc_blocking_enter();
    pthread_join(t, &r);
    tc_blocking_leave();
    return r;
}

/* The stall tracer's totals over the whole run (set-up and checks too):
 * ",\"stalls\":N,\"stall_max_ms\":x,\"stall_<cause>_ms\":y,...". */
static inline void bk__stall_fields(char *extra, size_t cap)
{
    if (bk__stalls_us() <= 0)
        return;
    tc_read_stats(&bk__stats);
    size_t n = strlen(extra);
    n += (size_t)snprintf(extra + n, cap - n, ",\"stalls\":%llu,\"stall_max_ms\":%.3f",
                          (unsigned long long)bk__stats.stalls, bk__stats.stall_max_ns / 1e6);
    for (int c = 0; c < TC_STALL_CAUSES && n < cap; c++)
        n += (size_t)snprintf(extra + n, cap - n, ",\"stall_%s_ms\":%.3f", tc_stall_cause_name(c),
                              bk__stats.stall_cause_ns[c] / 1e6);
}

static inline void bk__backend_fields(char *extra, size_t cap)
{
    pthread_mutex_lock(&bk__pace.lock);
    if (bk__pace.cycles)
        snprintf(extra, cap, ",\"pacer_cycles\":%llu,\"pacer_worst_end_over_goal\":%.4f,"
                 "\"pacer_cycles_over_5pct\":%llu,\"pacer_peak_end_over_live\":%.4f",
                 (unsigned long long)bk__pace.cycles, bk__pace.worst_end_over_goal,
                 (unsigned long long)bk__pace.over_5pct, bk__pace.peak_end_over_live);
    pthread_mutex_unlock(&bk__pace.lock);
    bk__stall_fields(extra, cap);
}

/* =================================================================== Boehm */
#else

#define GC_THREADS /* GC_pthread_create, GC_allow_register_threads */
#include <gc.h>
/* The recorder's sampling thread never touches the GC heap: it is created
 * with the real pthread_create, and mutators with GC_pthread_create. */
#undef pthread_create
#undef pthread_join

#if defined(BACKEND_BOEHM_INCREMENTAL)
#define BK_NAME "boehm-inc"
#else
#define BK_NAME "boehm"
#endif

typedef struct bk_type {
    const char *name;
} bk_type;
#define BK_PTR_TYPE(id, name_) static const bk_type id = {(name_)}
#define BK_LEAF_TYPE(id, name_) static const bk_type id = {(name_)}

static uint64_t bk__max_pause_ns;
static uint64_t bk__pause_start_ns; /* 0 when no pause is being timed */
static int bk__in_collection;       /* inside GC_EVENT_START..END */
/* The last marking phase (GC_EVENT_MARK_START..END), for markrate. */
static uint64_t bk__mark_start_ns, bk__mark_start_cpu_ns;
static uint64_t bk__last_mark_ns, bk__last_mark_cpu_ns;

static inline uint64_t bk__process_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bk__pause_end(void)
{
    if (bk__pause_start_ns) {
        uint64_t end = bk_now_ns();
        bk__pause_add(bk__pause_start_ns, end);
        if (end - bk__pause_start_ns > bk__max_pause_ns)
            bk__max_pause_ns = end - bk__pause_start_ns;
    }
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
    case GC_EVENT_MARK_START:
        bk__mark_start_ns = bk_now_ns();
        bk__mark_start_cpu_ns = bk__process_cpu_ns();
        break;
    case GC_EVENT_MARK_END:
        bk__last_mark_ns = bk_now_ns() - bk__mark_start_ns;
        bk__last_mark_cpu_ns = bk__process_cpu_ns() - bk__mark_start_cpu_ns;
        break;
    default:
        break;
    }
}

static inline void bk__backend_init(void)
{
    GC_INIT();
    GC_allow_register_threads();
    GC_start_performance_measurement();
    GC_set_on_collection_event(bk__on_event);
#if defined(BACKEND_BOEHM_INCREMENTAL)
    GC_enable_incremental();
#endif
}

static inline void bk_shutdown(void) {}

static inline void *bk__alloc(const bk_type *t, size_t size)
{
    (void)t;
    void *p = GC_MALLOC(size); /* zeroed, scanned conservatively */
    if (!p)
        bk_oom(size);
    return p;
}

static inline void *bk__alloc_leaf(const bk_type *t, size_t size)
{
    (void)t;
    void *p = GC_MALLOC_ATOMIC(size); /* never scanned, NOT zeroed */
    if (!p)
        bk_oom(size);
    memset(p, 0, size); /* same contract as tc_alloc: zeroed */
    return p;
}

#define BK_ROOTS(...) ((void)0)
#define BK_SAFEPOINT() ((void)0) /* Boehm stops threads with signals */
#define BK_BLOCKING_BEGIN() ((void)0)
#define BK_BLOCKING_END() ((void)0)
#define BK_WRITE(obj, field, val) ((void)((obj)->field = (val)))
#define BK_WRITE_SLOT(obj, slotp, val) ((void)(obj), (void)(*(slotp) = (val)))

static inline void bk_gc_stats(uint64_t *cycles, uint64_t *max_pause_ns)
{
    *cycles = (uint64_t)GC_get_gc_no();
    *max_pause_ns = bk__max_pause_ns;
}

/* Boehm has no goal or trigger: those are 0.  The heap in use is its heap
 * less the free blocks (blocks holding objects, as tricolor's heap_inuse
 * counts spans holding objects); held is the heap less unmapped pages. */
static inline void bk__heap_sample(uint64_t *inuse, uint64_t *held, uint64_t *goal,
                                   uint64_t *trigger)
{
    GC_word heap, free_bytes, unmapped, since_gc, total;
    GC_get_heap_usage_safe(&heap, &free_bytes, &unmapped, &since_gc, &total);
    *inuse = heap - free_bytes;
    *held = heap;
    *goal = *trigger = 0;
}

typedef pthread_t bk_thread;

static inline void *bk__thread_main(void *p)
{
    bk__thread_arg a = *(bk__thread_arg *)p;
    free(p);
    return a.fn(a.arg);
}

/* A mutator thread running fn(arg), registered with Boehm GC. */
static inline void bk_thread_start(bk_thread *t, void *(*fn)(void *), void *arg)
{
    if (GC_pthread_create(t, NULL, bk__thread_main, bk__thread_arg_new(fn, arg)) != 0)
        bk_die("GC_pthread_create failed");
}

static inline void *bk_thread_join(bk_thread t)
{
    void *r = NULL;
    GC_pthread_join(t, &r);
    return r;
}

/* Boehm's own account: total time of its full collections
 * (GC_get_full_gc_total_time, ms), which mode ran, and how many threads
 * mark (this libgc starts its helper markers once thread registration is
 * allowed, which bk__backend_init does: parallel marking, as shipped). */
static inline void bk__backend_fields(char *extra, size_t cap)
{
    size_t len = strlen(extra);
    snprintf(extra + len, cap - len,
             ",\"boehm_gc_total_ms\":%lu,\"incremental\":%d,\"boehm_markers\":%d",
             GC_get_full_gc_total_time(), GC_is_incremental_mode(), GC_get_parallel() + 1);
}

#endif

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

#include "record.h"

/* ================================================ weak references, finalizers
 *
 * For weakref, ephemeron and finalizer (allocating through record.h, so
 * after it):
 *   bk_weak_new(target)     a weak reference to target: a one-word cell in
 *                           the GC heap whose word the collector clears
 *                           once target is unreachable
 *   bk_weak_get(cell)       its target, or NULL once cleared
 *   bk_weak_cleared(cell)   1 if the collector has cleared it; unlike
 *                           bk_weak_get, never keeps the target alive (it
 *                           only compares the word with NULL)
 *   bk_finalizer_set(obj, fn, ctx)   fn(obj, ctx) runs once obj is
 *                           unreachable (both collectors: once, in
 *                           topological order)
 *   bk_finalizers_run()     run what is ready on the calling thread, if
 *                           the backend leaves that to the program;
 *                           returns how many ran
 *   bk_collect()            a full collection, swept, that started after
 *                           the call
 *   BK_HAS_EPHEMERONS       1 if the backend has ephemerons (tricolor's
 *                           TC_LAYOUT_EPHEMERON; Boehm GC 8.2 has none)
 *   BK_FINAL_COLLECTIONS    full collections a benchmark's final check may
 *                           make while dropped objects remain (uncleared,
 *                           unfinalized), and
 *   BK_RETAIN_TOLERANCE     how many may still remain after them: 1 and 0
 *                           for tricolor, which is precise; 4 and 16 for
 *                           Boehm GC, whose conservative scan may take a
 *                           stale word for a reference and keep a dropped
 *                           object (the check reports how many, as
 *                           "retained").  Seen here: in incremental mode,
 *                           1 to 5 of 1,250,000 dropped keys survive the
 *                           first GC_gcollect and go with the second; and
 *                           now and then one object for good, the first of
 *                           a heap section, pointed to by Boehm's own mmap
 *                           hint (the static last_addr of
 *                           GC_unix_mmap_get_mem, in libgc's data, which
 *                           it scans as a root).
 *
 * tricolor: the cell is a one-word TC_LAYOUT_WEAK object, read with
 * tc_weak_read; finalizers run on the library's finalizer thread
 * (TC_FINALIZE_THREAD, the default), so bk_finalizers_run has nothing to
 * do.  Boehm GC: the cell is an atomic (never scanned) object holding the
 * plain pointer, registered with GC_general_register_disappearing_link;
 * the benchmarks read it without the allocation lock, which is safe only
 * because a single mutator thread touches the cells and Boehm collects on
 * the allocating thread (the lock matters when another thread may collect
 * meanwhile).  Finalizers run as Boehm runs them by default (from
 * allocations and collections on the mutator thread, no finalize-on-
 * demand); bk_finalizers_run is GC_invoke_finalizers.
 */
#if defined(BACKEND_TRICOLOR)

#define BK_HAS_EPHEMERONS 1
#define BK_FINAL_COLLECTIONS 1
#define BK_RETAIN_TOLERANCE 0

static const tc_type bk__weak_type = {.name = "weak reference", .layout = TC_LAYOUT_WEAK};

static inline void **bk_weak_new(void *target)
{
    void **w = bk_alloc(&bk__weak_type, sizeof(void *));
    tc_weak_write(w, &w[0], target);
    return w;
}

static inline void *bk_weak_get(void **cell) { return tc_weak_read(cell); }
static inline int bk_weak_cleared(void **cell) { return tc_read(cell) == NULL; }

typedef tc_finalizer_fn bk_finalizer_fn;

static inline void bk_finalizer_set(void *obj, bk_finalizer_fn fn, void *ctx)
{
    int err = tc_finalizer_set(obj, fn, ctx);
    if (err != TC_OK) {
        fprintf(stderr, "bench: tc_finalizer_set failed: %s\n", tc_strerror(err));
        exit(1);
    }
}

static inline size_t bk_finalizers_run(void) { return 0; /* the finalizer thread runs them */ }
static inline void bk_collect(void) { tc_collect(); }

#else

#define BK_HAS_EPHEMERONS 0
#define BK_FINAL_COLLECTIONS 4
#define BK_RETAIN_TOLERANCE 16

BK_LEAF_TYPE(bk__weak_type, "weak reference");

static inline void **bk_weak_new(void *target)
{
    void **w = bk_alloc_leaf(&bk__weak_type, sizeof(void *)); /* atomic: not a strong ref */
    *w = target;
    if (GC_general_register_disappearing_link(w, target) != GC_SUCCESS)
        bk_die("GC_general_register_disappearing_link failed");
    return w;
}

static inline void *bk_weak_get(void **cell) { return *(void *volatile *)cell; }
static inline int bk_weak_cleared(void **cell) { return *(void *volatile *)cell == NULL; }

typedef GC_finalization_proc bk_finalizer_fn;

static inline void bk_finalizer_set(void *obj, bk_finalizer_fn fn, void *ctx)
{
    GC_register_finalizer(obj, fn, ctx, NULL, NULL);
}

static inline size_t bk_finalizers_run(void) { return (size_t)GC_invoke_finalizers(); }

/* Zero a stretch of the stack below the caller's frame, so that stale
 * pointers left there by earlier calls do not keep dead objects alive
 * through Boehm's conservative stack scan (which would make a benchmark's
 * exact check of what was cleared or finalized fail for no fault of the
 * collector's algorithm). */
static __attribute__((noinline)) void bk__clear_stack(void)
{
    volatile char buf[64 * 1024];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
}

static inline void bk_collect(void)
{
    bk__clear_stack();
    GC_gcollect();
}

#endif

/* A failed check of benchmark `bench`: "bench[backend]: message", exit 1. */
static inline void bk_fail(const char *bench, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static inline void bk_fail(const char *bench, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s[%s]: ", bench, BK_NAME);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* The heap's bytes holding objects now (bench/objsize.c): tricolor's
 * heap_inuse, Boehm GC's heap size less its free bytes. */
static inline uint64_t bk_heap_inuse(void)
{
    uint64_t inuse, held, goal, trigger;
    bk__heap_sample(&inuse, &held, &goal, &trigger);
    return inuse;
}

#endif /* BENCH_BACKEND_H */
