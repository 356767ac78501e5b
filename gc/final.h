/*
 * final.h — finalizers and cleanups.
 *
 * Records.  A table maps each object that has a finalizer or cleanups to
 * them (specials_lock); the object's header carries HEADER_SPECIAL, so
 * the sweeper looks the table up only for objects that have one.
 *
 * Order, Go's way.  At the start of each mark (after pause 1, while the
 * program runs) the collector scans the referents of every object with a
 * finalizer as roots, not the object itself (mark_scan_contents, which
 * also ignores the object's references to itself).  So whatever an object
 * with a finalizer reaches stays alive while it waits, and another
 * finalizable object it reaches is marked, hence not finalized, until the
 * first one is gone: finalizers run in topological order, without an
 * extra marking phase.  Finalizable objects in a cycle keep each other
 * marked for ever (documented; cleanups have no such problem: their
 * objects' referents are not roots).
 *
 * Death.  Sweeping finds an unmarked object with HEADER_SPECIAL
 * (final_on_death): if it has a finalizer, the finalizer is queued with
 * the object and the object is kept (its referents were marked as roots);
 * the queue is a root from then on, until the finalizer has run.  Its
 * cleanups stay registered, for when it really dies.  Without a
 * finalizer, its cleanups are queued and it is freed (or becomes a zombie
 * if weakly referenced: weak.h).  Weak reads treat an unmarked object with
 * a finalizer as alive (it will be kept), so weak references to it stay
 * valid until it is freed.
 *
 * The queue (queue_lock) is scanned at the start of each mark, after
 * pause 1, concurrently: an entry taken off it while marking is shaded
 * first, as a deletion from a root would be, so none escapes the scan.
 * The runner (the library's finalizer thread, or tc_run_finalizers) roots
 * the object in a TC_ROOTS frame while its finalizer runs.
 */
#ifndef TC_FINAL_H
#define TC_FINAL_H

#include "namespace.h"

#include <stddef.h>
#include <stdint.h>

#include "tricolor.h"

/* tc_init: the finalizer thread, for TC_FINALIZE_THREAD.  0, TC_ENOMEM. */
int final_start(int mode);
/* tc_shutdown: stop the thread (it detaches), then run what is queued on
 * the calling thread, then forget every record. */
void final_stop(void);
void final_reset(void);
/* fork() support (PLAT_FORK_*): the table's and the queue's locks; the
 * thread is stopped around the fork by final_stop_thread /
 * final_start_thread. */
void final_fork(int stage);
void final_stop_thread(void);
int final_start_thread(void);

/* Does obj have a finalizer?  (weak_target_dead's last question.) */
int final_has_finalizer(const void *obj);

/* After pause 1, collector thread: the referents of every object with a
 * finalizer, and every queued object, into v (either marking or
 * checkmark's; checkmark calls it with the world stopped). */
void final_scan(tc_visitor *v);

/* Sweeping: the unmarked object at obj has HEADER_SPECIAL.  Queues what
 * must run; returns 1 if the object must be kept (a finalizer was
 * queued), 0 if it may be freed.  Clears HEADER_SPECIAL when no record is
 * left. */
int final_on_death(uintptr_t obj);

/* Counters since tc_init, and for the cycle under way. */
uint64_t final_total_queued(void);
uint64_t final_total_run(void);
void final_take_cycle_counts(uint64_t *queued, uint64_t *run);

#endif
