/* test_pacing.c — the pacer, assists and the scavenger on the real heap.
 *
 * Each scenario runs in a forked child (tu_run_isolated) with its own
 * tc_config: a live set of small SLOTS objects hanging off one rooted
 * array, then churn — garbage of mixed small sizes, and every eighth
 * allocation a live object replaced, so the live heap stays constant while
 * the program allocates many times it.  The checks are what the pacer
 * promises (docs/design.md §10, §11): the heap ends cycles near their
 * goal, twice the last cycle's scan work at GC percent 100, and so near
 * twice the live heap; a memory limit bounds the memory held; a
 * limit below the live heap is overshot, never an allocation failure or a
 * stall; free pages go back to the OS after a peak; assists happen and
 * are counted consistently; tc_set_gc_percent applies at once.
 *
 * Every bound here holds on a busy machine: the checks are what the design
 * guarantees whatever the timing (exact goals, exact accounting, the
 * ceiling the heap cannot pass while assists work, progress), never how
 * close the pacer comes to its goal on an idle machine.  That closeness is
 * a benchmark figure: bench/run reports each case's worst cycle end over
 * its goal and its peak heap over the live heap.  Work is counted in bytes
 * allocated, not in seconds, and deadlines only catch hangs.
 *
 * The children print what they measured (one "pacing:" line each): the
 * numbers behind the bounds, for whoever tunes them next.
 * TC_PACING_VERBOSE=1 prints the RSS curve of the scavenger test;
 * TC_PACING_ONLY=pattern runs only the tests whose names match. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "heap.h"
#include "pacer.h"
#include "test_util.h"

#define MiB ((uint64_t)1 << 20)
#define TIME_LIMIT 150 /* per child; each takes a few seconds */
#define CHURN_DEADLINE 100.0 /* seconds: churn stops there only if something hangs */

static double mib(uint64_t b) { return (double)b / (double)MiB; }

/* Under a sanitizer (TC_PACING_SANITIZER=1, set by tests/CMakeLists.txt)
 * the program runs 3-10x slower and the sanitizer's shadow memory follows
 * the heap: every live set and limit is a quarter the size (the bounds
 * are ratios, they hold the same), throughput floors are a tenth, and the
 * RSS test is skipped (the shadow of the peak stays resident). */
static int sanitized;
static double scale = 1;

static uint64_t scaled(uint64_t bytes) { return (uint64_t)((double)bytes * scale); }

/* A live object: SLOTS, every word a tagged integer (scanned, but points
 * nowhere), 240 bytes + the 16-byte header = 256 bytes. */
#define LIVE_PAYLOAD 240
static const tc_type live_type = {.name = "live", .layout = TC_LAYOUT_SLOTS};
static const tc_type array_type = {.name = "array", .layout = TC_LAYOUT_SLOTS};

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void *new_live(uint64_t tag)
{
    void **o = tc_alloc(&live_type, LIVE_PAYLOAD);
    TU_REQUIRE(o != NULL, "tc_alloc failed");
    o[0] = TU_TAG(tag); /* fresh and not yet reachable: a plain store */
    return o;
}

/* The live set: a rooted array of n live objects.  Returns the array; the
 * caller roots it (the array is itself a large SLOTS object). */
static void **make_live_set(size_t n)
{
    void **arr = tc_alloc(&array_type, n * sizeof(void *));
    TU_REQUIRE(arr != NULL, "tc_alloc of the %zu-slot array failed", n);
    TC_ROOTS(arr);
    for (size_t i = 0; i < n; i++)
        tc_write(arr, &arr[i], new_live(i));
    return arr;
}

/* ------------------------------------------------------ measurements */

/* Filled by the cycle callback (collector thread) and read by the child's
 * main thread; each child starts from zero (the parent never runs a
 * collector). */
static struct {
    pthread_mutex_t lock;
    uint64_t cycles, max_heap_end, max_heap_end_goal, sum_assist, sum_background;
    uint64_t limited_cycles, last_goal, last_cycle, last_marked, max_goal;
    double worst_end_over_goal; /* max heap_end / heap_goal of triggered cycles */
    /* heap_goal / (2 x the last cycle's heap_marked), over cycles at GC
     * percent 100 after the first reported: the goal is twice the scan
     * work, which heap_marked (+ black allocation) bounds. */
    double goal_over_2marked_min, goal_over_2marked_max;
} cl = {.lock = PTHREAD_MUTEX_INITIALIZER, .goal_over_2marked_min = 1e9};

static void on_cycle(const tc_cycle_info *c, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&cl.lock);
    cl.cycles++;
    if (cl.last_marked && pacer_gc_percent() == 100 && c->heap_goal > ((uint64_t)4 << 20)) {
        double g = (double)c->heap_goal / (2.0 * (double)cl.last_marked);
        if (g < cl.goal_over_2marked_min)
            cl.goal_over_2marked_min = g;
        if (g > cl.goal_over_2marked_max)
            cl.goal_over_2marked_max = g;
    }
    cl.last_marked = c->heap_marked;
    cl.last_cycle = c->cycle;
    cl.last_goal = c->heap_goal;
    if (c->heap_goal > cl.max_goal)
        cl.max_goal = c->heap_goal;
    if (c->heap_end > cl.max_heap_end) {
        cl.max_heap_end = c->heap_end;
        cl.max_heap_end_goal = c->heap_goal;
    }
    cl.sum_assist += c->cpu_assist_ns;
    cl.sum_background += c->cpu_background_ns;
    cl.limited_cycles += c->cpu_limited != 0;
    double r = (double)c->heap_end / (double)c->heap_goal;
    if (!c->forced && r > cl.worst_end_over_goal)
        cl.worst_end_over_goal = r;
    pthread_mutex_unlock(&cl.lock);
}

static uint64_t cl_get(const uint64_t *field)
{
    pthread_mutex_lock(&cl.lock);
    uint64_t v = *field;
    pthread_mutex_unlock(&cl.lock);
    return v;
}

static double worst_end_over_goal(void)
{
    pthread_mutex_lock(&cl.lock);
    double v = cl.worst_end_over_goal;
    pthread_mutex_unlock(&cl.lock);
    return v;
}

static tc_stats st; /* 4 KiB: off the stack */

static tc_stats *stats(void)
{
    tc_read_stats(&st);
    return &st;
}

static uint64_t oom_calls;

static void count_oom(void *ctx, size_t requested)
{
    (void)ctx;
    (void)requested;
    __atomic_add_fetch(&oom_calls, 1, __ATOMIC_RELAXED);
}

/* What churn saw. */
typedef struct churn_result {
    uint64_t bytes;           /* allocated (requested payload) */
    uint64_t max_inuse, max_sys;
    double seconds;
    uint64_t failed;          /* tc_alloc returned NULL */
    uint64_t cpu_ns, assist_ns; /* this thread's CPU, and what assists took of it */
} churn_result;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double tv_ms(struct timeval tv) { return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3; }

static const tc_type garbage_leaf = {.name = "garbage", .layout = TC_LAYOUT_LEAF};
static const tc_type garbage_slots = {.name = "garbage_slots", .layout = TC_LAYOUT_SLOTS};

/* Allocate garbage of mixed small sizes until `bytes` have been allocated
 * or `max_seconds` have passed, replacing a live object every eighth
 * allocation; sample heap_inuse and sys_bytes every 1024 allocations. */
static churn_result churn(void **arr, size_t n, uint64_t bytes, double max_seconds)
{
    static const size_t sizes[8] = {16, 24, 32, 48, 64, 96, 128, 200};
    churn_result r = {0};
    uint64_t t0 = tu_now_ns(), deadline = t0 + (uint64_t)(max_seconds * 1e9);
    uint64_t cpu0 = thread_cpu_ns(), assist0 = tc_thread_assist_ns();
    for (uint64_t i = 0; r.bytes < bytes; i++) {
        uint64_t x = rnd();
        size_t size = sizes[x & 7];
        void *p = tc_alloc((x >> 3) & 1 ? &garbage_leaf : &garbage_slots, size);
        r.failed += p == NULL;
        r.bytes += size;
        if (((x >> 4) & 7) == 0) {
            tc_write(arr, &arr[(x >> 8) % n], new_live(i));
            r.bytes += LIVE_PAYLOAD;
        }
        if ((i & 1023) == 0) {
            tc_read_stats(&st);
            if (st.heap_inuse > r.max_inuse)
                r.max_inuse = st.heap_inuse;
            if (st.sys_bytes > r.max_sys)
                r.max_sys = st.sys_bytes;
            if (tu_now_ns() > deadline)
                break;
        }
    }
    r.seconds = (double)(tu_now_ns() - t0) / 1e9;
    r.cpu_ns = thread_cpu_ns() - cpu0;
    r.assist_ns = tc_thread_assist_ns() - assist0;
    return r;
}

/* The live set of `live` bytes (objects of 256 bytes with their header),
 * and the marked heap a forced cycle then finds. */
static void **setup_live(uint64_t live, uint64_t *marked)
{
    void **arr = make_live_set(live / (LIVE_PAYLOAD + 16));
    TC_ROOTS(arr);
    tc_collect();
    *marked = stats()->heap_live;
    return arr;
}

static void run_scenario(const char *name, void (*scenario)(void), const tc_config *cfg)
{
    tu_run_isolated(name, scenario, cfg, TIME_LIMIT);
}

static tc_config config(int gc_percent, int64_t limit)
{
    tc_config c = TC_CONFIG_INIT;
    c.gc_percent = gc_percent;
    c.memory_limit = limit;
    c.trace = TC_TRACE_OFF;
    return c;
}

/* ------------------------------------------- (a) GC percent 100, peak heap */

static void sc_peak_at_gc100(void)
{
    void **arr = NULL;
    TC_ROOTS(arr);
    uint64_t live;
    arr = setup_live(scaled(32 * MiB), &live);
    size_t n = tc_size(arr) / sizeof(void *);
    /* A forced cycle with nothing allocated meanwhile: its scan work is
     * all it marked, so the goal is exactly twice the heap_live it left. */
    TU_CHECK(stats()->heap_goal == 2 * live, "goal %.2f MiB, live %.2f MiB", mib(st.heap_goal),
             mib(live));
    tc_set_cycle_callback(on_cycle, NULL);
    uint64_t c0 = stats()->cycles;
    churn_result r = churn(arr, n, 20 * live, CHURN_DEADLINE);
    tc_set_cycle_callback(NULL, NULL);
    uint64_t cycles = stats()->cycles - c0;
    uint64_t peak_end = cl_get(&cl.max_heap_end);
    pthread_mutex_lock(&cl.lock);
    double gmin = cl.goal_over_2marked_min, gmax = cl.goal_over_2marked_max;
    pthread_mutex_unlock(&cl.lock);
    printf("pacing: (a) live %.1f MiB, churned %.0f MiB in %.2f s, %llu cycles; peak heap_end "
           "%.1f MiB = %.3fx live (its goal %.1f MiB), worst heap_end/goal %.3f, peak heap_inuse "
           "%.1f MiB = %.3fx live; goal / (2 x last heap_live) %.3f..%.3f\n", mib(live),
           mib(r.bytes), r.seconds, (unsigned long long)cycles, mib(peak_end),
           (double)peak_end / (double)live, mib(cl_get(&cl.max_heap_end_goal)),
           worst_end_over_goal(), mib(r.max_inuse), (double)r.max_inuse / (double)live, gmin,
           gmax);
    TU_CHECK(r.bytes >= 20 * live, "churned only %.0f MiB in %.1f s", mib(r.bytes), r.seconds);
    /* At least one cycle per 4 x live allocated: a pacer that stopped
     * triggering would let the heap grow by all 20 x. */
    TU_CHECK(cycles >= 5, "%llu cycles", (unsigned long long)cycles);
    /* The goal is twice the last cycle's scan work, which leaves out what
     * was allocated black while marking: at most twice the heap_live it
     * reported (marked + black), and below that while allocating. */
    TU_CHECK(gmax <= 1.0 && gmin < 1.0, "goal / (2 x heap_live) from %.3f to %.3f", gmin, gmax);
    /* How near the goal cycles end (1.01-1.03x on 2 idle cores, up to
     * 1.19x beside two busy loops) is the benchmark's figure.  What holds
     * however busy the machine is: the heap does not run past the ceiling,
     * 2 x goal = 4 x live, past which an allocation assists until its
     * debt is paid (design.md §10): it can pass it only by what is in
     * flight (spans just handed out), so allow an eighth more; heap in use
     * counts whole spans, partly free ones included: 10% more again.
     * Beside busy programs the peak heap_end came to 3.3x. */
    TU_CHECK(peak_end <= 4.5 * (double)live, "peak heap_end %.1f MiB = %.3fx the live %.1f MiB",
             mib(peak_end), (double)peak_end / (double)live, mib(live));
    TU_CHECK(r.max_inuse <= 5.0 * (double)live, "peak heap_inuse %.1f MiB = %.3fx the live "
             "%.1f MiB", mib(r.max_inuse), (double)r.max_inuse / (double)live, mib(live));
}

static void peak_heap_at_gc100(void **state)
{
    (void)state;
    tc_config c = config(100, INT64_MAX);
    run_scenario("peak_heap_at_gc100", sc_peak_at_gc100, &c);
}

/* ------------------------------------------------- (b) a memory limit */

static void sc_memory_limit(void)
{
    tc_set_oom_handler(count_oom, NULL);
    tc_set_cycle_callback(on_cycle, NULL);
    void **arr = NULL;
    TC_ROOTS(arr);
    uint64_t live;
    arr = setup_live(scaled(150 * MiB), &live);
    size_t n = tc_size(arr) / sizeof(void *);
    uint64_t c0 = stats()->cycles;
    churn_result r = churn(arr, n, 2 * live, CHURN_DEADLINE);
    uint64_t cycles = stats()->cycles - c0;
    tc_set_cycle_callback(NULL, NULL);
    const double limit = (double)scaled(256 * MiB);
    printf("pacing: (b) limit %.0f MiB, live %.1f MiB: churned %.0f MiB in %.2f s, %llu cycles, "
           "max sys_bytes %.1f MiB = %.3fx the limit, max heap_inuse %.1f MiB, goal %.1f MiB, "
           "scavenged %.1f MiB\n", limit / (double)MiB, mib(live), mib(r.bytes), r.seconds,
           (unsigned long long)cycles, mib(r.max_sys), (double)r.max_sys / limit,
           mib(r.max_inuse), mib(stats()->heap_goal), mib(st.scavenged_bytes));
    /* Every cycle aimed below the limit (the goal is computed from it:
     * exact); the memory held came to 0.99x the limit on 2 idle cores and
     * 1.09x beside two busy loops (the heap overshoots its goal while
     * marking is starved: the limit is soft), and only a limit that was
     * ignored would let it double. */
    pthread_mutex_lock(&cl.lock);
    double max_goal = (double)cl.max_goal;
    pthread_mutex_unlock(&cl.lock);
    TU_CHECK(max_goal <= limit, "a cycle aimed at %.1f MiB", max_goal / (double)MiB);
    TU_CHECK(r.max_sys <= 2 * limit, "sys_bytes reached %.1f MiB", mib(r.max_sys));
    TU_CHECK(cycles >= 2, "%llu cycles", (unsigned long long)cycles);
    TU_CHECK(r.failed == 0 && oom_calls == 0, "%llu allocations failed",
             (unsigned long long)r.failed);
    TU_CHECK(r.bytes >= 2 * live, "churned only %.0f MiB", mib(r.bytes));
}

static void memory_limit_bounds_sys_bytes(void **state)
{
    (void)state;
    tc_config c = config(100, (int64_t)scaled(256 * MiB));
    run_scenario("memory_limit_bounds_sys_bytes", sc_memory_limit, &c);
}

/* ------------------------------------------- (c) a limit below the live heap */

static void sc_limit_below_live(void)
{
    tc_set_oom_handler(count_oom, NULL);
    tc_set_cycle_callback(on_cycle, NULL);
    void **arr = NULL;
    TC_ROOTS(arr);
    uint64_t live;
    arr = setup_live(scaled(100 * MiB), &live);
    size_t n = tc_size(arr) / sizeof(void *);
    uint64_t c0 = stats()->cycles, scav0 = st.scavenged_bytes;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    churn_result r = churn(arr, n, live, CHURN_DEADLINE);
    getrusage(RUSAGE_SELF, &ru1);
    uint64_t cycles = stats()->cycles - c0;
    tc_set_cycle_callback(NULL, NULL);
    const double limit = (double)scaled(64 * MiB);
    printf("pacing: (c) meanwhile: process user %.0f ms, system %.0f ms, %ld minor faults; "
           "scavenged %.0f MiB\n", tv_ms(ru1.ru_utime) - tv_ms(ru0.ru_utime),
           tv_ms(ru1.ru_stime) - tv_ms(ru0.ru_stime), ru1.ru_minflt - ru0.ru_minflt,
           mib(st.scavenged_bytes - scav0));
    printf("pacing: (c) limit %.0f MiB, live %.1f MiB: churned %.0f MiB in %.2f s (%.0f MB/s), "
           "%llu cycles (%llu cpu-limited), max sys_bytes %.1f MiB = %.2fx the limit, max "
           "heap_inuse %.1f MiB = %.2fx live, peak heap_end %.1f MiB; mutator CPU %.0f ms, of "
           "which assists %.0f ms\n", limit / (double)MiB, mib(live),
           mib(r.bytes), r.seconds, (double)r.bytes / r.seconds / 1e6,
           (unsigned long long)cycles, (unsigned long long)cl_get(&cl.limited_cycles),
           mib(r.max_sys), (double)r.max_sys / limit, mib(r.max_inuse),
           (double)r.max_inuse / (double)live, mib(cl_get(&cl.max_heap_end)),
           (double)r.cpu_ns / 1e6, (double)r.assist_ns / 1e6);
    /* Cycles run back to back (the goal is 1 MiB above the live heap):
     * the churn starts some, however busy the machine. */
    TU_CHECK(cycles >= 1, "%llu cycles", (unsigned long long)cycles);
    TU_CHECK(r.failed == 0 && oom_calls == 0, "%llu allocations failed",
             (unsigned long long)r.failed);
    /* Progress: cycles run back to back, yet the program allocates the
     * live heap again (at 100-130 MB/s on 2 idle cores, 37 MB/s on
     * busy ones; assists take 55-73% of the mutator's CPU: a benchmark
     * figure, as is the rate; test_pacer's limit_below_live_heap checks
     * the limiter and the mutator's share once it engages). */
    TU_CHECK(r.bytes >= live, "churned only %.0f MiB in %.1f s", mib(r.bytes), r.seconds);
    /* The documented behaviour: overshoot, not failure. */
    TU_CHECK(r.max_sys > limit, "sys_bytes %.1f MiB never exceeded the limit", mib(r.max_sys));
    /* And the goal is the live heap plus a little (the limit goal's floor):
     * the last cycle's scan work + 1 MiB.  While the program allocates,
     * heap_live (marked + black allocation) is above that scan work; after
     * a forced cycle with nothing allocated meanwhile, it is the scan work. */
    stats();
    printf("pacing: (c) goal - 1 MiB = %.3f MiB: live %+.3f MiB, heap_live %+.3f MiB\n",
           mib(st.heap_goal - MiB), mib(st.heap_goal - MiB) - mib(live),
           mib(st.heap_goal - MiB) - mib(st.heap_live));
    TU_CHECK(st.heap_goal - MiB <= st.heap_live, "goal %.3f MiB, heap_live %.3f MiB",
             mib(st.heap_goal), mib(st.heap_live));
    tc_collect();
    TU_CHECK(stats()->heap_goal == st.heap_live + MiB, "after tc_collect: goal %.3f MiB, "
             "heap_live %.3f MiB", mib(st.heap_goal), mib(st.heap_live));
}

static void limit_below_live_heap(void **state)
{
    (void)state;
    tc_config c = config(100, (int64_t)scaled(64 * MiB));
    run_scenario("limit_below_live_heap", sc_limit_below_live, &c);
}

/* ------------------------------------------------ (d) RSS after a peak */

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t rss_baseline;

static void sc_rss_falls(void)
{
    void **arr = NULL, **peak = NULL;
    TC_ROOTS(arr, peak);
    uint64_t live;
    arr = setup_live(20 * MiB, &live);
    /* 200 MiB more, rooted, in 1 KiB objects. */
    enum { PEAK_OBJECTS = 200 * 1024 };
    peak = tc_alloc(&array_type, PEAK_OBJECTS * sizeof(void *));
    TU_REQUIRE(peak != NULL, "tc_alloc failed");
    for (size_t i = 0; i < PEAK_OBJECTS; i++) {
        void *o = tc_alloc(&garbage_leaf, 1024 - 16);
        TU_REQUIRE(o != NULL, "tc_alloc failed");
        tc_write(peak, &peak[i], o);
    }
    tc_collect();
    uint64_t rss_peak = rss_bytes();
    peak = NULL;
    tc_collect();
    /* The scavenger keeps 1.1x the goal of heap pages (scavenge.h), and
     * the span structs of the peak's spans go back with them: the RSS
     * settles below 1.25x the goal within a second (1.13x at 0.45 s in
     * the runs measured, the metadata 8.8 -> 1.0 MiB); the test allows
     * 60 s, a deadline against a scavenger that stopped working. */
    uint64_t goal = stats()->heap_goal, meta = heap_metadata_bytes();
    double bound = 1.25 * (double)goal;
    uint64_t t0 = tu_now_ns(), rss = rss_bytes();
    int ok = 0;
    for (int i = 0; i <= 1200; i++) { /* every 50 ms, 60 s at most */
        rss = rss_bytes();
        if (getenv("TC_PACING_VERBOSE")) {
            stats();
            printf("  %.2f s: rss-base %.1f retained %.1f meta %.1f inuse %.1f goal %.1f\n",
                   (double)(tu_now_ns() - t0) / 1e9, mib(rss - rss_baseline),
                   mib(st.heap_mapped - st.heap_released),
                   mib(st.sys_bytes - (st.heap_mapped - st.heap_released)), mib(st.heap_inuse),
                   mib(st.heap_goal));
        }
        if ((double)(rss - rss_baseline) <= bound) {
            ok = 1;
            break;
        }
        tu_sleep_blocking(50);
    }
    double took = (double)(tu_now_ns() - t0) / 1e9;
    stats();
    printf("pacing: (d) live %.1f MiB, peak RSS %.1f MiB over the baseline %.1f MiB; after "
           "the drop: goal %.1f MiB, metadata %.1f -> %.1f MiB, RSS - baseline %.1f MiB = "
           "%.3fx goal after %.2f s (bound %.1f MiB); sys_bytes %.1f, released %.1f, scavenged "
           "%.1f MiB, scavenger CPU %.1f ms\n", mib(live), mib(rss_peak - rss_baseline),
           mib(rss_baseline), mib(goal), mib(meta), mib(heap_metadata_bytes()),
           mib(rss - rss_baseline),
           (double)(rss - rss_baseline) / (double)goal, took, bound / (double)MiB,
           mib(st.sys_bytes), mib(st.heap_released), mib(st.scavenged_bytes),
           (double)st.gc_cpu_scavenge_ns / 1e6);
    TU_CHECK(rss_peak - rss_baseline >= 200 * MiB, "the peak was only %.1f MiB",
             mib(rss_peak - rss_baseline));
    TU_CHECK(ok, "RSS - baseline still %.1f MiB after 60 s, goal %.1f MiB, bound %.1f MiB",
             mib(rss - rss_baseline), mib(goal), bound / (double)MiB);
}

/* The baseline is taken right after tc_init, in the child: a scenario
 * wrapper that runs first. */
static void sc_rss_with_baseline(void)
{
    rss_baseline = rss_bytes();
    sc_rss_falls();
}

static void rss_falls_after_peak(void **state)
{
    (void)state;
    if (sanitized)
        skip();
    tc_config c = config(100, INT64_MAX); /* scavenge: unset, the default (dontneed) */
    run_scenario("rss_falls_after_peak", sc_rss_with_baseline, &c);
}

/* --------------------------------------------------- (e) assists counted */

static void sc_assists(void)
{
    tc_set_cycle_callback(on_cycle, NULL); /* every cycle since tc_init */
    void **arr = NULL;
    TC_ROOTS(arr);
    uint64_t live;
    arr = setup_live(scaled(96 * MiB), &live);
    size_t n = tc_size(arr) / sizeof(void *);
    uint64_t c0 = stats()->cycles;
    churn_result r = churn(arr, n, live, CHURN_DEADLINE);
    tc_collect(); /* its report arrives before it returns, and every earlier one */
    tc_set_cycle_callback(NULL, NULL);
    stats();
    uint64_t mine = tc_thread_assist_ns();
    uint64_t cycles = st.cycles - c0;
    printf("pacing: (e) GC 25%%, live %.1f MiB: churned %.0f MiB in %.2f s, %llu cycles; "
           "assist CPU %.1f ms (this thread %.1f ms, cycles' sum %.1f ms), background %.1f ms, "
           "%llu cpu-limited cycles, peak heap_end %.1f MiB = %.2fx its goal\n",
           mib(live), mib(r.bytes), r.seconds, (unsigned long long)cycles,
           (double)st.gc_cpu_assist_ns / 1e6, (double)mine / 1e6,
           (double)cl_get(&cl.sum_assist) / 1e6, (double)st.gc_cpu_background_ns / 1e6,
           (unsigned long long)cl_get(&cl.limited_cycles), mib(cl_get(&cl.max_heap_end)),
           (double)cl_get(&cl.max_heap_end) / (double)cl_get(&cl.max_heap_end_goal));
    TU_CHECK(cycles >= 2, "%llu cycles", (unsigned long long)cycles);
    TU_CHECK(st.gc_cpu_assist_ns > 0 && mine > 0, "no assist: total %llu ns, thread %llu ns",
             (unsigned long long)st.gc_cpu_assist_ns, (unsigned long long)mine);
    /* Every cycle since tc_init reported, and the counts agree exactly:
     * each cycle's assist CPU is taken once, in pause 2 (no assist can be
     * running then), added to the total and passed to the callback; the
     * only mutator is this thread, whose own counter gets the same sums. */
    TU_CHECK(cl_get(&cl.cycles) == st.cycles && cl_get(&cl.last_cycle) == st.cycles,
             "%llu reports for %llu cycles", (unsigned long long)cl_get(&cl.cycles),
             (unsigned long long)st.cycles);
    TU_CHECK(cl_get(&cl.sum_assist) == st.gc_cpu_assist_ns,
             "cycles' assist CPU sums to %llu ns, the total is %llu ns",
             (unsigned long long)cl_get(&cl.sum_assist), (unsigned long long)st.gc_cpu_assist_ns);
    TU_CHECK(mine == st.gc_cpu_assist_ns, "this thread's %llu ns, the total %llu ns",
             (unsigned long long)mine, (unsigned long long)st.gc_cpu_assist_ns);
}

static void assists_happen_and_are_counted(void **state)
{
    (void)state;
    tc_config c = config(25, INT64_MAX);
    run_scenario("assists_happen_and_are_counted", sc_assists, &c);
}

/* ---------------------------------------------- (f) tc_set_gc_percent */

static void sc_set_gc_percent(void)
{
    void **arr = NULL;
    TC_ROOTS(arr);
    uint64_t live;
    arr = setup_live(8 * MiB, &live);
    TU_REQUIRE_EQ(stats()->heap_goal, 2 * live);
    TU_REQUIRE_EQ(tc_set_gc_percent(400), 100);
    /* At once, from the same marked heap: 5x, and a trigger 70..95% of the
     * way there. */
    stats();
    TU_CHECK(st.heap_live == live, "heap_live moved: %llu", (unsigned long long)st.heap_live);
    TU_CHECK(st.heap_goal == 5 * live, "goal %llu, expected 5 x %llu",
             (unsigned long long)st.heap_goal, (unsigned long long)live);
    TU_CHECK(st.next_gc_trigger >= live + (uint64_t)(0.70 * 4 * (double)live) &&
                 st.next_gc_trigger <= live + (uint64_t)(0.95 * 4 * (double)live),
             "trigger %.2f MiB, marked %.2f MiB", mib(st.next_gc_trigger), mib(live));
    /* The next cycle aims at that goal. */
    uint64_t goal = st.heap_goal;
    tc_set_cycle_callback(on_cycle, NULL);
    tc_collect();
    tc_set_cycle_callback(NULL, NULL);
    TU_CHECK(cl_get(&cl.last_goal) == goal, "the cycle's goal %llu, expected %llu",
             (unsigned long long)cl_get(&cl.last_goal), (unsigned long long)goal);
    /* A tiny live heap: the minimum, 4 MiB x 400 / 100. */
    arr = NULL;
    tc_collect();
    TU_CHECK(stats()->heap_goal == ((uint64_t)16 << 20) || st.heap_live * 5 > ((uint64_t)16 << 20),
             "goal %llu with %llu live", (unsigned long long)st.heap_goal,
             (unsigned long long)st.heap_live);
    TU_REQUIRE_EQ(tc_set_gc_percent(100), 400);
    TU_CHECK(stats()->heap_goal == (st.heap_live * 2 > ((uint64_t)4 << 20) ? st.heap_live * 2
                                                                          : (uint64_t)4 << 20),
             "goal %llu", (unsigned long long)st.heap_goal);
    printf("pacing: (f) live %.2f MiB: goal at 400%% %.2f MiB, set at once and used by the "
           "next cycle\n", mib(live), mib(goal));
}

static void set_gc_percent_takes_effect(void **state)
{
    (void)state;
    tc_config c = config(100, INT64_MAX);
    tu_run_isolated("set_gc_percent_takes_effect", sc_set_gc_percent, &c, TIME_LIMIT);
}

int main(void)
{
    /* The defaults are part of what is tested (the scavenger's mode). */
    unsetenv("TRICOLOR_SCAVENGE");
    unsetenv("TRICOLOR_GC_PERCENT");
    unsetenv("TRICOLOR_MEMORY_LIMIT");
    const char *san = getenv("TC_PACING_SANITIZER");
    sanitized = san && strcmp(san, "1") == 0;
    scale = sanitized ? 0.25 : 1;
    const char *only = getenv("TC_PACING_ONLY");
    if (only && *only)
        cmocka_set_test_filter(only);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(peak_heap_at_gc100),
        cmocka_unit_test(memory_limit_bounds_sys_bytes),
        cmocka_unit_test(limit_below_live_heap),
        cmocka_unit_test(rss_falls_after_peak),
        cmocka_unit_test(assists_happen_and_are_counted),
        cmocka_unit_test(set_gc_percent_takes_effect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
