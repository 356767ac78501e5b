/* central.c — shared span lists; see central.h. */
#include "central.h"

#include <string.h>

#include "platform.h"
#include "stall.h"
#include "sweep.h"

central centrals[TC_NUM_CLASSES];

void central_init(void)
{
    for (unsigned c = 0; c < TC_NUM_CLASSES; c++)
        pthread_mutex_init(&centrals[c].lock, NULL);
}

void central_reset(void)
{
    for (unsigned c = 0; c < TC_NUM_CLASSES; c++) {
        pthread_mutex_destroy(&centrals[c].lock);
        memset(&centrals[c], 0, sizeof centrals[c]);
    }
}

void span_list_push(span_list *l, tc_span *s)
{
    s->prev = NULL;
    s->next = l->head;
    if (l->head)
        l->head->prev = s;
    else
        l->tail = s;
    l->head = s;
    l->n++;
}

tc_span *span_list_pop(span_list *l)
{
    tc_span *s = l->head;
    if (!s)
        return NULL;
    l->head = s->next;
    if (l->head)
        l->head->prev = NULL;
    else
        l->tail = NULL;
    s->next = s->prev = NULL;
    l->n--;
    return s;
}

void span_list_append(span_list *to, span_list *from)
{
    if (!from->head)
        return;
    if (to->tail) {
        to->tail->next = from->head;
        from->head->prev = to->tail;
    } else {
        to->head = from->head;
    }
    to->tail = from->tail;
    to->n += from->n;
    from->head = from->tail = NULL;
    from->n = 0;
}

/* How long an allocator sweeps unswept spans looking for room (Go's
 * spanBudget counts spans; time is what the program feels): a class whose
 * spans are all full after a cycle (a big live structure) would otherwise
 * make one allocation sweep thousands of them (16 ms measured for 256 MiB
 * of live 32-byte nodes), and a budget of 100 spans still took 4-6 ms on
 * the ephemeron benchmark, whose spans hold weak slots to clear.  Past
 * the budget the allocator takes a fresh span; the background sweep does
 * the rest.  At least one span is swept. */
#define SWEEP_BUDGET_NS 100000

#ifdef TC_TESTING
static uint64_t sweep_budget_ns = SWEEP_BUDGET_NS;
void central_test_set_sweep_budget(uint64_t ns) { sweep_budget_ns = ns; }
#else
#define sweep_budget_ns SWEEP_BUDGET_NS
#endif

tc_span *central_take(unsigned c)
{
    central *ce = &centrals[c];
    stall_lock(&ce->lock, STALL_LOCK_CENTRAL);
    tc_span *s = span_list_pop(&ce->partial);
    uint64_t deadline = s ? 0 : plat_now_ns() + sweep_budget_ns;
    /* A requested pause ends the sweep too: this thread must park. */
    for (int first = 1; !s && (first || (plat_now_ns() < deadline &&
                                         !at_int_load(&tc__safepoint_requested)));
         first = 0) {
        tc_span *u = span_list_pop(&ce->unswept);
        if (!u)
            break;
        sweep_claimed(u);
        pthread_mutex_unlock(&ce->lock);
        int result = sweep_span(u);
        stall_lock(&ce->lock, STALL_LOCK_CENTRAL);
        sweep_released(u);
        if (result == SWEEP_FULL)
            span_list_push(&ce->full, u);
        else
            s = u; /* free slots, or empty: reuse it for this class */
    }
    pthread_mutex_unlock(&ce->lock);
    return s;
}

void central_put(tc_span *s)
{
    central *ce = &centrals[s->sizeclass];
    stall_lock(&ce->lock, STALL_LOCK_CENTRAL);
    span_list_push(s->alloc_count < s->nelems ? &ce->partial : &ce->full, s);
    pthread_mutex_unlock(&ce->lock);
}
