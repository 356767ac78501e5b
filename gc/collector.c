/* collector.c — the cycle, the collector thread, tc_init/tc_shutdown; see collector.h. */
#include "collector.h"
#include "check.h"

#include <pthread.h>
#include <stdlib.h>

#include "alloc.h"
#include "barrier.h"
#include "central.h"
#include "final.h"
#include "heap.h"
#include "mark.h"
#include "options.h"
#include "pacer.h"
#include "platform.h"
#include "roots.h"
#include "scavenge.h"
#include "stall.h"
#include "stats.h"
#include "threads.h"
#include "weak.h"

/* Mark termination drains what the barrier buffers held for at most this
 * long inside the pause; if grey work is left, marking resumes.  After
 * MARK_TERM_MAX_ATTEMPTS tries it drains to the end, so a program that
 * keeps shading cannot postpone the end of marking forever. */
#define MARK_TERM_BUDGET_NS 100000
#define MARK_TERM_MAX_ATTEMPTS 8

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(init_lock, RANK_INIT);
/* The library's lifecycle: set by tc_init, cleared by tc_shutdown, both
 * under init_lock; read without it.  It outlives teardown. */
static tc_aword running;

/* Cycle requests and completions (cyc_lock). */
static pthread_mutex_t cyc_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(cyc_lock, RANK_CYC);
static pthread_cond_t request_cond = PTHREAD_COND_INITIALIZER; /* requested moved */
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;    /* reports_done moved */

/* The module's state, zeroed in one place (teardown), when none of the
 * collector's threads runs.  stop_threads leaves the cycle counters and
 * requests alone: start_threads carries on where it left off (fork). */
static struct collector_state {
    /* cyc_lock's. */
    uint64_t forced_upto;  /* cycles up to this number were asked by tc_collect */
    uint64_t reports_done; /* cycles swept and reported */
    int collector_exit;    /* the collector thread leaves its loop (stop_threads) */
    int shutting_down;     /* tc_shutdown: collector_wait returns at once */
    /* Written under cyc_lock (or by the collector thread alone: phase and
     * the cycle counters), read without it. */
    tc_aword requested; /* highest cycle number asked for */
    tc_aword cycles_started, cycles_marked;
    /* Cycles whose first pause is over: marking has begun (the barrier is
     * on, assists pay for allocation). */
    tc_aword cycles_begun;
    tc_aword phase;
    /* The collector's threads, init_lock's (start_threads, stop_threads).
     * Mark workers: nworkers dedicated ones (fractional when the 25%
     * target is less than a whole worker each), then nidle idle-priority
     * ones; each dedicated one marks worker_duty of the time. */
    pthread_t collector_thread;
    int have_collector;
    pthread_t *workers;
    int nworkers, nidle;
    double worker_duty;
    /* Atomic: the workers' CPU time this cycle (zeroed as it begins). */
    TC_OWN_LINE tc_aword worker_cpu_ns;
    TC_OWN_LINE tc_aword idle_cpu_ns;
} col;

int collector_running(void) { return at_load(&running) != 0; }
int collector_phase(void) { return (int)at_load(&col.phase); }

static void set_phase(int p)
{
    at_store(&col.phase, (uintptr_t)p);
    stall_note_cycle(at_load(&col.cycles_started), p);
}
uint64_t collector_cycles_started(void) { return at_load(&col.cycles_started); }

#ifdef TC_TESTING
static tc_aword hold_marking, hold_sweep, stw1_swept, delay_start_ns;
void collector_test_delay_next_start(uint64_t ns) { at_store(&delay_start_ns, ns); }
void collector_test_hold_marking(int hold) { at_store(&hold_marking, (uintptr_t)hold); }
void collector_test_hold_sweep(int hold) { at_store(&hold_sweep, (uintptr_t)hold); }
uint64_t collector_test_stw1_swept(void) { return at_load(&stw1_swept); }
#endif

/* ------------------------------------------------------------- requests */

uint64_t collector_request(int forced)
{
    pthread_mutex_lock(&cyc_lock);
    uint64_t target = at_load(&col.cycles_started) + 1;
    if (at_load(&col.requested) < target)
        at_store(&col.requested, target);
    if (forced && col.forced_upto < target)
        col.forced_upto = target;
    pthread_cond_signal(&request_cond);
    pthread_mutex_unlock(&cyc_lock);
    return target;
}

void collector_wait(uint64_t n)
{
    int blocked = threads_block_if_running();
    pthread_mutex_lock(&cyc_lock);
    while (col.reports_done < n && !col.shutting_down)
        pthread_cond_wait(&done_cond, &cyc_lock);
    pthread_mutex_unlock(&cyc_lock);
    threads_unblock(blocked);
}

void collector_collect(int forced) { collector_wait(collector_request(forced)); }

void collector_request_if_idle(void)
{
    if (at_load(&col.requested) <= at_load(&col.cycles_started))
        collector_request(0);
}

/* Set on the collector's own threads (collector, mark workers): callbacks
 * and trace functions run there, and some calls must know it. */
static TC_TLS int on_collector_thread;

/* The heap has reached its goal with no cycle marking or sweeping, and
 * one asked for.  (While one marks, assists pace allocation; while the
 * last one sweeps, allocators sweep too, and waiting for the collector
 * to finish its sweep held the finalizer benchmark's mutator 75 ms.) */
static int past_goal_unmarked(void)
{
    return at_load(&col.requested) > at_load(&col.cycles_begun) && at_load(&col.phase) == PHASE_OFF &&
           pacer_heap_estimate() >= pacer_goal();
}

/* A cycle is asked for and its collector thread has not begun it (on a
 * busy machine it may wait for a core for many ms), while allocation has
 * carried the heap to the goal, where marking should have ended: wait in
 * a blocking region, giving up the core, until marking begins.  Without
 * this an interpreter on a loaded machine started cycles at 3.4x their
 * trigger.  Polled: the wait ends as soon as the heap is back under its
 * goal too (a sweep freed room), or the collector stops, and after 10 ms
 * at most: the collector thread may be inside the program's cycle
 * callback, which could be waiting for this very thread (a lock it
 * holds).  Capped, the wait still throttles allocation, one wait per
 * refill, until the cycle begins. */
#define START_POLL_NS 100000
#define START_WAIT_MAX_NS 10000000

static void wait_for_marking(void)
{
    int prev = stall_begin(TC_STALL_START);
    int blocked = threads_block_if_running();
    uint64_t give_up = plat_now_ns() + START_WAIT_MAX_NS;
    while (past_goal_unmarked() && at_load(&running) && plat_now_ns() < give_up)
        plat_sleep_ns(START_POLL_NS);
    threads_unblock(blocked);
    stall_end(prev);
}

void collector_maybe_trigger(void)
{
    if (!pacer_should_trigger())
        return;
    /* A cycle asked for and not yet past mark termination is due to
     * finish; the pacer's next trigger only exists after that. */
    if (at_load(&col.requested) <= at_load(&col.cycles_marked)) {
        /* A section: waking the collector may cost this thread its core. */
        int prev = stall_begin(TC_STALL_START);
        collector_request(0);
        stall_end(prev);
    }
    /* The stress mode asks for cycles at its own pace, goal or not. */
    if (past_goal_unmarked() && !on_collector_thread && !opt.stress)
        wait_for_marking();
}

void tc_collect(void)
{
    if (!collector_running()) {
        plat_diag("tc_collect: the collector is not running (call tc_init first)");
        return;
    }
    tc_thread *t = thread_self_or_diag("tc_collect");
    if (!t)
        return;
    if (at_load(&t->state) != TS_RUNNING)
        plat_diag("tc_collect: called inside a blocking region (it collects all the same)");
    collector_collect(1);
}

/* ------------------------------------------------------------- the cycle */

typedef struct cycle {
    tc_cycle_info info;
    tc_visitor v;                 /* the collector thread's marking */
    uint64_t alloc_bytes, alloc_objects; /* allocation totals at mark start */
    uint64_t mark_begin_ns;       /* pause 1 ended */
    uint64_t cpu_assist_ns;       /* assists while marking */
} cycle;

typedef struct pause {
    uint64_t start_ns, cpu0, tts_ns;
} pause;

static void pause_begin(pause *p)
{
    p->start_ns = plat_now_ns();
    p->cpu0 = plat_thread_cpu_ns();
    p->tts_ns = world_stop();
}

/* Restart the world; returns the pause's length, stop request to restart. */
static uint64_t pause_end(cycle *c, pause *p)
{
    uint64_t end = world_start();
    uint64_t cpu = plat_thread_cpu_ns() - p->cpu0;
    uint64_t ns = end - p->start_ns;
    stats_record_pause(ns, end, cpu);
    pacer_note_gc_cpu(cpu);
    c->info.pause_ns += ns;
    c->info.tts_ns += p->tts_ns;
    c->info.cpu_stw_ns += cpu;
    return ns;
}

static void flush_cache(tc_thread *t, void *ctx)
{
    (void)ctx;
    alloc_flush_cache(t);
}

/* Pause 1, world stopped: sweep termination and mark start. */
static void cycle_mark_start(cycle *c)
{
    uint64_t t0 = plat_now_ns();
    uint64_t swept = central_sweep_all();
#ifdef TC_TESTING
    at_store(&stw1_swept, swept);
#else
    (void)swept;
#endif
    uint64_t t1 = plat_now_ns();
    barrier_take_flush_cpu(); /* count only this cycle's flushes */
    at_store(&col.worker_cpu_ns, 0);
    at_store(&col.idle_cpu_ns, 0);
    pacer_start_cycle(); /* before the snapshot: its marking is scan work */
    barrier_set_marking(1);
    weak_start_marking();
    mark_set_black_allocation(1);
    mark_visitor_init(&c->v, VISIT_MARK);
    if (opt.stoptheworld)
        roots_scan(&c->v);
    else
        roots_scan_snapshot(&c->v); /* the frames after the restart */
    c->info.roots = c->v.roots;
    mark_visitor_done(&c->v); /* the snapshot's grey objects go global */
    threads_alloc_totals_stopped(&c->alloc_bytes, &c->alloc_objects);
    c->info.sweep_term_ns = t1 - t0;
    c->info.mark_start_ns = plat_now_ns() - t1;
}

/* Tell the pacer what this cycle's mark measured (world stopped). */
static void end_pacing(cycle *c)
{
    c->cpu_assist_ns = pacer_take_cycle_assist_ns();
    pacer_cycle pc = {
        .heap_end = c->info.heap_end,
        .heap_marked = c->info.heap_marked,
        .mark_wall_ns = c->mark_begin_ns ? plat_now_ns() - c->mark_begin_ns : 0,
        .mark_cpu_ns = at_load(&col.worker_cpu_ns) + c->cpu_assist_ns,
        .idle_cpu_ns = at_load(&col.idle_cpu_ns),
    };
    pacer_end_cycle(&pc);
}

/* Checkmark's roots: the snapshot's, and what finalization keeps. */
static void checkmark_roots(tc_visitor *v)
{
    roots_scan(v);
    final_scan(v);
}

/* Pause 2, world stopped, nothing grey left: end the mark. */
static void cycle_mark_done(cycle *c)
{
    if (opt.checkmark)
        mark_checkmark(checkmark_roots);
    barrier_set_marking(0);
    weak_end_marking();
    mark_set_black_allocation(0);
    /* Every span goes back to a central list to be handed to the sweeper. */
    threads_for_each(flush_cache, NULL);
    /* Objects allocated while marking were born black: live too. */
    uint64_t bytes, objects, marked, marked_objects;
    threads_alloc_totals_stopped(&bytes, &objects);
    mark_take_counts(&marked, &marked_objects);
    c->info.heap_marked = marked + (bytes - c->alloc_bytes);
    c->info.objects_marked = marked_objects + (objects - c->alloc_objects);
    c->info.heap_end = pacer_heap_estimate();
    scavenge_note_cycle_need(c->info.heap_marked + (c->info.heap_end > c->info.heap_start
                                                        ? c->info.heap_end - c->info.heap_start
                                                        : 0));
    central_begin_sweep();
    end_pacing(c);
    at_store_release(&col.cycles_marked, c->info.cycle);
}

/* After the pause that ended the mark: stats_lock is also taken by
 * tc_read_stats, on any thread, and one that lost its core holding it
 * kept pause 2 waiting for a scheduler tick (the benchmarks' sampler
 * thread: 2.2 ms pauses on the ephemeron benchmark).  A pause takes no
 * lock that a thread outside the stopped world may hold. */
static void publish_mark_done(const cycle *c)
{
    stats_set_last_cycle(c->info.cycle, c->info.heap_marked, c->info.objects_marked);
}

/* One mark-termination pause.  Returns 1 if marking ended. */
static int try_mark_termination(cycle *c, int attempt)
{
    pause p;
    pause_begin(&p);
    uint64_t t0 = plat_now_ns();
    barrier_flush_all();
    int done;
    if (attempt < MARK_TERM_MAX_ATTEMPTS) {
        done = mark_drain_until(&c->v, t0 + MARK_TERM_BUDGET_NS);
    } else {
        mark_drain(&c->v);
        done = 1;
    }
    if (done)
        mark_finish_overflow(&c->v);
    mark_visitor_done(&c->v);
    if (done)
        cycle_mark_done(c);
    uint64_t t1 = plat_now_ns();
    c->info.stw2_ns += pause_end(c, &p);
    c->info.tts2_ns += p.tts_ns;
    c->info.mark_term_attempts = attempt;
    if (done) {
        publish_mark_done(c);
        c->info.mark_ns = p.start_ns - c->mark_begin_ns;
        c->info.mark_term_ns = t1 - t0;
    }
    return done;
}

static void concurrent_mark(void)
{
#ifdef TC_TESTING
    while (at_load(&hold_marking))
        plat_sleep_ns(100000);
#endif
    mark_concurrent(col.nworkers == 0, col.worker_duty, &col.worker_cpu_ns);
}

/* The whole mark inside one pause (stoptheworld=1). */
static void cycle_mark_stopped(cycle *c)
{
    pause p;
    pause_begin(&p);
    cycle_mark_start(c);
    uint64_t t0 = plat_now_ns();
    final_scan(&c->v);
    barrier_flush_all();
    mark_drain(&c->v);
    mark_finish_overflow(&c->v);
    mark_visitor_done(&c->v);
    uint64_t t1 = plat_now_ns();
    cycle_mark_done(c);
    c->info.mark_ns = t1 - t0;
    c->info.mark_term_ns = plat_now_ns() - t1;
    c->info.stw1_ns = pause_end(c, &p);
    c->info.tts1_ns = p.tts_ns;
    publish_mark_done(c);
    c->info.mark_term_attempts = 1; /* that one pause also ended the mark */
    at_store(&col.cycles_begun, c->info.cycle);
}

static void cycle_mark_concurrently(cycle *c)
{
    pause p;
    pause_begin(&p);
    cycle_mark_start(c);
    c->info.stw1_ns = pause_end(c, &p);
    c->info.tts1_ns = p.tts_ns;
    c->mark_begin_ns = plat_now_ns();
    set_phase(PHASE_MARK);
    at_store(&col.cycles_begun, c->info.cycle);
    /* The snapshot's TC_ROOTS frames the threads have not scanned
     * themselves (roots.h), before marking may end. */
    c->info.roots += roots_scan_owed_frames(&c->v);
    /* What finalization keeps (final.h): concurrently, before the workers
     * start. */
    final_scan(&c->v);
    mark_visitor_done(&c->v);
    for (int attempt = 1;; attempt++) {
        concurrent_mark();
        if (try_mark_termination(c, attempt))
            break;
    }
}

/* Sweep what mutators have not, then report the cycle. */
static void sweep_and_report(cycle *c, uint64_t mark_end_ns)
{
    set_phase(PHASE_SWEEP);
#ifdef TC_TESTING
    while (at_load(&hold_sweep))
        plat_sleep_ns(100000);
#endif
    uint64_t cpu0 = plat_thread_cpu_ns();
    central_sweep_all(); /* and the allocators' sweeps under way */
    weak_sweeping_done();
    weak_forget_pending();
    uint64_t cpu = plat_thread_cpu_ns() - cpu0;
    weak_take_cycle_counts(&c->info.weak_cleared, &c->info.ephemerons);
    final_take_cycle_counts(&c->info.finalizers_queued, &c->info.finalizers_run);
    stall_take_cycle(&c->info);
    uint64_t now = plat_now_ns();
    stats_add_cpu_sweep(cpu);
    pacer_note_gc_cpu(cpu);
    /* What the heap estimate does not see (span fragmentation, metadata)
     * counts against the memory limit's goal. */
    uint64_t inuse = heap_inuse_bytes(), est = pacer_heap_estimate();
    pacer_set_overhead(heap_metadata_bytes() + (inuse > est ? inuse - est : 0));
    scavenge_wake();
    c->info.heap_released = heap_released_bytes();
    c->info.cpu_sweep_ns = cpu;
    c->info.sweep_ns = now - mark_end_ns;
    c->info.gc_cpu_fraction = stats_gc_cpu_fraction(now);
    set_phase(PHASE_OFF);
    stats_emit_cycle(&c->info, opt.trace);
}

/* Cycle `number` has begun: from now on tc_collect asks for the next one.
 * Whether this one was asked for by tc_collect is read in the same
 * critical section: read earlier, a tc_collect in between was satisfied
 * by a cycle reported as not forced (bench/markrate, waiting for a forced
 * cycle's report, hung once in CI's quick run). */
static int publish_cycle_start(uint64_t number)
{
    pthread_mutex_lock(&cyc_lock);
    at_store(&col.cycles_started, number);
    stall_note_cycle(number, collector_phase());
    int forced = col.forced_upto >= number;
    pthread_mutex_unlock(&cyc_lock);
    return forced;
}

static void run_cycle(uint64_t number)
{
    central_sweep_all(); /* normally done already; outside the pause if not */
    cycle c = {0};
    c.info.cycle = number;
    c.info.heap_start = pacer_heap_estimate();
    c.info.heap_goal = pacer_goal();
    c.info.heap_trigger = pacer_trigger();
    c.info.mark_workers = col.nworkers > 0 && !opt.stoptheworld ? col.nworkers : 1;
    c.info.start_ns = stats_since_init(plat_now_ns());
    c.info.forced = publish_cycle_start(number);
    mark_set_flat_out(c.info.forced);
    if (opt.stoptheworld)
        cycle_mark_stopped(&c);
    else
        cycle_mark_concurrently(&c);
    mark_set_flat_out(0);
    uint64_t mark_end = plat_now_ns();
    c.info.cpu_background_ns = at_load(&col.worker_cpu_ns);
    c.info.cpu_idle_ns = at_load(&col.idle_cpu_ns);
    c.info.cpu_assist_ns = c.cpu_assist_ns;
    c.info.cpu_limited = pacer_take_cycle_limited();
    c.info.cpu_barrier_ns = barrier_take_flush_cpu();
    stats_add_cpu_background(c.info.cpu_background_ns);
    stats_add_cpu_idle(c.info.cpu_idle_ns);
    stats_add_cpu_assist(c.info.cpu_assist_ns);
    stats_add_cpu_barrier(c.info.cpu_barrier_ns);
    sweep_and_report(&c, mark_end);
}

/* ------------------------------------------------- the collector thread */

static void *collector_main(void *arg)
{
    (void)arg;
    on_collector_thread = 1;
    plat_name_thread("tc-collector");
    pthread_mutex_lock(&cyc_lock);
    while (!col.collector_exit) {
        uint64_t next = at_load(&col.cycles_started) + 1;
        if (at_load(&col.requested) < next) {
            pthread_cond_wait(&request_cond, &cyc_lock);
            continue;
        }
        pthread_mutex_unlock(&cyc_lock);
#ifdef TC_TESTING
        uint64_t delay = at_load(&delay_start_ns);
        if (delay) { /* a collector thread kept off the CPU */
            at_store(&delay_start_ns, 0);
            plat_sleep_ns(delay);
        }
#endif
        run_cycle(next);
        pthread_mutex_lock(&cyc_lock);
        col.reports_done = next;
        pthread_cond_broadcast(&done_cond);
    }
    pthread_mutex_unlock(&cyc_lock);
    return NULL;
}

static void *worker_main(void *arg)
{
    (void)arg;
    on_collector_thread = 1;
    plat_name_thread("tc-mark");
    mark_worker_loop(&col.worker_cpu_ns, col.worker_duty, 0);
    return NULL;
}

/* An idle-priority worker marks only on a core nothing else wants
 * (SCHED_IDLE), like Go's idle mark workers: free marking on a machine
 * with a spare core, none taken from busy mutators.  It must be liftable
 * back to normal priority by whoever waits for what it holds (mark.c); a
 * process that may not do that runs without it, and says so once. */
static void *idle_worker_main(void *arg)
{
    (void)arg;
    on_collector_thread = 1;
    plat_name_thread("tc-mark-idle");
    if (plat_idle_register() != 0) {
        static tc_aword said;
        if (at_cas(&said, 0, 1))
            plat_diag("idle mark workers not started: this process may not lift a thread "
                      "from idle priority back to normal (it needs CAP_SYS_NICE or "
                      "`ulimit -e 20`), and a worker left at idle priority could hold up "
                      "every cycle; see TRICOLOR_IDLE_WORKERS in docs/tuning.md");
        return NULL;
    }
    mark_worker_loop(&col.idle_cpu_ns, 1, 1);
    return NULL;
}

int collector_on_own_thread(void) { return on_collector_thread; }

static void join_workers(void)
{
    mark_stop_workers();
    for (int i = 0; i < col.nworkers + col.nidle; i++)
        pthread_join(col.workers[i], NULL);
    free(col.workers);
    col.workers = NULL;
    col.nworkers = col.nidle = 0;
    plat_idle_forget_all();
}

/* Background marking aims at PACER_BG_UTILIZATION of the cores: each of
 * the n dedicated markers (the collector thread when n is 0) marks
 * `worker_duty` of the time.  Returns the planned utilization. */
static double plan_workers(int n, int ncpu)
{
    int marking = n > 0 ? n : 1;
    double duty = PACER_BG_UTILIZATION * ncpu / marking;
    col.worker_duty = duty < 1 ? duty : 1;
    return marking * col.worker_duty / ncpu;
}

/* Let the cycle under way finish, then stop the collector thread, the
 * mark workers and the scavenger, whichever are running.  Cycle counters
 * and requests stay: start_threads carries on where this left off.  The
 * caller waits BLOCKING: the cycle may need to stop the world. */
static void stop_threads(void)
{
    int blocked = threads_block_if_running();
    if (col.have_collector) {
        plat_stop_thread(col.collector_thread, &cyc_lock, &request_cond, &col.collector_exit);
        col.have_collector = 0;
        pthread_mutex_lock(&cyc_lock);
        col.collector_exit = 0;
        pthread_mutex_unlock(&cyc_lock);
    }
    if (col.workers)
        join_workers();
    scavenge_stop();
    threads_unblock(blocked);
}

/* n dedicated workers, then want_idle idle-priority ones; 0 as soon as
 * one cannot be created (nworkers and nidle count those that were). */
static int start_workers(int n, int want_idle)
{
    col.workers = calloc((size_t)(n + want_idle) + 1, sizeof *col.workers);
    if (!col.workers)
        return 0;
    for (col.nworkers = 0; col.nworkers < n; col.nworkers++)
        if (plat_thread_create(&col.workers[col.nworkers], worker_main, NULL) != 0)
            return 0;
    for (col.nidle = 0; col.nidle < want_idle; col.nidle++)
        if (plat_thread_create(&col.workers[n + col.nidle], idle_worker_main, NULL) != 0)
            return 0;
    return 1;
}

/* The dedicated mark workers (opt.mark_workers), the idle-priority ones
 * only beside them (with none, the collector thread marks alone: design.md
 * §10), the collector thread and the scavenger.  TC_ENOMEM if any could
 * not be started; then none is left running. */
static int start_threads(void)
{
    int n = opt.mark_workers;
    mark_allow_workers();
    int ok = start_workers(n, n > 0 ? opt.idle_workers : 0);
    if (ok)
        ok = col.have_collector = plat_thread_create(&col.collector_thread, collector_main, NULL) == 0;
    if (ok)
        ok = scavenge_start(opt.scavenge) == 0;
    if (!ok) {
        stop_threads();
        return TC_ENOMEM;
    }
    return 0;
}

/* -------------------------------------------------------------- lifecycle */

/* Undo everything start_collector set up, in whatever state it got to:
 * afterwards the library is as if tc_init had never been called. */
static void teardown(void)
{
    threads_forget_all();
    central_reset();
    mark_reset();
    roots_reset();
    heap_shutdown();
    stats_reset();
    alloc_reset();
    scavenge_reset();
    weak_reset();
    final_reset();
    stall_reset();
    pthread_mutex_lock(&cyc_lock);
    col = (struct collector_state){.phase = PHASE_OFF}; /* no thread of ours runs */
    pthread_mutex_unlock(&cyc_lock);
}

/* init_lock held, not running: bring the collector up, or leave the
 * library exactly as it was. */
static int start_collector(const tc_config *cfg)
{
    tc_options before = opt;
    int err = options_resolve(cfg);
    if (err)
        return err;
    sc_init();
    mark_reset(); /* the mark stack's reserve chunks */
    central_init();
    weak_init();
    stats_init(plat_now_ns());
    stall_init(opt.stalls_us, opt.trace == TC_TRACE_JSON);
    pacer_init(opt.gc_percent, opt.memory_limit, plan_workers(opt.mark_workers, plat_ncpu()));
    barrier_set_marking(0);
    alloc_init();
    err = heap_init() != 0 ? TC_ENOMEM : 0;
    if (!err)
        err = start_threads();
    if (!err) {
        at_store(&running, 1);
        err = threads_attach();
        if (err == TC_EEXIST)
            err = 0;
        if (!err && (err = final_start(opt.finalizers)) != 0)
            threads_detach();
        if (err) {
            at_store(&running, 0);
            stop_threads();
        }
    }
    if (err) {
        teardown();
        opt = before;
    }
    return err;
}

static void register_fork_handlers(void);

int tc_init(const tc_config *cfg)
{
    static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
    pthread_once(&fork_once, register_fork_handlers);
    pthread_mutex_lock(&init_lock);
    int err = collector_running() ? TC_ESTATE : 0;
    if (err)
        plat_diag("tc_init: the collector is already running (call tc_shutdown first)");
    else
        err = start_collector(cfg);
    pthread_mutex_unlock(&init_lock);
    return err;
}

void tc_shutdown(void)
{
    pthread_mutex_lock(&init_lock);
    if (collector_running()) {
        final_stop(); /* queued finalizers run here, the collector still up */
        at_store(&running, 0);
        pthread_mutex_lock(&cyc_lock);
        col.shutting_down = 1; /* tc_collect callers stop waiting */
        pthread_cond_broadcast(&done_cond);
        pthread_mutex_unlock(&cyc_lock);
        stop_threads(); /* a cycle in progress finishes first */
        teardown();
    }
    pthread_mutex_unlock(&init_lock);
}

/* ------------------------------------------------------------------- fork
 *
 * pthread_atfork handlers (design.md §7).  Before the fork: the cycle
 * under way finishes and the collector's threads stop, the world stops
 * (every attached thread at a safepoint or in a blocking region), and the
 * forking thread takes every lock of the library, in the lock order, so
 * no other thread is inside the library.  After it: the parent lets go
 * and restarts the threads; the child, where only the forking thread
 * exists, also forgets the other threads (their span caches go back to
 * the central lists, their roots stop being roots) and starts its own
 * collector threads. */

static int fork_handled; /* the prepare handler quiesced a running collector */

/* The locks below init_lock and threads_lock, in the lock order, that a
 * thread could hold with the collector's threads gone and the world
 * stopped: those an unattached thread or one in a blocking region may
 * take.  Not the central lists' locks: only attached threads take them,
 * never across a safepoint or inside a blocking region (a detaching
 * thread takes them under threads_lock, which the forking thread holds),
 * so none is held at the fork. */
static void fork_locks(int stage)
{
    plat_fork_mutex(&cyc_lock, stage);
    plat_fork_cond(&request_cond, stage);
    plat_fork_cond(&done_cond, stage);
    roots_fork(stage);
    heap_fork(stage);
    final_fork(stage);
    mark_fork(stage);
    weak_fork(stage);
    pacer_fork(stage);
    stats_fork(stage);
    alloc_fork(stage);
    scavenge_fork(stage);
    threads_fork_world(stage);
}

static void fork_prepare(void)
{
    threads_lock_as_blocked(&init_lock);
    fork_handled = collector_running() && !on_collector_thread;
    if (collector_running() && on_collector_thread)
        plat_diag("fork() on one of the collector's threads (from a callback or a trace "
                  "function) is not supported: the child must not use the collector");
    if (!fork_handled)
        return;
    final_stop_thread(); /* an attached thread: before the world stops */
    stop_threads();
    world_stop();
    fork_locks(PLAT_FORK_PREPARE);
}

static void restart_after_fork(void)
{
    if (start_threads() != 0 || final_start_thread() != 0)
        plat_fatal("fork: the collector's threads could not be started again");
}

static void fork_parent(void)
{
    if (fork_handled) {
        fork_locks(PLAT_FORK_PARENT);
        world_start();
        restart_after_fork();
    }
    pthread_mutex_unlock(&init_lock);
}

static void fork_child(void)
{
    if (fork_handled) {
        fork_locks(PLAT_FORK_CHILD);
        threads_fork_child(); /* lets go of threads_lock */
        restart_after_fork();
    }
    pthread_mutex_unlock(&init_lock); /* the forking thread's, here too */
}

static void register_fork_handlers(void)
{
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        plat_diag("pthread_atfork failed: a child of fork() must not use the collector");
}

int tc_thread_attach(void)
{
    if (!collector_running()) {
        plat_diag("tc_thread_attach: the collector is not running (call tc_init first)");
        return TC_ESTATE;
    }
    int err = threads_attach();
    if (err == TC_EEXIST)
        plat_diag("tc_thread_attach: this thread is already attached");
    return err;
}

void tc_thread_detach(void)
{
    if (!thread_self_or_diag("tc_thread_detach"))
        return;
    threads_detach();
}

const char *tc_strerror(int err)
{
    switch (err) {
    case TC_OK: return "success";
    case TC_EINVAL: return "invalid argument or configuration";
    case TC_ENOMEM: return "out of memory";
    case TC_ESTATE: return "the collector is not in a state that allows this call";
    case TC_ENOTATTACHED: return "the calling thread is not attached";
    case TC_ENOTFOUND: return "not registered";
    case TC_EEXIST: return "already registered";
    default: return "unknown error";
    }
}
