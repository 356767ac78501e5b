/* spanpool.c — type-stable memory for span structs; see spanpool.h. */
#include "spanpool.h"

#include <stdlib.h>
#include <string.h>

#include "platform.h"

#define CHUNK_BYTES ((size_t)1 << 20)
#define OS_PAGE ((size_t)4096) /* the granule of release; see can_release */
#define CHUNK_PAGES (CHUNK_BYTES / OS_PAGE)
#define CHUNK_SLOTS (CHUNK_BYTES / sizeof(tc_span))
#define SLOT_WORDS ((CHUNK_SLOTS + 63) / 64)

/* A chunk of CHUNK_BYTES mapped memory and, apart from it (its pages may
 * be released), the bookkeeping. */
typedef struct chunk {
    struct chunk *next;
    char *mem;
    size_t nused;
    uint64_t used[SLOT_WORDS];            /* 1 = the slot holds a live struct */
    uint16_t page_users[CHUNK_PAGES];     /* live structs touching each page */
    uint64_t released[CHUNK_PAGES / 64];  /* 1 = not backed by memory */
} chunk;

static int can_release = -1; /* the OS page is OS_PAGE: checked once */

/* The pool's state, zeroed in one place (spanpool_reset).  The chunk list
 * is heap_lock's, as is every call here; backed_bytes is an atomic word
 * that stats read without it. */
static struct spanpool_state {
    chunk *chunks; /* oldest first */
    tc_aword backed_bytes;
} sp;

static void page_range(size_t slot, size_t *first, size_t *last)
{
    size_t off = slot * sizeof(tc_span);
    *first = off / OS_PAGE;
    *last = (off + sizeof(tc_span) - 1) / OS_PAGE;
}

static int page_is_released(const chunk *c, size_t p) { return (c->released[p / 64] >> (p % 64)) & 1; }

static chunk *chunk_new(void)
{
    chunk *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->mem = plat_map(CHUNK_BYTES);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    /* Fresh mapped memory holds nothing until touched. */
    memset(c->released, 0xff, sizeof c->released);
    chunk **tail = &sp.chunks;
    while (*tail)
        tail = &(*tail)->next;
    *tail = c;
    return c;
}

/* The lowest free slot of c (c has one). */
static size_t lowest_free(const chunk *c)
{
    for (size_t w = 0;; w++) {
        uint64_t free_bits = ~c->used[w];
        if (w == SLOT_WORDS - 1 && (CHUNK_SLOTS % 64) != 0)
            free_bits &= ((uint64_t)1 << (CHUNK_SLOTS % 64)) - 1;
        if (free_bits)
            return w * 64 + (size_t)__builtin_ctzll(free_bits);
    }
}

tc_span *spanpool_alloc(void)
{
    chunk *c = sp.chunks;
    while (c && c->nused == CHUNK_SLOTS)
        c = c->next;
    if (!c && !(c = chunk_new()))
        return NULL;
    size_t slot = lowest_free(c), first, last;
    c->used[slot / 64] |= (uint64_t)1 << (slot % 64);
    c->nused++;
    page_range(slot, &first, &last);
    for (size_t p = first; p <= last; p++) {
        if (c->page_users[p]++ == 0 && page_is_released(c, p)) {
            c->released[p / 64] &= ~((uint64_t)1 << (p % 64));
            at_add(&sp.backed_bytes, OS_PAGE); /* about to be written */
        }
    }
    tc_span *s = (tc_span *)(c->mem + slot * sizeof(tc_span));
    memset(s, 0, sizeof *s);
    return s;
}

void spanpool_free(tc_span *s)
{
    at_store(&s->state, 0);
    chunk *c = sp.chunks;
    while ((char *)s < c->mem || (char *)s >= c->mem + CHUNK_BYTES)
        c = c->next;
    size_t slot = (size_t)((char *)s - c->mem) / sizeof(tc_span), first, last;
    c->used[slot / 64] &= ~((uint64_t)1 << (slot % 64));
    c->nused--;
    page_range(slot, &first, &last);
    for (size_t p = first; p <= last; p++)
        c->page_users[p]--;
}

static int releasable(const chunk *c, size_t p) { return !c->page_users[p] && !page_is_released(c, p); }

/* Release each run of releasable pages of c with one madvise (a call
 * costs about as much for one page as for many), while *calls lasts. */
static uint64_t release_chunk(chunk *c, int *calls)
{
    uint64_t done = 0;
    for (size_t p = 0; p < CHUNK_PAGES && *calls > 0;) {
        if (!releasable(c, p)) {
            p++;
            continue;
        }
        size_t end = p;
        while (end < CHUNK_PAGES && releasable(c, end))
            end++;
        --*calls;
        if (plat_release(c->mem + p * OS_PAGE, (end - p) * OS_PAGE, 0) == 0) {
            for (size_t q = p; q < end; q++)
                c->released[q / 64] |= (uint64_t)1 << (q % 64);
            done += (end - p) * OS_PAGE;
        }
        p = end;
    }
    return done;
}

uint64_t spanpool_release_unused(int max_calls)
{
    if (can_release < 0)
        can_release = plat_os_page_size() == OS_PAGE;
    if (!can_release)
        return 0;
    uint64_t done = 0;
    for (chunk *c = sp.chunks; c && max_calls > 0; c = c->next)
        done += release_chunk(c, &max_calls);
    at_sub(&sp.backed_bytes, done);
    return done;
}

uint64_t spanpool_backed_bytes(void) { return at_load(&sp.backed_bytes); }

void spanpool_reset(void)
{
    for (chunk *c = sp.chunks, *next; c; c = next) {
        next = c->next;
        plat_unmap(c->mem, CHUNK_BYTES);
        free(c);
    }
    sp = (struct spanpool_state){0};
}
