/* central.c — shared span lists and who sweeps what; see central.h. */
#include "central.h"

#include <sched.h>
#include <string.h>

#include "check.h"
#include "platform.h"
#include "stall.h"
#include "sweep.h"

/* Not static only for the tests (central.h). */
central centrals[TC_NUM_CLASSES];

/* The module's state beside the lists, set afresh in one place
 * (central_reset), when no span exists any more.  Atomic words. */
static struct central_state {
    /* Bumped at mark termination, world stopped (central_begin_sweep);
     * read by threads that hold a span, which a pause cannot interrupt. */
    TC_OWN_LINE tc_aword sweep_gen;
    TC_OWN_LINE tc_aword in_progress; /* spans taken off unswept lists, not yet back */
    TC_OWN_LINE tc_aword next_class;  /* round robin for central_sweep_one (hint only) */
} cs = {.sweep_gen = 1};

void central_init(void)
{
    for (unsigned c = 0; c < TC_NUM_CLASSES; c++)
        pthread_mutex_init(&centrals[c].lock, NULL);
    lock_rank_set_array(&centrals[0].lock, TC_NUM_CLASSES, sizeof centrals[0], RANK_CENTRAL);
}

void central_reset(void)
{
    for (unsigned c = 0; c < TC_NUM_CLASSES; c++) {
        pthread_mutex_destroy(&centrals[c].lock);
        memset(&centrals[c], 0, sizeof centrals[c]);
    }
    cs = (struct central_state){.sweep_gen = 1};
}

uint32_t central_sweep_gen(void) { return (uint32_t)at_load(&cs.sweep_gen); }

/* ------------------------------------------------------------- the lists */

/* A span is on at most one list, and on_list says which (NULL: none; it
 * is in a thread's cache, or being swept).  Only these three functions
 * link or unlink spans.  Linking a span that is on a list already would
 * tie two lists together: push checks it in every build. */
static void list_push(span_list *l, tc_span *s)
{
    TC_REQUIRE(s->on_list == NULL);
    s->prev = NULL;
    s->next = l->head;
    if (l->head)
        l->head->prev = s;
    else
        l->tail = s;
    l->head = s;
    l->n++;
    s->on_list = l;
}

static tc_span *list_pop(span_list *l)
{
    tc_span *s = l->head;
    if (!s)
        return NULL;
    TC_ASSERT(s->on_list == l);
    l->head = s->next;
    if (l->head)
        l->head->prev = NULL;
    else
        l->tail = NULL;
    s->next = s->prev = NULL;
    l->n--;
    s->on_list = NULL;
    return s;
}

/* Move every span of from onto the end of to, in O(1): in a release
 * build on_list keeps naming `from` (it only has to be non-NULL there);
 * the checking build renames each, so that its checks stay exact. */
static void list_append(span_list *to, span_list *from)
{
    if (!from->head)
        return;
    if (TC_CHECKING_ON)
        for (tc_span *s = from->head; s; s = s->next)
            s->on_list = to;
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

/* ------------------------------------------------------------ the checks */

/* What any span in use satisfies (check.h's check functions). */
static int span_check(const tc_span *s)
{
    uintptr_t st = at_load(&s->state);
    TC_ASSERT(st == SPAN_SMALL || st == SPAN_LARGE);
    TC_ASSERT(s->sizeclass < TC_NUM_CLASSES);
    TC_ASSERT((st == SPAN_LARGE) == (s->sizeclass == 0));
    TC_ASSERT(s->nelems >= 1 && s->alloc_count <= s->nelems);
    TC_ASSERT(s->sizeclass == 0 || s->slot_size == sc_table[s->sizeclass].slot_size);
    (void)st;
    return 1;
}

/* A list of class c: its count, and each span's class and list. */
static int list_check(const span_list *l, unsigned c)
{
    size_t n = 0;
    for (const tc_span *s = l->head; s; s = s->next, n++) {
        TC_ASSERT(s->on_list == l && span_check(s) && s->sizeclass == c);
        TC_ASSERT(s->next ? s->next->prev == s : l->tail == s);
    }
    TC_ASSERT(n == l->n);
    return 1;
}

/* Class c's lists, its lock held or the world stopped: every swept span
 * belongs to this generation, partial ones have room and full ones none
 * (a large span counts as full while it lives). */
static int central_check(unsigned c)
{
    const central *ce = &centrals[c];
    uint32_t gen = central_sweep_gen();
    TC_ASSERT(list_check(&ce->partial, c) && list_check(&ce->full, c) &&
              list_check(&ce->unswept, c));
    for (const tc_span *s = ce->partial.head; s; s = s->next)
        TC_ASSERT(s->sweep_gen == gen && s->alloc_count < s->nelems);
    for (const tc_span *s = ce->full.head; s; s = s->next)
        TC_ASSERT(s->sweep_gen == gen && s->alloc_count == s->nelems);
    (void)gen;
    return 1;
}

/* --------------------------------------------------------------- sweeping */

/* Sweep s, just taken off an unswept list: once per generation, checked
 * in every build (a span swept twice would free its live objects' slots
 * again).  The generation is recorded first: a large span swept dead is
 * freed by sweep_span, its struct no longer this thread's. */
static int sweep_taken(tc_span *s)
{
    uint32_t gen = central_sweep_gen();
    TC_REQUIRE(s->sweep_gen != gen);
    TC_ASSERT(s->on_list == NULL && span_check(s));
    s->sweep_gen = gen;
    return sweep_span(s);
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
    tc_span *s = list_pop(&ce->partial);
    uint64_t deadline = s ? 0 : plat_now_ns() + sweep_budget_ns;
    /* A requested pause ends the sweep too: this thread must park. */
    for (int first = 1; !s && (first || (plat_now_ns() < deadline &&
                                         !at_int_load(&tc__safepoint_requested)));
         first = 0) {
        tc_span *u = list_pop(&ce->unswept);
        if (!u)
            break;
        at_add(&cs.in_progress, 1);
        pthread_mutex_unlock(&ce->lock);
        int result = sweep_taken(u);
        stall_lock(&ce->lock, STALL_LOCK_CENTRAL);
        at_sub(&cs.in_progress, 1);
        if (result == SWEEP_FULL)
            list_push(&ce->full, u);
        else
            s = u; /* free slots, or empty: reuse it for this class */
    }
    pthread_mutex_unlock(&ce->lock);
    TC_ASSERT(!s || s->sweep_gen == central_sweep_gen());
    return s;
}

void central_put(tc_span *s)
{
    TC_ASSERT(span_check(s) && s->sweep_gen == central_sweep_gen());
    central *ce = &centrals[s->sizeclass];
    stall_lock(&ce->lock, STALL_LOCK_CENTRAL);
    list_push(s->alloc_count < s->nelems ? &ce->partial : &ce->full, s);
    pthread_mutex_unlock(&ce->lock);
}

/* Sweep one unswept span of class c, if it has one.  An empty small span
 * goes back to the page heap (no allocator asked for it). */
static int sweep_one_of(unsigned c)
{
    central *ce = &centrals[c];
    stall_lock(&ce->lock, STALL_LOCK_CENTRAL);
    tc_span *s = list_pop(&ce->unswept);
    if (!s) {
        pthread_mutex_unlock(&ce->lock);
        return 0;
    }
    at_add(&cs.in_progress, 1);
    pthread_mutex_unlock(&ce->lock);
    int result = sweep_taken(s);
    if (result == SWEEP_EMPTY)
        heap_free_span(s);
    stall_lock(&ce->lock, STALL_LOCK_CENTRAL);
    if (result == SWEEP_PARTIAL)
        list_push(&ce->partial, s);
    else if (result == SWEEP_FULL)
        list_push(&ce->full, s);
    at_sub(&cs.in_progress, 1);
    pthread_mutex_unlock(&ce->lock);
    return 1;
}

int central_sweep_one(void)
{
    unsigned start = (unsigned)at_load(&cs.next_class);
    for (unsigned i = 0; i < TC_NUM_CLASSES; i++) {
        unsigned c = (start + i) % TC_NUM_CLASSES;
        if (sweep_one_of(c)) {
            at_store(&cs.next_class, c);
            return 1;
        }
    }
    return 0;
}

uint64_t central_sweep_all(void)
{
    uint64_t n = 0;
    while (central_sweep_one())
        n++;
    while (at_load_acquire(&cs.in_progress))
        sched_yield();
    return n;
}

void central_begin_sweep(void)
{
    for (unsigned c = 0; c < TC_NUM_CLASSES; c++) {
        central *ce = &centrals[c];
        stall_lock(&ce->lock, STALL_LOCK_CENTRAL);
        /* Sweeping ended before this cycle began (central_sweep_all). */
        TC_ASSERT(ce->unswept.n == 0 && central_check(c));
        list_append(&ce->unswept, &ce->partial);
        list_append(&ce->unswept, &ce->full);
        pthread_mutex_unlock(&ce->lock);
    }
    at_store(&cs.sweep_gen, at_load(&cs.sweep_gen) + 1);
}
