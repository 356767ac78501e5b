/*
 * stall.h — the stall tracer (TRICOLOR_DEBUG=stalls=N, tc_config
 * .debug_stalls_us): where a mutator's time inside the library goes.
 *
 * A traced call is an entry point a mutator reaches on a slow path
 * (tc_alloc's, a barrier flush, tc_safepoint, tc_blocking_leave, a TC_ROOTS
 * slow path).  stall_enter/stall_leave bracket it; calls nest (tc_alloc
 * reaches a safepoint) and only the outermost one counts.  Inside it,
 * stall_begin/stall_end bracket the work that has a cause; they nest too,
 * and time always goes to the innermost cause open, so the causes of a
 * call sum exactly to its wall time.  What no section covers is "other".
 * A call of the threshold or longer is a stall: it prints one line (or a
 * JSON object under TRICOLOR_TRACE=json) and adds to the totals that
 * tc_stats and the per-cycle report show.
 *
 * Everything here is the calling thread's own (thread-local), except the
 * totals, which are atomics.  Threads of the library's (the collector,
 * mark workers, the sweeper) never enter a traced call, so their
 * sections cost a branch and record nothing.
 *
 * Off (threshold 0), every function below is one predictable branch on a
 * plain global written once, by tc_init, before any other thread runs.
 */
#ifndef TC_STALL_H
#define TC_STALL_H

#include "namespace.h"

#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "tricolor.h"

/* Locks a stall may wait for, as the line names them. */
enum stall_lock {
    STALL_LOCK_HEAP,     /* heap.c: the page heap */
    STALL_LOCK_CENTRAL,  /* central.c: a size class's span lists */
    STALL_LOCK_GREY,     /* mark.c: the grey chunk lists */
    STALL_LOCK_FRAMES,   /* roots.c: a thread's frame list */
    STALL_LOCK_PENDING,  /* weak.c: a stripe of the pending ephemerons */
    STALL_NLOCKS
};

extern uint64_t stall_threshold_ns; /* 0: the tracer is off */

static inline int stall_on(void) { return __builtin_expect(stall_threshold_ns != 0, 0); }

/* Called by tc_init (opt resolved) and tc_shutdown. */
void stall_init(int threshold_us, int json);
/* The collector says which cycle has started last and its phase
 * (collector.h's PHASE_*), for the reports: the tracer sits below the
 * collector and does not call up to ask. */
void stall_note_cycle(uint64_t cycle, int phase);
void stall_reset(void);

void stall_enter_slow(void);
void stall_leave_slow(const char *call);
int stall_begin_slow(int cause);
void stall_end_slow(int prev);
void stall_end_park_slow(int prev, uint64_t tts_ns, uint64_t paused_ns);
void stall_lock_slow(pthread_mutex_t *m, int lock);
void stall_note_swept_slow(void);

/* Bracket a traced call (call: its name, for the line). */
static inline void stall_enter(void)
{
    if (stall_on())
        stall_enter_slow();
}
static inline void stall_leave(const char *call)
{
    if (stall_on())
        stall_leave_slow(call);
}

/* Open a section of TC_STALL_<cause>; returns what stall_end needs
 * (-1 when nothing is traced). */
static inline int stall_begin(int cause) { return stall_on() ? stall_begin_slow(cause) : -1; }
static inline void stall_end(int prev)
{
    if (prev >= 0)
        stall_end_slow(prev);
}
/* End a TC_STALL_PAUSE section opened around parking, of which tts_ns
 * went by before the world stopped and paused_ns while it was stopped;
 * the rest, after the restart, was the OS's delay in running the thread
 * again (TC_STALL_RESUME). */
static inline void stall_end_park(int prev, uint64_t tts_ns, uint64_t paused_ns)
{
    if (prev >= 0)
        stall_end_park_slow(prev, tts_ns, paused_ns);
}

/* pthread_mutex_lock(m), timing a wait for it as TC_STALL_LOCK. */
static inline void stall_lock(pthread_mutex_t *m, int lock)
{
    if (stall_on())
        stall_lock_slow(m, lock);
    else
        pthread_mutex_lock(m);
}

/* A traced call swept one more span. */
static inline void stall_note_swept(void)
{
    if (stall_on())
        stall_note_swept_slow();
}

/* Totals of the stalls since tc_init (into *out's stall fields), and
 * since the last take (into the cycle report's). */
void stall_read_totals(tc_stats *out);
void stall_take_cycle(tc_cycle_info *info);
/* The cycle's stalls for its trace line (text or JSON); "" when there is
 * nothing to say. */
void stall_format_cycle(const tc_cycle_info *c, int json, char *buf, size_t len);

/* The one line (or JSON object) for a stall; for tests. */
typedef struct stall_report {
    const char *call;
    uint64_t cycle;
    int phase;                           /* PHASE_* */
    uint64_t total_ns;
    uint64_t cause_ns[TC_STALL_CAUSES];
    uint64_t lock_ns[STALL_NLOCKS];
    uint64_t spans_swept;
    uint64_t off_cpu_ns;                 /* wall time minus CPU time, from the
                                            first section on (0: unknown) */
} stall_report;
int stall_format(const stall_report *r, int json, char *buf, size_t len);

#endif
