/* test_pacer.c — the pacer's model layer (pacer_model_*, pacer_limiter_*),
 * deterministic: no clocks, no threads.  A small simulator plays a program
 * against one pacer_model in steps of 100 µs of simulated time, the way the
 * runtime drives it (gc/pacer.c, docs/design.md §10):
 *
 *   - NCPU = 2 cores; a live set of `live` bytes that every cycle marks
 *     (its scan work); everything else allocated dies before the next
 *     cycle;
 *   - mutators allocate `alloc_rate` bytes per mutator CPU-second, in 8 KiB
 *     spans (what a thread cache refill charges) or bigger units;
 *   - background workers take bg_utilization x NCPU of the CPU while
 *     marking and scan `scan_rate` bytes per CPU-second;
 *   - a cycle starts when the heap reaches m.trigger, aiming at m.goal and
 *     pacer_model_hard_goal(&m); it expects m.heap_marked of scan work
 *     (before any cycle: the heap at its start);
 *   - while it marks, each unit allocated is charged as pacer.c's charge
 *     does: unit x pacer_model_assist(goal, hard goal, heap, scan expected,
 *     heap at the cycle's start, scan done), truncated to whole bytes; the
 *     debt is paid from the workers' credit, else, unless the limiter (when
 *     used) is full, by the mutator marking max(debt, PACER_ASSIST_PREPAY)
 *     at scan_rate on its own CPU, for at most pacer_model_assist_cap_ns,
 *     as assist_mark does;
 *   - the mutator is one stream of work on the cores the workers leave: an
 *     assist's CPU is spent (and its scanning done) before the next
 *     allocation, step by step, so the limiter sees each step's GC CPU;
 *   - the limiter is fed every 1 ms, as the runtime polls it;
 *   - marking ends when `live` bytes are scanned (an assist under way
 *     ends with it); what was allocated meanwhile is black, so the heap
 *     after the sweep (pacer_cycle.heap_marked) is live + that, while the
 *     model learns the scan work alone.
 *
 * Not modelled: grey work here is a fluid, always there for an assist
 * until the cycle ends, so the runtime's case of an assist finding every
 * grey object in a marker's hands (it gives up, or past the hard goal
 * waits for credit) never arises; idle-priority marking; pauses.
 *
 * The tests then check what the pacer promises: the heap ends each cycle
 * within 5% of its goal, bursts are absorbed by assists within the cap,
 * a growing live heap stays within the hard goal, settings changes apply
 * from the next cycle, the memory limit bounds the heap, and a limit below
 * the live heap costs overshoot, not a stalled mutator.  The last group
 * checks the formulas one by one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "pacer.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)
#define NCPU 2
#define DT_NS 100000.0      /* one simulated step: 100 µs */
#define LIMITER_POLL_STEPS 10 /* the runtime feeds the limiter every 1 ms */
#define SPAN (8 * KiB)      /* bytes one allocation (a cache refill) takes */
#define MAX_CYCLES 512
#define TOLERANCE 0.05      /* heap_end within 5% of the goal */

/* ------------------------------------------------------------ simulator */

/* (The tests link without libm.) */
static double dmin(double a, double b) { return a < b ? a : b; }
static double dabs(double a) { return a < 0 ? -a : a; }

/* One completed simulated cycle. */
typedef struct sim_cycle {
    uint64_t goal, hard_goal; /* what the cycle aimed at (fixed at its start) */
    uint64_t trigger;       /* m.trigger when it started */
    uint64_t expected;      /* the scan work it expected */
    uint64_t heap_start, heap_end;
    uint64_t heap_marked;   /* the heap after its sweep: live + black */
    uint64_t scan_work;     /* what its markers marked: the model's next base */
    double worker_ns, assist_ns;
    double max_assist_ns;   /* the longest single assist */
    int limited;            /* an assist was skipped: limiter full */
    uint64_t steps;         /* marking wall time in steps */
} sim_cycle;

typedef struct sim {
    /* The workload. */
    uint64_t live;
    uint64_t grow_left;   /* the next this many bytes allocated stay live */
    double alloc_rate, scan_rate; /* bytes per CPU-second */
    uint64_t unit;        /* bytes per allocation: SPAN, or a large object */
    int use_limiter;
    pacer_model m;
    pacer_limiter lim;
    double lim_total_ns, lim_gc_ns; /* since the limiter was last fed */

    /* The program. */
    uint64_t heap;        /* heap in use (the runtime's heap estimate) */
    /* Work the mutator has begun and not finished: an assist's scan work
     * (bytes; its CPU follows from scan_rate), then the allocation it
     * interrupted (CPU ns).  Spending them step by step puts each step's
     * CPU where it went, which is what the limiter must see. */
    double assist_work, assist_done, alloc_left_ns;
    uint64_t step;        /* steps simulated */

    /* The cycle marking now (marking == 0: none). */
    int marking;
    sim_cycle cur;
    uint64_t target;      /* the live heap at its start: what it must scan */
    double scanned;       /* scan work done (scan_done) */
    uint64_t credit;      /* background scan work not yet taken by assists */
    int64_t thread_credit; /* the mutator's assist balance (< 0: owed) */
    uint64_t alloc_in_cycle;

    /* What happened. */
    sim_cycle cycles[MAX_CYCLES];
    int ncycles;
    double step_gc_ns, step_mut_ns; /* this step: GC CPU, mutator allocation CPU */
    double *mut_log;      /* optional: allocation CPU of each step */
    uint64_t mut_log_cap;
    uint64_t heap_max;    /* the highest heap ever seen */
} sim;

static void sim_init(sim *s, int gc_percent, int64_t limit, uint64_t live, double alloc_rate,
                     double scan_rate)
{
    memset(s, 0, sizeof *s);
    s->live = live;
    s->alloc_rate = alloc_rate;
    s->scan_rate = scan_rate;
    s->unit = SPAN;
    pacer_model_init(&s->m, gc_percent, limit, PACER_BG_UTILIZATION);
    pacer_limiter_init(&s->lim, NCPU);
    /* The program has built its live set (as if with GC off) and goes on
     * from there: the first cycle starts at once and has no history. */
    s->heap = live;
    s->heap_max = live;
}

static void sim_start_cycle(sim *s)
{
    s->marking = 1;
    memset(&s->cur, 0, sizeof s->cur);
    /* As pacer_start_cycle. */
    s->cur.goal = s->m.goal;
    s->cur.hard_goal = pacer_model_hard_goal(&s->m);
    s->cur.trigger = s->m.trigger;
    s->cur.heap_start = s->heap;
    s->cur.expected = s->m.heap_marked ? s->m.heap_marked : s->heap;
    s->target = s->live;
    s->scanned = 0;
    s->credit = 0;
    s->thread_credit = 0;
    s->alloc_in_cycle = 0;
}

static void sim_end_cycle(sim *s)
{
    s->cur.heap_end = s->heap;
    s->cur.heap_marked = s->target + s->alloc_in_cycle; /* black allocation */
    s->cur.scan_work = (uint64_t)(s->scanned + 0.5);
    pacer_cycle c = {
        .heap_start = s->cur.heap_start,
        .heap_end = s->heap,
        .heap_marked = s->cur.heap_marked,
        .scan_work = s->cur.scan_work,
        .mark_wall_ns = (uint64_t)((double)s->cur.steps * DT_NS),
        .mark_cpu_ns = (uint64_t)(s->cur.worker_ns + s->cur.assist_ns),
        .idle_cpu_ns = 0,
        .ncpu = NCPU,
    };
    pacer_model_end_cycle(&s->m, &c);
    if (s->ncycles < MAX_CYCLES)
        s->cycles[s->ncycles] = s->cur;
    s->ncycles++;
    s->marking = 0;
    s->assist_work = s->assist_done = 0; /* the gate closed: the assist ends */
    s->heap = s->cur.heap_marked; /* the sweep frees everything unmarked */
}

/* The mutator allocated one unit while marking: charge it, and pay (as
 * pacer_assist, charge and assist_mark do). */
static void sim_assist(sim *s)
{
    double ratio = pacer_model_assist(s->cur.goal, s->cur.hard_goal, s->heap, s->cur.expected,
                                      s->cur.heap_start, (uint64_t)s->scanned);
    s->thread_credit -= (int64_t)((double)s->unit * ratio);
    if (s->thread_credit >= 0)
        return;
    uint64_t take = (uint64_t)-s->thread_credit;
    if (take > s->credit)
        take = s->credit;
    s->credit -= take;
    s->thread_credit += (int64_t)take;
    if (s->thread_credit >= 0)
        return;
    if (s->use_limiter && s->lim.full) {
        s->cur.limited = 1; /* the debt stays with the thread */
        return;
    }
    /* Mark max(debt, prepay), for at most the cap below the ceiling. */
    double want = (double)-s->thread_credit;
    if (want < (double)PACER_ASSIST_PREPAY)
        want = (double)PACER_ASSIST_PREPAY;
    uint64_t cap_ns = pacer_model_assist_cap_ns(s->cur.goal, s->heap, s->unit);
    double cap = s->scan_rate * (double)cap_ns / 1e9;
    if (cap_ns != UINT64_MAX && want > cap)
        want = cap;
    s->assist_work = want;
    s->assist_done = 0;
    double ns = want / s->scan_rate * 1e9;
    if (ns > s->cur.max_assist_ns)
        s->cur.max_assist_ns = ns;
}

/* One step of DT_NS: workers scan, the mutator spends its CPU. */
static void sim_step(sim *s)
{
    s->step_gc_ns = s->step_mut_ns = 0;
    if (!s->marking && s->heap >= s->m.trigger)
        sim_start_cycle(s);
    double worker_cpu = 0;
    if (s->marking) {
        s->cur.steps++;
        worker_cpu = s->m.bg_utilization * NCPU * DT_NS;
        double w = s->scan_rate * worker_cpu / 1e9;
        if (w >= (double)s->target - s->scanned) {
            w = (double)s->target - s->scanned;
            worker_cpu = w / s->scan_rate * 1e9;
        }
        s->scanned += w;
        s->credit += (uint64_t)w;
        s->cur.worker_ns += worker_cpu;
        s->step_gc_ns += worker_cpu;
        if (s->scanned >= (double)s->target)
            sim_end_cycle(s);
    }
    /* The mutators have the cores the workers leave: they finish what they
     * started (an assist first), then allocate. */
    double cpu = NCPU * DT_NS - worker_cpu;
    while (cpu > 0) {
        if (s->assist_work > 0) {
            double w = s->assist_work, grey = (double)s->target - s->scanned;
            if (w > grey)
                w = grey;
            double ns = w / s->scan_rate * 1e9;
            if (ns > cpu) {
                ns = cpu;
                w = cpu * s->scan_rate / 1e9;
            }
            s->scanned += w;
            s->assist_work -= w;
            s->assist_done += w;
            s->cur.assist_ns += ns;
            s->step_gc_ns += ns;
            cpu -= ns;
            if (s->scanned >= (double)s->target) {
                sim_end_cycle(s);
            } else if (s->assist_work <= 0) { /* mark_assist returned */
                s->thread_credit += (int64_t)(s->assist_done + 0.5);
                s->assist_work = s->assist_done = 0;
            }
            continue;
        }
        if (s->alloc_left_ns > 0) {
            double ns = dmin(cpu, s->alloc_left_ns);
            s->alloc_left_ns -= ns;
            s->step_mut_ns += ns;
            cpu -= ns;
            continue;
        }
        /* A new allocation: the heap grows at once (a refill hands the
         * whole span to the thread), its CPU is spent from now on. */
        s->alloc_left_ns = (double)s->unit / s->alloc_rate * 1e9;
        s->heap += s->unit;
        if (s->grow_left) { /* the program keeps it */
            uint64_t g = s->grow_left < s->unit ? s->grow_left : s->unit;
            s->live += g;
            s->grow_left -= g;
        }
        if (s->heap > s->heap_max)
            s->heap_max = s->heap;
        if (s->marking) {
            s->alloc_in_cycle += s->unit;
            sim_assist(s);
        } else if (s->heap >= s->m.trigger) {
            sim_start_cycle(s);
        }
    }
    if (s->use_limiter) {
        s->lim_total_ns += NCPU * DT_NS;
        s->lim_gc_ns += s->step_gc_ns;
        if ((s->step + 1) % LIMITER_POLL_STEPS == 0) {
            pacer_limiter_feed(&s->lim, (uint64_t)s->lim_total_ns, (uint64_t)s->lim_gc_ns);
            s->lim_total_ns = s->lim_gc_ns = 0;
        }
    }
    if (s->mut_log && s->step < s->mut_log_cap)
        s->mut_log[s->step] = s->step_mut_ns;
    s->step++;
}

/* Step until `n` more cycles have completed; fail if that takes more than
 * `max_seconds` of simulated time. */
static void sim_run_cycles(sim *s, int n, double max_seconds)
{
    int target = s->ncycles + n;
    uint64_t max_steps = s->step + (uint64_t)(max_seconds * 1e9 / DT_NS);
    while (s->ncycles < target) {
        if (s->step >= max_steps)
            fail_msg("simulation: %d of %d cycles after %.1f s", s->ncycles, target, max_seconds);
        sim_step(s);
    }
}

static void sim_run_seconds(sim *s, double seconds)
{
    uint64_t end = s->step + (uint64_t)(seconds * 1e9 / DT_NS);
    while (s->step < end)
        sim_step(s);
}

/* |a - b| <= eps, naming both values when not (cmocka has no double
 * assertion that prints them). */
#define expect_near(a, b, eps)                                                \
    do {                                                                      \
        double a_ = (a), b_ = (b);                                            \
        if (!(dabs(a_ - b_) <= (eps)))                                        \
            fail_msg("%s = %.17g, expected %s = %.17g (+- %g)", #a, a_, #b, b_, \
                     (double)(eps));                                          \
    } while (0)

static double mib(uint64_t b) { return (double)b / (double)MiB; }

static const sim_cycle *cyc(const sim *s, int i)
{
    assert_true(i >= 0 && i < s->ncycles && i < MAX_CYCLES);
    return &s->cycles[i];
}

/* heap_end / goal - 1 of cycle i. */
static double deviation(const sim *s, int i)
{
    return (double)cyc(s, i)->heap_end / (double)cyc(s, i)->goal - 1;
}

/* Print cycles [from, to), one line each (on failure, and for the report). */
static void dump(const sim *s, int from, int to)
{
    for (int i = from; i < to && i < s->ncycles && i < MAX_CYCLES; i++) {
        const sim_cycle *c = cyc(s, i);
        print_message("    #%d%s goal %.2f trigger %.2f start %.2f end %.2f MiB (%+.2f%%), "
                      "scan %.2f of %.2f MiB expected, swept to %.2f MiB; worker %.1f ms, "
                      "assist %.1f ms, %.1f ms marking\n",
                      i + 1, c->limited ? " (limited)" : "", mib(c->goal), mib(c->trigger),
                      mib(c->heap_start), mib(c->heap_end), deviation(s, i) * 100,
                      mib(c->scan_work), mib(c->expected), mib(c->heap_marked),
                      c->worker_ns / 1e6, c->assist_ns / 1e6, (double)c->steps * DT_NS / 1e6);
    }
}

/* Cycles [from, to) each ended at most `over` above their goal and at
 * most `under` below it (fractions of the goal). */
static void expect_near_goal(const sim *s, int from, int to, double under, double over,
                             const char *what)
{
    for (int i = from; i < to; i++) {
        double d = deviation(s, i);
        if (d > over || d < -under) {
            dump(s, 0, to);
            fail_msg("%s: cycle %d ended at %.2f MiB, goal %.2f MiB (%+.2f%%, allowed %+.0f%% "
                     "to %+.0f%%)", what, i + 1, mib(cyc(s, i)->heap_end),
                     mib(cyc(s, i)->goal), d * 100, -under * 100, over * 100);
        }
    }
}

/* Cycles [from, to) each ended within TOLERANCE of their goal. */
static void expect_converged(const sim *s, int from, int to, const char *what)
{
    expect_near_goal(s, from, to, TOLERANCE, TOLERANCE, what);
}

static double worst_deviation(const sim *s, int from, int to)
{
    double w = 0;
    for (int i = from; i < to; i++)
        if (dabs(deviation(s, i)) > dabs(w))
            w = deviation(s, i);
    return w;
}

/* ------------------------------------------------------ (a) steady rates */

/* Constant allocation and scan rates: after a few cycles of learning, each
 * cycle ends within 5% of its goal.  The rates cover both regimes: a
 * runway that fits between the 70% and 95% trigger clamps (no assists
 * needed), and allocation so fast that the trigger sits at its 70% clamp
 * and assists pace the rest. */
static void steady_rates_converge(void **state)
{
    (void)state;
    static const struct {
        double alloc, scan;
        int pct;
    } cases[] = {
        {50e6, 1e9, 100},  {200e6, 1e9, 100}, {800e6, 1e9, 100},
        {50e6, 1e9, 50},   {200e6, 1e9, 50},  {800e6, 1e9, 50},
        {100e6, 250e6, 100}, {20e6, 1e9, 300},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sim s;
        sim_init(&s, cases[k].pct, INT64_MAX, 64 * MiB, cases[k].alloc, cases[k].scan);
        sim_run_cycles(&s, 23, 600);
        char what[96];
        snprintf(what, sizeof what, "A=%.0f MB/s S=%.0f MB/s GC %d%%", cases[k].alloc / 1e6,
                 cases[k].scan / 1e6, cases[k].pct);
        expect_converged(&s, 3, 23, what);
        double assist = 0;
        for (int i = 1; i < 23; i++) {
            /* The goal follows the last cycle's scan work exactly (not the
             * heap its sweep left, which holds the black allocation), and
             * so does the scan work expected. */
            const sim_cycle *prev = cyc(&s, i - 1);
            uint64_t want = prev->scan_work * (100 + (uint64_t)cases[k].pct) / 100;
            assert_int_equal(prev->scan_work, s.live);
            assert_true(prev->heap_marked > prev->scan_work);
            uint64_t min = pacer_model_min_goal(cases[k].pct);
            assert_int_equal(cyc(&s, i)->goal, want < min ? min : want);
            assert_int_equal(cyc(&s, i)->expected, prev->scan_work);
            if (i >= 3)
                assist += cyc(&s, i)->assist_ns;
        }
        print_message("  %s: worst heap_end/goal %+.2f%%, assist %.1f ms/cycle\n", what,
                      worst_deviation(&s, 3, 23) * 100, assist / 20 / 1e6);
    }
}

/* ------------------------------------------------------------- (b) burst */

/* Steady at `alloc` (the trigger nearly suffices), then the allocation
 * rate jumps `factor` times just as a cycle starts: the trigger was
 * planned for the old rate, so assists make up the difference, each within
 * the cap; then the next cycles learn the new rate.  Returns the burst
 * cycle's heap_end / goal - 1; `after` gets the worst of the cycles after
 * it. */
static double run_burst(double alloc, double scan, double factor, uint64_t unit, double *after)
{
    sim s;
    sim_init(&s, 100, INT64_MAX, 64 * MiB, alloc, scan);
    s.unit = unit;
    sim_run_cycles(&s, 10, 6000);
    /* The start-up cycle (all of the live heap at once, far past its 4 MiB
     * goal) measures a cons/mark ratio of its own; with big allocation
     * units it is the largest for PACER_HISTORY cycles.  Check from then. */
    expect_converged(&s, PACER_HISTORY + 1, 10, "before the burst");
    /* Steady assists are small: the workers keep ahead until the last few
     * MiB before the goal, where the runway left is short. */
    double steady_assist = cyc(&s, 9)->assist_ns;

    /* Run to the start of the next cycle, then multiply the rate. */
    while (!s.marking)
        sim_step(&s);
    s.alloc_rate *= factor;
    int burst = s.ncycles;
    sim_run_cycles(&s, 12, 6000);
    const sim_cycle *b = cyc(&s, burst);
    *after = worst_deviation(&s, burst + 1, s.ncycles);
    print_message("  A=%.0f MB/s S=%.0f MB/s x%.0f, %llu KiB units: burst cycle ended at %+.2f%% "
                  "of its goal, heap max %.2f MiB, assist %.1f ms (steady %.2f ms), longest "
                  "%.0f us; then worst %+.2f%%\n", alloc / 1e6, scan / 1e6, factor,
                  (unsigned long long)(unit / KiB), deviation(&s, burst) * 100,
                  mib(b->heap_end), b->assist_ns / 1e6, steady_assist / 1e6,
                  b->max_assist_ns / 1e3, *after * 100);
    assert_true(b->assist_ns > 2 * steady_assist);
    /* The cap holds in every cycle: none went past the ceiling (2x goal). */
    for (int i = burst; i < s.ncycles; i++) {
        const sim_cycle *c = cyc(&s, i);
        assert_true(c->max_assist_ns <= PACER_ASSIST_MAX_NS + 1);
        /* A cycle that stayed below its goal assisted in slices. */
        if (c->heap_end < c->goal && unit < PACER_ASSIST_LARGE)
            assert_true(c->max_assist_ns <= PACER_ASSIST_SLICE_NS + 1);
    }
    return deviation(&s, burst);
}

/* The per-allocation cap: a slice below the goal (unless the allocation is
 * large), PACER_ASSIST_MAX_NS up to the ceiling, none past it, none when
 * the collector is off (no goal: a slice, never reached as nothing
 * marks). */
static void assist_cap_by_heap_and_size(void **state)
{
    (void)state;
    const uint64_t g = 100 * MiB, small = SPAN, large = PACER_ASSIST_LARGE;
    assert_int_equal(pacer_model_assist_cap_ns(g, g - 1, small), PACER_ASSIST_SLICE_NS);
    assert_int_equal(pacer_model_assist_cap_ns(g, g - 1, large - 1), PACER_ASSIST_SLICE_NS);
    assert_int_equal(pacer_model_assist_cap_ns(g, g - 1, large), PACER_ASSIST_MAX_NS);
    assert_int_equal(pacer_model_assist_cap_ns(g, g, small), PACER_ASSIST_MAX_NS);
    assert_int_equal(pacer_model_assist_cap_ns(g, PACER_CEILING_FACTOR * g - 1, small),
                     PACER_ASSIST_MAX_NS);
    assert_int_equal(pacer_model_assist_cap_ns(g, PACER_CEILING_FACTOR * g, small), UINT64_MAX);
    assert_int_equal(pacer_model_assist_cap_ns(g, PACER_CEILING_FACTOR * g, large), UINT64_MAX);
    assert_int_equal(pacer_model_assist_cap_ns(UINT64_MAX, g, small), PACER_ASSIST_SLICE_NS);
}

static void burst_is_absorbed_by_assists(void **state)
{
    (void)state;
    double after;
    /* 4x, spans of 8 KiB, 1 GB/s of scan: the cap (below the goal the
     * 0.1 ms slice = 100 KB of scan per span, a ratio of 12) never binds, so the assists hold the
     * heap to the goal itself, and the cycles after it learn the new rate
     * (the burst cycle's ratio is the newest in the history and moves the
     * trigger at once): within the steady test's 5%. */
    assert_true(dabs(run_burst(50e6, 1e9, 4, SPAN, &after)) <= TOLERANCE);
    assert_true(dabs(after) <= TOLERANCE);
    /* 16x with a scan rate 10x slower: each assist runs into the cap (the
     * slice, a ratio of 1.2, below the goal; 0.5 ms, a ratio of 6.1, past
     * it), but the mutator spends that CPU assisting instead of
     * allocating, and the heap still ends within 5% of the goal. */
    assert_true(dabs(run_burst(5e6, 100e6, 16, SPAN, &after)) <= TOLERANCE);
    assert_true(dabs(after) <= TOLERANCE);
    /* Large allocations, 4x: 256 KiB objects (PACER_ASSIST_LARGE: 0.5 ms
     * below the goal too) still end at the goal. */
    assert_true(dabs(run_burst(50e6, 1e9, 4, 256 * KiB, &after)) <= TOLERANCE);
    assert_true(dabs(after) <= TOLERANCE);
    /* 1 MiB objects: the cap binds hard.  0.5 ms of scan per 1 MiB object
     * is a ratio of 0.48, so assists can take at most ~9% of the
     * mutator's CPU, and at 200 MB/s the workers and that cannot mark the
     * 64 MiB before the mutator allocates past the 70% trigger clamp's
     * runway: the burst cycle ends at +13.3% of its goal and every later
     * one at +7.0%, against a goal that is now twice the scan work (black
     * allocation no longer raises it).  Relaxed, with the reason: past the
     * goal assists aim at goal x 1.1; the ceiling (2x), where the cap is
     * lifted, is the hard bound, far away. */
    double d = run_burst(50e6, 1e9, 4, 1024 * KiB, &after);
    assert_true(d >= -TOLERANCE && d <= PACER_OVERRUN_FACTOR - 1 + TOLERANCE);
    assert_true(after >= -TOLERANCE && after <= PACER_OVERRUN_FACTOR - 1);
}

/* ------------------------------------------------- (c) the live heap grows */

/* Steady with 64 MiB live, then the program keeps `grow` bytes of what it
 * allocates (it loads data), at its allocation rate: while that lasts,
 * each cycle scans more than the last one did, i.e. than it expected.
 * Once past the expected work, assists aim at the hard goal (goal x (1 +
 * GC percent/100)) and assume the whole heap at the cycle's start may be
 * live: every cycle must end within its hard goal, which is also the
 * ceiling (2x the goal) where assists lose their time cap (1% over it:
 * the allocation that crosses it).  Once the live heap is steady again,
 * the cycles plan from the new scan work and, from the second on, end
 * within 5% of their goals.
 *
 * With growth as fast as 800 MB/s allocates, cycles do end at their hard
 * goal, 2x their goal: the assists aim at it from the moment the scan
 * work passes the expected, and then ask little.  Go's revise aims at the
 * goal extrapolated to the worst-case scan work (trigger + (goal -
 * trigger) x scan max / scan expected, 1.10-1.17x the goal in those
 * cycles) and only caps that by the hard goal. */
static void live_heap_grows(void **state)
{
    (void)state;
    static const struct {
        double alloc;
        uint64_t grow;
    } cases[] = {{200e6, 32 * MiB}, {200e6, 192 * MiB}, {800e6, 64 * MiB}, {800e6, 448 * MiB}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sim s;
        sim_init(&s, 100, INT64_MAX, 64 * MiB, cases[k].alloc, 1e9);
        sim_run_cycles(&s, 8, 600);
        while (s.marking)
            sim_step(&s);
        s.grow_left = cases[k].grow;
        int first = s.ncycles;
        while (s.grow_left)
            sim_step(&s);
        sim_run_cycles(&s, 1, 600); /* the cycle marking (or next) when it stopped */
        int steady = s.ncycles;     /* the first to start with the live heap steady */
        sim_run_cycles(&s, 12, 600);
        double worst_over_hard = 0, worst_over_goal = 0;
        int grew = 0;
        for (int i = first; i < steady; i++) {
            const sim_cycle *c = cyc(&s, i);
            assert_int_equal(c->hard_goal, 2 * c->goal);
            grew += c->scan_work > c->expected;
            if ((double)c->heap_end / (double)c->hard_goal > worst_over_hard)
                worst_over_hard = (double)c->heap_end / (double)c->hard_goal;
            if (deviation(&s, i) > worst_over_goal)
                worst_over_goal = deviation(&s, i);
            if ((double)c->heap_end > 1.01 * (double)c->hard_goal) {
                dump(&s, first - 1, s.ncycles);
                fail_msg("cycle %d ended past its hard goal", i + 1);
            }
        }
        print_message("  A=%.0f MB/s, live 64 -> %.0f MiB: %d cycles while it grew (%d scanned "
                      "more than expected), worst heap_end %+.1f%% of the goal, %.2fx the hard "
                      "goal; then worst %+.2f%%\n", cases[k].alloc / 1e6, mib(s.live),
                      steady - first, grew, worst_over_goal * 100, worst_over_hard,
                      worst_deviation(&s, steady + 1, s.ncycles) * 100);
        assert_true(grew >= 1);
        for (int i = first + 1; i < s.ncycles; i++)
            assert_int_equal(cyc(&s, i)->goal, 2 * cyc(&s, i - 1)->scan_work);
        expect_converged(&s, steady + 1, s.ncycles, "after the live heap grew");
    }
}

/* --------------------------------------------------- (d) GC percent change */

static void gc_percent_change_applies_next_cycle(void **state)
{
    (void)state;
    sim s;
    sim_init(&s, 100, INT64_MAX, 64 * MiB, 200e6, 1e9);
    sim_run_cycles(&s, 8, 600);
    /* Halfway through a cycle's marking, set 200%. */
    while (!(s.marking && s.scanned > (double)s.live / 2))
        sim_step(&s);
    uint64_t marking_goal = s.cur.goal;
    uint64_t old_trigger = s.m.trigger;
    assert_int_equal(s.m.heap_marked, s.live); /* the last cycle's scan work */
    assert_int_equal(marking_goal, s.m.heap_marked * 2);
    s.m.gc_percent = 200;
    pacer_model_update(&s.m);
    /* The model's goal and trigger move at once... */
    assert_int_equal(s.m.goal, s.m.heap_marked * 3);
    assert_true(s.m.trigger > old_trigger);
    assert_true(s.m.trigger >= s.m.heap_marked + (uint64_t)(0.70 * (double)(2 * s.m.heap_marked)));
    assert_true(s.m.trigger <= s.m.heap_marked + (uint64_t)(0.95 * (double)(2 * s.m.heap_marked)));
    /* ...while the cycle already marking keeps its goal, and ends near it. */
    int changed = s.ncycles;
    sim_run_cycles(&s, 1, 60);
    assert_int_equal(cyc(&s, changed)->goal, marking_goal);
    expect_converged(&s, changed, changed + 1, "the cycle marking during the change");
    /* The next cycles aim at 3x what the one before scanned, and end
     * within 5% of that. */
    sim_run_cycles(&s, 15, 600);
    for (int i = changed + 1; i < s.ncycles; i++) {
        assert_int_equal(cyc(&s, i)->goal, cyc(&s, i - 1)->scan_work * 3);
        assert_int_equal(cyc(&s, i)->hard_goal, cyc(&s, i)->goal * 3);
    }
    print_message("  after 100%% -> 200%%: worst heap_end/goal %+.2f%%\n",
                  worst_deviation(&s, changed + 1, s.ncycles) * 100);
    expect_converged(&s, changed + 1, s.ncycles, "after 100% -> 200%");
}

/* ------------------------------------------------------------- (e) GC off */

static uint64_t headroom_goal(uint64_t avail)
{
    /* As pacer.c computes it: the 3% in whole hundredths of avail. */
    return avail - avail / 100 * PACER_LIMIT_HEADROOM_PERCENT;
}

static void gc_off_with_limit(void **state)
{
    (void)state;
    const int64_t limit = 256 * (int64_t)MiB;
    sim s;
    sim_init(&s, TC_GC_OFF, limit, 64 * MiB, 200e6, 1e9);
    uint64_t want_goal = headroom_goal((uint64_t)limit);
    assert_int_equal(want_goal, 260382394u); /* 256 MiB - 7.68 MiB */
    sim_run_seconds(&s, 10);
    assert_true(s.ncycles >= 5);
    for (int i = 0; i < s.ncycles && i < MAX_CYCLES; i++) {
        const sim_cycle *c = cyc(&s, i);
        assert_int_equal(c->goal, want_goal); /* the scan work is far below */
        assert_int_equal(c->hard_goal, (uint64_t)((double)want_goal * PACER_OVERRUN_FACTOR));
        assert_true(c->heap_end <= (uint64_t)limit);
        if (i == 0)
            continue; /* the first starts at once: the start-up live set */
        /* A cycle starts only once the heap is most of the way to the goal. */
        uint64_t base = cyc(&s, i - 1)->scan_work;
        assert_true(c->heap_start >= base + (uint64_t)(0.70 * (double)(want_goal - base)));
    }
    assert_true(s.heap_max <= (uint64_t)limit);
    print_message("  GC off, 256 MiB limit: %d cycles in 10 s, heap max %.2f MiB, worst "
                  "heap_end/goal %+.2f%%\n", s.ncycles, mib(s.heap_max),
                  worst_deviation(&s, 3, s.ncycles) * 100);
    expect_converged(&s, 3, s.ncycles, "GC off, 256 MiB limit");

    /* GC off and no limit: never. */
    sim_init(&s, TC_GC_OFF, INT64_MAX, 64 * MiB, 800e6, 1e9);
    assert_int_equal(s.m.goal, UINT64_MAX);
    assert_int_equal(s.m.trigger, UINT64_MAX);
    assert_int_equal(pacer_model_hard_goal(&s.m), UINT64_MAX);
    sim_run_seconds(&s, 5);
    assert_int_equal(s.ncycles, 0);
    assert_int_equal(s.m.goal, UINT64_MAX);
    assert_int_equal(s.m.trigger, UINT64_MAX);
    assert_true(s.heap > 64 * MiB + (uint64_t)(5 * 2 * 800e6) - MiB); /* 8 GB, never collected */
}

/* --------------------------------------------- (f) limit below the live heap */

static void limit_below_live_heap(void **state)
{
    (void)state;
    enum { SECONDS = 5, STEPS = (int)(SECONDS * 1e9 / DT_NS), WINDOW = (int)(100e6 / DT_NS) };
    static double mut_log[STEPS];
    const int64_t limit = 100 * (int64_t)MiB;
    sim s;
    sim_init(&s, 100, limit, 150 * MiB, 200e6, 1e9);
    s.use_limiter = 1;
    s.mut_log = mut_log;
    s.mut_log_cap = STEPS;
    uint64_t first_full_step = UINT64_MAX;
    while (s.step < STEPS) {
        sim_step(&s);
        if (s.lim.full && first_full_step == UINT64_MAX)
            first_full_step = s.step;
    }
    assert_true(s.ncycles >= 10);
    uint64_t max_end = 0;
    int limited = 0;
    for (int i = 1; i < s.ncycles && i < MAX_CYCLES; i++) {
        const sim_cycle *c = cyc(&s, i);
        /* The goal never goes below the live heap: scan work + 1 MiB. */
        assert_int_equal(c->goal, cyc(&s, i - 1)->scan_work + PACER_LIMIT_MIN_GROWTH);
        if (c->heap_end > max_end)
            max_end = c->heap_end;
        limited |= c->limited;
        assert_true(c->max_assist_ns <= PACER_ASSIST_MAX_NS + 1);
    }
    /* Back to back: the sweep leaves the heap 0.7 MiB below the next
     * trigger (70% of the 1 MiB span), which takes the mutators a few ms. */
    uint64_t marking_steps = 0;
    for (int i = 0; i < s.ncycles && i < MAX_CYCLES; i++)
        marking_steps += cyc(&s, i)->steps;
    assert_true(marking_steps >= 0.95 * (double)s.step);
    /* The limiter filled and then suspended assists. */
    assert_true(first_full_step != UINT64_MAX);
    assert_true(limited);
    /* The mutator's share of the CPU over every 100 ms window once the
     * limiter is engaged (GC at most 50%, less slack for the 1 ms polls
     * and the assist under way when it fills), and the worst before: while
     * the bucket fills, assists may take nearly everything (its capacity
     * allows 200 ms x 2 cores of excess).  Measured: 49.4% after (50.0% on
     * average), 2.9% before; 37.3% after with the fill clamped at the
     * capacity, as the limiter was. */
    double window = 0, worst_after = 1, worst_before = 1, sum_after = 0;
    uint64_t steps_after = 0;
    for (uint64_t i = 0; i < STEPS; i++) {
        window += mut_log[i];
        if (i >= first_full_step) {
            sum_after += mut_log[i];
            steps_after++;
        }
        if (i >= WINDOW)
            window -= mut_log[i - WINDOW];
        if (i + 1 < WINDOW)
            continue;
        double share = window / (WINDOW * NCPU * DT_NS);
        if (i + 1 - WINDOW >= first_full_step) {
            if (share < worst_after)
                worst_after = share;
        } else if (share < worst_before) {
            worst_before = share;
        }
    }
    print_message("  limit 100 MiB, live 150 MiB: %d cycles in %d s, marking %.1f%% of the "
                  "time, limiter full after %.0f ms; mutator CPU share over 100 ms: worst "
                  "%.1f%% before, %.1f%% after (%.1f%% on average after); heap_end max "
                  "%.1f MiB (%.2fx the limit, %.3fx the live heap)\n", s.ncycles, SECONDS,
                  100.0 * (double)marking_steps / (double)s.step,
                  (double)first_full_step * DT_NS / 1e6, worst_before * 100, worst_after * 100,
                  100.0 * sum_after / ((double)steps_after * NCPU * DT_NS), mib(max_end),
                  (double)max_end / (double)limit, (double)max_end / (double)s.live);
    assert_true(worst_after >= 0.40);
    /* Overshoot is bounded by what the mutators (1.5 cores) can allocate
     * while the workers alone (0.5 core) mark the live heap: assists only
     * shorten that. */
    double alone_s = (double)s.live / (s.m.bg_utilization * NCPU * s.scan_rate);
    double bound = (double)(s.live + PACER_LIMIT_MIN_GROWTH) +
                   (NCPU - s.m.bg_utilization * NCPU) * s.alloc_rate * alone_s;
    assert_true((double)s.heap_max <= bound);
}

/* ------------------------------------------------------ (g) the formulas */

static pacer_model model(int pct, int64_t limit, uint64_t marked, uint64_t overhead)
{
    pacer_model m;
    pacer_model_init(&m, pct, limit, PACER_BG_UTILIZATION);
    m.heap_marked = marked;
    m.overhead = overhead;
    pacer_model_update(&m);
    return m;
}

static void goal_formula(void **state)
{
    (void)state;
    /* The percent goal, with its minimum: 4 MiB x GC percent / 100. */
    assert_int_equal(model(100, INT64_MAX, 0, 0).goal, 4 * MiB);
    assert_int_equal(model(100, INT64_MAX, 1 * MiB, 0).goal, 4 * MiB);
    assert_int_equal(model(100, INT64_MAX, 2 * MiB + 1, 0).goal, 4 * MiB + 2);
    assert_int_equal(model(100, INT64_MAX, 100 * MiB, 0).goal, 200 * MiB);
    assert_int_equal(model(50, INT64_MAX, 100 * MiB, 0).goal, 150 * MiB);
    assert_int_equal(model(0, INT64_MAX, 100 * MiB, 0).goal, 100 * MiB);
    assert_int_equal(model(0, INT64_MAX, 1 * MiB, 0).goal, 1 * MiB); /* no minimum at 0 */
    assert_int_equal(model(0, INT64_MAX, 0, 0).goal, 0);
    assert_int_equal(model(33, INT64_MAX, 1000, 0).goal, 4 * MiB * 33 / 100);
    assert_int_equal(model(400, INT64_MAX, 1000, 0).goal, 16 * MiB);
    assert_int_equal(model(5, INT64_MAX, 100 * 1024, 0).goal, 4 * MiB * 5 / 100);
    assert_int_equal(model(33, INT64_MAX, 300 * MiB + 7, 0).goal, (300 * MiB + 7) * 133 / 100);
    /* No overflow: huge marked heaps and percents saturate. */
    assert_int_equal(model(100, INT64_MAX, UINT64_MAX / 2, 0).goal, UINT64_MAX);
    assert_int_equal(model(0x7fffffff, INT64_MAX, (uint64_t)64 << 30, 0).goal, UINT64_MAX);
    assert_int_equal(model(0x7fffffff, INT64_MAX, 1 * MiB, 0).goal, /* the minimum, scaled */
                     4 * MiB * (uint64_t)0x7fffffff / 100);
    assert_int_equal(model(0x7fffffff, INT64_MAX, 8 * MiB, 0).goal,
                     8 * MiB * (100 + (uint64_t)0x7fffffff) / 100);
    assert_int_equal(model(100, INT64_MAX, UINT64_MAX / 200, 0).goal, UINT64_MAX / 200 * 2);
    assert_int_equal(model(100, INT64_MAX, UINT64_MAX / 200 + 1, 0).goal, UINT64_MAX);
    /* Off: no goal. */
    assert_int_equal(model(TC_GC_OFF, INT64_MAX, 100 * MiB, 0).goal, UINT64_MAX);
    assert_int_equal(model(-5, INT64_MAX, 100 * MiB, 0).gc_percent, TC_GC_OFF);

    /* The limit: (limit - overhead) less 3%, when lower than the percent goal. */
    const int64_t lim = 256 * (int64_t)MiB;
    assert_int_equal(model(100, lim, 100 * MiB, 0).goal, 200 * MiB); /* percent is lower */
    assert_int_equal(model(100, lim, 200 * MiB, 0).goal, headroom_goal(256 * MiB));
    assert_int_equal(model(TC_GC_OFF, lim, 10 * MiB, 0).goal, headroom_goal(256 * MiB));
    assert_int_equal(model(TC_GC_OFF, lim, 10 * MiB, 16 * MiB).goal, headroom_goal(240 * MiB));
    assert_int_equal(model(TC_GC_OFF, 1000, 0, 0).goal, PACER_LIMIT_MIN_GROWTH);
    assert_int_equal(model(TC_GC_OFF, 100001, 0, 0).goal, PACER_LIMIT_MIN_GROWTH);
    assert_int_equal(model(TC_GC_OFF, 100 * (int64_t)MiB, 0, 0).goal, 100 * MiB - 3 * MiB);
    assert_int_equal(model(TC_GC_OFF, 101, 0, 0).goal, PACER_LIMIT_MIN_GROWTH);
    /* Never below the live heap plus 1 MiB: not with the live heap above
     * the limit, nor with the overhead above it (avail 0). */
    assert_int_equal(model(100, 100 * (int64_t)MiB, 150 * MiB, 0).goal, 151 * MiB);
    assert_int_equal(model(TC_GC_OFF, lim, 250 * MiB, 0).goal, 251 * MiB);
    assert_int_equal(model(100, lim, 50 * MiB, 300 * MiB).goal, 51 * MiB);
    assert_int_equal(model(100, lim, 50 * MiB, (uint64_t)lim).goal, 51 * MiB);
    /* The limit may go below the 4 MiB minimum: a limit is a promise. */
    assert_int_equal(model(100, 2 * (int64_t)MiB, 0, 0).goal, headroom_goal(2 * MiB));
    /* pacer_model_goal is what update publishes. */
    pacer_model m = model(100, lim, 200 * MiB, 5 * MiB);
    assert_int_equal(pacer_model_goal(&m), m.goal);
    assert_int_equal(m.goal, headroom_goal(251 * MiB));
}

/* A cycle whose cons/mark ratio is exactly cm (u = 0.25, no idle), with
 * `scan` bytes of scan work and 30 MiB allocated black on top. */
static pacer_cycle cycle_with_consmark(double cm, uint64_t scan)
{
    /* cm = grown x u / (scan x (1 - u)) with u = 0.25: grown = 3 cm scan. */
    return (pacer_cycle){
        .heap_start = 100 * MiB,
        .heap_end = 100 * MiB + (uint64_t)(3 * cm * (double)scan + 0.5),
        .heap_marked = scan + 30 * MiB,
        .scan_work = scan,
        .mark_wall_ns = 100000000,
        .mark_cpu_ns = 50000000, /* 0.25 of 2 cores */
        .ncpu = 2,
    };
}

/* The model learns the scan work, not the heap the sweep left. */
static void end_cycle_adopts_scan_work(void **state)
{
    (void)state;
    pacer_model m;
    pacer_model_init(&m, 100, INT64_MAX, PACER_BG_UTILIZATION);
    pacer_cycle c = cycle_with_consmark(0.001, 100 * MiB);
    assert_int_equal(c.heap_marked, 130 * MiB);
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.heap_marked, 100 * MiB);
    assert_int_equal(m.goal, 200 * MiB);
    /* Whatever the heap after it: the black allocation is not the base. */
    c.heap_marked = 500 * MiB;
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.heap_marked, 100 * MiB);
    assert_int_equal(m.goal, 200 * MiB);
    c.heap_marked = 0;
    c.scan_work = 40 * MiB;
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.heap_marked, 40 * MiB);
    assert_int_equal(m.goal, 80 * MiB);
    /* Under a limit, the floor too is the scan work plus 1 MiB. */
    pacer_model_init(&m, 100, 64 * (int64_t)MiB, PACER_BG_UTILIZATION);
    c = cycle_with_consmark(0.001, 100 * MiB);
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.goal, 101 * MiB);
}

static void trigger_clamps(void **state)
{
    (void)state;
    /* No history: the earliest trigger, 70% of the way. */
    pacer_model m = model(100, INT64_MAX, 100 * MiB, 0);
    assert_int_equal(m.nconsmark, 0);
    assert_int_equal(m.trigger, 170 * MiB);
    m = model(100, INT64_MAX, 0, 0); /* 4 MiB goal from nothing */
    assert_int_equal(m.trigger, (uint64_t)(0.7 * 4 * MiB));
    /* GC off with no limit: never. */
    m = model(TC_GC_OFF, INT64_MAX, 100 * MiB, 0);
    assert_int_equal(m.trigger, UINT64_MAX);

    /* Runway = max cm x (1 - u)/u x scan work.  u = 0.25: 3 cm scan. */
    pacer_model_init(&m, 100, INT64_MAX, PACER_BG_UTILIZATION);
    pacer_cycle c = cycle_with_consmark(1.0 / 15, 100 * MiB);
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.nconsmark, 1);
    expect_near(m.consmark[0], 1.0 / 15, 1e-9);
    assert_int_equal(m.goal, 200 * MiB);
    /* runway = 3 x 100/15 = 20 MiB: trigger = 180 MiB, between the clamps. */
    assert_true(llabs((long long)m.trigger - (long long)(180 * MiB)) <= 2);
    /* A tiny ratio: the latest trigger, 95%. */
    pacer_model_init(&m, 100, INT64_MAX, PACER_BG_UTILIZATION);
    c = cycle_with_consmark(0.001, 100 * MiB);
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.trigger, 195 * MiB);
    /* A big one: the earliest, 70%. */
    c = cycle_with_consmark(2, 100 * MiB);
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.trigger, 170 * MiB);
    /* The maximum over PACER_HISTORY cycles: three small ratios after the
     * big one keep the trigger early; the fourth pushes it out. */
    for (int i = 0; i < PACER_HISTORY - 1; i++) {
        c = cycle_with_consmark(0.001, 100 * MiB);
        pacer_model_end_cycle(&m, &c);
        assert_int_equal(m.trigger, 170 * MiB);
    }
    c = cycle_with_consmark(0.001, 100 * MiB);
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.nconsmark, PACER_HISTORY);
    assert_int_equal(m.trigger, 195 * MiB);
    /* A cycle that measured no ratio (no wall time) leaves the history
     * alone but still adopts its scan work. */
    c = cycle_with_consmark(2, 50 * MiB);
    c.mark_wall_ns = 0;
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.nconsmark, PACER_HISTORY);
    expect_near(m.consmark[0], 0.001, 1e-9);
    assert_int_equal(m.heap_marked, 50 * MiB);
    assert_int_equal(m.goal, 100 * MiB);
    assert_int_equal(m.trigger, 50 * MiB + (uint64_t)(0.95 * 50 * MiB));
    /* Nor does one with too little scan work; it is adopted too. */
    c = cycle_with_consmark(2, 32 * KiB);
    pacer_model_end_cycle(&m, &c);
    assert_int_equal(m.nconsmark, PACER_HISTORY);
    assert_int_equal(m.heap_marked, 32 * KiB);
    assert_int_equal(m.goal, TC_MIN_HEAP_GOAL);

    /* The planned utilization scales the runway: u = 0.5 halves (1-u)/u
     * from 3 to 1.  cm = 0.2, scan 100 MiB: runway 20 MiB. */
    pacer_model_init(&m, 100, INT64_MAX, 0.5);
    c = cycle_with_consmark(0.2, 100 * MiB);
    pacer_model_end_cycle(&m, &c);
    assert_true(llabs((long long)m.trigger - (long long)(180 * MiB)) <= 2);
    /* A limit goal uses the same clamps, from the base to the limit goal. */
    m = model(TC_GC_OFF, 256 * (int64_t)MiB, 64 * MiB, 0);
    assert_int_equal(m.trigger,
                     (uint64_t)(64.0 * MiB + 0.7 * (double)(headroom_goal(256 * MiB) - 64 * MiB)));
    /* Below the live heap: a 1 MiB span, 70% of it. */
    m = model(100, 100 * (int64_t)MiB, 150 * MiB, 0);
    assert_int_equal(m.trigger, 150 * MiB + (uint64_t)(0.7 * MiB));
}

static void consmark_formula(void **state)
{
    (void)state;
    pacer_cycle c = {
        .heap_start = 100 * MiB,
        .heap_end = 120 * MiB,
        .scan_work = 50 * MiB,
        .mark_wall_ns = 100000000,
        .mark_cpu_ns = 50000000, /* u = 0.25 */
        .idle_cpu_ns = 20000000, /* idle = 0.1 */
        .ncpu = 2,
    };
    /* grown x (u + idle) / (scan x (1 - u)) = 20 x 0.35 / (50 x 0.75) */
    expect_near(pacer_model_consmark(&c), 20.0 * 0.35 / (50.0 * 0.75), 1e-12);
    /* u clamps to [0.01, 0.95]; idle to [0, 1]. */
    pacer_cycle d = c;
    d.mark_cpu_ns = 0;
    d.idle_cpu_ns = 0;
    expect_near(pacer_model_consmark(&d), 20.0 * 0.01 / (50.0 * 0.99), 1e-12);
    d.mark_cpu_ns = 400000000; /* twice what two cores can do */
    expect_near(pacer_model_consmark(&d), 20.0 * 0.95 / (50.0 * 0.05), 1e-9);
    d = c;
    d.idle_cpu_ns = 900000000;
    expect_near(pacer_model_consmark(&d), 20.0 * 1.25 / (50.0 * 0.75), 1e-12);
    /* Edges: zero or too little measured gives 0, never a division by 0. */
    d = c;
    d.scan_work = 0;
    assert_true(pacer_model_consmark(&d) == 0);
    d.scan_work = 64 * KiB - 1;
    assert_true(pacer_model_consmark(&d) == 0);
    d.scan_work = 64 * KiB;
    assert_true(pacer_model_consmark(&d) > 0);
    d = c;
    d.mark_wall_ns = 0;
    assert_true(pacer_model_consmark(&d) == 0);
    d = c;
    d.ncpu = 0;
    assert_true(pacer_model_consmark(&d) == 0);
    d.ncpu = -1;
    assert_true(pacer_model_consmark(&d) == 0);
    d = c;
    d.heap_end = d.heap_start; /* no growth */
    assert_true(pacer_model_consmark(&d) == 0);
    d.heap_end = d.heap_start - MiB; /* shrank (a forced cycle) */
    assert_true(pacer_model_consmark(&d) == 0);
    pacer_cycle z = {0};
    assert_true(pacer_model_consmark(&z) == 0);
}

static void assist_ratio_formula(void **state)
{
    (void)state;
    const uint64_t goal = 100 * MiB;
    const double hard = (double)goal * PACER_OVERRUN_FACTOR;
    /* No goal: no assists. */
    assert_true(pacer_model_assist_ratio(UINT64_MAX, 50 * MiB, 10 * MiB) == 0);
    /* Below the goal: scan left / heap left. */
    expect_near(pacer_model_assist_ratio(goal, 90 * MiB, 20 * MiB), 2.0, 1e-12);
    expect_near(pacer_model_assist_ratio(goal, 0, 50 * MiB), 0.5, 1e-12);
    assert_true(pacer_model_assist_ratio(goal, 90 * MiB, 0) == 0);
    /* Within PACER_ASSIST_PREPAY of the goal: the runway's floor. */
    double floor_ratio = (double)(10 * MiB) / (double)PACER_ASSIST_PREPAY;
    expect_near(pacer_model_assist_ratio(goal, goal - 1000, 10 * MiB), floor_ratio, 1e-9);
    /* At and past the goal: aim at the hard goal, 1.1x. */
    expect_near(pacer_model_assist_ratio(goal, goal, 10 * MiB),
                        10.0 * MiB / (hard - (double)goal), 1e-3);
    expect_near(pacer_model_assist_ratio(goal, 105 * MiB, 10 * MiB),
                        10.0 * MiB / (hard - 105.0 * MiB), 1e-3);
    /* Past the hard goal: the floor again, however far past. */
    expect_near(pacer_model_assist_ratio(goal, 111 * MiB, 10 * MiB), floor_ratio, 1e-9);
    expect_near(pacer_model_assist_ratio(goal, 10 * goal, 10 * MiB), floor_ratio, 1e-9);
    /* Continuous enough: the ratio only grows as the heap approaches and
     * passes the goal, until the floor. */
    double prev = 0;
    for (uint64_t h = 50 * MiB; h < 120 * MiB; h += 256 * KiB) {
        double r = pacer_model_assist_ratio(goal, h, 10 * MiB);
        if (r < prev - 1e-9 && !(h >= goal && h < goal + 512 * KiB))
            fail_msg("ratio fell from %g to %g at heap %.2f MiB", prev, r, mib(h));
        prev = r;
    }
}


/* pacer_model_assist: Go's rules around pacer_model_assist_ratio. */
static void assist_formula(void **state)
{
    (void)state;
    const uint64_t G = 100 * MiB, H = 200 * MiB, E = 50 * MiB, X = 80 * MiB;
    const double P = (double)PACER_ASSIST_PREPAY;
    /* No goal: no assists. */
    assert_true(pacer_model_assist(UINT64_MAX, UINT64_MAX, 50 * MiB, E, X, 0) == 0);
    assert_true(pacer_model_assist(UINT64_MAX, UINT64_MAX, 50 * MiB, E, X, 60 * MiB) == 0);
    /* Below the goal, within the expected work: the expected work left over
     * the heap left. */
    expect_near(pacer_model_assist(G, H, 90 * MiB, E, X, 30 * MiB), 2.0, 1e-12);
    expect_near(pacer_model_assist(G, H, G - 1000, E, X, 30 * MiB), 20.0 * MiB / P, 1e-9);
    assert_true(pacer_model_assist(G, H, 90 * MiB, E, X, E) == 0); /* exactly done */
    for (uint64_t h = 0; h <= G; h += 3 * MiB + 12345)
        for (uint64_t d = 0; d <= E; d += 7 * MiB + 999)
            expect_near(pacer_model_assist(G, H, h, E, X, d),
                        pacer_model_assist_ratio(G, h, E - d), 1e-12);
    /* More scanned than expected: the live heap grew.  Assume everything in
     * use at the cycle's start may be live, and push the goal back in
     * proportion: X + (G - X) x X / E = 80 + 20 x 1.6 = 112 MiB. */
    expect_near(pacer_model_assist(G, H, 90 * MiB, E, X, 60 * MiB), 20.0 / 22.0, 1e-12);
    expect_near(pacer_model_assist(G, H, 105 * MiB, E, X, 79 * MiB), 1.0 / 7.0, 1e-12);
    assert_true(pacer_model_assist(G, H, 90 * MiB, E, X, 85 * MiB) == 0); /* past even that */
    /* Past the pushed-back goal: its 1.1x (123.2 MiB), then the floor. */
    expect_near(pacer_model_assist(G, H, 120 * MiB, E, X, 60 * MiB), 20.0 / 3.2, 1e-6);
    expect_near(pacer_model_assist(G, H, 130 * MiB, E, X, 60 * MiB), 20.0 * MiB / P, 1e-9);
    /* The push-back stops at the hard goal: with E2 = 10 MiB expected it
     * would be 80 + 20 x 8 = 240 MiB; it is H = 200, past it 1.1 x H. */
    const uint64_t E2 = 10 * MiB;
    expect_near(pacer_model_assist(G, H, 150 * MiB, E2, X, 60 * MiB), 20.0 / 50.0, 1e-12);
    expect_near(pacer_model_assist(G, H, 210 * MiB, E2, X, 60 * MiB), 2.0, 1e-9);
    expect_near(pacer_model_assist(G, H, 250 * MiB, E2, X, 60 * MiB), 20.0 * MiB / P, 1e-9);
    /* Past the goal within the expected work: assume the worst (all of the
     * heap at the start), aim at goal x 1.1. */
    expect_near(pacer_model_assist(G, H, 105 * MiB, E, X, 30 * MiB), 10.0, 1e-9);
    expect_near(pacer_model_assist(G, H, 105 * MiB, E, X, E), 6.0, 1e-9);
    /* ...and owe at least the prepay, even with (almost) nothing left. */
    expect_near(pacer_model_assist(G, H, 105 * MiB, X, X, X - 1000), P / (5.0 * MiB), 1e-12);
    expect_near(pacer_model_assist(G, H, 105 * MiB, X, X, X), P / (5.0 * MiB), 1e-12);
    expect_near(pacer_model_assist(G, H, 300 * MiB, X, X, X), 1.0, 1e-12);
    /* Not below the goal: the prepay does not apply. */
    assert_true(pacer_model_assist(G, H, G, X, X, X) == 0);
}

/* pacer_model_hard_goal: goal x (1 + GC percent/100), at least x 1.1. */
static void hard_goal_formula(void **state)
{
    (void)state;
    assert_int_equal(pacer_model_hard_goal(&(pacer_model){0}), 0);
    pacer_model m = model(100, INT64_MAX, 100 * MiB, 0);
    assert_int_equal(pacer_model_hard_goal(&m), 400 * MiB);
    m = model(50, INT64_MAX, 100 * MiB, 0);
    assert_int_equal(pacer_model_hard_goal(&m), 225 * MiB);
    m = model(300, INT64_MAX, 100 * MiB, 0);
    assert_int_equal(pacer_model_hard_goal(&m), 1600 * MiB);
    m = model(100, INT64_MAX, 0, 0); /* the 4 MiB minimum goal */
    assert_int_equal(pacer_model_hard_goal(&m), 8 * MiB);
    /* Small percents: 1.1x. */
    m = model(5, INT64_MAX, 100 * MiB, 0);
    assert_int_equal(pacer_model_hard_goal(&m),
                     (uint64_t)((double)(105 * MiB) * PACER_OVERRUN_FACTOR));
    m = model(0, INT64_MAX, 100 * MiB, 0);
    assert_int_equal(pacer_model_hard_goal(&m),
                     (uint64_t)((double)(100 * MiB) * PACER_OVERRUN_FACTOR));
    /* GC off under a limit: 1.1x the limit's goal. */
    m = model(TC_GC_OFF, 256 * (int64_t)MiB, 10 * MiB, 0);
    assert_int_equal(pacer_model_hard_goal(&m),
                     (uint64_t)((double)headroom_goal(256 * MiB) * PACER_OVERRUN_FACTOR));
    /* GC percent with the limit's goal the lower: the percent's factor
     * applies to the limit's goal (nearly 2x the limit here). */
    m = model(100, 256 * (int64_t)MiB, 200 * MiB, 0);
    assert_int_equal(m.goal, headroom_goal(256 * MiB));
    assert_int_equal(pacer_model_hard_goal(&m), 2 * headroom_goal(256 * MiB));
    /* No goal, or one too big to multiply: none. */
    m = model(TC_GC_OFF, INT64_MAX, 100 * MiB, 0);
    assert_int_equal(pacer_model_hard_goal(&m), UINT64_MAX);
    m = model(100, INT64_MAX, UINT64_MAX / 8, 0); /* the goal saturates */
    assert_int_equal(m.goal, UINT64_MAX);
    assert_int_equal(pacer_model_hard_goal(&m), UINT64_MAX);
    m = model(100, INT64_MAX, 100 * MiB, 0);
    m.goal = UINT64_C(10000000000000000000); /* (a limit's goal can be) */
    assert_int_equal(pacer_model_hard_goal(&m), UINT64_MAX);
    m.goal = UINT64_C(8000000000000000000);
    assert_int_equal(pacer_model_hard_goal(&m), UINT64_C(16000000000000000000));
    /* Monotonic in the goal and the percent. */
    uint64_t prev = 0;
    for (int pct = 0; pct <= 1000; pct += 7) {
        m = model(pct, INT64_MAX, 64 * MiB, 0);
        uint64_t h = pacer_model_hard_goal(&m);
        assert_true(h >= prev && h >= m.goal + m.goal / 10);
        prev = h;
    }
}

static void limiter_bucket(void **state)
{
    (void)state;
    pacer_limiter l;
    pacer_limiter_init(&l, 2);
    assert_true(l.capacity_ns == 2.0 * PACER_LIMITER_CAPACITY_NS);
    assert_true(l.fill_ns == 0 && !l.full);
    pacer_limiter_init(&l, 0); /* unknown core count: one */
    assert_true(l.capacity_ns == (double)PACER_LIMITER_CAPACITY_NS);
    pacer_limiter_init(&l, -3);
    assert_true(l.capacity_ns == (double)PACER_LIMITER_CAPACITY_NS);

    pacer_limiter_init(&l, 2);
    /* Exactly 50% GC: nothing changes. */
    pacer_limiter_feed(&l, 1000000, 500000);
    assert_true(l.fill_ns == 0 && !l.full);
    /* Below 50% from empty: clamps at 0. */
    pacer_limiter_feed(&l, 1000000, 100000);
    assert_true(l.fill_ns == 0);
    /* Above: fills by the excess. */
    pacer_limiter_feed(&l, 1000000, 600000);
    expect_near(l.fill_ns, 100000, 1e-6);
    pacer_limiter_feed(&l, 1000000, 1000000);
    expect_near(l.fill_ns, 600000, 1e-6);
    /* Below: drains by the shortfall. */
    pacer_limiter_feed(&l, 1000000, 200000);
    expect_near(l.fill_ns, 300000, 1e-6);
    assert_false(l.full);
    /* All GC, 2 cores: +1 ms of fill per 1 ms of wall (2 ms of CPU); the
     * 400 ms bucket is full after 400 ms, not a step before. */
    pacer_limiter_init(&l, 2);
    for (int ms = 1; ms <= 400; ms++) {
        pacer_limiter_feed(&l, 2000000, 2000000);
        assert_int_equal(l.full, ms == 400);
    }
    assert_true(l.fill_ns == l.capacity_ns);
    /* GC CPU spent while full is kept, up to a second capacity. */
    for (int ms = 1; ms <= 401; ms++) {
        pacer_limiter_feed(&l, 2000000, 2000000);
        assert_true(l.full);
        expect_near(l.fill_ns, ms <= 400 ? l.capacity_ns + ms * 1e6 : 2 * l.capacity_ns, 1e-3);
    }
    /* 50% exactly keeps it there; below 50% drains it, and it stays full
     * until the overflow has drained: 400 ms of all-mutator CPU. */
    pacer_limiter_feed(&l, 2000000, 1000000);
    assert_true(l.fill_ns == 2 * l.capacity_ns && l.full);
    pacer_limiter_feed(&l, 2000000, 999999);
    assert_true(l.full);
    expect_near(l.fill_ns, 2 * l.capacity_ns - 1, 1e-6);
    pacer_limiter_feed(&l, 2000000, 1);
    for (int ms = 1; ms < 400; ms++) {
        pacer_limiter_feed(&l, 2000000, 0);
        assert_true(l.full);
    }
    expect_near(l.fill_ns, l.capacity_ns, 1e-3);
    pacer_limiter_feed(&l, 2000000, 0);
    assert_false(l.full);
    /* Full is fill >= capacity exactly. */
    pacer_limiter_init(&l, 1);
    pacer_limiter_feed(&l, 0, PACER_LIMITER_CAPACITY_NS - 1);
    assert_false(l.full);
    pacer_limiter_feed(&l, 0, 1);
    assert_true(l.full);
    pacer_limiter_feed(&l, 2, 0);
    assert_false(l.full);
    /* A huge interval of mutator CPU drains it to exactly 0. */
    pacer_limiter_feed(&l, UINT64_C(1) << 40, 0);
    assert_true(l.fill_ns == 0 && !l.full);
    /* And a huge burst of GC CPU fills it to exactly twice the capacity. */
    pacer_limiter_feed(&l, 0, UINT64_C(1) << 40);
    assert_true(l.fill_ns == 2 * l.capacity_ns && l.full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(steady_rates_converge),
        cmocka_unit_test(burst_is_absorbed_by_assists),
        cmocka_unit_test(assist_cap_by_heap_and_size),
        cmocka_unit_test(live_heap_grows),
        cmocka_unit_test(gc_percent_change_applies_next_cycle),
        cmocka_unit_test(gc_off_with_limit),
        cmocka_unit_test(limit_below_live_heap),
        cmocka_unit_test(goal_formula),
        cmocka_unit_test(end_cycle_adopts_scan_work),
        cmocka_unit_test(trigger_clamps),
        cmocka_unit_test(consmark_formula),
        cmocka_unit_test(assist_ratio_formula),
        cmocka_unit_test(assist_formula),
        cmocka_unit_test(hard_goal_formula),
        cmocka_unit_test(limiter_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
