/* threads.c — thread registry, safepoints, stop-the-world; see threads.h. */
#include "threads.h"
#include "check.h"

#include <pthread.h>
#include <stdlib.h>

#include "alloc.h"
#include "barrier.h"
#include "collector.h"
#include "options.h"
#include "platform.h"
#include "roots.h"
#include "stall.h"

int tc__safepoint_requested;

TC_TLS tc_thread *threads_self_ptr;
TC_TLS uintptr_t threads_self_run;
tc_aword threads_current_run = 1;

static void set_self(tc_thread *t)
{
    threads_self_ptr = t;
    threads_self_run = at_load(&threads_current_run);
}
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(threads_lock, RANK_THREADS);
static pthread_mutex_t world_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(world_lock, RANK_WORLD);
static pthread_cond_t parked_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t restart_cond = PTHREAD_COND_INITIALIZER;

/* The module's state, zeroed in one place (threads_forget_all), when no
 * thread is attached any more.  Outside it: threads_current_run, which
 * only grows (a thread's cached self is valid only in its run), and the
 * exit key, made once per process. */
static struct threads_state {
    /* The attached threads (threads_lock). */
    tc_thread *thread_list;
    int nthreads;
    /* Allocation counts of threads that have detached (threads_lock). */
    uint64_t gone_bytes, gone_objects;
    /* For the stall tracer, which splits a parked thread's wait
     * (world_lock): when the last stop of the world had every thread
     * parked, when it restarted, and the time the world has spent stopped,
     * summed over every stop that has ended. */
    uint64_t world_stopped_ns, world_restarted_ns, world_stopped_sum_ns;
} th;

void threads_diag_unattached(const char *what)
{
    plat_diag("%s: the calling thread is not attached (call tc_thread_attach first)", what);
}

/* world_lock held, for the stall tracer: a thread parked at parked_ns,
 * when the stop-time sum stood at sum0, is let go: how long it waited for
 * the world to stop (time-to-safepoint) and how long the world was
 * stopped, over every stop and restart it stayed parked through. */
static void park_split(uint64_t parked_ns, uint64_t sum0, uint64_t *tts, uint64_t *paused)
{
    uint64_t stopped = th.world_stopped_sum_ns - sum0;
    uint64_t until_restart = th.world_restarted_ns > parked_ns ? th.world_restarted_ns - parked_ns : 0;
    *paused = stopped < until_restart ? stopped : until_restart;
    *tts = until_restart - *paused;
}

static void park(tc_thread *t)
{
    int prev = stall_begin(TC_STALL_PAUSE);
    uint64_t parked_ns = 0, tts = 0, paused = 0;
    pthread_mutex_lock(&world_lock);
    /* A thread that parks in a world already stopped (leaving a blocking
     * region) did not wait for the part of the stop before it came: the
     * sum starts as if that part were already counted. */
    uint64_t sum0 = th.world_stopped_sum_ns;
    if (prev >= 0) {
        parked_ns = plat_now_ns();
        if (th.world_stopped_ns > th.world_restarted_ns)
            sum0 += parked_ns - th.world_stopped_ns;
    }
    while (at_int_load_seq(&tc__safepoint_requested)) {
        at_store_seq(&t->state, TS_PARKED);
        pthread_cond_broadcast(&parked_cond);
        pthread_cond_wait(&restart_cond, &world_lock);
    }
    at_store_seq(&t->state, TS_RUNNING);
    if (prev >= 0)
        park_split(parked_ns, sum0, &tts, &paused);
    pthread_mutex_unlock(&world_lock);
    stall_end_park(prev, tts, paused);
    roots_pay_own_frames(t); /* before it runs on: see roots.h */
}

void tc__safepoint_slow(void)
{
    tc_thread *t = thread_self();
    if (!t || at_load(&t->state) != TS_RUNNING)
        return;
    stall_enter();
    park(t);
    stall_leave("tc_safepoint");
}

/* TC_ROOTS pushes and pops inline only while t is RUNNING and verify=1
 * is off; otherwise roots.c's slow path runs (locking, diagnostics).
 * Only t itself calls this: `fast` lives in its thread-local memory. */
static void set_frames_fast(tc_thread *t, int running)
{
    t->stack->fast = running && !opt.verify;
    /* Likewise tc_alloc's fast path: not in a blocking region (an error
     * there), not in the stress mode (it counts every allocation). */
    t->alloc_fast = running && !opt.stress;
}

/* RUNNING -> BLOCKING; wakes a stopper that may be waiting for t. */
static void enter_blocking(tc_thread *t)
{
    TC_ASSERT(at_load(&t->state) == TS_RUNNING);
    set_frames_fast(t, 0);
    barrier_flush(t);
    at_store_seq(&t->state, TS_BLOCKING);
    if (at_int_load_seq(&tc__safepoint_requested)) {
        pthread_mutex_lock(&world_lock);
        pthread_cond_broadcast(&parked_cond);
        pthread_mutex_unlock(&world_lock);
    }
}

void tc_blocking_enter(void)
{
    tc_thread *t = thread_self_or_diag("tc_blocking_enter");
    if (!t)
        return;
    if (at_load(&t->state) == TS_BLOCKING) {
        plat_diag("tc_blocking_enter: already in a blocking region (regions do not nest)");
        return;
    }
    enter_blocking(t);
}

static void leave_blocking(tc_thread *t)
{
    TC_ASSERT(at_load(&t->state) == TS_BLOCKING);
    at_store_seq(&t->state, TS_RUNNING);
    if (at_int_load_seq(&tc__safepoint_requested))
        park(t);
    else
        roots_pay_own_frames(t); /* owed since a stop it was blocking through */
    set_frames_fast(t, 1);
}

void tc_blocking_leave(void)
{
    tc_thread *t = thread_self_or_diag("tc_blocking_leave");
    if (!t)
        return;
    if (at_load(&t->state) != TS_BLOCKING) {
        plat_diag("tc_blocking_leave: not in a blocking region");
        return;
    }
    stall_enter();
    leave_blocking(t);
    stall_leave("tc_blocking_leave");
}

int threads_block_if_running(void)
{
    tc_thread *t = thread_self();
    if (!t || at_load(&t->state) != TS_RUNNING)
        return 0;
    enter_blocking(t);
    return 1;
}

void threads_unblock(int blocked)
{
    if (blocked)
        leave_blocking(thread_self());
}

/* A thread that exits attached is detached by this key's destructor: left
 * on the list, it would hold up the next stop of the world for ever (a
 * RUNNING thread never reaches a safepoint again) or have its dead stack
 * scanned (a BLOCKING one). */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_ok;

static void detach_at_exit(void *record)
{
    /* A record of an earlier run (tc_shutdown since) is gone already. */
    if (record && thread_self() == record) {
        plat_diag("a thread exited without calling tc_thread_detach; it was detached");
        threads_detach();
    }
}

static void make_exit_key(void) { exit_key_ok = pthread_key_create(&exit_key, detach_at_exit) == 0; }

static void set_exit_key(tc_thread *t)
{
    pthread_once(&exit_key_once, make_exit_key);
    if (exit_key_ok)
        pthread_setspecific(exit_key, t);
}

int threads_attach(void)
{
    if (thread_self())
        return TC_EEXIST;
    tc_thread *t = calloc(1, sizeof *t);
    if (!t)
        return TC_ENOMEM;
    pthread_mutex_init(&t->frames_lock, NULL);
    lock_rank_set(&t->frames_lock, RANK_FRAMES);
    /* Frames of an earlier run, if this thread never detached from it,
     * are forgotten (their pops find them gone: roots.c). */
    t->stack = &tc__stack;
    *t->stack = (tc__shadow_stack){0};
    at_store(&t->state, TS_BLOCKING);
    pthread_mutex_lock(&threads_lock);
    t->next = th.thread_list;
    if (th.thread_list)
        th.thread_list->prev = t;
    th.thread_list = t;
    th.nthreads++;
    pthread_mutex_unlock(&threads_lock);
    set_self(t);
    set_exit_key(t);
    leave_blocking(t);
    return 0;
}

static void free_thread(tc_thread *t)
{
    lock_rank_clear(&t->frames_lock);
    pthread_mutex_destroy(&t->frames_lock);
    free(t);
}

static void unlink_thread(tc_thread *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        th.thread_list = t->next;
    if (t->next)
        t->next->prev = t->prev;
    th.nthreads--;
    th.gone_bytes += at_load(&t->bytes_allocated);
    th.gone_objects += at_load(&t->objects_allocated);
}

void threads_detach(void)
{
    tc_thread *t = thread_self();
    if (!t)
        return;
    if (at_load(&t->state) != TS_BLOCKING)
        enter_blocking(t);
    else
        barrier_flush(t);
    pthread_mutex_lock(&threads_lock); /* no cycle is stopping the world now */
    alloc_flush_cache(t);
    unlink_thread(t);
    pthread_mutex_unlock(&threads_lock);
    roots_thread_gone(t);
    set_self(NULL);
    set_exit_key(NULL);
    free_thread(t);
}

void threads_forget_all(void)
{
    pthread_mutex_lock(&threads_lock);
    while (th.thread_list) {
        tc_thread *t = th.thread_list;
        unlink_thread(t);
        roots_thread_gone(t);
        if (t != thread_self())
            plat_diag("tc_shutdown: a thread was still attached; it must not touch the heap again");
        free_thread(t);
    }
    at_add(&threads_current_run, 1);
    pthread_mutex_lock(&world_lock);
    th = (struct threads_state){0};
    pthread_mutex_unlock(&world_lock);
    pthread_mutex_unlock(&threads_lock);
    tc__stack.fast = 0;
    set_self(NULL);
}

uint64_t world_stop(void)
{
    uint64_t t0 = plat_now_ns();
    threads_lock_list();
    pthread_mutex_lock(&world_lock);
    at_int_store_seq(&tc__safepoint_requested, 1);
    for (tc_thread *t = th.thread_list; t; t = t->next) {
        if (t == thread_self())
            continue;
        while (at_load_seq(&t->state) == TS_RUNNING)
            pthread_cond_wait(&parked_cond, &world_lock);
    }
    th.world_stopped_ns = plat_now_ns();
    pthread_mutex_unlock(&world_lock);
    return plat_now_ns() - t0;
}

uint64_t world_start(void)
{
    pthread_mutex_lock(&world_lock);
    at_int_store_seq(&tc__safepoint_requested, 0);
    /* The restart, read before the wake-up: woken threads may take both
     * cores from this one, and a later clock read would count their
     * running time as part of the pause. */
    uint64_t now = plat_now_ns();
    th.world_restarted_ns = now;
    th.world_stopped_sum_ns += now - th.world_stopped_ns;
    pthread_cond_broadcast(&restart_cond);
    pthread_mutex_unlock(&world_lock);
    pthread_mutex_unlock(&threads_lock);
    return now;
}

void threads_fork_world(int stage)
{
    plat_fork_mutex(&world_lock, stage);
    plat_fork_cond(&parked_cond, stage);
    plat_fork_cond(&restart_cond, stage);
}

void threads_fork_child(void)
{
    at_int_store_seq(&tc__safepoint_requested, 0); /* world_stop's, in the parent */
    tc_thread *self = thread_self(), *next;
    for (tc_thread *t = th.thread_list; t; t = next) {
        next = t->next;
        if (t == self)
            continue;
        /* Not marking (the cycle finished before the fork), so its
         * barrier buffer is empty; its cached spans go back. */
        alloc_flush_cache(t);
        unlink_thread(t);
        roots_thread_gone(t);
        free_thread(t);
    }
    pthread_mutex_unlock(&threads_lock); /* world_stop took it */
    plat_fork_cond(&parked_cond, PLAT_FORK_CHILD);
}

void threads_for_each(void (*fn)(tc_thread *t, void *ctx), void *ctx)
{
    for (tc_thread *t = th.thread_list; t; t = t->next)
        fn(t, ctx);
}

void threads_lock_as_blocked(pthread_mutex_t *m)
{
    tc_thread *t = thread_self();
    if (!t || at_load(&t->state) != TS_RUNNING) {
        pthread_mutex_lock(m);
        return;
    }
    enter_blocking(t);
    pthread_mutex_lock(m);
    /* Only the holder of such a lock stops the world, so none is under way
     * now: the thread may run again without parking.  But a stop may have
     * come and gone while it waited, leaving its frames owed: it pays
     * before it runs on, as leave_blocking does.  (Without this it ran
     * on with its frames unscanned, and the collector, waiting for it to
     * pay, never finished the cycle that this thread's tc_collect then
     * waited for: test_threads' concurrent_collect hung.) */
    at_store_seq(&t->state, TS_RUNNING);
    roots_pay_own_frames(t);
    set_frames_fast(t, 1);
}

/* The list lock is held across whole pauses. */
void threads_lock_list(void) { threads_lock_as_blocked(&threads_lock); }
void threads_unlock_list(void) { pthread_mutex_unlock(&threads_lock); }

void threads_alloc_totals_stopped(uint64_t *bytes, uint64_t *objects)
{
    uint64_t b = th.gone_bytes, o = th.gone_objects;
    for (tc_thread *t = th.thread_list; t; t = t->next) {
        b += at_load(&t->bytes_allocated);
        o += at_load(&t->objects_allocated);
    }
    *bytes = b;
    *objects = o;
}

void threads_alloc_totals(uint64_t *bytes, uint64_t *objects)
{
    threads_lock_list();
    threads_alloc_totals_stopped(bytes, objects);
    pthread_mutex_unlock(&threads_lock);
}
