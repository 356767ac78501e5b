/* collector.c — the cycle, tc_init/tc_shutdown, the background thread. */
#include "collector.h"

#include <pthread.h>
#include <stdlib.h>

#include "alloc.h"
#include "barrier.h"
#include "central.h"
#include "heap.h"
#include "mark.h"
#include "options.h"
#include "pacer.h"
#include "platform.h"
#include "roots.h"
#include "stats.h"
#include "sweep.h"
#include "threads.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t gc_lock = PTHREAD_MUTEX_INITIALIZER;
static tc_aword running;
static tc_aword cycles_started, cycles_done;

/* Reports waiting for the background thread (bg_lock). */
typedef struct report {
    struct report *next;
    tc_cycle_info info;
    uint64_t end_ns; /* when mark termination ended */
} report;

static pthread_mutex_t bg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_cond = PTHREAD_COND_INITIALIZER;   /* work for bg */
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER; /* reports_done moved */
static report *queue_head, *queue_tail;
static uint64_t reports_done;
static int bg_stop;
static pthread_t bg_thread;

int collector_running(void) { return at_load(&running) != 0; }

/* ------------------------------------------------------------- the cycle */

static void flush_cache(tc_thread *t, void *ctx)
{
    (void)ctx;
    alloc_flush_cache(t);
}

static void enqueue_report(const tc_cycle_info *info, uint64_t end_ns)
{
    report *r = malloc(sizeof *r);
    pthread_mutex_lock(&bg_lock);
    if (r) {
        r->next = NULL;
        r->info = *info;
        r->end_ns = end_ns;
        if (queue_tail)
            queue_tail->next = r;
        else
            queue_head = r;
        queue_tail = r;
        pthread_cond_signal(&bg_cond);
    } else {
        reports_done = info->cycle; /* no memory to report it: skip */
        pthread_cond_broadcast(&done_cond);
    }
    pthread_mutex_unlock(&bg_lock);
}

/* Everything between the stop and the restart.  Fills the phase times. */
static void cycle_in_pause(tc_cycle_info *info)
{
    uint64_t t0 = plat_now_ns();
    /* Sweep termination. */
    sweep_finish();
    threads_for_each(flush_cache, NULL);
    uint64_t t1 = plat_now_ns();

    /* Mark start: the root snapshot. */
    barrier_set_marking(1);
    mark_set_black_allocation(1);
    tc_visitor v;
    mark_visitor_init(&v, VISIT_MARK);
    roots_scan(&v);
    uint64_t t2 = plat_now_ns();

    /* Mark. */
    mark_drain(&v);
    uint64_t t3 = plat_now_ns();

    /* Mark termination. */
    barrier_flush_all();
    mark_drain(&v);
    mark_visitor_done(&v);
    mark_add_counts(v.bytes, v.objects);
    if (opt.checkmark)
        mark_checkmark(roots_scan);
    barrier_set_marking(0);
    mark_set_black_allocation(0);
    threads_for_each(flush_cache, NULL);
    info->heap_end = pacer_heap_estimate();
    mark_take_counts(&info->heap_marked, &info->objects_marked);
    sweep_begin_cycle(info->cycle);
    pacer_end_cycle(info->heap_marked);
    stats_set_last_cycle(info->cycle, info->heap_marked, info->objects_marked);
    at_store_release(&cycles_done, info->cycle);
    uint64_t t4 = plat_now_ns();

    info->sweep_term_ns = t1 - t0;
    info->mark_start_ns = t2 - t1;
    info->mark_ns = t3 - t2;
    info->mark_term_ns = t4 - t3;
    info->roots = v.roots;
}

/* One cycle; the caller holds gc_lock. */
static void run_cycle(int forced)
{
    sweep_finish(); /* outside the pause, while mutators run */
    tc_cycle_info info = {0};
    info.cycle = at_load(&cycles_started) + 1;
    at_store(&cycles_started, info.cycle);
    info.forced = forced;
    info.heap_start = pacer_heap_estimate();
    info.heap_goal = pacer_goal();
    info.mark_workers = 1;

    uint64_t start = plat_now_ns();
    uint64_t cpu0 = plat_thread_cpu_ns();
    info.start_ns = stats_since_init(start);
    info.tts_ns = world_stop();
    cycle_in_pause(&info);
    world_start();
    uint64_t end = plat_now_ns();
    info.cpu_stw_ns = plat_thread_cpu_ns() - cpu0;
    info.pause_ns = end - start;
    stats_record_pause(info.pause_ns, end, info.cpu_stw_ns);
    enqueue_report(&info, end);
}

static void wait_reported(tc_thread *self, uint64_t cycle)
{
    int blocked = self && at_load(&self->state) == TS_RUNNING;
    if (blocked)
        tc_blocking_enter();
    pthread_mutex_lock(&bg_lock);
    while (reports_done < cycle && !bg_stop)
        pthread_cond_wait(&done_cond, &bg_lock);
    pthread_mutex_unlock(&bg_lock);
    if (blocked)
        tc_blocking_leave();
}

void collector_collect(int forced)
{
    tc_thread *self = thread_self();
    uint64_t target = at_load(&cycles_started) + 1;
    threads_lock_as_blocked(&gc_lock);
    if (forced ? at_load_acquire(&cycles_done) < target : pacer_should_trigger())
        run_cycle(forced);
    uint64_t done = at_load_acquire(&cycles_done);
    pthread_mutex_unlock(&gc_lock);
    if (!forced)
        return;
    while (sweep_one())
        tc_safepoint();
    wait_reported(self, done);
}

void collector_maybe_trigger(void)
{
    if (pacer_should_trigger())
        collector_collect(0);
}

void tc_collect(void)
{
    if (!collector_running()) {
        plat_diag("tc_collect: the collector is not running (call tc_init first)");
        return;
    }
    if (!thread_self_or_diag("tc_collect"))
        return;
    collector_collect(1);
}

/* ------------------------------------------------- the background thread */

static void finish_report(report *r)
{
    uint64_t cpu0 = plat_thread_cpu_ns();
    while (sweep_one()) {
    }
    uint64_t cpu = plat_thread_cpu_ns() - cpu0;
    uint64_t now = plat_now_ns();
    stats_add_cpu_sweep(cpu);
    r->info.cpu_sweep_ns = cpu;
    r->info.sweep_ns = now - r->end_ns;
    r->info.gc_cpu_fraction = stats_gc_cpu_fraction(now);
    stats_emit_cycle(&r->info, opt.trace);
}

static void *bg_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&bg_lock);
    while (!bg_stop) {
        report *r = queue_head;
        if (!r) {
            pthread_cond_wait(&bg_cond, &bg_lock);
            continue;
        }
        queue_head = r->next;
        if (!queue_head)
            queue_tail = NULL;
        pthread_mutex_unlock(&bg_lock);
        finish_report(r);
        pthread_mutex_lock(&bg_lock);
        reports_done = r->info.cycle;
        pthread_cond_broadcast(&done_cond);
        free(r);
    }
    pthread_mutex_unlock(&bg_lock);
    return NULL;
}

static void bg_shutdown(void)
{
    pthread_mutex_lock(&bg_lock);
    bg_stop = 1;
    pthread_cond_broadcast(&bg_cond);
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&bg_lock);
    pthread_join(bg_thread, NULL);
    while (queue_head) {
        report *r = queue_head;
        queue_head = r->next;
        free(r);
    }
    queue_tail = NULL;
    reports_done = 0;
    bg_stop = 0;
}

/* -------------------------------------------------------------- lifecycle */

static void teardown(void)
{
    threads_forget_all();
    central_reset();
    mark_reset();
    roots_reset();
    sweep_reset();
    heap_shutdown();
    stats_reset();
    alloc_reset();
    at_store(&cycles_started, 0);
    at_store(&cycles_done, 0);
}

int tc_init(const tc_config *cfg)
{
    pthread_mutex_lock(&init_lock);
    int err = collector_running() ? TC_ESTATE : 0;
    if (err)
        plat_diag("tc_init: the collector is already running (call tc_shutdown first)");
    if (!err)
        err = options_resolve(cfg);
    if (!err) {
        sc_init();
        central_init();
        stats_init(plat_now_ns());
        pacer_init(opt.gc_percent, opt.memory_limit);
        barrier_set_marking(0);
        if (heap_init() != 0)
            err = TC_ENOMEM;
    }
    if (!err && pthread_create(&bg_thread, NULL, bg_main, NULL) != 0) {
        heap_shutdown();
        err = TC_ENOMEM;
    }
    if (!err) {
        at_store(&running, 1);
        int aerr = threads_attach();
        if (aerr && aerr != TC_EEXIST) {
            at_store(&running, 0);
            bg_shutdown();
            teardown();
            err = aerr;
        }
    }
    pthread_mutex_unlock(&init_lock);
    return err;
}

void tc_shutdown(void)
{
    pthread_mutex_lock(&init_lock);
    if (collector_running()) {
        /* Let a cycle in progress finish before the heap goes. */
        threads_lock_as_blocked(&gc_lock);
        at_store(&running, 0);
        pthread_mutex_unlock(&gc_lock);
        bg_shutdown();
        teardown();
    }
    pthread_mutex_unlock(&init_lock);
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
