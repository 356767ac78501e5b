/* sweep.c — see sweep.h. */
#include "sweep.h"

#include <string.h>

#include "final.h"
#include "options.h"
#include "stall.h"
#include "weak.h"

#define POISON_BYTE 0xdb

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
    uintptr_t header = at_load((tc_aword *)slot) & ~HEADER_FLAGS;
    at_store((tc_aword *)slot, opt.verify && header ? header | HEADER_DEAD : 0);
    if (opt.poison || zero_payload)
        memset((void *)(slot + TC_HEADER_SIZE), opt.poison ? POISON_BYTE : 0,
               s->slot_size - TC_HEADER_SIZE);
}

/* An unmarked object at slot is about to be freed: does it stay?  A
 * finalizer keeps it (final.h); having been weakly referenced makes it a
 * zombie, kept until the next sweep (weak.h); a zombie of the last cycle
 * goes now. */
static int survives_death(uintptr_t slot)
{
    tc_aword *header = (tc_aword *)slot;
    uintptr_t h = at_load(header);
    if (h & HEADER_DEAD)
        return 0;
    if ((h & HEADER_SPECIAL) && final_on_death(slot + TC_HEADER_SIZE))
        return 1;
    if (h & HEADER_WEAKREF) {
        at_or(header, HEADER_DEAD);
        return 1;
    }
    return 0;
}

/* The live WEAK and EPHEMERON objects among `live` (a word of slots of
 * s, from word w): their slots whose targets are dead are cleared. */
static void clear_weak_slots(tc_span *s, unsigned w, uint64_t live)
{
    for (; live; live &= live - 1) {
        uintptr_t obj = span_slot_addr(s, w * 64 + (unsigned)__builtin_ctzll(live)) +
                        TC_HEADER_SIZE;
        const tc_type *t = header_type(obj);
        if (t && (t->layout == TC_LAYOUT_WEAK || t->layout == TC_LAYOUT_EPHEMERON))
            weak_clear_object(obj, t, s->slot_size - TC_HEADER_SIZE);
    }
}

/* Invariants.  A span is swept once per cycle, after pause 2 and at the
 * latest in the next pause 1 (sweep termination), by whoever took it off
 * an unswept list (central.c keeps that: sweep_gen), and never while
 * marking: the mark bits it reads are final.  A slot is freed only if it held an object (allocbits, or taken
 * from the thread's cache word) and its mark bit is clear; the mark bits
 * then become the allocation bits and are cleared for the next cycle.
 *
 * Three passes.  First the doomed objects that stay (finalizers, zombies)
 * are decided, before the span's sweep is published to weak references;
 * then live weak objects are cleared of dead targets; then the slots are
 * freed and the mark bits become the allocation bits. */
static int sweep_small(tc_span *s)
{
    unsigned nwords = (s->nelems + 63) / 64;
    uint64_t doomed[TC_BITWORDS], keep[TC_BITWORDS], marks[TC_BITWORDS];
    for (unsigned w = 0; w < nwords; w++) {
        uint64_t taken = w < s->cache_word    ? ~s->allocbits[w]
                         : w == s->cache_word ? ~s->allocbits[w] & ~s->alloc_cache
                                              : 0;
        marks[w] = at_load(&s->markbits[w]) & valid_mask(s, w);
        doomed[w] = (s->allocbits[w] | taken) & ~marks[w] & valid_mask(s, w);
        keep[w] = 0;
        for (uint64_t d = doomed[w]; d; d &= d - 1) {
            uint64_t bit = d & -d;
            if (survives_death(span_slot_addr(s, w * 64 + (unsigned)__builtin_ctzll(d))))
                keep[w] |= bit;
        }
        doomed[w] &= ~keep[w];
    }
    weak_span_sweep_begins(s);
    if (s->has_weak)
        for (unsigned w = 0; w < nwords; w++)
            clear_weak_slots(s, w, marks[w]);
    uint32_t live = 0, nfreed = 0;
    for (unsigned w = 0; w < nwords; w++) {
        for (uint64_t d = doomed[w]; d; d &= d - 1, nfreed++)
            free_slot(s, w * 64 + (unsigned)__builtin_ctzll(d), 1);
        uint64_t stays = marks[w] | keep[w];
        live += (uint32_t)__builtin_popcountll(stays);
        s->allocbits[w] = stays | ~valid_mask(s, w);
        at_store(&s->markbits[w], 0);
    }
    s->cache_word = 0;
    s->alloc_cache = ~s->allocbits[0];
    s->alloc_count = live;
    if (nfreed)
        s->needzero |= opt.poison;
    return live == 0 ? SWEEP_EMPTY : live == s->nelems ? SWEEP_FULL : SWEEP_PARTIAL;
}

static int sweep_large(tc_span *s)
{
    uintptr_t slot = span_slot_addr(s, 0);
    int marked = (int)(at_load(&s->markbits[0]) & 1);
    int stays = marked || survives_death(slot);
    weak_span_sweep_begins(s);
    if (marked && s->has_weak)
        clear_weak_slots(s, 0, 1);
    if (stays) {
        at_store(&s->markbits[0], 0);
        return SWEEP_FULL;
    }
    free_slot(s, 0, 0);
    heap_free_span(s);
    return SWEEP_FREED;
}

int sweep_span(tc_span *s)
{
    int prev = stall_begin(TC_STALL_SWEEP);
    int result = s->sizeclass ? sweep_small(s) : sweep_large(s);
    stall_end(prev);
    stall_note_swept();
    return result;
}
