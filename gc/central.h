/*
 * central.h — per-size-class lists of spans shared by all threads, plus the
 * list of large-object spans (class 0), and the sweeping of what they hold.
 *
 * This module owns the lists: no other file links a span onto one or off
 * it.  Every in-use span not held by a thread cache and not being swept
 * sits on exactly one list of its class, and taking it off a list (under
 * the class's lock) is what gives a thread the right to sweep it or
 * allocate from it, so each span is swept exactly once per cycle.
 *   partial   swept this cycle, has free slots
 *   full      swept this cycle, no free slots (large: every live large span)
 *   unswept   holds marks of the last cycle not yet applied
 * At mark termination (world stopped) partial and full move to unswept
 * (central_begin_sweep), and the sweep generation goes up by one.
 *
 * Sweeping is shared: allocators sweep spans of the class they need
 * (central_take, lazily, with a time budget), and the collector thread
 * sweeps the rest (central_sweep_all) so that a cycle never starts with
 * an unswept span.  The sweep itself, one span's marks applied, is
 * sweep.h's step; this module decides who sweeps what and when.
 *
 * Checks (check.h): a span records the sweep generation it was last swept
 * in, or born in (span.sweep_gen), and which list holds it (span.on_list):
 * sweeping a span twice in a generation, or linking a span that is on a
 * list, stops the process in every build; the checking build also checks
 * that every span handed to a cache or put back belongs to the current
 * generation, and walks each class's lists at mark termination
 * (central_check).
 */
#ifndef TC_CENTRAL_H
#define TC_CENTRAL_H

#include "namespace.h"

#include <pthread.h>

#include "heap.h"

typedef struct span_list {
    tc_span *head, *tail;
    size_t n;
} span_list;

/* One cache line per class at least: the background sweeper and the
 * allocators lock different classes at once.  A class's lock is a leaf
 * of the lock order (design.md): nothing else is taken while it is held;
 * spans are swept, and freed, with it dropped. */
typedef struct TC_OWN_LINE central {
    pthread_mutex_t lock;
    span_list partial, full, unswept;
} central;

void central_init(void);
/* Forget every list and counter (shutdown; the heap is about to be
 * unmapped). */
void central_reset(void);

/* A swept span of class c with a free slot, sweeping unswept ones on the
 * way (lazy sweeping, for at most 100 us); NULL if none: the caller gets
 * a new span. */
tc_span *central_take(unsigned c);
#ifdef TC_TESTING
/* Test hooks: the lists, to look at; central_take's sweep budget in ns
 * (0: one span per call). */
extern central centrals[TC_NUM_CLASSES];
void central_test_set_sweep_budget(uint64_t ns);
#endif
/* Put a span of this sweep generation on its class's partial or full
 * list: from a thread's cache, or a new large span (class 0, full). */
void central_put(tc_span *s);

/* Sweep one unswept span of any class; 0 if none was left. */
int central_sweep_one(void);
/* Sweep until nothing is unswept and no sweep is in progress; returns
 * the number of spans this call swept. */
uint64_t central_sweep_all(void);
/* Mark termination, world stopped: every swept span becomes unswept, and
 * a new sweep generation begins. */
void central_begin_sweep(void);
/* The current sweep generation, which a new span is born in. */
uint32_t central_sweep_gen(void);

#endif
