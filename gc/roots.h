/*
 * roots.h — the three kinds of roots.
 *   global slots      tc_root_add(slots, n): arrays the embedder owns
 *   global scanners   tc_root_scanner_add(fn, ctx): called at each snapshot
 *   per thread        TC_ROOTS frames (shadow stack) and thread scanners
 * roots_lock guards the global tables and every thread's scanner table.
 * A thread's frames are touched only by the thread itself, and read by
 * the collector while that thread is stopped or blocking.
 */
#ifndef TC_ROOTS_H
#define TC_ROOTS_H

#include "namespace.h"

#include "threads.h"

/* Visit every root: world stopped (checkmark, the stop-the-world mode). */
void roots_scan(tc_visitor *v);

/*
 * The root snapshot of a concurrent cycle, without the TC_ROOTS frames in
 * the pause, so that pause 1 does not grow with the threads' stacks (an
 * interpreter 14,000 calls deep had 72,642 slots: 2.15 ms).
 * roots_scan_snapshot, world stopped, visits the global roots and the
 * thread root scanners and marks every thread's frames owed.  They are
 * still the snapshot's: a thread scans its own (roots_pay_own_frames) as
 * it leaves the pause, before it runs any code of the program; the
 * collector, right after the restart, scans those of the threads that
 * cannot (roots_scan_owed_frames: blocking threads, which may not assign
 * their slots, and threads not yet back on a core), then waits for the
 * running ones to finish theirs.  frames_lock decides which of the two
 * scans a thread's frames.  Only then does concurrent marking begin to
 * look for its end, so every owed frame has been scanned before mark
 * termination.  (design.md, section 2.)
 */
void roots_scan_snapshot(tc_visitor *v);
/* Returns the frame slots scanned since the snapshot, by the collector
 * and by the threads themselves. */
uint64_t roots_scan_owed_frames(tc_visitor *v);
#ifdef TC_TESTING
/* Test hook: roots_scan_owed_frames sleeps ns first, so that the threads
 * the restart woke scan their own frames (test_roots). */
void roots_test_delay_owed_scan(uint64_t ns);
#endif
void roots_pay_own_frames_slow(tc_thread *t);
static inline void roots_pay_own_frames(tc_thread *t)
{
    if (__builtin_expect(at_load_acquire(&t->frames_owed) != 0, 0))
        roots_pay_own_frames_slow(t);
}
/* Drop t's scanner table (detach, shutdown). */
void roots_thread_gone(tc_thread *t);
/* Forget every global root (shutdown). */
void roots_reset(void);
/* fork() support (PLAT_FORK_*): roots_lock. */
void roots_fork(int stage);

#endif
