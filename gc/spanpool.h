/*
 * spanpool.h — memory for span structs.
 *
 * Markers and tc_is_heap_object read span structs without a lock, through
 * page-map entries that may be stale by the time they are followed.  So a
 * struct's memory must stay readable, as a span struct, for as long as the
 * heap exists ("type-stable memory"): a released struct has state 0, which
 * heap_span_of rejects.  The pool never unmaps a chunk before
 * heap_shutdown, and never hands struct memory to anything else.
 *
 * What it can do is give the OS back whole pages that hold only free
 * structs: madvise(MADV_DONTNEED) makes them read as zero — state 0 —
 * which keeps them type-stable.  Without this, the structs of a 200 MiB
 * peak (about 25,000 of them, 7 MiB) would stay resident for good after
 * the heap shrank.  Free slots are found from a bitmap rather than a list
 * threaded through the structs, since a released page loses its contents;
 * the lowest free slot is taken first, so the structs in use stay packed
 * at the start of the chunks and the pages at their ends empty out.
 *
 * Every function here is called with heap_lock held (heap.c).
 */
#ifndef TC_SPANPOOL_H
#define TC_SPANPOOL_H

#include "namespace.h"

#include <stdint.h>

#include "heap.h"

/* A zeroed struct, or NULL when the OS refuses memory. */
tc_span *spanpool_alloc(void);
/* Give s back: its state becomes 0 at once (lock-free readers). */
void spanpool_free(tc_span *s);
/* Return to the OS pages that hold only free structs, in at most
 * max_calls madvise calls (each run of such pages is one call: this
 * bounds the time heap_lock is held); returns the bytes released. */
uint64_t spanpool_release_unused(int max_calls);
/* Bytes of pool memory backed by the OS (touched and not released). */
uint64_t spanpool_backed_bytes(void);
/* Unmap everything (heap_shutdown). */
void spanpool_reset(void);

#endif
