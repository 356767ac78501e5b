/*
 * pacer.h — when to start a cycle.
 *
 * The heap in use is estimated as Go estimates heapLive: bytes marked by
 * the last cycle, plus every free slot handed to a thread cache (counted
 * when handed out, uncounted when the cache returns it unused) and every
 * large object.  A cycle starts when the estimate reaches the trigger.
 * Goal = marked x (1 + GC percent / 100), at least 4 MiB, lowered to the
 * memory limit.  With marking inside the pause the trigger is the goal.
 */
#ifndef TC_PACER_H
#define TC_PACER_H

#include <stdint.h>

#define TC_MIN_HEAP_GOAL ((uint64_t)4 << 20)

void pacer_init(int gc_percent, int64_t memory_limit);
void pacer_note_allocated(uint64_t bytes);
void pacer_note_unused(uint64_t bytes);
int pacer_should_trigger(void);
/* Mark termination: the cycle marked `marked` bytes. */
void pacer_end_cycle(uint64_t marked);

uint64_t pacer_heap_estimate(void);
uint64_t pacer_goal(void);
uint64_t pacer_trigger(void);
int pacer_gc_percent(void);
int64_t pacer_memory_limit(void);

#endif
