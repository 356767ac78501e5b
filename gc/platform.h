/*
 * platform.h — the operating system underneath: clocks, virtual memory,
 * processor count, and one-line diagnostics on stderr.
 */
#ifndef TC_PLATFORM_H
#define TC_PLATFORM_H

#include "namespace.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic wall clock, ns. */
uint64_t plat_now_ns(void);
/* CPU time of the calling thread, ns. */
uint64_t plat_thread_cpu_ns(void);
int plat_ncpu(void);
/* Sleep for about ns nanoseconds. */
void plat_sleep_ns(uint64_t ns);

/* Reserve and commit `size` bytes aligned to `align` (a power of two that
 * is a multiple of the OS page size), zero-filled; NULL on failure. */
void *plat_map_aligned(size_t size, size_t align);
/* Map zero-filled memory with no alignment promise beyond the OS page. */
void *plat_map(size_t size);
void plat_unmap(void *p, size_t size);
/* Give the OS back the memory behind [p, p + size) (page aligned), keeping
 * the mapping: madvise(MADV_DONTNEED), after which the range reads as
 * zero, or with use_madv_free madvise(MADV_FREE), after which each page
 * reads as zero or as its old bytes until written (the kernel takes it
 * only under memory pressure, so RSS falls only then).  MADV_FREE falls
 * back to DONTNEED where the kernel lacks it (EINVAL, before Linux 4.5).
 * 0, or -1 if the kernel refused (e.g. size not a multiple of its page). */
int plat_release(void *p, size_t size, int use_madv_free);
/* Name the calling thread (at most 15 characters), for top -H, perf and
 * debuggers; does nothing where unsupported. */
void plat_name_thread(const char *name);
/* The OS page size in bytes. */
size_t plat_os_page_size(void);

/* The memory a single request can ever get: the machine's RAM plus swap,
 * lowered to the address-space and data-segment limits (RLIMIT_AS,
 * RLIMIT_DATA) when those are set.  Read once at tc_init. */
uint64_t plat_memory_bound(void);

/* pthread_create for the library's own threads (collector, mark workers,
 * scavenger): 0 or an error number. */
int plat_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg);
/* Stop a helper thread that waits on cond under m for *stop: set it (m
 * held), wake the thread, and join it.  The caller clears *stop if the
 * thread may be started again. */
void plat_stop_thread(pthread_t thread, pthread_mutex_t *m, pthread_cond_t *cond, int *stop);

/* Idle priority that other threads can lift (Linux SCHED_IDLE).  A thread
 * at idle priority runs only on a core nothing else wants, so it may stay
 * off the CPU for seconds while it holds something others wait for; those
 * others then lift it back to normal priority (design.md §10).
 *
 * plat_idle_register(): the calling thread joins the registry; 0, or -1
 * (and it is not registered) when it could not be put at idle priority
 * and lifted again: an unprivileged process may leave SCHED_IDLE only
 * with RLIMIT_NICE at 20 or more (`ulimit -e 20`) or CAP_SYS_NICE.
 * plat_idle_lower(): the registered calling thread goes to idle priority.
 * plat_idle_lift_self(): back to normal priority.
 * plat_idle_lift_all(): any thread puts every lowered registered thread
 * back to normal priority; one atomic load when none is registered.
 * A lowered thread's slot notes when it was lowered.
 * plat_idle_forget_all(): empties the registry, once those threads have
 * ended (tc_shutdown). */
int plat_idle_register(void);
void plat_idle_lower(void);
void plat_idle_lift_self(void);
void plat_idle_lift_all(void);
/* Lift those that have been lowered for more than ns: a thread that
 * lowers itself for a short slice and is still lowered long after has
 * lost its core, whether or not anyone waits yet. */
void plat_idle_lift_overdue(uint64_t ns);
int plat_idle_registered(void);
void plat_idle_forget_all(void);
/* With registered threads: trylock m, and if another thread holds it, lift
 * them all (the holder may be one of them, off the CPU).  1 when m was
 * taken; 0 (at once when none is registered) when the caller must lock. */
int plat_idle_trylock(pthread_mutex_t *m);

/* Fault injection (test variant only, TC_TESTING): plat_test_fault(kind,
 * nth, sticky) makes the nth next operation of that kind fail (1: the
 * very next), and, if sticky, every one after it; nth 0 disarms it.
 * PLAT_FAULT(kind) is where an operation asks; in the release library it
 * is the constant 0. */
enum plat_fault {
    PLAT_FAULT_THREAD,     /* plat_thread_create */
    PLAT_FAULT_MAP,        /* plat_map, plat_map_aligned */
    PLAT_FAULT_MARK_CHUNK, /* a mark-stack chunk (mark.c) */
    PLAT_FAULT_LIFT,       /* plat_idle_register's lift (as EPERM) */
    PLAT_NFAULTS
};
#ifdef TC_TESTING
void plat_test_fault(int kind, int nth, int sticky);
int plat_fault_hit(int kind);
#define PLAT_FAULT(kind) plat_fault_hit(kind)
#else
#define PLAT_FAULT(kind) 0
#endif

/* fork() support: the stages of pthread_atfork's three handlers, and
 * what each does to a lock the library holds across the fork.  PREPARE
 * locks; PARENT unlocks; CHILD unlocks (the forking thread is the only
 * one left, and holds it) and, for a condition variable, makes it afresh:
 * waiters that were in the parent do not exist in the child.  These
 * locks are taken outside the checking build's lock-order check
 * (check.h): the fork handlers hold all of them at once, the 64 stripe
 * locks included, which the order allows nowhere else. */
enum { PLAT_FORK_PREPARE, PLAT_FORK_PARENT, PLAT_FORK_CHILD };
void plat_fork_mutex(pthread_mutex_t *m, int stage);
void plat_fork_cond(pthread_cond_t *c, int stage);

/* Initialise a mutex that is only ever held for a few hundred
 * nanoseconds, by threads that run at once: a waiter spins a little
 * before it sleeps (glibc's adaptive mutex), since a sleep and a wake-up
 * cost more than the wait, and on a busy machine the woken thread may
 * wait milliseconds for a core. */
void plat_mutex_init_short(pthread_mutex_t *m);

/* "tricolor: <message>\n" on stderr, written with one write(2). */
void plat_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* plat_diag then abort(). */
void plat_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
