/*
 * weak.h — weak references and ephemerons.
 *
 * Weakness is decided by one cycle's marks: a target unmarked at mark
 * termination is dead.  Three things make that safe without any work in
 * the pauses, with a million weak references:
 *
 *  1. Reads filter.  tc_weak_read takes a slow path while tc__weak_mode
 *     says so: WEAK_MARKING (pause 1 to pause 2), where a read shades its
 *     target (it survives this cycle, as if the read had happened before
 *     the root snapshot), and WEAK_AFTER_MARK (pause 2 until every span is
 *     swept), where a read of a dead target returns NULL.  Outside those
 *     (WEAK_IDLE), every weak slot that could lead to a dead target has
 *     been cleared, so a read is a plain load.  The mode is loaded before
 *     the slot, with acquire: a reader that sees WEAK_IDLE sees the
 *     clearing that came before it.
 *
 *  2. Dead targets are never reused while a weak slot may hold them.  The
 *     sweeper does not free an unmarked object that was ever weakly
 *     referenced (HEADER_WEAKREF): it makes it a zombie (HEADER_DEAD too),
 *     kept allocated until the next cycle's sweep frees it.
 *
 *  3. Weak slots are cleared by sweeping.  Sweeping a span that holds
 *     WEAK or EPHEMERON objects (has_weak) clears, in each live one, the
 *     slots whose target is dead (an ephemeron: value, then key, when
 *     the key is dead: a reader that finds the key cleared finds the
 *     value cleared too), with a CAS, so that a racing store wins.  Every span
 *     is swept before the next cycle starts, so by then no live object
 *     leads to a zombie, and the zombie can go.
 *
 * Liveness of a target x (weak_target_dead): a zombie is dead.  Otherwise,
 * in WEAK_AFTER_MARK, if x's span has not begun its sweep for this epoch,
 * x is dead iff unmarked (and no finalizer will keep it: final.h; the
 * sweeper marks an object it keeps for its finalizer before taking the
 * finalizer off the table, so a reader that misses the one sees the
 * other); if the sweep has begun, x is live (the sweeper made it a zombie
 * first if not).
 * The sweeper sets zombies, publishes the span's sweep_epoch, and only
 * then clears mark bits (a full fence between); the reader loads the
 * epoch, the mark bit, and the epoch again, retrying if it moved.
 *
 * Ephemerons.  A marker scanning an ephemeron whose key is marked visits
 * its value; otherwise it files the ephemeron under its key in a pending
 * table, then looks at the key's mark again (it may have been marked
 * meanwhile: a full fence on each side, after the marker's mark bit and
 * after the filing, makes sure one of the two sees the other).  A marker that marks
 * an object with HEADER_WEAKREF (every ephemeron key has it) while
 * ephemerons are pending looks the object up and visits the values filed
 * under it.  Chains resolve as marking proceeds; nothing is iterated in a
 * pause.  What is still pending at mark termination has a dead key: the
 * sweep clears those ephemerons.  Checkmark resolves ephemerons by
 * iteration (it runs in a pause, for debugging).
 */
#ifndef TC_WEAK_H
#define TC_WEAK_H

#include "namespace.h"

#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "tricolor.h"

enum { WEAK_IDLE = 0, WEAK_MARKING = 1, WEAK_AFTER_MARK = 2 };

/* tc_init, before any thread: the pending table's locks. */
void weak_init(void);

/* Pause 1: reads shade their targets. */
void weak_start_marking(void);
/* Pause 2: a new epoch, whose marks decide liveness; reads filter. */
void weak_end_marking(void);
/* Every span swept (collector thread, after central_sweep_all): plain reads. */
void weak_sweeping_done(void);
/* The epoch of the last mark termination; new spans are born swept in it. */
uintptr_t weak_epoch(void);

/* Is the object at x (a word from a weak slot) dead for weak references?
 * Words that are not heap objects are values: never dead.  Lock-free. */
int weak_target_dead(uintptr_t x);

/* Sweeping, before s's mark bits change: publish that its sweep for this
 * epoch has begun (the zombies it made are visible first). */
void weak_span_sweep_begins(tc_span *s);
/* Sweeping: clear the dead slots of the live WEAK or EPHEMERON object at
 * obj (payload address, `bytes` long). */
void weak_clear_object(uintptr_t obj, const tc_type *t, size_t bytes);

/* Marking: an ephemeron's key is unmarked; file it.  Returns 0 if the key
 * turned out marked (the caller visits the value now). */
int weak_ephemeron_pending(uintptr_t key, uintptr_t eph);
/* Marking: a marker just marked key, which has HEADER_WEAKREF: take up
 * to max of the ephemerons pending on it off the table, into out; returns
 * how many (0: none left).  The marker then visits their values (as grey
 * items, not recursively: chains can be long). */
size_t weak_take_pending(uintptr_t key, uintptr_t *out, size_t max);
/* The same, for a program thread marking (an assist, a barrier flush),
 * which must not sleep on a lock whose holder may have lost its core:
 * -1, having done nothing, when the key's stripe is locked. */
int weak_ephemeron_try_pending(uintptr_t key, uintptr_t eph);
long weak_try_take_pending(uintptr_t key, uintptr_t *out, size_t max);
#ifdef TC_TESTING
/* Test hooks: make every `every`-th of those tries fail as if the stripe
 * were locked (0: never); how many were made to fail. */
void weak_test_fail_trylock(unsigned every);
uint64_t weak_test_trylocks_failed(void);
#endif
/* Marking, a key with HEADER_WEAKREF just marked: may ephemerons be
 * pending on it?  Lock-free (the key's stripe's count, after a fence). */
int weak_key_has_pending(uintptr_t key);
/* The cycle's end (swept): drop the pending entries, whose keys are
 * dead, keeping the table's room for the next cycle (weak.c). */
void weak_forget_pending(void);

/* Counters since tc_init and for the cycle under way: weak slots (and
 * ephemerons) cleared by sweeping, ephemerons scanned by markers. */
void weak_note_ephemeron_scanned(void);
uint64_t weak_total_cleared(void);
uint64_t weak_total_ephemerons(void);
void weak_take_cycle_counts(uint64_t *cleared, uint64_t *ephemerons);
void weak_reset(void);
/* fork() support (PLAT_FORK_*): the pending table's locks. */
void weak_fork(int stage);

#endif
