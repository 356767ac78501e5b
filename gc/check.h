/*
 * check.h — assertions and the checking build.
 *
 * Two kinds of check, in the manner of the MPS:
 *
 *   TC_ASSERT(cond)    an invariant.  Compiled only in the checking build
 *                      (TC_CHECKING: Debug and sanitizer builds, or
 *                      -DTRICOLOR_CHECKING=ON); free in a release build.
 *   TC_REQUIRE(cond)   a check that stays on in every build, for the few
 *                      places where a broken invariant would go on to
 *                      corrupt memory (a span swept twice, a list linked
 *                      into itself).  Keep it cheap: a compare and a
 *                      predictable branch.
 *
 * Both abort with one line naming the file, the line and the condition.
 * Structures have check functions (span_check, central_check, ...) that
 * TC_ASSERT calls; they return 1 so that `TC_ASSERT(span_check(s))`
 * reads as what it is.
 *
 * The test hooks (fault injection, holds, query functions only the tests
 * use) are compiled only under TC_TESTING, into the library variant the
 * tests link (tests/CMakeLists.txt); the installed libraries have none.
 */
#ifndef TC_CHECK_H
#define TC_CHECK_H

#include "namespace.h"

#include "platform.h"

#define TC_REQUIRE(cond)                                                      \
    ((cond) ? (void)0                                                         \
            : plat_fatal("internal error: %s:%d: %s does not hold (please report "  \
                         "it)", __FILE__, __LINE__, #cond))

#ifdef TC_CHECKING
#define TC_ASSERT(cond) TC_REQUIRE(cond)
#define TC_CHECKING_ON 1
#else
#define TC_ASSERT(cond) ((void)sizeof(!(cond)))
#define TC_CHECKING_ON 0
#endif

/*
 * The lock order (design.md §8), checked in the checking build.  Each
 * mutex of the library has a rank, outermost first; a thread holding a
 * lock may take only locks of a higher rank (and trylock any: a trylock
 * cannot deadlock).  check.c keeps each thread's held locks and stops the
 * process, naming both locks and where they were taken, on a lock taken
 * out of order.  In the checking build the pthread_mutex_* calls of every
 * file that includes this header go through it; static mutexes get their
 * rank with TC_LOCK_RANK at file scope, others with lock_rank_set when
 * they are initialized (and lock_rank_clear before they are destroyed).
 * A mutex with no rank is not checked.  Elsewhere this is all free.
 */
enum lock_rank {
    RANK_NONE,
    RANK_INIT,     /* init_lock      collector.c */
    RANK_THREADS,  /* threads_lock   threads.c */
    RANK_CYC,      /* cyc_lock       collector.c */
    RANK_ROOTS,    /* roots_lock     roots.c */
    RANK_FRAMES,   /* frames_lock    threads.h, one per thread */
    RANK_CENTRAL,  /* central[c].lock central.c, one at a time */
    RANK_HEAP,     /* heap_lock      heap.c */
    RANK_SPECIALS, /* specials_lock  final.c */
    RANK_QUEUE,    /* queue_lock     final.c */
    RANK_GREY,     /* grey_lock      mark.c */
    RANK_STRIPE,   /* stripe locks   weak.c, one at a time */
    RANK_PACER,    /* pacer_lock     pacer.c */
    RANK_LIMITER,  /* limiter_lock   pacer.c */
    RANK_STATS,    /* stats_lock     stats.c */
    RANK_OOM,      /* oom_lock       alloc.c */
    RANK_SCAV_CTL, /* ctl_lock       scavenge.c */
    RANK_SCAV,     /* lock           scavenge.c */
    RANK_WORLD,    /* world_lock     threads.c, innermost */
    RANK_COUNT
};

#ifdef TC_CHECKING
#include <pthread.h>
#include <stddef.h>

void tci_lock_rank_set(const pthread_mutex_t *m, int rank);
void tci_lock_rank_clear(const pthread_mutex_t *m);
/* n mutexes of one rank, `stride` bytes apart from first. */
void tci_lock_rank_set_array(const pthread_mutex_t *first, size_t n, size_t stride, int rank);
int tci_lock_checked(pthread_mutex_t *m, const char *file, int line);
int tci_trylock_checked(pthread_mutex_t *m, const char *file, int line);
int tci_unlock_checked(pthread_mutex_t *m);
#define lock_rank_set(m, rank) tci_lock_rank_set((m), (rank))
#define lock_rank_clear(m) tci_lock_rank_clear(m)
#define lock_rank_set_array(first, n, stride, rank) \
    tci_lock_rank_set_array((first), (n), (stride), (rank))
#define TC_LOCK_RANK(m, rank)                                                 \
    __attribute__((constructor)) static void lock_rank_of_##m(void)           \
    {                                                                         \
        tci_lock_rank_set(&(m), (rank));                                      \
    }                                                                         \
    _Static_assert(1, "TC_LOCK_RANK")
#ifndef TC_CHECK_IMPL
#define pthread_mutex_lock(m) tci_lock_checked((m), __FILE__, __LINE__)
#define pthread_mutex_trylock(m) tci_trylock_checked((m), __FILE__, __LINE__)
#define pthread_mutex_unlock(m) tci_unlock_checked(m)
#endif
#else
#define lock_rank_set(m, rank) ((void)(m), (void)(rank))
#define lock_rank_clear(m) ((void)(m))
#define lock_rank_set_array(first, n, stride, rank) \
    ((void)(first), (void)(n), (void)(stride), (void)(rank))
#define TC_LOCK_RANK(m, rank) _Static_assert(1, "TC_LOCK_RANK")
#endif

#endif
