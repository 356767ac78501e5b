/* central.c — shared span lists; see central.h. */
#include "central.h"

#include <string.h>

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

/* Most unswept spans an allocator sweeps looking for room (Go's
 * spanBudget): a class whose spans are all full after a cycle (a big live
 * structure) would otherwise make one allocation sweep thousands of them
 * (16 ms measured for 256 MiB of live 32-byte nodes).  Past the budget the
 * allocator takes a fresh span; the background sweep does the rest. */
#define SWEEP_BUDGET 100

tc_span *central_take(unsigned c)
{
    central *ce = &centrals[c];
    pthread_mutex_lock(&ce->lock);
    tc_span *s = span_list_pop(&ce->partial);
    for (int budget = SWEEP_BUDGET; !s && budget > 0; budget--) {
        tc_span *u = span_list_pop(&ce->unswept);
        if (!u)
            break;
        sweep_claimed(u);
        pthread_mutex_unlock(&ce->lock);
        int result = sweep_span(u);
        pthread_mutex_lock(&ce->lock);
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
    pthread_mutex_lock(&ce->lock);
    span_list_push(s->alloc_count < s->nelems ? &ce->partial : &ce->full, s);
    pthread_mutex_unlock(&ce->lock);
}
