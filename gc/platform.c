/* platform.c — see platform.h. */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "atomics.h"

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t plat_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t plat_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

void plat_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int plat_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void *plat_map(size_t size)
{
    if (PLAT_FAULT(PLAT_FAULT_MAP))
        return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *plat_map_aligned(size_t size, size_t align)
{
    if (size + align < size)
        return NULL;
    char *raw = plat_map(size + align);
    if (!raw)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = align - head;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + size, tail);
    return (void *)start;
}

void plat_unmap(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

/* Set once MADV_FREE failed with EINVAL where MADV_DONTNEED worked: the
 * kernel predates MADV_FREE, so stop asking. */
static tc_aword madv_free_missing;

int plat_release(void *p, size_t size, int use_madv_free)
{
#ifdef MADV_FREE
    if (use_madv_free && !at_load(&madv_free_missing)) {
        if (madvise(p, size, MADV_FREE) == 0)
            return 0;
        if (errno != EINVAL)
            return -1;
        if (madvise(p, size, MADV_DONTNEED) != 0)
            return -1; /* EINVAL was about the range, not MADV_FREE */
        at_store(&madv_free_missing, 1);
        return 0;
    }
#else
    (void)use_madv_free;
#endif
    return madvise(p, size, MADV_DONTNEED) == 0 ? 0 : -1;
}

static void vdiag(const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "tricolor: ");
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t unused = write(2, line, (size_t)n);
    (void)unused;
}

void plat_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(fmt, ap);
    va_end(ap);
}

void plat_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(fmt, ap);
    va_end(ap);
    abort();
}

static uint64_t lower_to_limit(uint64_t bound, int resource)
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)rl.rlim_cur < bound)
        return (uint64_t)rl.rlim_cur;
    return bound;
}

uint64_t plat_memory_bound(void)
{
    uint64_t bound = UINT64_MAX;
    struct sysinfo si;
    if (sysinfo(&si) == 0 && si.mem_unit > 0)
        bound = ((uint64_t)si.totalram + (uint64_t)si.totalswap) * si.mem_unit;
    bound = lower_to_limit(bound, RLIMIT_AS);
    return lower_to_limit(bound, RLIMIT_DATA);
}

int plat_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    if (PLAT_FAULT(PLAT_FAULT_THREAD))
        return EAGAIN;
    return pthread_create(thread, NULL, fn, arg);
}

void plat_stop_thread(pthread_t thread, pthread_mutex_t *m, pthread_cond_t *cond, int *stop)
{
    pthread_mutex_lock(m);
    *stop = 1;
    pthread_cond_broadcast(cond);
    pthread_mutex_unlock(m);
    pthread_join(thread, NULL);
}

void plat_fork_mutex(pthread_mutex_t *m, int stage)
{
    if (stage == PLAT_FORK_PREPARE)
        pthread_mutex_lock(m);
    else
        pthread_mutex_unlock(m);
}

void plat_mutex_init_short(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

void plat_fork_cond(pthread_cond_t *c, int stage)
{
    if (stage == PLAT_FORK_CHILD)
        pthread_cond_init(c, NULL);
}

#ifdef TC_TESTING
/* Per kind: calls left before the failure (0: disarmed), and whether it
 * stays failing. */
static tc_aword fault_countdown[PLAT_NFAULTS], fault_sticky[PLAT_NFAULTS];

void plat_test_fault(int kind, int nth, int sticky)
{
    at_store(&fault_sticky[kind], (uintptr_t)(sticky != 0));
    at_store(&fault_countdown[kind], (uintptr_t)(nth > 0 ? nth : 0));
}

int plat_fault_hit(int kind)
{
    for (;;) {
        uintptr_t n = at_load(&fault_countdown[kind]);
        if (n == 0)
            return 0;
        if (n == 1 && at_load(&fault_sticky[kind]))
            return 1;
        if (at_cas(&fault_countdown[kind], n, n - 1))
            return n == 1;
    }
}
#endif

/* The idle-priority registry: one word per registered thread, its kernel
 * thread id shifted left by two, with IDLE_LOWERED set while it is lowered
 * (or about to be) and IDLE_LIFTED once a waiter has lifted it.
 *
 * The thread sets IDLE_LOWERED *before* its call to SCHED_IDLE: a thread
 * at idle priority may lose its core on the way out of that very call,
 * and must already be visible then.  So a lift may land before the
 * lowering's call and be undone by it; the watchdog's lift
 * (plat_idle_lift_overdue) therefore calls again for as long as the
 * thread stays lowered past its time, whether or not it was lifted.
 * Waiters lift once per lowering (IDLE_LIFTED), to spare the calls. */
#define IDLE_MAX 1024 /* options cap idle_workers at 1024 */
#define IDLE_LOWERED 1u
#define IDLE_LIFTED 2u
#define IDLE_TID_SHIFT 2
/* The registry, emptied in one place (plat_idle_forget_all).  Atomic
 * words: any waiting thread reads it, without a lock. */
static struct idle_registry {
    tc_aword slot[IDLE_MAX];       /* tid << IDLE_TID_SHIFT | IDLE_* */
    tc_aword lowered_at[IDLE_MAX]; /* plat_now_ns() at the lowering */
    tc_aword count;                /* slots handed out */
} idle;
static _Thread_local int idle_index = -1;

static int set_policy(uintptr_t tid, int policy)
{
    struct sched_param sp = {0};
    return sched_setscheduler((pid_t)tid, policy, &sp);
}

static uintptr_t my_tid(void) { return (uintptr_t)syscall(SYS_gettid); }

static int lift_refused(void)
{
    return PLAT_FAULT(PLAT_FAULT_LIFT) || set_policy(0, SCHED_OTHER) != 0;
}

int plat_idle_register(void)
{
    if (set_policy(0, SCHED_IDLE) != 0)
        return -1;
    if (lift_refused())
        return -1; /* stays at idle priority: the caller ends the thread */
    uintptr_t i = at_add(&idle.count, 1);
    if (i >= IDLE_MAX)
        return -1;
    at_store(&idle.slot[i], my_tid() << IDLE_TID_SHIFT);
    idle_index = (int)i;
    return 0;
}

void plat_idle_lower(void)
{
    tc_aword *slot = &idle.slot[idle_index];
    uintptr_t tid = at_load(slot) >> IDLE_TID_SHIFT;
    at_store(&idle.lowered_at[idle_index], plat_now_ns());
    /* seq: before the caller's look at waiters (a Dekker pair with them) */
    at_store_seq(slot, tid << IDLE_TID_SHIFT | IDLE_LOWERED);
    set_policy(0, SCHED_IDLE);
}

void plat_idle_lift_self(void)
{
    tc_aword *slot = &idle.slot[idle_index];
    at_store(slot, at_load(slot) >> IDLE_TID_SHIFT << IDLE_TID_SHIFT);
    set_policy(0, SCHED_OTHER);
}

/* Lift the registered threads lowered at or before `before` (ns); with
 * `again`, also those already lifted (above). */
static void lift_lowered_before(uint64_t before, int again)
{
    uintptr_t n = at_load(&idle.count);
    if (n == 0)
        return;
    at_fence(); /* the caller's "I wait" store before the slots' loads */
    for (uintptr_t i = 0; i < n && i < IDLE_MAX; i++) {
        uintptr_t w = at_load_acquire(&idle.slot[i]);
        if (!(w & IDLE_LOWERED) || at_load(&idle.lowered_at[i]) > before)
            continue;
        int first = !(w & IDLE_LIFTED) && at_cas(&idle.slot[i], w, w | IDLE_LIFTED);
        if (first || again)
            set_policy(w >> IDLE_TID_SHIFT, SCHED_OTHER);
    }
}

void plat_idle_lift_all(void) { lift_lowered_before(UINT64_MAX, 0); }

void plat_idle_lift_overdue(uint64_t ns)
{
    uint64_t now = plat_now_ns();
    lift_lowered_before(now > ns ? now - ns : 0, 1);
}

int plat_idle_registered(void) { return at_load(&idle.count) != 0; }

int plat_idle_trylock(pthread_mutex_t *m)
{
    if (at_load(&idle.count) == 0)
        return 0;
    if (pthread_mutex_trylock(m) == 0)
        return 1;
    plat_idle_lift_all();
    return 0;
}

void plat_idle_forget_all(void)
{
    /* Word by word: a waiting thread may be reading the slots. */
    uintptr_t n = at_load(&idle.count);
    for (uintptr_t i = 0; i < n && i < IDLE_MAX; i++) {
        at_store(&idle.slot[i], 0);
        at_store(&idle.lowered_at[i], 0);
    }
    at_store(&idle.count, 0);
}

size_t plat_os_page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

void plat_name_thread(const char *name)
{
    pthread_setname_np(pthread_self(), name);
}
