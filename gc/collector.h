/*
 * collector.h — the cycle and the collector's lifecycle.
 *
 * One collector thread runs every cycle, start to end; mutators only ask
 * for cycles and, for tc_collect, wait for them.  A cycle:
 *
 *   pause 1   sweep termination (normally nothing left to sweep), barrier
 *             on, black allocation on, root snapshot into grey chunks
 *   mark      concurrent: mark workers drain the grey chunks while the
 *             mutators run (the barrier shades what they overwrite)
 *   pause 2   mark termination: flush every barrier buffer and drain what
 *             that produced, within a time budget; if work is left,
 *             restart the world and go back to marking; otherwise
 *             checkmark (debug), barrier off, hand the spans to the sweeper
 *   sweep     concurrent: lazy by allocators + this thread; then the
 *             cycle's report (trace line, callback)
 *
 * Under TRICOLOR_DEBUG=stoptheworld=1 the whole mark happens inside one
 * pause: the baseline to compare against and a way to tell barrier bugs
 * from others.
 */
#ifndef TC_COLLECTOR_H
#define TC_COLLECTOR_H

#include "namespace.h"

#include <stdint.h>

enum collector_phase { PHASE_OFF = 0, PHASE_MARK = 1, PHASE_SWEEP = 2 };

/* Ask for a cycle if the pacer says the heap reached its trigger and none
 * is under way.  Never waits. */
void collector_maybe_trigger(void);
/* Ask for a cycle unless one is asked for and not started yet (the stress
 * mode's steady supply of cycles).  Never waits. */
void collector_request_if_idle(void);
/* Ask for a full cycle that starts after this call; returns its number. */
uint64_t collector_request(int forced);
/* Wait until cycle n has been swept and reported (or the collector
 * stops).  An attached caller waits in the BLOCKING state. */
void collector_wait(uint64_t n);
/* collector_request(forced) then collector_wait. */
void collector_collect(int forced);
int collector_running(void);
/* Nonzero on the collector thread and the mark workers. */
int collector_on_own_thread(void);
/* PHASE_*: what the collector thread is doing. */
int collector_phase(void);
/* Cycles started so far: the number of the one under way, if any. */
uint64_t collector_cycles_started(void);

#ifdef TC_TESTING
/* Test hooks.  While held, a cycle stops after pause 1 with the barrier on
 * and nothing scanned yet, until released.  Spans the last pause 1 had to
 * sweep (0 when the background sweeper kept up). */
void collector_test_hold_marking(int hold);
uint64_t collector_test_stw1_swept(void);
/* The next cycle's collector thread sleeps ns before it begins: a thread
 * kept off the CPU on a busy machine. */
void collector_test_delay_next_start(uint64_t ns);
/* While held, a cycle stops after pause 2, before the collector sweeps
 * (allocators may still sweep lazily): weak references' window between
 * mark termination and sweeping. */
void collector_test_hold_sweep(int hold);
#endif

#endif
