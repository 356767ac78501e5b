/*
 * sweep.h — applying a cycle's mark bits to spans.
 *
 * Sweeping a small span turns its mark bits into its allocation bits (as
 * Go flips gcmarkBits into allocBits): a slot is in use after the sweep iff
 * it was marked.  Freed slots get their header cleared (a free slot has
 * header 0; under verify=1 the freed type with HEADER_FREED) and, under poison=1, their payload filled with 0xdb.  A span
 * left empty goes back to the page heap unless its taker wants it.  A large
 * span is freed whole if unmarked.
 *
 * Lazy: allocators sweep the spans of the class they need
 * (central_take); the collector thread sweeps the rest after each cycle;
 * sweep_finish() sweeps whatever is left and waits for sweeps in progress,
 * so a cycle never starts with an unswept span.
 */
#ifndef TC_SWEEP_H
#define TC_SWEEP_H

#include "namespace.h"

#include <stdint.h>

#include "heap.h"

enum { SWEEP_EMPTY, SWEEP_PARTIAL, SWEEP_FULL, SWEEP_FREED };

/* Sweep s, which the caller took off an unswept list.  Small spans report
 * EMPTY/PARTIAL/FULL and stay the caller's; a dead large span is freed
 * (FREED), a live one reports FULL. */
int sweep_span(tc_span *s);

/* Bracket a sweep by a thread that took a span off an unswept list (call
 * both under the list's lock), so sweep_finish can wait for it. */
void sweep_claimed(tc_span *s);
void sweep_released(tc_span *s);

/* Sweep one unswept span of any class; 0 if none was left. */
int sweep_one(void);
/* Sweep until nothing is unswept and no sweep is in progress; returns
 * the number of spans this call swept. */
uint64_t sweep_finish(void);
/* Mark termination, world stopped: every swept span becomes unswept. */
void sweep_begin_cycle(uint64_t cycle);

/* Zero the counters (shutdown). */
void sweep_reset(void);

#endif
