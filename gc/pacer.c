/* pacer.c — see pacer.h. */
#include "pacer.h"

#include "atomics.h"
#include "tricolor.h"

static TC_OWN_LINE tc_aword heap_estimate; /* bytes, see pacer.h; written on every refill */
static TC_OWN_LINE tc_aword heap_marked;
static tc_aword goal, trigger;
static tc_aword gc_percent;    /* stored as intptr_t */
static tc_aword memory_limit;  /* stored as int64_t */

static uint64_t compute_goal(uint64_t marked, int pct, int64_t limit)
{
    uint64_t g = UINT64_MAX;
    if (pct >= 0) {
        uint64_t factor = 100 + (uint64_t)pct;
        g = marked > UINT64_MAX / factor ? UINT64_MAX : marked * factor / 100;
        if (g < TC_MIN_HEAP_GOAL)
            g = TC_MIN_HEAP_GOAL;
    }
    if (limit != INT64_MAX && (uint64_t)limit < g)
        g = (uint64_t)limit;
    return g;
}

static void recompute(void)
{
    uint64_t g = compute_goal(at_load(&heap_marked), pacer_gc_percent(), pacer_memory_limit());
    at_store(&goal, g);
    at_store(&trigger, g);
}

void pacer_init(int pct, int64_t limit)
{
    at_store(&heap_estimate, 0);
    at_store(&heap_marked, 0);
    at_store(&gc_percent, (uintptr_t)(intptr_t)pct);
    at_store(&memory_limit, (uintptr_t)limit);
    recompute();
}

void pacer_note_allocated(uint64_t bytes) { at_add(&heap_estimate, bytes); }
void pacer_note_unused(uint64_t bytes) { at_sub(&heap_estimate, bytes); }
int pacer_should_trigger(void) { return at_load(&heap_estimate) >= at_load(&trigger); }

void pacer_end_cycle(uint64_t marked)
{
    at_store(&heap_marked, marked);
    at_store(&heap_estimate, marked);
    recompute();
}

uint64_t pacer_heap_estimate(void) { return at_load(&heap_estimate); }
uint64_t pacer_goal(void) { return at_load(&goal); }
uint64_t pacer_trigger(void) { return at_load(&trigger); }
int pacer_gc_percent(void) { return (int)(intptr_t)at_load(&gc_percent); }
int64_t pacer_memory_limit(void) { return (int64_t)at_load(&memory_limit); }

int tc_set_gc_percent(int percent)
{
    int prev = pacer_gc_percent();
    at_store(&gc_percent, (uintptr_t)(intptr_t)(percent < 0 ? TC_GC_OFF : percent));
    recompute();
    return prev;
}

int64_t tc_set_memory_limit(int64_t bytes)
{
    int64_t prev = pacer_memory_limit();
    if (bytes > 0) {
        at_store(&memory_limit, (uintptr_t)bytes);
        recompute();
    }
    return prev;
}
