/*
 * alloc.h — tc_alloc: per-thread span caches, refills from the central
 * lists, large objects.
 *
 * Fast path (no lock, no system call): the thread's cached span for the
 * size class hands out its next free slot from a 64-bit word of free bits.
 * The slot is zeroed if the span's memory may hold old bytes, its header
 * set to the type, and, while marking, its mark bit set (black
 * allocation).  Slow path: return the exhausted span to its central list,
 * take another (sweeping lazily), or cut a new span from the page heap;
 * that is also where a cycle gets triggered.
 */
#ifndef TC_ALLOC_H
#define TC_ALLOC_H

#include "namespace.h"

#include "heap.h"
#include "threads.h"

/* Return every cached span of t to the central lists. */
void alloc_flush_cache(tc_thread *t);

/* Largest payload tc_alloc accepts before calling the OOM handler. */
#define TC_MAX_ALLOC ((size_t)1 << 46)


/* tc_init: the largest request (see tc_alloc in tricolor.h). */
void alloc_init(void);
void alloc_reset(void);
/* fork() support (PLAT_FORK_*): the OOM handler's lock. */
void alloc_fork(int stage);

#endif
