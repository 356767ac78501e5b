/* heap.c — arenas, the page map and the page heap; see heap.h. */
#include "heap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

#define MAP_ENTRIES ((size_t)1 << (TC_ADDR_BITS - TC_ARENA_SHIFT))
#define FREE_EXACT 128 /* free spans of 1..127 pages sit in exact lists */
#define SPAN_POOL_CHUNK ((size_t)1 << 20)

tc_aword *heap_arena_map;

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static tc_arena *arenas;
static tc_span *free_exact[FREE_EXACT]; /* doubly linked, by npages */
static tc_span *free_big;               /* npages >= FREE_EXACT */
static tc_aword inuse_bytes, mapped_bytes;

/* Span structs come from mmapped chunks so shutdown can drop them all. */
typedef struct pool_chunk { struct pool_chunk *next; } pool_chunk;
static pool_chunk *pool_chunks;
static tc_span *pool_free;
static char *pool_cursor, *pool_end;

static tc_span *span_new(void)
{
    tc_span *s = pool_free;
    if (s) {
        pool_free = s->next;
    } else {
        if (pool_cursor + sizeof(tc_span) > pool_end) {
            pool_chunk *c = plat_map(SPAN_POOL_CHUNK);
            if (!c)
                return NULL;
            c->next = pool_chunks;
            pool_chunks = c;
            pool_cursor = (char *)c + 64;
            pool_end = (char *)c + SPAN_POOL_CHUNK;
        }
        s = (tc_span *)pool_cursor;
        pool_cursor += sizeof(tc_span);
    }
    memset(s, 0, sizeof *s);
    return s;
}

static void span_release(tc_span *s)
{
    at_store(&s->state, 0);
    s->next = pool_free;
    pool_free = s;
}

int heap_init(void)
{
    heap_arena_map = plat_map(MAP_ENTRIES * sizeof(tc_aword));
    return heap_arena_map ? 0 : -1;
}

void heap_shutdown(void)
{
    while (arenas) {
        tc_arena *a = arenas;
        arenas = a->next;
        plat_unmap((void *)a->base, a->size);
        plat_unmap(a->pages, a->npages * sizeof(tc_aword));
        free(a);
    }
    while (pool_chunks) {
        pool_chunk *c = pool_chunks;
        pool_chunks = c->next;
        plat_unmap(c, SPAN_POOL_CHUNK);
    }
    plat_unmap(heap_arena_map, MAP_ENTRIES * sizeof(tc_aword));
    heap_arena_map = NULL;
    pool_free = NULL;
    pool_cursor = pool_end = NULL;
    memset(free_exact, 0, sizeof free_exact);
    free_big = NULL;
    at_store(&inuse_bytes, 0);
    at_store(&mapped_bytes, 0);
}

static tc_arena *arena_of(uintptr_t p)
{
    if (p >> TC_ADDR_BITS)
        return NULL;
    return at_load_ptr_acquire(&heap_arena_map[p >> TC_ARENA_SHIFT]);
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
    return npages < FREE_EXACT ? &free_exact[npages] : &free_big;
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
        if (free_exact[n])
            return free_exact[n];
    tc_span *best = NULL;
    for (tc_span *s = free_big; s; s = s->next)
        if (s->npages >= npages && (!best || s->npages < best->npages))
            best = s;
    return best;
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
    a->npages = size >> TC_PAGE_SHIFT;
    a->pages = plat_map(a->npages * sizeof(tc_aword));
    void *mem = a->pages ? plat_map_aligned(size, TC_ARENA_SIZE) : NULL;
    tc_span *s = mem ? span_new() : NULL;
    if (!s) {
        plat_unmap(mem, size);
        plat_unmap(a->pages, a->npages * sizeof(tc_aword));
        free(a);
        return -1;
    }
    a->base = (uintptr_t)mem;
    a->next = arenas;
    arenas = a;
    for (size_t off = 0; off < size; off += TC_ARENA_SIZE)
        at_store_ptr_release(&heap_arena_map[(a->base + off) >> TC_ARENA_SHIFT], a);
    at_add(&mapped_bytes, size);
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
    tc_span *rest = span_new();
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

tc_span *heap_alloc_span(size_t npages, int state)
{
    tc_span *s = heap_reserve_span(npages);
    if (s)
        heap_publish_span(s, state);
    return s;
}

void heap_publish_span(tc_span *s, int state) { at_store_release(&s->state, (uintptr_t)state); }

tc_span *heap_reserve_span(size_t npages)
{
    pthread_mutex_lock(&heap_lock);
    tc_span *s = free_find(npages);
    if (!s && heap_grow(npages) == 0)
        s = free_find(npages);
    if (s) {
        free_list_remove(s);
        split_off(s, npages);
        s->next = s->prev = NULL;
        map_span_pages(s, s, 1);
        at_add(&inuse_bytes, s->npages * TC_PAGE_SIZE);
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

void heap_free_span(tc_span *s)
{
    pthread_mutex_lock(&heap_lock);
    tc_arena *a = arena_of(s->base);
    at_sub(&inuse_bytes, s->npages * TC_PAGE_SIZE);
    at_store_release(&s->state, SPAN_FREE);
    map_span_pages(s, NULL, 1);
    s->needzero = 1;
    s->sizeclass = 0;
    tc_span *before = free_neighbour(a, s->base - TC_PAGE_SIZE);
    if (before) {
        free_list_remove(before);
        map_span_pages(before, NULL, 0); /* interior pages of a free span map to nothing */
        before->npages += s->npages;
        span_release(s);
        s = before;
    }
    tc_span *after = free_neighbour(a, s->base + s->npages * TC_PAGE_SIZE);
    if (after) {
        free_list_remove(after);
        map_span_pages(after, NULL, 0);
        s->npages += after->npages;
        s->needzero |= after->needzero;
        span_release(after);
    }
    s->needzero = 1;
    map_span_pages(s, s, 0);
    free_list_insert(s);
    pthread_mutex_unlock(&heap_lock);
}

uint64_t heap_inuse_bytes(void) { return at_load(&inuse_bytes); }
uint64_t heap_mapped_bytes(void) { return at_load(&mapped_bytes); }

void heap_for_each_span(void (*fn)(tc_span *s, void *ctx), void *ctx)
{
    pthread_mutex_lock(&heap_lock);
    for (tc_arena *a = arenas; a; a = a->next) {
        size_t i = 0;
        while (i < a->npages) {
            tc_span *s = at_load_ptr(&a->pages[i]);
            if (!s) {
                i++;
                continue;
            }
            if (at_load(&s->state) != SPAN_FREE)
                fn(s, ctx);
            i = ((s->base - a->base) >> TC_PAGE_SHIFT) + s->npages;
        }
    }
    pthread_mutex_unlock(&heap_lock);
}
