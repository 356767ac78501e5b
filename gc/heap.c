/* heap.c — arenas, the page map and the page heap; see heap.h. */
#include "heap.h"
#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tricolor.h"

#include "platform.h"
#include "spanpool.h"
#include "stall.h"

#define MAP_ENTRIES ((size_t)1 << (TC_ADDR_BITS - TC_ARENA_SHIFT))
#define FREE_EXACT 128 /* free spans of 1..127 pages sit in exact lists */

tc_aword *heap_arena_map;

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(heap_lock, RANK_HEAP);
/* The page heap's state, all of it, zeroed in one place (heap_shutdown).
 * The lists and the hook flag are heap_lock's; the counters are atomic
 * words that tc_read_stats reads without it. */
static struct page_heap {
    tc_arena *arenas;
    tc_span *free_exact[FREE_EXACT]; /* doubly linked, by npages */
    tc_span *free_big;               /* npages >= FREE_EXACT */
    tc_aword inuse_bytes, mapped_bytes;
    tc_aword released_bytes; /* pages whose released bit is set, in bytes */
    tc_aword metadata_bytes; /* see heap_metadata_bytes */
    tc_aword grow_hook;      /* heap_grow_hook_fn or 0 */
    int in_grow_hook;        /* under heap_lock: the hook is running */
    /* The span the scavenger has off the free lists (heap_lock), for a
     * forked child to put back: the scavenger does not survive a fork. */
    tc_span *scavenging;
    tc_aword release_failed; /* a madvise failed: said once */
} ph;


int heap_init(void)
{
    heap_arena_map = plat_map(MAP_ENTRIES * sizeof(tc_aword));
    return heap_arena_map ? 0 : -1;
}

void heap_shutdown(void)
{
    while (ph.arenas) {
        tc_arena *a = ph.arenas;
        ph.arenas = a->next;
        plat_unmap((void *)a->base, a->size);
        plat_unmap(a->pages, a->npages * sizeof(tc_aword));
        free(a->released);
        free(a);
    }
    spanpool_reset();
    plat_unmap(heap_arena_map, MAP_ENTRIES * sizeof(tc_aword));
    heap_arena_map = NULL;
    memset(&ph, 0, sizeof ph); /* single-threaded now: the collector is gone */
}

static tc_arena *arena_of(uintptr_t p)
{
    if (p >> TC_ADDR_BITS)
        return NULL;
    return at_load_ptr_acquire(&heap_arena_map[p >> TC_ARENA_SHIFT]);
}

static size_t page_index(const tc_arena *a, uintptr_t addr)
{
    return (addr - a->base) >> TC_PAGE_SHIFT;
}

/* ------------------------------------------------ released-page bitmap */

static int page_released(const tc_arena *a, size_t i)
{
    return (int)(a->released[i / 64] >> (i % 64)) & 1;
}

static size_t count_released(const tc_arena *a, size_t i, size_t n)
{
    size_t count = 0;
    for (size_t end = i + n; i < end; i++)
        count += (size_t)page_released(a, i);
    return count;
}

/* Set the bits of pages [i, i + n) of a to `released`; returns how many
 * bits changed, which is what the byte count moves by. */
static size_t set_released(tc_arena *a, size_t i, size_t n, int released)
{
    size_t changed = 0;
    for (size_t end = i + n; i < end; i++) {
        if (page_released(a, i) != released) {
            a->released[i / 64] ^= (uint64_t)1 << (i % 64);
            changed++;
        }
    }
    return changed;
}

static void map_page(tc_arena *a, uintptr_t page_addr, tc_span *s)
{
    at_store_ptr_release(&a->pages[(page_addr - a->base) >> TC_PAGE_SHIFT], s);
}

static void map_span_pages(tc_span *s, tc_span *value, int all)
{
    tc_arena *a = arena_of(s->base);
    uintptr_t last = s->base + (s->npages - 1) * TC_PAGE_SIZE;
    if (!all) {
        map_page(a, s->base, value);
        map_page(a, last, value);
        return;
    }
    for (uintptr_t p = s->base; p <= last; p += TC_PAGE_SIZE)
        map_page(a, p, value);
}

static tc_span **free_list_for(size_t npages)
{
    return npages < FREE_EXACT ? &ph.free_exact[npages] : &ph.free_big;
}

static void free_list_insert(tc_span *s)
{
    tc_span **head = free_list_for(s->npages);
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static void free_list_remove(tc_span *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *free_list_for(s->npages) = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* Best fit among free spans of >= npages pages. */
static tc_span *free_find(size_t npages)
{
    for (size_t n = npages; n < FREE_EXACT; n++)
        if (ph.free_exact[n])
            return ph.free_exact[n];
    tc_span *best = NULL;
    for (tc_span *s = ph.free_big; s; s = s->next)
        if (s->npages >= npages && (!best || s->npages < best->npages))
            best = s;
    return best;
}

static void call_grow_hook(uint64_t bytes)
{
    heap_grow_hook_fn fn = (heap_grow_hook_fn)at_load(&ph.grow_hook);
    if (!fn)
        return;
    int prev = stall_begin(TC_STALL_RELEASE);
    ph.in_grow_hook = 1;
    fn(bytes);
    ph.in_grow_hook = 0;
    stall_end(prev);
}

/* Metadata an arena of npages pages holds: page table, released bitmap,
 * its record, and (an approximation) one OS page of arena map. */
static uint64_t arena_metadata(size_t npages)
{
    return npages * sizeof(tc_aword) + npages / 8 + sizeof(tc_arena) + 4096;
}

static int heap_grow(size_t npages)
{
    size_t bytes = npages * TC_PAGE_SIZE;
    size_t size = (bytes + TC_ARENA_SIZE - 1) & ~(TC_ARENA_SIZE - 1);
    if (size < bytes)
        return -1;
    tc_arena *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->size = size;
    a->npages = size >> TC_PAGE_SHIFT; /* a multiple of 64: whole bitmap words */
    a->pages = plat_map(a->npages * sizeof(tc_aword));
    a->released = malloc(a->npages / 8);
    void *mem = a->pages && a->released ? plat_map_aligned(size, TC_ARENA_SIZE) : NULL;
    tc_span *s = mem ? spanpool_alloc() : NULL;
    if (!s) {
        plat_unmap(mem, size);
        plat_unmap(a->pages, a->npages * sizeof(tc_aword));
        free(a->released);
        free(a);
        return -1;
    }
    /* Fresh MAP_NORESERVE memory holds no RSS until touched. */
    memset(a->released, 0xff, a->npages / 8);
    at_add(&ph.released_bytes, size);
    at_add(&ph.metadata_bytes, arena_metadata(a->npages));
    a->base = (uintptr_t)mem;
    a->next = ph.arenas;
    ph.arenas = a;
    for (size_t off = 0; off < size; off += TC_ARENA_SIZE)
        at_store_ptr_release(&heap_arena_map[(a->base + off) >> TC_ARENA_SHIFT], a);
    at_add(&ph.mapped_bytes, size);
    s->base = a->base;
    s->npages = a->npages;
    at_store(&s->state, SPAN_FREE);
    map_span_pages(s, s, 0);
    free_list_insert(s);
    return 0;
}

/* Cut the first npages off free span s; the rest stays free. */
static void split_off(tc_span *s, size_t npages)
{
    if (s->npages == npages)
        return;
    tc_span *rest = spanpool_alloc();
    if (!rest)
        return; /* keep the whole span: a little waste beats failing */
    rest->base = s->base + npages * TC_PAGE_SIZE;
    rest->npages = s->npages - npages;
    rest->needzero = s->needzero;
    at_store(&rest->state, SPAN_FREE);
    s->npages = npages;
    map_span_pages(rest, rest, 0);
    free_list_insert(rest);
}

#ifdef TC_TESTING
tc_span *heap_alloc_span(size_t npages, int state)
{
    tc_span *s = heap_reserve_span(npages);
    if (s)
        heap_publish_span(s, state);
    return s;
}
#endif

#ifdef TC_TESTING
static tc_aword publish_hook; /* void (*)(tc_span *, int) or 0 */
void heap_test_on_publish(void (*fn)(tc_span *s, int state)) { at_store(&publish_hook, (uintptr_t)fn); }
#endif

void heap_publish_span(tc_span *s, int state)
{
    /* Only a reserved span becomes visible, and only as one that holds
     * objects: markers follow the page map to it from here on. */
    TC_ASSERT(at_load(&s->state) == SPAN_RESERVED);
    TC_ASSERT(state == SPAN_SMALL || state == SPAN_LARGE);
#ifdef TC_TESTING
    void (*hook)(tc_span *, int) = (void (*)(tc_span *, int))at_load(&publish_hook);
    if (hook)
        hook(s, state);
#endif
    at_store_release(&s->state, (uintptr_t)state);
}

tc_span *heap_reserve_span(size_t npages)
{
    stall_lock(&heap_lock, STALL_LOCK_HEAP);
    tc_span *s = free_find(npages);
    if (!s && heap_grow(npages) == 0)
        s = free_find(npages);
    if (s) {
        free_list_remove(s);
        split_off(s, npages);
        s->next = s->prev = NULL;
        map_span_pages(s, s, 1);
        /* Its owner will touch every page, so its released pages will be
         * backed again: the retained heap grows by them.  s is off the free
         * lists, so the hook cannot release s itself. */
        tc_arena *a = arena_of(s->base);
        size_t first = page_index(a, s->base);
        size_t fresh = count_released(a, first, s->npages);
        if (fresh)
            call_grow_hook(fresh * TC_PAGE_SIZE);
        set_released(a, first, s->npages, 0);
        at_sub(&ph.released_bytes, fresh * TC_PAGE_SIZE);
        at_add(&ph.inuse_bytes, s->npages * TC_PAGE_SIZE);
        at_store(&s->state, SPAN_RESERVED);
    }
    pthread_mutex_unlock(&heap_lock);
    return s;
}

/* The free span whose pages end right before / start right after s, if it
 * lies in the same arena. */
static tc_span *free_neighbour(tc_arena *a, uintptr_t page_addr)
{
    if (page_addr < a->base || page_addr >= a->base + a->size)
        return NULL;
    tc_span *n = at_load_ptr(&a->pages[(page_addr - a->base) >> TC_PAGE_SHIFT]);
    return n && at_load(&n->state) == SPAN_FREE ? n : NULL;
}

/* heap_lock held: s (state SPAN_FREE, pages mapped to nothing) joins its
 * free neighbours and goes on a free list. */
static void coalesce_and_insert(tc_span *s)
{
    tc_arena *a = arena_of(s->base);
    tc_span *before = free_neighbour(a, s->base - TC_PAGE_SIZE);
    if (before) {
        free_list_remove(before);
        map_span_pages(before, NULL, 0); /* interior pages of a free span map to nothing */
        before->npages += s->npages;
        spanpool_free(s);
        s = before;
    }
    tc_span *after = free_neighbour(a, s->base + s->npages * TC_PAGE_SIZE);
    if (after) {
        free_list_remove(after);
        map_span_pages(after, NULL, 0);
        s->npages += after->npages;
        s->needzero |= after->needzero;
        spanpool_free(after);
    }
    s->needzero = 1;
    map_span_pages(s, s, 0);
    free_list_insert(s);
}

void heap_free_span(tc_span *s)
{
    /* A span still on a central list would be handed out again after its
     * pages had gone back: freed memory used as a live span. */
    TC_REQUIRE(s->on_list == NULL);
    TC_ASSERT(at_load(&s->state) == SPAN_SMALL || at_load(&s->state) == SPAN_LARGE);
    stall_lock(&heap_lock, STALL_LOCK_HEAP);
    at_sub(&ph.inuse_bytes, s->npages * TC_PAGE_SIZE);
    at_store_release(&s->state, SPAN_FREE);
    map_span_pages(s, NULL, 1);
    s->needzero = 1;
    s->sizeclass = 0;
    coalesce_and_insert(s);
    pthread_mutex_unlock(&heap_lock);
}

void heap_fork(int stage)
{
    plat_fork_mutex(&heap_lock, stage);
    /* The child has no scavenger thread to finish a piece under way: its
     * span goes back as it is (pages it released or not are both fine:
     * it is needzero). */
    if (stage == PLAT_FORK_CHILD && ph.scavenging) {
        tc_span *s = ph.scavenging;
        ph.scavenging = NULL;
        at_store(&s->state, SPAN_FREE);
        coalesce_and_insert(s);
    }
}

static const char *type_name(const tc_type *t) { return t && t->name ? t->name : "?"; }

const char *heap_describe_address(uintptr_t p, char *buf, size_t len)
{
    tc_span *s = heap_span_of(p);
    if (!s)
        return heap_contains(p) ? "in free heap memory, where no object lives (a freed "
                                  "object's span goes back to the page heap)"
                                : "not the address of a GC heap object";
    uintptr_t first = s->base + TC_SPAN_SLOT0;
    if (p < first + TC_HEADER_SIZE) {
        snprintf(buf, len, "inside the heap but before the first object of its span (at %#lx)",
                 (unsigned long)(first + TC_HEADER_SIZE));
        return buf;
    }
    size_t idx = s->sizeclass ? (size_t)(((uint64_t)(p - first) * s->divmul) >> 32) : 0;
    if (idx >= s->nelems)
        return "inside the heap, in the unused tail of a span";
    uintptr_t obj = span_slot_addr(s, idx) + TC_HEADER_SIZE;
    const tc_type *t = header_type(obj), *freed = header_freed_type(obj);
    if (p == obj && !t && freed) {
        snprintf(buf, len, "a freed %s object", type_name(freed));
        return buf;
    }
    if (p == obj)
        return t ? "the start of a live object" : "a freed object";
    if (p < obj)
        snprintf(buf, len, "in the header word of the %s%s at %p", t ? type_name(t) : "free",
                 t ? " object" : " slot", (void *)obj);
    else if (!t && freed)
        snprintf(buf, len, "%zu byte%s into a freed %s object at %p", (size_t)(p - obj),
                 p - obj == 1 ? "" : "s", type_name(freed), (void *)obj);
    else if (!t)
        snprintf(buf, len, "inside a free slot at %p", (void *)obj);
    else
        snprintf(buf, len, "%zu byte%s into a %s object at %p (an interior pointer)",
                 (size_t)(p - obj), p - obj == 1 ? "" : "s", type_name(t), (void *)obj);
    return buf;
}

uint64_t heap_inuse_bytes(void) { return at_load(&ph.inuse_bytes); }
uint64_t heap_mapped_bytes(void) { return at_load(&ph.mapped_bytes); }
uint64_t heap_released_bytes(void) { return at_load(&ph.released_bytes); }
uint64_t heap_metadata_bytes(void) { return at_load(&ph.metadata_bytes) + spanpool_backed_bytes(); }

uint64_t heap_retained_bytes(void)
{
    uint64_t mapped = heap_mapped_bytes(), released = heap_released_bytes();
    return mapped > released ? mapped - released : 0;
}

uint64_t heap_free_backed_bytes(void)
{
    uint64_t held = heap_inuse_bytes() + heap_released_bytes();
    uint64_t mapped = heap_mapped_bytes();
    return mapped > held ? mapped - held : 0;
}

void heap_set_grow_hook(heap_grow_hook_fn fn) { at_store(&ph.grow_hook, (uintptr_t)fn); }

/* ------------------------------------------------------------ scavenging
 *
 * Released pages need no zeroing rule of their own.  Every free span that
 * holds a backed page is needzero (heap_free_span sets it; only fresh
 * arena pages, all released, are free with needzero 0), and the allocator
 * clears needzero memory before anyone reads it: new_small_span memsets
 * the whole span, and init_object memsets a large object's payload (the
 * header word is stored; the 8 bytes below slot 0 are never read).  So a
 * page that comes back zero (MADV_DONTNEED) and one that comes back with
 * its old bytes (MADV_FREE, not yet taken by the kernel) are both fine. */

/* What one piece may still do, and what it did. */
typedef struct scav_budget {
    size_t pages_left, calls_left;
    int madv_free, failed;
    uint64_t released;
} scav_budget;

static size_t pages_for(uint64_t bytes)
{
    uint64_t n = bytes / TC_PAGE_SIZE + (bytes % TC_PAGE_SIZE != 0);
    return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

/* Walk `end` down past the released pages at the top of [lo, end):
 * returns the end of the highest backed run there, or lo if there is
 * none.  Whole released bitmap words go at once: a released 64 MiB span
 * costs 128 loads, which matters because every piece searches afresh. */
static size_t skip_released_down(const tc_arena *a, size_t lo, size_t end)
{
    while (end > lo) {
        if (end % 64 == 0 && end - 64 >= lo && a->released[end / 64 - 1] == ~(uint64_t)0)
            end -= 64;
        else if (page_released(a, end - 1))
            end--;
        else
            break;
    }
    return end;
}

static void release_pages(tc_arena *a, size_t first, size_t n, scav_budget *b)
{
    b->calls_left--;
    if (plat_release((void *)(a->base + first * TC_PAGE_SIZE), n * TC_PAGE_SIZE, b->madv_free)) {
        if (!at_load(&ph.release_failed)) {
            at_store(&ph.release_failed, 1);
            plat_diag("madvise of %zu heap bytes failed; free pages stay backed",
                      n * TC_PAGE_SIZE);
        }
        b->failed = 1;
        return;
    }
    set_released(a, first, n, 1);
    at_add(&ph.released_bytes, n * TC_PAGE_SIZE);
    b->pages_left -= n;
    b->released += n * TC_PAGE_SIZE;
}

/* The runs of consecutive backed pages of free span s, from the top down:
 * at most max runs and `pages` pages. */
typedef struct scav_run {
    size_t first, n;
} scav_run;

static size_t plan_runs(const tc_span *s, size_t pages, scav_run *runs, size_t max)
{
    tc_arena *a = arena_of(s->base);
    size_t lo = page_index(a, s->base), end = lo + s->npages, nruns = 0;
    while (pages && nruns < max) {
        end = skip_released_down(a, lo, end);
        if (end == lo)
            break;
        size_t start = end - 1;
        while (start > lo && end - start < pages && !page_released(a, start - 1))
            start--;
        runs[nruns++] = (scav_run){start, end - start};
        pages -= end - start;
        end = start;
    }
    return nruns;
}

/* Release the backed pages of free span s from the top down, one run per
 * madvise, within the budget (heap_lock held: the memory limit's path). */
static void scavenge_span(const tc_span *s, scav_budget *b)
{
    tc_arena *a = arena_of(s->base);
    scav_run runs[HEAP_SCAVENGE_PIECE_CALLS];
    while (b->pages_left && b->calls_left && !b->failed) {
        size_t max = b->calls_left < HEAP_SCAVENGE_PIECE_CALLS ? b->calls_left
                                                               : HEAP_SCAVENGE_PIECE_CALLS;
        size_t n = plan_runs(s, b->pages_left, runs, max);
        if (!n)
            return;
        for (size_t i = 0; i < n && !b->failed; i++)
            release_pages(a, runs[i].first, runs[i].n, b);
    }
}

/* Free lists from the largest spans down: ph.free_big, then the exact lists. */
static tc_span *scavenge_list(size_t k) { return k ? ph.free_exact[FREE_EXACT - k] : ph.free_big; }

/* heap_lock held. */
static void scavenge_free_spans(scav_budget *b)
{
    /* Exact under the lock: stop as soon as the last backed page is out,
     * instead of walking every released span after it. */
    size_t backed = pages_for(heap_free_backed_bytes());
    if (b->pages_left > backed)
        b->pages_left = backed;
    for (size_t k = 0; k < FREE_EXACT; k++) {
        for (const tc_span *s = scavenge_list(k); s; s = s->next) {
            if (!b->pages_left || !b->calls_left || b->failed)
                return;
            scavenge_span(s, b);
        }
    }
}

/* heap_lock held: the first free span, in scavenge_free_spans' order,
 * with a backed page; taken off its list as SPAN_SCAVENGING.  NULL if
 * every free page is released. */
static tc_span *take_backed_free_span(void)
{
    if (!heap_free_backed_bytes())
        return NULL;
    for (size_t k = 0; k < FREE_EXACT; k++)
        for (tc_span *s = scavenge_list(k); s; s = s->next) {
            tc_arena *a = arena_of(s->base);
            size_t lo = page_index(a, s->base);
            if (skip_released_down(a, lo, lo + s->npages) == lo)
                continue;
            free_list_remove(s);
            at_store(&s->state, SPAN_SCAVENGING);
            ph.scavenging = s;
            return s;
        }
    return NULL;
}

/* One piece of background scavenging: up to `pages` backed pages of one
 * free span.  The madvise calls run without heap_lock, the span off the
 * free lists meanwhile: with the lock held across them, allocators waited
 * for it 1-3 ms (the stall tracer's `lock (heap)` on the ephemeron
 * benchmark), as madvise waits for the address space's lock that page
 * faults hold.  Returns the bytes released; *failed if madvise failed. */
static uint64_t scavenge_piece(size_t pages, int madv_free, int *failed)
{
    scav_run runs[HEAP_SCAVENGE_PIECE_CALLS];
    stall_lock(&heap_lock, STALL_LOCK_HEAP);
    tc_span *s = take_backed_free_span();
    size_t nruns = s ? plan_runs(s, pages, runs, HEAP_SCAVENGE_PIECE_CALLS) : 0;
    pthread_mutex_unlock(&heap_lock);
    if (!s)
        return 0;
    tc_arena *a = arena_of(s->base);
    size_t ok = 0;
    while (ok < nruns && plat_release((void *)(a->base + runs[ok].first * TC_PAGE_SIZE),
                                      runs[ok].n * TC_PAGE_SIZE, madv_free) == 0)
        ok++;
    *failed = ok < nruns;
    uint64_t released = 0;
    stall_lock(&heap_lock, STALL_LOCK_HEAP);
    for (size_t i = 0; i < ok; i++) {
        set_released(a, runs[i].first, runs[i].n, 1);
        released += runs[i].n * TC_PAGE_SIZE;
    }
    at_add(&ph.released_bytes, released);
    ph.scavenging = NULL;
    at_store_release(&s->state, SPAN_FREE);
    coalesce_and_insert(s);
    pthread_mutex_unlock(&heap_lock);
    return released;
}

static void note_release_failed(void)
{
    if (!at_load(&ph.release_failed)) {
        at_store(&ph.release_failed, 1);
        plat_diag("madvise of heap pages failed; free pages stay backed");
    }
}

uint64_t heap_scavenge(uint64_t bytes, int use_madv_free)
{
    uint64_t done = 0;
    while (done < bytes) {
        size_t pages = pages_for(bytes - done);
        int failed = 0;
        uint64_t got = scavenge_piece(pages < HEAP_SCAVENGE_PIECE_PAGES
                                          ? pages : HEAP_SCAVENGE_PIECE_PAGES,
                                      use_madv_free, &failed);
        done += got;
        if (failed)
            note_release_failed();
        if (!got || failed)
            break; /* nothing backed is free any more */
    }
    /* The span structs of spans that coalesced away: pages of them may be
     * free now too (metadata, not counted in `done`). */
    stall_lock(&heap_lock, STALL_LOCK_HEAP);
    spanpool_release_unused(HEAP_SCAVENGE_PIECE_CALLS);
    pthread_mutex_unlock(&heap_lock);
    return done;
}

uint64_t heap_scavenge_locked(uint64_t bytes, int use_madv_free)
{
    if (!ph.in_grow_hook)
        plat_fatal("heap_scavenge_locked called outside the heap's grow hook");
    scav_budget b = {.pages_left = pages_for(bytes), .calls_left = SIZE_MAX,
                     .madv_free = use_madv_free};
    scavenge_free_spans(&b);
    return b.released;
}

#ifdef TC_TESTING
/* heap_lock held: the released pages of a, or -1 if an in-use span has one. */
static int64_t verify_arena(const tc_arena *a)
{
    for (size_t i = 0; i < a->npages;) {
        tc_span *s = at_load_ptr(&a->pages[i]);
        if (!s) {
            i++;
            continue;
        }
        size_t first = page_index(a, s->base);
        uintptr_t st = at_load(&s->state);
        if (st != SPAN_FREE && st != SPAN_SCAVENGING && count_released(a, first, s->npages)) {
            plat_diag("heap: the in-use span at %#lx has released pages", (unsigned long)s->base);
            return -1;
        }
        i = first + s->npages;
    }
    return (int64_t)count_released(a, 0, a->npages);
}

int heap_verify_released(void)
{
    pthread_mutex_lock(&heap_lock);
    uint64_t pages = 0;
    int err = 0;
    for (tc_arena *a = ph.arenas; a && !err; a = a->next) {
        int64_t n = verify_arena(a);
        err = n < 0;
        pages += n < 0 ? 0 : (uint64_t)n;
    }
    if (!err && pages * TC_PAGE_SIZE != heap_released_bytes()) {
        plat_diag("heap: %llu pages are released, but ph.released_bytes = %llu",
                  (unsigned long long)pages, (unsigned long long)heap_released_bytes());
        err = 1;
    }
    pthread_mutex_unlock(&heap_lock);
    return err ? -1 : 0;
}
#endif

void heap_for_each_span(void (*fn)(tc_span *s, void *ctx), void *ctx)
{
    pthread_mutex_lock(&heap_lock);
    for (tc_arena *a = ph.arenas; a; a = a->next) {
        size_t i = 0;
        while (i < a->npages) {
            tc_span *s = at_load_ptr(&a->pages[i]);
            if (!s) {
                i++;
                continue;
            }
            uintptr_t st = at_load(&s->state);
            if (st != SPAN_FREE && st != SPAN_SCAVENGING)
                fn(s, ctx);
            i = ((s->base - a->base) >> TC_PAGE_SHIFT) + s->npages;
        }
    }
    pthread_mutex_unlock(&heap_lock);
}
