/* test_stress_mode.c — TRICOLOR_DEBUG=stress=N finds missing write
 * barriers in a single-threaded program (issue 13.4).
 *
 * In a single-threaded program tc_collect blocks its caller for the whole
 * cycle, and small heaps mark in microseconds, so the program's stores
 * almost never overlap marking and a missing barrier goes unnoticed, under
 * checkmark too.  The stress mode starts a cycle every N allocations
 * without waiting for it and marks in tiny slices, so the stores do
 * overlap; checkmark at every mark termination names what was lost.
 *
 * Each case is a small interpreter-like program with one kind of missing
 * barrier: a pair's car, a pair's cdr, an environment slot (a TRACE
 * object), a vector element.  It swaps the items of two holders (as a
 * program shuffles values between data structures), storing the field of
 * that kind without the barrier: an item that leaves a holder not yet
 * scanned for one already scanned is reachable but never marked.  Each
 * must abort with checkmark's message naming the item and its holder's
 * type; the same program with every barrier in place must run clean.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test_util.h"

#define TIME_LIMIT 60    /* per child: a broken one aborts in well under a second */
#define HOLDERS 3000
#define CYCLES 8         /* the correct program's run; the broken ones abort first */
#define STRESS_EVERY 500 /* TRICOLOR_DEBUG=stress=500 */

typedef struct pair {
    void *car, *cdr;
} pair;

typedef struct env {
    size_t n;
    void *slots[4];
} env;

typedef struct vector {
    void *len; /* a tagged integer */
    void *items[4];
} vector;

static void env_trace(tc_visitor *v, void *obj)
{
    env *e = obj;
    for (size_t i = 0; i < 4; i++)
        tc_visit(v, tc_read(&e->slots[i]));
}

static const tc_type pair_type = {.name = "pair", .layout = TC_LAYOUT_SLOTS};
static const tc_type env_type = {.name = "env", .layout = TC_LAYOUT_TRACE, .trace = env_trace};
static const tc_type vector_type = {.name = "vector", .layout = TC_LAYOUT_SLOTS};
static const tc_type item_type = {.name = "item", .layout = TC_LAYOUT_LEAF};
static const tc_type table_type = {.name = "table", .layout = TC_LAYOUT_SLOTS};

enum field { CAR, CDR, ENV_SLOT, VECTOR_ITEM, NONE };
static enum field broken; /* the field stored without the barrier */

/* The holder's field of the chosen kind, and its object. */
static void **field_of(void *holder, void **obj)
{
    *obj = holder;
    switch (broken == NONE ? CAR : broken) {
    case CAR: return &((pair *)holder)->car;
    case CDR: return &((pair *)holder)->cdr;
    case ENV_SLOT: return &((env *)holder)->slots[2];
    default: return &((vector *)holder)->items[1];
    }
}

static void *new_holder(void)
{
    switch (broken == NONE ? CAR : broken) {
    case CAR:
    case CDR: return tc_alloc(&pair_type, sizeof(pair));
    case ENV_SLOT: {
        env *e = tc_alloc(&env_type, sizeof(env));
        e->n = 4; /* not a reference: a plain store into a fresh TRACE object */
        return e;
    }
    default: {
        vector *v = tc_alloc(&vector_type, sizeof(vector));
        TC_WRITE(v, len, TU_TAG(4));
        return v;
    }
    }
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void program(void)
{
    void **holders = NULL, *item = NULL;
    TC_ROOTS(holders, item);
    holders = tc_alloc(&table_type, HOLDERS * sizeof(void *));
    for (size_t i = 0; i < HOLDERS; i++) {
        tc_write(holders, &holders[i], new_holder());
        void *obj, **slot = field_of(holders[i], &obj);
        item = tc_alloc(&item_type, 16);
        tc_write(obj, slot, item);
    }
    item = NULL;
    /* The structure was built while cycles ran: it was born black.  A
     * cycle that starts now snapshots it whole. */
    tc_collect();
    tc_stats st;
    tc_read_stats(&st);
    uint64_t until = st.cycles + CYCLES;
    for (long round = 0; st.cycles < until; round++) {
        if (round % 4096 == 0)
            tc_read_stats(&st);
        void *o1, *o2;
        void **s1 = field_of(holders[rnd() % HOLDERS], &o1);
        void **s2 = field_of(holders[rnd() % HOLDERS], &o2);
        void *x = *s1, *y = *s2;
        if (broken == NONE) {
            tc_write(o1, s1, y);
            tc_write(o2, s2, x);
        } else {
            *s1 = y; /* the bug: no barrier, the old values are not shaded */
            *s2 = x;
        }
        tc_alloc(&item_type, 16); /* garbage: the stress mode counts allocations */
    }
}

static void run_case(enum field f, const char *type_lost)
{
    broken = f;
    tc_config c = TC_CONFIG_INIT;
    c.debug_stress = STRESS_EVERY; /* implies checkmark */
    c.debug_poison = 1;
    c.gc_percent = TC_GC_OFF;      /* only the stress mode starts cycles */
    char *err = NULL;
    uint64_t t0 = tu_now_ns();
    int status = tu_fork_scenario(program, &c, TIME_LIMIT, &err);
    double s = (double)(tu_now_ns() - t0) / 1e9;
    if (f == NONE) {
        if (status != 0)
            print_error("the correct program failed: status %#x\n%s\n", status, err);
        assert_int_equal(status, 0);
        print_message("correct barriers: %d cycles, clean, in %.2f s\n", CYCLES, s);
    } else {
        const char *line = strstr(err, "tricolor: checkmark: object ");
        if (!(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) || !line ||
            !strstr(line, type_lost))
            print_error("missing barrier %d: status %#x after %.2f s, stderr:\n%s\n", f, status,
                        s, err);
        assert_true(status != -1 && WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        assert_non_null(line);
        assert_non_null(strstr(line, type_lost));
        print_message("missing barrier on %s: caught in %.2f s\n",
                      f == CAR ? "a pair's car" : f == CDR ? "a pair's cdr"
                      : f == ENV_SLOT ? "an environment slot" : "a vector element", s);
    }
    free(err);
}

static void correct_program_runs_clean(void **state)
{
    (void)state;
    run_case(NONE, NULL);
}

static void missing_car_barrier(void **state)
{
    (void)state;
    run_case(CAR, "of type item is reachable (from a pair object");
}

static void missing_cdr_barrier(void **state)
{
    (void)state;
    run_case(CDR, "of type item is reachable (from a pair object");
}

static void missing_env_barrier(void **state)
{
    (void)state;
    run_case(ENV_SLOT, "of type item is reachable (from a env object");
}

static void missing_vector_barrier(void **state)
{
    (void)state;
    run_case(VECTOR_ITEM, "of type item is reachable (from a vector object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(correct_program_runs_clean),
        cmocka_unit_test(missing_car_barrier),
        cmocka_unit_test(missing_cdr_barrier),
        cmocka_unit_test(missing_env_barrier),
        cmocka_unit_test(missing_vector_barrier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
