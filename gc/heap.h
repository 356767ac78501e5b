/*
 * heap.h — arenas, pages, spans and the page map.
 *
 * The heap is a set of arenas, each a multiple of 64 MiB reserved with mmap
 * and aligned to 64 MiB.  An arena is cut into 8 KiB pages; a span is a run
 * of pages that is either free or holds objects: many slots of one size
 * class (a small span) or a single large object.
 *
 * The page map answers "which span holds address p?" in O(1) with two
 * loads: arena_map[p >> 26] gives the arena (NULL: not heap), whose page
 * table gives the span.  Every page of an in-use span maps to it; a free
 * span maps only its first and last page (for coalescing).
 *
 * Span layout: slot i starts at base + TC_SPAN_SLOT0 + i * slot_size.  Its
 * first word is the object header (the tc_type pointer, 0 when the slot is
 * free); the payload follows, so payloads sit at base + 16 + i * slot_size,
 * 16-byte aligned.  A large object is slot 0 of its own span.
 *
 * Released pages: each arena has a bitmap, one bit per page, 1 = the page
 * is not backed by memory (never touched since the arena was mapped, or
 * given back with madvise by heap_scavenge).  Only free pages are ever
 * released: reserving a span clears its pages' bits.  Bits belong to pages,
 * not spans, so splitting and coalescing free spans keeps them exact.
 * mapped = retained + released at every moment (under heap_lock).
 *
 * Locks: heap_lock guards the free-page structures, the released bitmaps
 * and the arena list.  The
 * page map is written under heap_lock with release stores and read without
 * a lock (markers, tc_is_heap_object) with acquire loads.  A span's fields
 * other than the mark bits and state belong to whoever owns the span: the
 * thread cache holding it, the sweeper that took it off a list, or the
 * list's lock holder.
 */
#ifndef TC_HEAP_H
#define TC_HEAP_H

#include "namespace.h"

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"
#include "sizeclass.h"

#define TC_PAGE_SHIFT 13
#define TC_PAGE_SIZE ((size_t)1 << TC_PAGE_SHIFT)
#define TC_ARENA_SHIFT 26
#define TC_ARENA_SIZE ((size_t)1 << TC_ARENA_SHIFT)
#define TC_ADDR_BITS 48
#define TC_SPAN_SLOT0 8   /* offset of slot 0 from the span base */
#define TC_HEADER_SIZE 8  /* one word: the type */
#define TC_BITWORDS (TC_SPAN_MAX_OBJECTS / 64)

/* SPAN_SCAVENGING: a free span the scavenger took off the free lists
 * while it returns its pages to the OS without heap_lock (heap.c). */
enum span_state {
    SPAN_FREE = 1, SPAN_SMALL = 2, SPAN_LARGE = 3, SPAN_RESERVED = 4, SPAN_SCAVENGING = 5
};

typedef struct tc_span {
    uintptr_t base;
    size_t npages;
    struct tc_span *next, *prev; /* links on whichever list holds it */
    /* central.c's: the central list holding the span (NULL: none), and the
     * sweep generation it was last swept or born in (central.h). */
    struct span_list *on_list;
    uint32_t sweep_gen;
    tc_aword state;              /* span_state; read by markers */
    size_t slot_size;            /* for large spans: npages*page - SLOT0 */
    uint32_t nelems;
    uint32_t divmul;
    uint8_t sizeclass;           /* 0 = large */
    uint8_t needzero;            /* memory may hold old bytes */
    uint8_t has_weak;            /* holds (or held) a WEAK or EPHEMERON object:
                                    its sweep clears their dead slots */
    /* Allocation state, owned by the span's current owner. */
    uint32_t cache_word;         /* word of allocbits being allocated from */
    uint32_t alloc_count;        /* slots in use */
    uint64_t alloc_cache;        /* free slots (1 bits) left in cache_word */
    uint64_t allocbits[TC_BITWORDS]; /* 1 = in use at the last sweep */
    tc_aword markbits[TC_BITWORDS];  /* set by markers */
    tc_aword checkbits[TC_BITWORDS]; /* checkmark verifier's own bits */
    /* The weak epoch (weak.h) whose marks this span's sweep has begun to
     * apply: published by the sweeper before it clears mark bits, read by
     * weak references' liveness test. */
    tc_aword sweep_epoch;
} tc_span;

typedef struct tc_arena {
    uintptr_t base;
    size_t size;
    size_t npages;
    struct tc_arena *next;
    tc_aword *pages; /* npages entries: tc_span * or 0 */
    uint64_t *released; /* npages bits, 1 = page not backed; heap_lock */
} tc_arena;

int heap_init(void);
/* Unmap every arena, the page map and span metadata. */
void heap_shutdown(void);

/* A span for the allocator, in two steps: reserve returns a span
 * that markers cannot see yet (state SPAN_RESERVED); the caller sets its
 * shape (size class, slot size, ...) and clears its memory, then publish
 * makes it visible with a release store, so a marker that finds a pointer
 * into the span (acquire load of the state) also sees its shape. */
tc_span *heap_reserve_span(size_t npages);
void heap_publish_span(tc_span *s, int state);
/* Give a span's pages back (coalescing with free neighbours). */
void heap_free_span(tc_span *s);

/* What address p is, in words for a diagnostic: "not the address of a GC
 * heap object", "the start of a live object", "a freed object", "24 bytes
 * into a cons object at 0x... (an interior pointer)", ...  The result is
 * a constant string or buf.  Lock-free; p need not be aligned. */
const char *heap_describe_address(uintptr_t p, char *buf, size_t len);

/* fork() support (PLAT_FORK_*): heap_lock. */
void heap_fork(int stage);

/* Span of in-use memory holding p, or NULL. Lock-free. */
static inline tc_span *heap_span_of(uintptr_t p);

/* Bytes in in-use spans; bytes mapped for the heap. */
uint64_t heap_inuse_bytes(void);
uint64_t heap_mapped_bytes(void);
/* Mapped bytes not backed by memory (tc_stats.heap_released; pages given
 * back with MADV_FREE count, though the kernel takes them only when it
 * needs memory), and mapped bytes that are (mapped - released: heap
 * memory the collector holds).  Lock-free; each exact, the pair
 * consistent only under a quiet heap. */
uint64_t heap_released_bytes(void);
uint64_t heap_retained_bytes(void);
/* Free pages still backed: what heap_scavenge could release now
 * (mapped - in use - released, 0 if a racing update makes it negative). */
uint64_t heap_free_backed_bytes(void);
/* An estimate of the collector's own metadata: every span pool chunk
 * mapped, each arena's page table and released bitmap (whole, though the
 * OS backs only the parts touched), and 4 KiB of arena map per arena (the
 * map entries of one arena sit in one or two OS pages; arenas close in
 * address share them, so this errs high). */
uint64_t heap_metadata_bytes(void);

/* Most pages heap_scavenge releases per hold of heap_lock, and most
 * madvise calls: a 2 MiB call took about 0.15 ms (scavenge.c has the
 * measurements), so a piece holds the lock ~0.15 ms, and ~1 ms at worst
 * when the free pages are scattered in 8 small runs. */
#define HEAP_SCAVENGE_PIECE_PAGES 256
#define HEAP_SCAVENGE_PIECE_CALLS 8

/* Give free, backed pages back to the OS until at least `bytes` were
 * released or none is left; returns the bytes released.  Largest free
 * spans first, each from its top: best fit takes small spans before big
 * ones and cuts a span from its bottom, so those pages are reused last.
 * Takes heap_lock for one piece at a time (see above), searching afresh
 * each time.  use_madv_free: MADV_FREE instead of MADV_DONTNEED.  Released
 * pages need no zeroing rule of their own: free spans are needzero. */
uint64_t heap_scavenge(uint64_t bytes, int use_madv_free);

/* The grow hook: called whenever the retained heap is about to grow, that
 * is when heap_reserve_span hands out `bytes` of released pages (those of
 * a freshly mapped arena included: growing the heap maps released pages
 * and only reserving them costs memory), with heap_lock held: the place to
 * make room under a memory limit.  The hook may call heap_scavenge_locked
 * and the lock-free byte counters, nothing else of the heap.  NULL (the
 * default, and after heap_shutdown): no hook. */
typedef void (*heap_grow_hook_fn)(uint64_t bytes);
void heap_set_grow_hook(heap_grow_hook_fn fn);
/* heap_scavenge for the grow hook: heap_lock is already held and stays
 * held, with no bound on the pieces.  Fatal if called outside the hook. */
uint64_t heap_scavenge_locked(uint64_t bytes, int use_madv_free);

#ifdef TC_TESTING
/* Test hooks.  heap_alloc_span: reserve and publish in one step, a span
 * of npages pages in state `state` (SMALL or LARGE), shape unset; NULL
 * when the OS refuses memory.  heap_verify_released: recount the released
 * bitmaps under heap_lock: 0 if they agree with heap_released_bytes and no
 * page of an in-use span is released; else a diagnostic and -1. */
tc_span *heap_alloc_span(size_t npages, int state);
int heap_verify_released(void);
/* Call fn(s, state) in heap_publish_span, just before s becomes visible. */
void heap_test_on_publish(void (*fn)(tc_span *s, int state));
#endif

/* Call fn on every in-use span (world stopped, or heap quiescent). */
void heap_for_each_span(void (*fn)(tc_span *s, void *ctx), void *ctx);

extern tc_aword *heap_arena_map; /* 1 << (ADDR_BITS - ARENA_SHIFT) entries */

static inline tc_span *heap_span_of(uintptr_t p)
{
    /* The map is NULL while the collector is not running. */
    if ((p >> TC_ADDR_BITS) || !heap_arena_map)
        return NULL;
    tc_arena *a = at_load_ptr_acquire(&heap_arena_map[p >> TC_ARENA_SHIFT]);
    if (!a)
        return NULL;
    tc_span *s = at_load_ptr_acquire(&a->pages[(p - a->base) >> TC_PAGE_SHIFT]);
    if (!s)
        return NULL;
    uintptr_t st = at_load_acquire(&s->state);
    return st == SPAN_SMALL || st == SPAN_LARGE ? s : NULL;
}

/* True if p lies in one of the heap's arenas (live span or not).
 * Lock-free. */
static inline int heap_contains(uintptr_t p)
{
    return !(p >> TC_ADDR_BITS) && heap_arena_map &&
           at_load_ptr_acquire(&heap_arena_map[p >> TC_ARENA_SHIFT]) != NULL;
}

/* A slot's header word: its object's type, with flags in the three low
 * bits (types are 8-byte aligned; tc_alloc checks), or 0 when the slot is
 * free.
 *   HEADER_DEAD     not a live object: with HEADER_WEAKREF a zombie
 *                   (weakly referenced and found unreachable, kept until
 *                   the next sweep so that no weak slot can ever point to
 *                   reused memory: weak.h); without it, a slot freed
 *                   under verify=1, which keeps the type for diagnostics
 *   HEADER_WEAKREF  a weak slot or an ephemeron key has held the object
 *   HEADER_SPECIAL  the object has a finalizer or cleanups (final.h)
 * Flags are set with an atomic OR; readers that want the live type use
 * header_type. */
#define HEADER_DEAD ((uintptr_t)1)
#define HEADER_WEAKREF ((uintptr_t)2)
#define HEADER_SPECIAL ((uintptr_t)4)
#define HEADER_FLAGS ((uintptr_t)7)

static inline uintptr_t header_word(uintptr_t p)
{
    return at_load((const tc_aword *)(p - TC_HEADER_SIZE));
}

static inline int header_is_zombie(uintptr_t h)
{
    return (h & (HEADER_DEAD | HEADER_WEAKREF)) == (HEADER_DEAD | HEADER_WEAKREF);
}

/* The live object's type at payload address p, or NULL (a free slot, a
 * zombie). */
static inline const struct tc_type *header_type(uintptr_t p)
{
    uintptr_t h = header_word(p);
    return (h & HEADER_DEAD) ? NULL : (const struct tc_type *)(h & ~HEADER_FLAGS);
}

/* The type of the object freed at p, when verify=1 kept it, or of the
 * zombie there; NULL otherwise. */
static inline const struct tc_type *header_freed_type(uintptr_t p)
{
    uintptr_t h = header_word(p);
    return (h & HEADER_DEAD) ? (const struct tc_type *)(h & ~HEADER_FLAGS) : NULL;
}

/* Slot index of payload address p in s, or -1 if p is not the start of a
 * slot's payload (an interior pointer). */
static inline long span_slot_index(const tc_span *s, uintptr_t p)
{
    uintptr_t off = p - (s->base + TC_SPAN_SLOT0 + TC_HEADER_SIZE);
    if (p < s->base + TC_SPAN_SLOT0 + TC_HEADER_SIZE)
        return -1;
    uint64_t idx = s->sizeclass ? ((uint64_t)off * s->divmul) >> 32 : 0;
    if (idx * s->slot_size != off || idx >= s->nelems)
        return -1;
    return (long)idx;
}

/* Heap bytes one object of s accounts for (a large one: its pages). */
static inline size_t span_object_bytes(const tc_span *s)
{
    return s->sizeclass ? s->slot_size : s->npages * TC_PAGE_SIZE;
}

static inline uintptr_t span_slot_addr(const tc_span *s, size_t idx)
{
    return s->base + TC_SPAN_SLOT0 + idx * s->slot_size;
}

/* The slot whose payload holds address p (p inside some slot's payload;
 * the division magic is exact at every offset: sizeclass.c). */
static inline size_t span_slot_containing(const tc_span *s, uintptr_t p)
{
    uintptr_t off = p - (s->base + TC_SPAN_SLOT0 + TC_HEADER_SIZE);
    return s->sizeclass ? (size_t)(((uint64_t)off * s->divmul) >> 32) : 0;
}

/* The span of the live object whose payload starts at p, or NULL
 * (heap_describe_address says what p is instead). */
static inline tc_span *heap_object_span(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    tc_span *s = (a & 15) ? NULL : heap_span_of(a);
    if (!s || span_slot_index(s, a) < 0 || !header_type(a))
        return NULL;
    return s;
}

#endif
