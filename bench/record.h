/*
 * record.h — what every benchmark measures besides its own result, the
 * same way for every backend (included at the end of backend.h).
 *
 * The measured phase.  bk_init() starts it; a benchmark with a set-up it
 * does not want measured calls bk_phase_begin() again after it, and
 * bk_phase_end() when the phase is over (else it ends at the report).
 * The thread that began the phase is the one whose gaps are recorded.
 *
 * Mutator-observed gaps: what a user of the program feels.  Every
 * `stride` allocations (bk_gap_stride; 16 by default, 1 for a benchmark
 * that wants every allocation, 0 for one that calls bk_gap_tick() itself
 * after each operation) the recording thread reads the clock; the time
 * since the previous reading is a gap.  Gaps go into a log-scale
 * histogram, and those over MMU_GAP_MIN_NS (20 µs: longer than any
 * stride's own work) into the MMU log as time the mutator did not run.
 * bk_gap_skip() after deliberate non-allocating work (walking a tree)
 * keeps that work out of the gaps.
 *
 * The sampler thread.  Every BK_SAMPLE_NS it records the heap in use,
 * the heap held, the goal and trigger (tricolor), and the resident set
 * (/proc/self/statm); for tricolor it also moves new pauses from the stats
 * ring to the pause log.  It never touches the GC heap (for Boehm it is
 * not even registered with the collector).  BENCH_NO_SAMPLER=1 runs
 * without it, to see what a third thread does to the gaps on 2 cores
 * (issue 14): the heap series then has only the end, and tricolor's
 * pauses are read from its ring once, at the end (pauses_lost counts
 * what the ring no longer held).
 *
 * The report: bk_print_result prints one JSON line with backend.h's
 * basic fields plus
 *   pauses, pause_p50_ms, pause_p99_ms, pause_p999_ms, pause_total_ms
 *                          every pause of the run (nearest rank)
 *   gap_ticks, gap_p99_ms, gap_p999_ms, gap_max_ms, gaps_over_1ms
 *                          the recording thread's gaps in the phase (the
 *                          percentiles to within 1/16 octave)
 *   mmu_1ms ... mmu_1s     MMU over the phase from the gaps,
 *   pmmu_1ms ... pmmu_1s   and from the collector's pauses alone,
 *                          for windows of 1, 10, 100 ms and 1 s
 *   phase_s                the phase's wall time
 * and, when BENCH_SERIES=PREFIX is set, writes for the plots
 *   PREFIX.pauses.tsv   start_s end_s pause_ms   (times from bk_start_clock)
 *   PREFIX.gaps.tsv     start_s end_s gap_ms     (every gap of 1 ms or more)
 *   PREFIX.pausehist.tsv, PREFIX.gaphist.tsv   lo_ms hi_ms count
 *   PREFIX.mmu.tsv      window_ms mmu_gaps mmu_pauses
 *   PREFIX.heap.tsv     t_s inuse_mib held_mib goal_mib trigger_mib rss_mib
 */
#ifndef BENCH_RECORD_H
#define BENCH_RECORD_H

#include <fcntl.h>
#include <unistd.h>

/* ------------------------------------------------------------ histogram */

/* Log-scale buckets: bucket 0 holds values below 1,024 ns; above, each
 * octave [2^m, 2^(m+1)) ns is cut into 16 equal parts, so a bucket is at
 * most 1/16 of its lower bound wide.  No floating point: bk_gap_tick runs
 * after every allocation in some benchmarks. */
enum { BK_HIST_PER_OCTAVE = 16, BK_HIST_MIN_LOG2 = 10, BK_HIST_OCTAVES = 27,
       BK_HIST_BUCKETS = 1 + BK_HIST_PER_OCTAVE * BK_HIST_OCTAVES };

typedef struct bk_hist {
    uint64_t count[BK_HIST_BUCKETS];
    uint64_t n, max_ns;
} bk_hist;

static inline int bk__hist_bucket(uint64_t ns)
{
    if (ns < (1u << BK_HIST_MIN_LOG2))
        return 0;
    int m = 63 - __builtin_clzll(ns);
    if (m >= BK_HIST_MIN_LOG2 + BK_HIST_OCTAVES)
        return BK_HIST_BUCKETS - 1;
    int sub = (int)(ns >> (m - 4)) & 15;
    return 1 + (m - BK_HIST_MIN_LOG2) * BK_HIST_PER_OCTAVE + sub;
}

/* The lower bound of bucket b (b >= 1), in ms; b = BK_HIST_BUCKETS gives
 * the upper bound of the last. */
static inline double bk__hist_lo_ms(int b)
{
    int m = BK_HIST_MIN_LOG2 + (b - 1) / BK_HIST_PER_OCTAVE, sub = (b - 1) % BK_HIST_PER_OCTAVE;
    return (double)((uint64_t)(16 + sub) << (m - 4)) / 1e6;
}

static inline void bk_hist_add(bk_hist *h, uint64_t ns)
{
    h->count[bk__hist_bucket(ns)]++;
    h->n++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

/* The upper bound of the bucket holding the per_mille nearest-rank value,
 * capped by the maximum (exact for the largest values). */
static inline double bk_hist_rank_ms(const bk_hist *h, unsigned per_mille)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (h->n * per_mille + 999) / 1000, seen = 0;
    for (int b = 0; b < BK_HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= want && seen > 0) {
            double hi = bk__hist_lo_ms(b + 1), max = h->max_ns / 1e6; /* b + 1 >= 1 */
            return hi < max ? hi : max;
        }
    }
    return h->max_ns / 1e6;
}

static inline void bk_hist_write(const bk_hist *h, FILE *f)
{
    for (int b = 0; b < BK_HIST_BUCKETS; b++)
        if (h->count[b])
            fprintf(f, "%.6f\t%.6f\t%llu\n", b ? bk__hist_lo_ms(b) : 0.0, bk__hist_lo_ms(b + 1),
                    (unsigned long long)h->count[b]);
}

/* ----------------------------------------------------------------- gaps */

enum { BK_DEFAULT_STRIDE = 16 };

static struct {
    uint64_t prev_ns;    /* the previous reading */
    uint64_t over_1ms;
    bk_hist hist;
    mmu_log log;
    uint64_t t0, t1;     /* the phase; t1 = 0 while it runs */
} bk__gap;

static unsigned bk__stride = BK_DEFAULT_STRIDE;
static _Thread_local int bk__recording; /* this thread's gaps are recorded */
static _Thread_local unsigned bk__since_tick;

static inline void bk_gap_tick(void)
{
    if (!bk__recording)
        return;
    uint64_t now = bk_now_ns(), d = now - bk__gap.prev_ns;
    bk_hist_add(&bk__gap.hist, d);
    if (d >= 1000000)
        bk__gap.over_1ms++;
    if (d > MMU_GAP_MIN_NS)
        mmu_log_add(&bk__gap.log, bk__gap.prev_ns, now);
    bk__gap.prev_ns = now;
}

/* Work that is not waiting for the collector ends here: not a gap. */
static inline void bk_gap_skip(void)
{
    if (bk__recording)
        bk__gap.prev_ns = bk_now_ns();
}

/* Read the clock every n allocations (0: only at bk_gap_tick()). */
static inline void bk_gap_stride(unsigned n) { bk__stride = n; }

static inline void bk__count_alloc(void)
{
    if (bk__recording && bk__stride && ++bk__since_tick >= bk__stride) {
        bk__since_tick = 0;
        bk_gap_tick();
    }
}

/* One step of the program's own work that uses no allocation (a lookup,
 * a probe of a table): it shows progress as an allocation does, so a
 * loop of such steps is not one long gap, while a step the collector
 * holds up still is. */
static inline void bk_work_step(void) { bk__count_alloc(); }

static inline void *bk_alloc(const bk_type *t, size_t size)
{
    void *p = bk__alloc(t, size);
    bk__count_alloc();
    return p;
}

static inline void *bk_alloc_leaf(const bk_type *t, size_t size)
{
    void *p = bk__alloc_leaf(t, size);
    bk__count_alloc();
    return p;
}

/* Starts (or restarts) the measured phase on the calling thread. */
static inline void bk_phase_begin(void)
{
    memset(&bk__gap.hist, 0, sizeof bk__gap.hist);
    bk__gap.log.n = 0;
    bk__gap.log.dropped = 0;
    bk__gap.over_1ms = 0;
    bk__gap.t1 = 0;
    bk__since_tick = 0;
    bk__recording = 1;
    bk__gap.t0 = bk__gap.prev_ns = bk_now_ns();
}

static inline void bk_phase_end(void)
{
    bk__recording = 0;
    bk__gap.t1 = bk_now_ns();
}

/* The longest gap of the phase so far. */
static inline uint64_t bk_gap_max_ns(void) { return bk__gap.hist.max_ns; }

/* -------------------------------------------------------------- sampler */

#define BK_SAMPLE_NS 2000000u
enum { BK_SAMPLE_CAP = 1 << 19 };

typedef struct bk_sample {
    uint64_t t, inuse, held, goal, trigger, rss;
} bk_sample;

static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    int off; /* BENCH_NO_SAMPLER: no thread, one sample at the end */
    bk_sample *v;
    size_t n;
    int statm; /* /proc/self/statm, or -1 */
} bk__sampler = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static inline uint64_t bk__rss_bytes(void)
{
    char buf[128];
    if (bk__sampler.statm < 0)
        return 0;
    ssize_t n = pread(bk__sampler.statm, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    unsigned long size, resident;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static inline void bk__sample(void)
{
    bk_sample s = {.t = bk_now_ns()};
    bk__heap_sample(&s.inuse, &s.held, &s.goal, &s.trigger);
    s.rss = bk__rss_bytes();
    if (bk__sampler.n < BK_SAMPLE_CAP)
        bk__sampler.v[bk__sampler.n++] = s;
}

static inline void *bk__sampler_main(void *arg)
{
    (void)arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&bk__sampler.lock);
    while (!bk__sampler.stop) {
        pthread_mutex_unlock(&bk__sampler.lock);
        bk__sample();
        next.tv_nsec += BK_SAMPLE_NS;
        if (next.tv_nsec >= 1000000000) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&bk__sampler.lock);
        while (!bk__sampler.stop &&
               pthread_cond_timedwait(&bk__sampler.cond, &bk__sampler.lock, &next) == 0) {
        }
    }
    pthread_mutex_unlock(&bk__sampler.lock);
    bk__sample(); /* the state at the end of the run */
    return NULL;
}

static inline void bk__sampler_start(void)
{
    bk__sampler.v = malloc(BK_SAMPLE_CAP * sizeof bk__sampler.v[0]);
    if (!bk__sampler.v)
        bk_die("cannot allocate the sample log");
    bk__sampler.statm = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&bk__sampler.cond, &ca);
    pthread_condattr_destroy(&ca);
    const char *off = getenv("BENCH_NO_SAMPLER");
    bk__sampler.off = off && *off && strcmp(off, "0") != 0;
    if (bk__sampler.off)
        return;
    if (pthread_create(&bk__sampler.thread, NULL, bk__sampler_main, NULL) != 0)
        bk_die("cannot start the sampler thread");
}

static inline void bk__sampler_stop(void)
{
    if (bk__sampler.off) {
        bk__sample(); /* the pauses (from tricolor's ring) and the end state */
        return;
    }
    pthread_mutex_lock(&bk__sampler.lock);
    bk__sampler.stop = 1;
    pthread_cond_signal(&bk__sampler.cond);
    pthread_mutex_unlock(&bk__sampler.lock);
#if defined(BACKEND_TRICOLOR)
    tc_blocking_enter(); /* a cycle may stop the world meanwhile */
#endif
    pthread_join(bk__sampler.thread, NULL);
#if defined(BACKEND_TRICOLOR)
    tc_blocking_leave();
#endif
}

/* ------------------------------------------------------- start and end */

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

/* Starts the collector, the recorder and the measured phase. */
static inline void bk_init(void)
{
    bk__pauses_init();
    mmu_log_init(&bk__gap.log, MMU_LOG_CAP);
    bk__backend_init();
    bk__sampler_start();
    bk_phase_begin();
}

static inline int bk_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank over the sorted v[0..n). */
static inline double bk__rank_ms(const uint64_t *v, uint64_t n, unsigned per_mille)
{
    if (n == 0)
        return 0;
    uint64_t r = (n * per_mille + 999) / 1000;
    return v[r ? r - 1 : 0] / 1e6;
}

static const uint64_t bk__mmu_windows_ms[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
enum { BK_NWINDOWS = sizeof bk__mmu_windows_ms / sizeof bk__mmu_windows_ms[0] };

typedef struct bk__summary {
    uint64_t t0, t1;
    size_t ngaps; /* gaps over MMU_GAP_MIN_NS in the phase, sorted, in bk__gap.log */
    double mmu_gaps[BK_NWINDOWS], mmu_pauses[BK_NWINDOWS];
    uint64_t npauses, pause_total_ns;
    double pause_p50, pause_p99, pause_p999;
    bk_hist pause_hist;
} bk__summary;

static bk__summary bk__sum; /* large (histogram): off the stack */

static inline void bk__summarize(void)
{
    bk__summary *s = &bk__sum;
    s->t0 = bk__gap.t0;
    s->t1 = bk__gap.t1 ? bk__gap.t1 : bk_now_ns();

    size_t ng = s->ngaps = mmu_normalize(bk__gap.log.v, bk__gap.log.n, s->t0, s->t1);
    /* Copies: mmu_normalize reorders, and the series keep the log. */
    mmu_gap *p = malloc((bk__npauses + 1) * sizeof *p);
    uint64_t *len = malloc((bk__npauses + 1) * sizeof *len);
    if (!p || !len)
        bk_die("out of memory summarizing pauses");
    s->npauses = bk__npauses;
    s->pause_total_ns = 0;
    memset(&s->pause_hist, 0, sizeof s->pause_hist);
    for (uint64_t i = 0; i < bk__npauses; i++) {
        p[i] = bk__pauses[i];
        len[i] = bk__pauses[i].end - bk__pauses[i].start;
        s->pause_total_ns += len[i];
        bk_hist_add(&s->pause_hist, len[i]);
    }
    qsort(len, bk__npauses, sizeof *len, bk_cmp_u64);
    s->pause_p50 = bk__rank_ms(len, bk__npauses, 500);
    s->pause_p99 = bk__rank_ms(len, bk__npauses, 990);
    s->pause_p999 = bk__rank_ms(len, bk__npauses, 999);
    free(len);
    size_t np = mmu_normalize(p, bk__npauses, s->t0, s->t1);
    for (int i = 0; i < BK_NWINDOWS; i++) {
        uint64_t w = bk__mmu_windows_ms[i] * 1000000u;
        s->mmu_gaps[i] = mmu(bk__gap.log.v, ng, s->t0, s->t1, w);
        s->mmu_pauses[i] = mmu(p, np, s->t0, s->t1, w);
    }
    free(p);
}

static inline FILE *bk__series_open(const char *prefix, const char *what)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.%s.tsv", prefix, what);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    return f;
}

static inline void bk__series_close(FILE *f)
{
    if (ferror(f) | fclose(f))
        bk_die("cannot write a series file");
}

/* The series files for the plots (see the top of this file). */
static inline void bk__write_series(const char *prefix)
{
    const bk__summary *s = &bk__sum;
    uint64_t origin = bk__wall0_ns;
    FILE *f = bk__series_open(prefix, "pauses");
    fprintf(f, "# start_s\tend_s\tpause_ms\n");
    for (uint64_t i = 0; i < bk__npauses; i++)
        fprintf(f, "%.6f\t%.6f\t%.4f\n", (bk__pauses[i].start - origin) / 1e9,
                (bk__pauses[i].end - origin) / 1e9,
                (bk__pauses[i].end - bk__pauses[i].start) / 1e6);
    bk__series_close(f);
    f = bk__series_open(prefix, "gaps");
    fprintf(f, "# start_s\tend_s\tgap_ms\n");
    for (size_t i = 0; i < s->ngaps; i++) {
        const mmu_gap *x = &bk__gap.log.v[i];
        if (x->end - x->start >= 1000000)
            fprintf(f, "%.6f\t%.6f\t%.4f\n", (x->start - origin) / 1e9, (x->end - origin) / 1e9,
                    (x->end - x->start) / 1e6);
    }
    bk__series_close(f);
    f = bk__series_open(prefix, "pausehist");
    bk_hist_write(&s->pause_hist, f);
    bk__series_close(f);
    f = bk__series_open(prefix, "gaphist");
    bk_hist_write(&bk__gap.hist, f);
    bk__series_close(f);
    f = bk__series_open(prefix, "mmu");
    fprintf(f, "# window_ms\tmmu_gaps\tmmu_pauses\n");
    for (int i = 0; i < BK_NWINDOWS; i++)
        fprintf(f, "%llu\t%.4f\t%.4f\n", (unsigned long long)bk__mmu_windows_ms[i],
                s->mmu_gaps[i], s->mmu_pauses[i]);
    bk__series_close(f);
    f = bk__series_open(prefix, "heap");
    fprintf(f, "# t_s\tinuse_mib\theld_mib\tgoal_mib\ttrigger_mib\trss_mib\n");
    for (size_t i = 0; i < bk__sampler.n; i++) {
        const bk_sample *x = &bk__sampler.v[i];
        const double mib = 1048576.0;
        fprintf(f, "%.4f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", (x->t - origin) / 1e9,
                x->inuse / mib, x->held / mib, x->goal / mib, x->trigger / mib, x->rss / mib);
    }
    bk__series_close(f);
}

/* Print the one JSON result line (and write the series files).  extra is
 * "" or more fields, each starting with a comma: ",\"ns_per_alloc\":12.3".
 * Call once, at the end: it stops the sampler. */
static inline void bk_print_result(const char *bench, uint64_t checksum, const char *extra)
{
    uint64_t wall = bk_now_ns() - bk__wall0_ns;
    uint64_t cpu = bk__cpu_us() - bk__cpu0_us;
    bk__sampler_stop();
    uint64_t cycles, max_pause;
    bk_gc_stats(&cycles, &max_pause); /* tricolor: also the last pauses */
    BK_BLOCKING_BEGIN(); /* sorting the gap log: no pause may wait for it */
    bk__summarize();
    BK_BLOCKING_END();
    const bk__summary *s = &bk__sum;
    const bk_hist *g = &bk__gap.hist;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    static char more[1024];
    more[0] = 0;
    bk__backend_fields(more, sizeof more);
    printf("{\"bench\":\"%s\",\"backend\":\"%s\",\"wall_s\":%.4f,\"cpu_s\":%.4f,"
           "\"max_rss_kib\":%ld,\"gc_cycles\":%llu,\"max_pause_ms\":%.3f,"
           "\"checksum\":%llu%s"
           ",\"pauses\":%llu,\"pauses_lost\":%llu,\"pause_p50_ms\":%.4f,\"pause_p99_ms\":%.4f,"
           "\"pause_p999_ms\":%.4f,\"pause_total_ms\":%.3f,\"phase_s\":%.4f,"
           "\"gap_ticks\":%llu,\"gap_p99_ms\":%.4f,\"gap_p999_ms\":%.4f,\"gap_max_ms\":%.3f,"
           "\"gaps_over_1ms\":%llu,\"gaps_dropped\":%llu,"
           "\"mmu_1ms\":%.4f,\"mmu_10ms\":%.4f,\"mmu_100ms\":%.4f,\"mmu_1s\":%.4f,"
           "\"pmmu_1ms\":%.4f,\"pmmu_10ms\":%.4f,\"pmmu_100ms\":%.4f,\"pmmu_1s\":%.4f%s}\n",
           bench, BK_NAME, wall / 1e9, cpu / 1e6, ru.ru_maxrss, (unsigned long long)cycles,
           max_pause / 1e6, (unsigned long long)checksum, extra,
           (unsigned long long)s->npauses, (unsigned long long)bk__pauses_lost, s->pause_p50,
           s->pause_p99, s->pause_p999, s->pause_total_ns / 1e6, (s->t1 - s->t0) / 1e9,
           (unsigned long long)g->n, bk_hist_rank_ms(g, 990), bk_hist_rank_ms(g, 999),
           g->max_ns / 1e6, (unsigned long long)bk__gap.over_1ms,
           (unsigned long long)bk__gap.log.dropped, s->mmu_gaps[0], s->mmu_gaps[3],
           s->mmu_gaps[6], s->mmu_gaps[9], s->mmu_pauses[0], s->mmu_pauses[3],
           s->mmu_pauses[6], s->mmu_pauses[9], more);
    fflush(stdout);
    const char *prefix = getenv("BENCH_SERIES");
    if (prefix && *prefix)
        bk__write_series(prefix);
}

#endif /* BENCH_RECORD_H */
