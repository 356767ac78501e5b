/*
 * central.h — per-size-class lists of spans shared by all threads, plus the
 * list of large-object spans (class 0).
 *
 * Every in-use span not held by a thread cache and not being swept sits on
 * exactly one list of its class, and taking it off a list (under the
 * class's lock) is what gives a thread the right to sweep it or allocate
 * from it, so each span is swept exactly once per cycle.
 *   partial   swept this cycle, has free slots
 *   full      swept this cycle, no free slots (large: every live large span)
 *   unswept   holds marks of the last cycle not yet applied
 * At mark termination (world stopped) partial and full move to unswept.
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
 * allocators lock different classes at once. */
typedef struct TC_OWN_LINE central {
    pthread_mutex_t lock;
    span_list partial, full, unswept;
} central;

extern central centrals[TC_NUM_CLASSES];

void central_init(void);
/* Forget every list (shutdown; the heap is about to be unmapped). */
void central_reset(void);

void span_list_push(span_list *l, tc_span *s);
tc_span *span_list_pop(span_list *l);
/* Move every span of from onto the end of to, in O(1). */
void span_list_append(span_list *to, span_list *from);

/* A swept span of class c with a free slot, sweeping unswept ones on the
 * way (lazy sweeping, for at most 100 us); NULL if none: the caller gets
 * a new span. */
tc_span *central_take(unsigned c);
#ifdef TC_TESTING
/* Test hook: central_take's sweep budget in ns (0: one span per call). */
void central_test_set_sweep_budget(uint64_t ns);
#endif
/* Return a swept span (from a cache) to partial or full. */
void central_put(tc_span *s);

#endif
