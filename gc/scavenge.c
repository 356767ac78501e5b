/* scavenge.c — the scavenger; see scavenge.h.
 *
 * Numbers, measured on the development VM (2 vCPUs, Linux 6.18), madvise
 * on touched 4 KiB pages: a call costs about the same, 130-250 us, for
 * 64 KiB as for 2 MiB (so ~3 GiB/s in 512 KiB calls, 10-15 GiB/s in 2 MiB
 * calls; larger calls gain little: 12-16 GiB/s at 4-16 MiB).  DONTNEED and
 * FREE cost about the same.  Hence pieces of up to 2 MiB
 * (HEAP_SCAVENGE_PIECE_PAGES), each holding heap_lock ~0.15 ms.  Freeing
 * 200 MiB costs 10-70 ms of CPU (the high end when paced thinly or with
 * other threads running: the pages' metadata goes cold between rounds,
 * and each call shoots down TLBs).  At a strict 1% per round that is 2-7 s
 * of wall time; the 50 ms bank (5 s of earnings) brings it under a second
 * while staying at 1% over time.
 * A round is ROUND_CPU_NS (about 7 pieces) followed by at least 10 ms of
 * sleep: short bursts, so allocators waiting on heap_lock are never kept
 * out for long; and between pieces it steps aside while a pause is wanted
 * (yield_to_pause). */
#define _GNU_SOURCE /* pthread_condattr_setclock, CLOCK_MONOTONIC under -std=c11 */
#include "scavenge.h"
#include "check.h"

#include <pthread.h>
#include <time.h>

#include "atomics.h"
#include "heap.h"
#include "pacer.h"
#include "platform.h"

#define CPU_PERCENT 1                  /* of one CPU, over time */
#define BANK_NS ((int64_t)50000000)    /* credit saved while idle: 50 ms */
#define ROUND_CPU_NS 1000000ull        /* work per round before sleeping */
#define MIN_SLEEP_NS 10000000ull       /* 10 ms */
#define MAX_SLEEP_NS 1000000000ull     /* 1 s */
#define IDLE_WAIT_NS 1000000000ull     /* poll when never woken */
#define PIECE_BYTES ((uint64_t)HEAP_SCAVENGE_PIECE_PAGES * TC_PAGE_SIZE)

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER; /* start/stop */
TC_LOCK_RANK(ctl_lock, RANK_SCAV_CTL);
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* the two flags, cond */
TC_LOCK_RANK(lock, RANK_SCAV);
static pthread_cond_t cond;    /* CLOCK_MONOTONIC, made once, never destroyed */
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

/* The module's state, zeroed in one place (scavenge_reset), stopped.
 * scavenge_stop leaves the counters alone: a stop and start around
 * fork() goes on counting. */
static struct scavenge_state {
    pthread_t thread; /* ctl_lock */
    int have_thread;  /* ctl_lock */
    int stopping, wake_pending; /* lock */
    /* Atomic words, written under ctl_lock, read without it. */
    tc_aword started, mode_word, thread_on;
    /* Atomic counters. */
    tc_aword cycle_need; /* scavenge_note_cycle_need */
    tc_aword released_total, cpu_total;
} sv;

static void init_cond(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* ------------------------------------------------------------- policy */

void scavenge_note_cycle_need(uint64_t bytes) { at_store(&sv.cycle_need, bytes); }

uint64_t scavenge_target(void)
{
    /* UINT64_MAX when GC is off without a limit: only the limit applies. */
    uint64_t goal = pacer_goal();
    uint64_t target = goal > UINT64_MAX - goal / 10 ? UINT64_MAX : goal + goal / 10;
    uint64_t inuse = heap_inuse_bytes(), need = at_load(&sv.cycle_need);
    if (target < inuse)
        target = inuse;
    if (target < need)
        target = need;
    int64_t limit = pacer_memory_limit();
    if (limit != INT64_MAX) {
        uint64_t cap = (uint64_t)limit / 100 * 95, meta = heap_metadata_bytes();
        cap = cap > meta ? cap - meta : 0;
        if (target > cap)
            target = cap;
    }
    return target;
}

/* Bytes the thread should release now: the retained heap over the target,
 * but only free backed pages can go. */
static uint64_t background_excess(void)
{
    uint64_t retained = heap_retained_bytes(), target = scavenge_target();
    if (retained <= target)
        return 0;
    uint64_t excess = retained - target, free_backed = heap_free_backed_bytes();
    return excess < free_backed ? excess : free_backed;
}

/* Bytes by which retained + metadata + extra exceeds the limit (0: none). */
static uint64_t limit_excess(uint64_t extra)
{
    int64_t limit = pacer_memory_limit();
    if (limit == INT64_MAX)
        return 0;
    uint64_t need = heap_retained_bytes() + heap_metadata_bytes() + extra;
    return need > (uint64_t)limit ? need - (uint64_t)limit : 0;
}

static void account(uint64_t released, uint64_t cpu_ns)
{
    at_add(&sv.released_total, released);
    at_add(&sv.cpu_total, cpu_ns);
}

/* ------------------------------------------------ the memory-limit path */

/* Release, with scavenge_fn (always DONTNEED: RSS must fall now), what
 * keeps retained + metadata + extra within the limit. */
static uint64_t release_for_limit(uint64_t extra, uint64_t (*scavenge_fn)(uint64_t, int))
{
    uint64_t excess = limit_excess(extra);
    if (!excess)
        return 0;
    uint64_t cpu0 = plat_thread_cpu_ns();
    uint64_t got = scavenge_fn(excess, 0);
    account(got, plat_thread_cpu_ns() - cpu0);
    return got;
}

uint64_t scavenge_for_limit(uint64_t extra) { return release_for_limit(extra, heap_scavenge); }

/* The page heap is about to back `bytes` of released pages (heap_lock
 * held): make room for them under the limit. */
static void grow_hook(uint64_t bytes) { release_for_limit(bytes, heap_scavenge_locked); }

/* ------------------------------------------------------- the thread */

/* A pause is being asked for: let the threads that must reach a
 * safepoint have the CPU until the world has restarted.  (On 2 cores, the
 * scavenger's rounds held the core of a program thread that was due at
 * its safepoint: pause 1 of the ephemeron benchmark waited 0.6-1.1 ms for
 * it, the program thread runnable but not running.) */
#define YIELD_POLL_NS 50000
static void yield_to_pause(void)
{
    while (at_int_load(&tc__safepoint_requested))
        plat_sleep_ns(YIELD_POLL_NS);
}

/* Release pieces while over the target, for about ROUND_CPU_NS, stepping
 * aside for pauses between pieces.  Returns the CPU used; *more says the
 * target is not reached yet. */
static uint64_t run_round(int madv_free, int *more)
{
    uint64_t cpu0 = plat_thread_cpu_ns(), cpu = 0;
    uint64_t excess = background_excess();
    while (excess && cpu < ROUND_CPU_NS) {
        yield_to_pause();
        uint64_t got = heap_scavenge(excess < PIECE_BYTES ? excess : PIECE_BYTES, madv_free);
        at_add(&sv.released_total, got);
        cpu = plat_thread_cpu_ns() - cpu0;
        excess = got ? background_excess() : 0; /* 0: nothing free is backed */
    }
    at_add(&sv.cpu_total, cpu);
    *more = excess != 0;
    return cpu;
}

/* CPU credit earned over `wall_ns` of wall time. */
static int64_t earned(uint64_t wall_ns) { return (int64_t)(wall_ns / 100 * CPU_PERCENT); }

/* After a round that left work: in credit, a short breather; in debt, the
 * time that earns it back (so without credit, work / (work + sleep) is
 * CPU_PERCENT), clamped to [MIN_SLEEP_NS, MAX_SLEEP_NS]. */
static uint64_t pace_sleep_ns(int64_t credit)
{
    uint64_t ns = credit >= 0 ? 0 : (uint64_t)-credit * (100 / CPU_PERCENT);
    return ns < MIN_SLEEP_NS ? MIN_SLEEP_NS : ns > MAX_SLEEP_NS ? MAX_SLEEP_NS : ns;
}

/* With lock held: wait until CLOCK_MONOTONIC reaches `until`, a stop, or
 * (if wakeable) scavenge_wake.  A paced sleep is not wakeable: a cycle
 * ending must not buy the thread more than its 1%. */
static void wait_until(uint64_t until, int wakeable)
{
    struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
    while (!sv.stopping && !(wakeable && sv.wake_pending) && plat_now_ns() < until)
        pthread_cond_timedwait(&cond, &lock, &ts);
}

static void *scavenger_main(void *arg)
{
    plat_name_thread("tc-scavenge");
    int madv_free = (int)(intptr_t)arg == SCAVENGE_FREE;
    int64_t credit = BANK_NS; /* CPU ns it may still use; see scavenge.h */
    uint64_t last = plat_now_ns();
    pthread_mutex_lock(&lock);
    while (!sv.stopping) {
        uint64_t now = plat_now_ns();
        credit += earned(now - last);
        credit = credit > BANK_NS ? BANK_NS : credit;
        last = now;
        if (credit < 0) { /* a sleep of at most 1 s did not earn it all back */
            wait_until(now + pace_sleep_ns(credit), 0);
            continue;
        }
        sv.wake_pending = 0; /* this round sees whatever the wake was about */
        pthread_mutex_unlock(&lock);
        int more;
        credit -= (int64_t)run_round(madv_free, &more);
        pthread_mutex_lock(&lock);
        if (more)
            wait_until(plat_now_ns() + pace_sleep_ns(credit), 0);
        else
            wait_until(plat_now_ns() + IDLE_WAIT_NS, 1);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

void scavenge_wake(void)
{
    if (!at_load(&sv.thread_on))
        return;
    pthread_mutex_lock(&lock);
    sv.wake_pending = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

/* ---------------------------------------------------------- lifecycle */

int scavenge_start(int mode)
{
    if (mode < SCAVENGE_OFF || mode > SCAVENGE_FREE)
        return TC_EINVAL;
    pthread_once(&cond_once, init_cond);
    pthread_mutex_lock(&ctl_lock);
    int err = at_load(&sv.started) ? TC_ESTATE : 0;
    if (!err) {
        pthread_mutex_lock(&lock);
        sv.stopping = sv.wake_pending = 0;
        pthread_mutex_unlock(&lock);
        sv.have_thread = mode != SCAVENGE_OFF;
        if (sv.have_thread &&
            plat_thread_create(&sv.thread, scavenger_main, (void *)(intptr_t)mode) != 0) {
            sv.have_thread = 0;
            err = TC_ENOMEM;
        }
    }
    if (!err) {
        at_store(&sv.thread_on, (uintptr_t)sv.have_thread);
        at_store(&sv.mode_word, (uintptr_t)mode);
        at_store(&sv.started, 1);
        heap_set_grow_hook(grow_hook);
    }
    pthread_mutex_unlock(&ctl_lock);
    return err;
}

void scavenge_stop(void)
{
    pthread_mutex_lock(&ctl_lock);
    if (at_load(&sv.started)) {
        heap_set_grow_hook(NULL);
        if (sv.have_thread) {
            at_store(&sv.thread_on, 0);
            plat_stop_thread(sv.thread, &lock, &cond, &sv.stopping);
            sv.have_thread = 0;
        }
        at_store(&sv.started, 0);
    }
    pthread_mutex_unlock(&ctl_lock);
}

void scavenge_reset(void)
{
    pthread_mutex_lock(&ctl_lock);
    TC_REQUIRE(!at_load(&sv.started));
    pthread_mutex_lock(&lock);
    sv = (struct scavenge_state){0};
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&ctl_lock);
}

void scavenge_fork(int stage)
{
    plat_fork_mutex(&ctl_lock, stage);
    plat_fork_mutex(&lock, stage);
    if (stage == PLAT_FORK_CHILD)
        init_cond();
}

int scavenge_mode(void) { return at_load(&sv.started) ? (int)at_load(&sv.mode_word) : -1; }
uint64_t scavenge_released_total(void) { return at_load(&sv.released_total); }
uint64_t scavenge_cpu_ns(void) { return at_load(&sv.cpu_total); }
