/*
 * barrier.h — the write barrier (Yuasa deletion barrier, snapshot at the
 * beginning).
 *
 * While marking, tc_write shades the value a store overwrites: it goes to
 * the storing thread's buffer, which is marked when full, when the thread
 * blocks or detaches, and at mark termination.  Together with the root
 * snapshot and black allocation this marks everything reachable when
 * marking began: to hide an object from the marker a program must delete
 * the last reference to it from the heap, and that deletion shades it.
 *
 * tc__barrier_on (read inline by tc_write): BARRIER_OFF outside marking;
 * BARRIER_MARKING while marking, when a store over NULL stays inline and
 * any other store shades the old value; BARRIER_SLOW_ALWAYS under
 * TRICOLOR_DEBUG=verify=1, so the slow path checks every store.  `marking`
 * (barrier.c) says whether the slow path must shade.
 */
#ifndef TC_BARRIER_H
#define TC_BARRIER_H

#include "namespace.h"

#include "threads.h"

enum { BARRIER_OFF = 0, BARRIER_MARKING = 1, BARRIER_SLOW_ALWAYS = 2 };

/* Turn shading on or off (world stopped). */
void barrier_set_marking(int on);
/* Mark t's buffered old values (t stopped, or t itself). */
void barrier_flush(tc_thread *t);
/* Flush every thread's buffer (world stopped). */
void barrier_flush_all(void);
/* While marking: shade v as if a store had overwritten it (the weak read
 * barrier).  Any thread. */
void barrier_shade(void *v);
/* While marking: obj (a heap object) is to be marked and scanned again,
 * whatever its color (an ephemeron whose key changed: weak.h).  Buffered
 * like an overwritten value, so it costs a store, not a lock. */
void barrier_rescan(void *obj);
/* CPU mutators spent flushing their own full buffers since the last call. */
uint64_t barrier_take_flush_cpu(void);
#ifdef TC_TESTING
/* Test hook: make the barrier skip shading, to prove checkmark works. */
void barrier_test_break(int broken);
#endif

#endif
