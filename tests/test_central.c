/* test_central.c — the central lists' checks stop a broken invariant
 * (a span linked twice, a span swept twice in one generation), in every
 * build; and lazy sweeping by allocators has a budget: central_take
 * sweeps unswept spans for at most 100 us before giving up (the caller
 * then takes a fresh span), so one allocation never sweeps a whole live
 * structure's worth of full spans.  Time is not testable on a busy
 * machine: the test sets the budget to 0 (exactly one span per call) and
 * to ten seconds (every span), through a test hook; the stall tracer's
 * figures in docs/benchmarks.md show the real budget at work. */
#include <stdint.h>
#include <stdlib.h>

#include "test_util.h"

#include "alloc.h"
#include "central.h"
#include "sizeclass.h"
#include "sweep.h"

enum { NSPANS = 300 };

/* Mark every slot in use of every span on l, as a cycle that found them
 * all live would have. */
static void mark_all_in_use(span_list *l)
{
    for (tc_span *s = l->head; s; s = s->next)
        for (unsigned w = 0; w < TC_BITWORDS; w++)
            at_store(&s->markbits[w], ~s->allocbits[w]);
}

static void budget_bounds_lazy_sweep(void **state)
{
    (void)state;
    /* GC off: no cycle, so the collector thread sweeps nothing meanwhile. */
    assert_true(tc_set_gc_percent(TC_GC_OFF) >= 0);
    unsigned c = sc_class_of(sizeof(tu_pair) + TC_HEADER_SIZE);
    size_t per_span = sc_table[c].nelems, n = NSPANS * per_span;
    void **keep = malloc(n * sizeof *keep); /* only the spans matter here */
    assert_non_null(keep);
    for (size_t i = 0; i < n; i++)
        keep[i] = tc_alloc(&tu_pair_type, sizeof(tu_pair));
    alloc_flush_cache(thread_self()); /* the last span goes back too */

    central *ce = &centrals[c];
    pthread_mutex_lock(&ce->lock);
    assert_true(ce->full.n >= NSPANS);
    mark_all_in_use(&ce->full);
    pthread_mutex_unlock(&ce->lock);
    central_begin_sweep();
    size_t unswept = ce->unswept.n, full = ce->full.n;
    assert_true(unswept >= NSPANS);
    assert_int_equal(full, 0);

    /* Every unswept span is full.  With no time to spend, central_take
     * sweeps one span all the same, files it as full, and finds nothing;
     * with all the time it needs, it sweeps every span. */
    central_test_set_sweep_budget(0);
    assert_null(central_take(c));
    assert_int_equal(ce->unswept.n, unswept - 1);
    assert_int_equal(ce->full.n, 1);
    assert_null(central_take(c));
    assert_int_equal(ce->unswept.n, unswept - 2);
    central_test_set_sweep_budget(10000000000ull);
    assert_null(central_take(c));
    assert_int_equal(ce->unswept.n, 0);
    assert_int_equal(ce->full.n, unswept);
    central_test_set_sweep_budget(100000);

    /* Every object survived: the marks said live. */
    central_sweep_all();
    for (size_t i = 0; i < n; i++)
        assert_true(tc_is_heap_object(keep[i]));
    free(keep);
}

/* ------------------------------------------- the checks in every build */

/* A span of tu_pair's class, on its partial list, and a way to find it. */
static tc_span *span_on_partial_list(void)
{
    tc_set_gc_percent(TC_GC_OFF); /* no cycle moves it meanwhile */
    void *obj = tc_alloc(&tu_pair_type, sizeof(tu_pair));
    TU_REQUIRE(obj != NULL, "no object");
    tc_span *s = heap_span_of((uintptr_t)obj);
    alloc_flush_cache(thread_self());
    TU_REQUIRE(s && s->on_list == &centrals[s->sizeclass].partial, "span not on partial");
    return s;
}

/* A span put back twice would be linked into a list it is on. */
static void sc_put_twice(void)
{
    central_put(span_on_partial_list());
}

/* Every unswept span of the class looks swept in this generation already
 * (as if another thread had swept it and lost track): sweeping one again
 * would free its live slots twice. */
static void sc_sweep_twice(void)
{
    tc_span *s = span_on_partial_list();
    unsigned c = s->sizeclass;
    central_begin_sweep();
    for (tc_span *u = centrals[c].unswept.head; u; u = u->next)
        u->sweep_gen = central_sweep_gen();
    central_take(c);
}

static void span_put_twice_stops(void **state)
{
    (void)state;
    tu_expect_abort(sc_put_twice, NULL, "s->on_list == NULL does not hold");
}

static void span_swept_twice_stops(void **state)
{
    (void)state;
    tu_expect_abort(sc_sweep_twice, NULL, "s->sweep_gen != gen does not hold");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(span_put_twice_stops),
        cmocka_unit_test(span_swept_twice_stops),
        cmocka_unit_test_setup_teardown(budget_bounds_lazy_sweep, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
