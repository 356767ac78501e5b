/*
 * scavenge.h — giving free heap pages back to the OS.
 *
 * The page heap keeps free pages after a cycle frees them, so a program
 * whose heap shrinks would hold its peak forever.  The scavenger is a
 * background thread (not attached: it never touches objects) that
 * releases free pages with madvise until the retained heap (mapped minus
 * released) is down to its target:
 *
 *   target = max(heap in use, goal x 1.1, what the next cycle needs)
 *            lowered, under a memory limit, to 0.95 x limit - metadata
 *
 * where what the next cycle needs is the last cycle's marked heap plus
 * what the program allocated while that cycle marked (its heap at mark
 * termination less its heap at pause 1): a program whose cycles run past
 * their goal (marking that cannot keep up) needs those pages again in
 * the next cycle, and releasing them only turns them into page faults in
 * its allocations (the ephemeron benchmark, whose cycles end at 1.4-1.8 x
 * goal, released 190-220 MiB during its churn without this term, 80-150
 * MiB with it).  A program that dropped its heap needs little: its next
 * cycle marks little.
 *
 * It spends about 1% of one CPU over time, as a token bucket: it earns 1%
 * of the wall time as CPU credit, banks at most 50 ms of it while idle,
 * works in rounds of about 1 ms, and after a round sleeps 10 ms while in
 * credit, else until it has earned its debt back (at most 1 s).  So a
 * peak is returned quickly (the bank covers 200 MiB or more at once) and
 * over any window of T seconds it uses at most 1% x T + 50 ms.  With nothing
 * to do it waits for scavenge_wake (after each cycle's sweep) or 1 s.
 *
 * Under a memory limit it also acts at once, unpaced: whenever the page
 * heap is about to back released pages again (a span reserved on them,
 * e.g. in a newly mapped arena: the grow hook scavenge_start installs),
 * and whenever the allocator calls scavenge_for_limit, it releases other
 * free pages so that retained + metadata + the new memory stays within
 * the limit, as far as free pages allow.  That path always uses
 * MADV_DONTNEED, whatever the mode, so that RSS falls at once.
 */
#ifndef TC_SCAVENGE_H
#define TC_SCAVENGE_H

#include "namespace.h"

#include <stdint.h>

#include "tricolor.h"

/* Modes: tc_config.scavenge's values. */
enum {
    SCAVENGE_OFF = TC_SCAVENGE_OFF,           /* no thread; the limit path stays */
    SCAVENGE_DONTNEED = TC_SCAVENGE_DONTNEED, /* background, MADV_DONTNEED */
    SCAVENGE_FREE = TC_SCAVENGE_FREE          /* background, MADV_FREE */
};

/* Install the grow hook and, unless mode is SCAVENGE_OFF, start the
 * thread.  After heap_init and pacer_init.  0; TC_EINVAL for an unknown
 * mode; TC_ESTATE if already started (scavenge_stop first); TC_ENOMEM if
 * the thread could not be created. */
int scavenge_start(int mode);
/* Stop and join the thread, remove the hook.  Before heap_shutdown.
 * Does nothing if not started.  The counters stay (a stop and start
 * around fork() goes on counting); scavenge_reset zeroes them. */
void scavenge_stop(void);
/* Stopped (it stops the process otherwise): zero the counters and all. */
void scavenge_reset(void);
/* fork() support (PLAT_FORK_*), with the thread stopped: its locks. */
void scavenge_fork(int stage);
/* The mode scavenge_start was given, or -1 when stopped. */
int scavenge_mode(void);

/* A cycle finished sweeping: have the thread look at the heap now rather
 * than at its next 1 s poll.  Cheap; any thread; nothing when stopped. */
void scavenge_wake(void);
/* Mark termination: what the next cycle needs (above), for the target. */
void scavenge_note_cycle_need(uint64_t bytes);
/* The retained-heap target above, from the pacer's goal and limit now. */
uint64_t scavenge_target(void);

/* When retained + metadata + extra exceeds the memory limit, release the
 * excess (as much of it as is free and backed) now; returns the bytes
 * released (0 without a limit).  Any thread, no heap locks held. */
uint64_t scavenge_for_limit(uint64_t extra);

/* Since tc_init: bytes released by the scavenger (thread and limit
 * path), and the CPU time they took. */
uint64_t scavenge_released_total(void);
uint64_t scavenge_cpu_ns(void);

#endif
