/* sweep.c — see sweep.h. */
#include "sweep.h"

#include <sched.h>
#include <string.h>

#include "central.h"
#include "options.h"

#define POISON_BYTE 0xdb

static TC_OWN_LINE tc_aword in_progress; /* spans taken off unswept lists, not yet back */
static TC_OWN_LINE tc_aword freed_bytes;
static TC_OWN_LINE tc_aword next_class;   /* round robin for sweep_one (hint only) */

/* Bits of word w that stand for real slots. */
static uint64_t valid_mask(const tc_span *s, unsigned w)
{
    unsigned first = w * 64;
    if (first + 64 <= s->nelems)
        return ~(uint64_t)0;
    return first >= s->nelems ? 0 : ((uint64_t)1 << (s->nelems - first)) - 1;
}

/* A freed slot reads header 0.  A small slot's payload is zeroed here, by
 * the sweeper (usually the collector thread), so the allocator's fast
 * path need not zero it; a large object's pages go back to the page heap
 * marked needzero instead.  Under poison=1 the payload is filled with
 * POISON_BYTE and the span is marked needzero for the allocator to clear. */
static void free_slot(tc_span *s, size_t idx, int zero_payload)
{
    uintptr_t slot = span_slot_addr(s, idx);
    /* verify=1 keeps the freed object's type for diagnostics (heap.h). */
    uintptr_t header = at_load((tc_aword *)slot);
    at_store((tc_aword *)slot, opt.verify && header ? header | HEADER_FREED : 0);
    if (opt.poison || zero_payload)
        memset((void *)(slot + TC_HEADER_SIZE), opt.poison ? POISON_BYTE : 0,
               s->slot_size - TC_HEADER_SIZE);
}

static int sweep_small(tc_span *s)
{
    unsigned nwords = (s->nelems + 63) / 64;
    uint32_t live = 0, nfreed = 0;
    for (unsigned w = 0; w < nwords; w++) {
        uint64_t taken = w < s->cache_word    ? ~s->allocbits[w]
                         : w == s->cache_word ? ~s->allocbits[w] & ~s->alloc_cache
                                              : 0;
        uint64_t marks = at_load(&s->markbits[w]);
        uint64_t valid = valid_mask(s, w);
        uint64_t freed = (s->allocbits[w] | taken) & ~marks & valid;
        for (; freed; freed &= freed - 1, nfreed++)
            free_slot(s, w * 64 + (unsigned)__builtin_ctzll(freed), 1);
        live += (uint32_t)__builtin_popcountll(marks);
        s->allocbits[w] = marks | ~valid;
        at_store(&s->markbits[w], 0);
    }
    s->cache_word = 0;
    s->alloc_cache = ~s->allocbits[0];
    s->alloc_count = live;
    if (nfreed) {
        s->needzero |= opt.poison;
        at_add(&freed_bytes, (uintptr_t)nfreed * s->slot_size);
    }
    return live == 0 ? SWEEP_EMPTY : live == s->nelems ? SWEEP_FULL : SWEEP_PARTIAL;
}

static int sweep_large(tc_span *s)
{
    if (at_load(&s->markbits[0]) & 1) {
        at_store(&s->markbits[0], 0);
        return SWEEP_FULL;
    }
    free_slot(s, 0, 0);
    at_add(&freed_bytes, s->npages * TC_PAGE_SIZE);
    heap_free_span(s);
    return SWEEP_FREED;
}

int sweep_span(tc_span *s)
{
    return s->sizeclass ? sweep_small(s) : sweep_large(s);
}

void sweep_claimed(tc_span *s)
{
    (void)s;
    at_add(&in_progress, 1);
}

void sweep_released(tc_span *s)
{
    (void)s;
    at_sub(&in_progress, 1);
}

static int sweep_one_of(unsigned c)
{
    central *ce = &centrals[c];
    pthread_mutex_lock(&ce->lock);
    tc_span *s = span_list_pop(&ce->unswept);
    if (!s) {
        pthread_mutex_unlock(&ce->lock);
        return 0;
    }
    sweep_claimed(s);
    pthread_mutex_unlock(&ce->lock);
    int result = sweep_span(s);
    if (result == SWEEP_EMPTY)
        heap_free_span(s);
    pthread_mutex_lock(&ce->lock);
    if (result == SWEEP_PARTIAL)
        span_list_push(&ce->partial, s);
    else if (result == SWEEP_FULL)
        span_list_push(&ce->full, s);
    sweep_released(s);
    pthread_mutex_unlock(&ce->lock);
    return 1;
}

int sweep_one(void)
{
    unsigned start = (unsigned)at_load(&next_class);
    for (unsigned i = 0; i < TC_NUM_CLASSES; i++) {
        unsigned c = (start + i) % TC_NUM_CLASSES;
        if (sweep_one_of(c)) {
            at_store(&next_class, c);
            return 1;
        }
    }
    return 0;
}

uint64_t sweep_finish(void)
{
    uint64_t n = 0;
    while (sweep_one())
        n++;
    while (at_load_acquire(&in_progress))
        sched_yield();
    return n;
}

void sweep_begin_cycle(uint64_t cycle)
{
    (void)cycle;
    for (unsigned c = 0; c < TC_NUM_CLASSES; c++) {
        central *ce = &centrals[c];
        pthread_mutex_lock(&ce->lock);
        span_list_append(&ce->unswept, &ce->partial);
        span_list_append(&ce->unswept, &ce->full);
        pthread_mutex_unlock(&ce->lock);
    }
}

uint64_t sweep_freed_bytes(void) { return at_load(&freed_bytes); }

void sweep_reset(void)
{
    at_store(&in_progress, 0);
    at_store(&freed_bytes, 0);
    at_store(&next_class, 0);
}
