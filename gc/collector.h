/*
 * collector.h — the cycle and the collector's lifecycle.
 *
 *   sweep termination (STW)  finish sweeping, flush thread caches
 *   mark start (STW)         barrier on, black allocation, root snapshot
 *   mark                     drain grey objects (inside the pause here)
 *   mark termination (STW)   flush barrier buffers, drain, checkmark,
 *                            barrier off, publish marked sizes, hand the
 *                            mark bits to the sweeper
 *   sweep (concurrent)       lazy by allocators + the background thread
 *
 * gc_lock serialises cycles: only its holder stops the world.  Threads
 * wait for it in the BLOCKING state so a running cycle never waits on them.
 */
#ifndef TC_COLLECTOR_H
#define TC_COLLECTOR_H

/* Start a cycle if the pacer says the heap reached its trigger. */
void collector_maybe_trigger(void);
/* forced: a full cycle that started after the call, swept, reported.
 * Otherwise: a cycle if one is still due when the lock is had. */
void collector_collect(int forced);
int collector_running(void);

#endif
