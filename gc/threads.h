/*
 * threads.h — attached threads, safepoints, blocking regions and
 * stop-the-world.
 *
 * Thread states (tc_thread.state):
 *   RUNNING   may touch the heap; a stop waits for it to reach a safepoint
 *   PARKED    stopped at a safepoint until the world restarts
 *   BLOCKING  in tc_blocking_enter/leave; does not touch the heap, so a stop
 *             does not wait for it; leaving waits while the world is stopped
 *
 * Handshake (memory ordering): the stopper stores safepoint_requested = 1
 * then loads each thread's state; a thread leaving a blocking region stores
 * RUNNING then loads safepoint_requested.  Both with sequential consistency,
 * so at least one sees the other: either the stopper waits for the thread,
 * or the thread sees the request and parks before touching the heap.
 * PARKED is published under world_lock, which also orders everything the
 * thread did before parking before what the stopper does after.
 *
 * threads_lock guards the list of threads.  The stopper holds it from
 * stop to restart, so no thread attaches or detaches while the world is
 * stopped (attach and detach wait for it in the BLOCKING state).
 */
#ifndef TC_THREADS_H
#define TC_THREADS_H

#include "namespace.h"

#include <pthread.h>
#include <stdint.h>

#include "atomics.h"
#include "sizeclass.h"
#include "tricolor.h"

enum thread_state { TS_RUNNING = 1, TS_PARKED = 2, TS_BLOCKING = 3 };

#define TC_BARRIER_BUF 256

typedef struct root_fn_entry {
    tc_root_fn fn;
    void *ctx;
} root_fn_entry;

typedef struct tc_thread {
    tc__shadow_stack *stack;   /* the owner's TC_ROOTS frames (its
                                  thread-local tc__stack); owner writes
                                  (under frames_lock while BLOCKING) */
    tc_aword state;            /* thread_state */
    struct tc_thread *next, *prev;
    struct tc_span *cache[TC_NUM_CLASSES]; /* span per size class */
    tc_aword bytes_allocated;  /* owner writes, others read */
    tc_aword objects_allocated;
    int last_error;
    int alloc_fast;            /* owner only: tc_alloc's fast path may serve
                                  this thread (RUNNING, no stress mode) */
    unsigned stress_count;     /* owner only: allocations since the last
                                  cycle the stress mode asked for */
    root_fn_entry *scanners;   /* thread root scanners (roots_lock) */
    size_t nscanners, scanners_cap;
    void *barrier_buf[TC_BARRIER_BUF]; /* old values awaiting shading */
    size_t barrier_n;
    /* Assists (pacer.c): scan work paid ahead (> 0) or owed (< 0) in the
     * cycle assist_cycle; owner only.  assist_ns: CPU spent assisting
     * since attach; the owner writes, tc_thread_assist_ns reads. */
    int64_t assist_credit;
    uint64_t assist_cycle;
    tc_aword assist_ns;
    /* Held by the root scan while it reads frames, and by the owner while
     * it pushes or pops a frame inside a blocking region (roots.c). */
    pthread_mutex_t frames_lock;
    /* 1 from the root-snapshot pause until the TC_ROOTS frames are
     * scanned, by the owner before it runs on or by the collector
     * (roots.h); set with the world stopped, cleared under frames_lock. */
    tc_aword frames_owed;
} tc_thread;

/* Initial-exec TLS: one instruction to reach, where the default model of
 * position-independent code would call __tls_get_addr on every tc_alloc. */
#define TC_TLS _Thread_local __attribute__((tls_model("initial-exec")))
/* The same, for the one thread-local variable the public header names
 * (tc__stack, read by the inline TC_ROOTS). */
#define TC_TLS_API TC_API __thread __attribute__((tls_model("initial-exec")))

/* A thread's record is valid only for the collector run (tc_init to
 * tc_shutdown) that created it: a thread that never detached must not find
 * a freed record after a restart, so the record is tagged with the run. */
extern TC_TLS tc_thread *threads_self_ptr;
extern TC_TLS uintptr_t threads_self_run;
extern tc_aword threads_current_run;

/* The calling thread's record, or NULL if it is not attached. */
static inline tc_thread *thread_self(void)
{
    return threads_self_run == at_load(&threads_current_run) ? threads_self_ptr : NULL;
}

void threads_diag_unattached(const char *what);

/* As thread_self, but prints "<what>: the calling thread is not attached"
 * when it returns NULL. */
static inline tc_thread *thread_self_or_diag(const char *what)
{
    tc_thread *t = thread_self();
    if (!t)
        threads_diag_unattached(what);
    return t;
}

/* Wait for something that may need the world stopped: if the caller is
 * an attached RUNNING thread, enter a blocking region and return 1;
 * threads_unblock(that) leaves it again.  Holding no library lock. */
int threads_block_if_running(void);
void threads_unblock(int blocked);

int threads_attach(void);
void threads_detach(void);
/* Forget every thread record (shutdown); the caller's included. */
void threads_forget_all(void);

/* Stop every attached thread except the caller at a safepoint (or in a
 * blocking region).  Returns the time-to-safepoint in ns.  Holds
 * threads_lock until world_start. */
uint64_t world_stop(void);
uint64_t world_start(void); /* returns when the restart was signalled */

/* fork() support (PLAT_FORK_*): world_lock and its conditions, the
 * innermost of the library's locks.  threads_fork_child, in the child
 * after every lock is let go and with the world stopped by the parent's
 * world_stop: forget every thread but the caller, let go of threads_lock
 * and the stop. */
void threads_fork_world(int stage);
void threads_fork_child(void);

/* Call fn for each attached thread. Only between world_stop/world_start,
 * or with threads_lock held through threads_lock_list. */
void threads_for_each(void (*fn)(tc_thread *t, void *ctx), void *ctx);
void threads_lock_list(void);
void threads_unlock_list(void);

/* Lock m, a lock held across whole pauses (threads_lock, init_lock) and
 * taken only by threads that stop the world while holding it: a running
 * caller waits in the BLOCKING state, so a stopper never waits for a thread
 * that waits for the stopper. */
void threads_lock_as_blocked(pthread_mutex_t *m);

/* Sum of the allocation counters of every thread, attached or gone. */
void threads_alloc_totals(uint64_t *bytes, uint64_t *objects);
/* The same, by the thread that stopped the world (holding threads_lock). */
void threads_alloc_totals_stopped(uint64_t *bytes, uint64_t *objects);

#endif
