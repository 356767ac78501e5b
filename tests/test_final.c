/* test_final.c — finalizers and cleanups (issue 16).
 *
 * Each case runs in a forked child under checkmark and poison, with no
 * automatic cycles; most use the queue mode so that the test decides when
 * finalizers run:
 *
 *   finalizer_runs_once        after the object is unreachable, once, with
 *                              the object intact; the object goes afterwards
 *   finalizer_resurrects       a finalizer that stores its object keeps it
 *   finalizer_thread_allocates the library's thread runs a finalizer that
 *                              allocates and stores what it built
 *   finalizer_order            A refers to B: A's runs first, B's a cycle later
 *   finalizer_cycle            A and B refer to each other: neither runs
 *                              (the documented behaviour); a self-reference
 *                              does not count
 *   cleanups                   run with their ctx, the object freed at once;
 *                              removal; beside a finalizer they wait for it
 *   weak_to_finalizable        a weak reference to an object kept for its
 *                              finalizer stays valid until it is freed
 *   ephemeron_finalizable_key  an ephemeron whose key is kept for its
 *                              finalizer keeps its value too (and the key
 *                              resurrected keeps both); once the key dies
 *                              for good the entry is cleared
 *   finalizable_ephemeron      an ephemeron with a finalizer, keyed by an
 *                              object with one (scanning the one asks
 *                              about the other: once a deadlock)
 *   registration_during_scan   objects given finalizers by another thread
 *                              while cycles run (the table grows under the
 *                              batched scan): every finalizer finds what
 *                              its object reaches intact
 *   shutdown_runs_queued       tc_shutdown runs what was queued
 *   finalizer_errors           bad arguments
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define TIME_LIMIT 60

static const tc_type node_type = {.name = "node", .layout = TC_LAYOUT_SLOTS};
static const tc_type weak_type = {.name = "weak", .layout = TC_LAYOUT_WEAK};
static const tc_type eph_type = {.name = "eph", .layout = TC_LAYOUT_EPHEMERON};

typedef struct node {
    void *ref;   /* another node, or NULL */
    void *tag;   /* a tagged integer: which node */
} node;

static tc_stats st;

static uint64_t collect_live(void)
{
    tc_collect();
    tc_read_stats(&st);
    return st.objects_live;
}

static node *new_node(uintptr_t tag)
{
    node *n = tc_alloc(&node_type, sizeof(node));
    TU_REQUIRE(n != NULL, "tc_alloc");
    TC_WRITE(n, tag, TU_TAG(tag));
    return n;
}

/* What finalizers saw: the order of the tags, one per call. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t seen[64];
static int nseen;
static void *resurrected; /* a global root (tc_root_add) */

static void record(void *obj, void *ctx)
{
    (void)ctx;
    node *n = obj;
    TU_CHECK(tc_is_heap_object(n) && tc_type_of(n) == &node_type, "a finalizer got a dead object");
    pthread_mutex_lock(&log_lock);
    seen[nseen++ % 64] = TU_UNTAG(n->tag);
    pthread_mutex_unlock(&log_lock);
}

static int nseen_now(void)
{
    pthread_mutex_lock(&log_lock);
    int n = nseen;
    pthread_mutex_unlock(&log_lock);
    return n;
}

static tc_config queue_config(void)
{
    tc_config c = tu_debug_config();
    c.finalizers = TC_FINALIZE_QUEUE;
    return c;
}

/* ------------------------------------------------------------------- */

static void sc_runs_once(void)
{
    node *n = NULL;
    TC_ROOTS(n);
    n = new_node(1);
    TC_WRITE(n, ref, new_node(2)); /* what it reaches stays valid too */
    TU_REQUIRE_EQ(tc_finalizer_set(n, record, NULL), TC_OK);
    TU_CHECK(collect_live() == 2, "%llu live", (unsigned long long)st.objects_live);
    TU_CHECK(tc_run_finalizers(10) == 0, "ran while reachable");
    n = NULL;
    collect_live();
    TU_CHECK(st.finalizers_pending == 1, "%llu pending", (unsigned long long)st.finalizers_pending);
    /* Kept for its finalizer, with what it reaches: that was marked (its
     * referents are roots), the object itself is kept by the sweep. */
    TU_CHECK(st.objects_live == 1, "%llu marked", (unsigned long long)st.objects_live);
    TU_CHECK(tc_run_finalizers(10) == 1 && nseen_now() == 1 && seen[0] == 1, "ran %d", nseen);
    for (int i = 0; i < 3; i++)
        collect_live();
    TU_CHECK(nseen_now() == 1 && tc_finalizers_pending() == 0, "ran again");
    TU_CHECK(st.finalizers_run == 1 && st.finalizers_queued == 1, "counters %llu %llu",
             (unsigned long long)st.finalizers_run, (unsigned long long)st.finalizers_queued);
}

static void put_back(void *obj, void *ctx)
{
    (void)ctx;
    record(obj, ctx);
    resurrected = obj; /* a root: the object lives on */
}

static void sc_resurrects(void)
{
    TU_REQUIRE_EQ(tc_root_add(&resurrected, 1), TC_OK);
    node *n = new_node(5);
    TC_WRITE(n, ref, new_node(6));
    TU_REQUIRE_EQ(tc_finalizer_set(n, put_back, NULL), TC_OK);
    n = NULL;
    collect_live();
    TU_CHECK(tc_run_finalizers(10) == 1, "not run");
    TU_CHECK(collect_live() == 2, "%llu live after resurrection",
             (unsigned long long)st.objects_live);
    node *r = resurrected;
    TU_CHECK(TU_UNTAG(r->tag) == 5 && TU_UNTAG(((node *)r->ref)->tag) == 6, "damaged");
    resurrected = NULL;
    TU_CHECK(collect_live() == 0, "%llu live", (unsigned long long)st.objects_live);
    TU_CHECK(tc_run_finalizers(10) == 0 && nseen_now() == 1, "finalized twice");
}

/* The library's thread runs it; it allocates a list and publishes it. */
static void build_list(void *obj, void *ctx)
{
    (void)obj;
    tu_pair *l = tu_make_list(1000);
    __atomic_store_n((void **)ctx, l, __ATOMIC_RELEASE);
}

static void *built; /* a root */

static void sc_thread_allocates(void)
{
    TU_REQUIRE_EQ(tc_root_add(&built, 1), TC_OK);
    node *n = new_node(1);
    TU_REQUIRE_EQ(tc_finalizer_set(n, build_list, &built), TC_OK);
    n = NULL;
    uint64_t deadline = tu_now_ns() + 30000000000ull;
    while (!__atomic_load_n(&built, __ATOMIC_ACQUIRE)) {
        TU_REQUIRE(tu_now_ns() < deadline, "the finalizer thread never ran it");
        tc_collect();
        tu_sleep_blocking(5);
    }
    collect_live();
    tu_check_list(built, 1000);
}

static void sc_order(void)
{
    node *a = new_node(1), *b = NULL;
    TC_ROOTS(a, b);
    b = new_node(2);
    TC_WRITE(a, ref, b);
    TU_REQUIRE_EQ(tc_finalizer_set(a, record, NULL), TC_OK);
    TU_REQUIRE_EQ(tc_finalizer_set(b, record, NULL), TC_OK);
    a = b = NULL;
    collect_live();
    TU_CHECK(tc_run_finalizers(10) == 1 && seen[0] == 1, "A first (ran %d, first %lu)", nseen,
             (unsigned long)seen[0]);
    collect_live();
    TU_CHECK(tc_run_finalizers(10) == 1 && nseen_now() == 2 && seen[1] == 2, "then B");
    collect_live();
    TU_CHECK(st.objects_live == 0 && tc_run_finalizers(10) == 0, "leftovers");
}

static void sc_cycle(void)
{
    node *a = new_node(1), *b = NULL, *self = NULL;
    TC_ROOTS(a, b, self);
    b = new_node(2);
    self = new_node(3);
    TC_WRITE(a, ref, b);
    TC_WRITE(b, ref, a);
    TC_WRITE(self, ref, self);
    TU_REQUIRE_EQ(tc_finalizer_set(a, record, NULL), TC_OK);
    TU_REQUIRE_EQ(tc_finalizer_set(b, record, NULL), TC_OK);
    TU_REQUIRE_EQ(tc_finalizer_set(self, record, NULL), TC_OK);
    a = b = self = NULL;
    for (int i = 0; i < 4; i++) {
        collect_live();
        tc_run_finalizers(10);
    }
    TU_CHECK(nseen_now() == 1 && seen[0] == 3, "ran %d, first %lu: only the self-referring node "
             "should be finalized", nseen, (unsigned long)seen[0]);
    TU_CHECK(st.objects_live == 2, "%llu live: the cycle stays", (unsigned long long)st.objects_live);
}

static int cleaned[4];
static void count_cleanup(void *ctx) { __atomic_add_fetch((int *)ctx, 1, __ATOMIC_RELAXED); }

static void sc_cleanups(void)
{
    node *n = new_node(1), *m = NULL, *f = NULL;
    TC_ROOTS(n, m, f);
    m = new_node(2);
    f = new_node(3);
    TU_REQUIRE_EQ(tc_cleanup_add(n, count_cleanup, &cleaned[0]), TC_OK);
    TU_REQUIRE_EQ(tc_cleanup_add(n, count_cleanup, &cleaned[1]), TC_OK);
    TU_REQUIRE_EQ(tc_cleanup_add(m, count_cleanup, &cleaned[2]), TC_OK);
    TU_REQUIRE_EQ(tc_cleanup_remove(m, count_cleanup, &cleaned[2]), TC_OK);
    TU_REQUIRE_EQ(tc_cleanup_remove(m, count_cleanup, &cleaned[2]), TC_ENOTFOUND);
    TU_REQUIRE_EQ(tc_cleanup_add(f, count_cleanup, &cleaned[3]), TC_OK);
    TU_REQUIRE_EQ(tc_finalizer_set(f, record, NULL), TC_OK);
    n = m = f = NULL;
    TU_CHECK(collect_live() == 0, "%llu live", (unsigned long long)st.objects_live);
    TU_CHECK(tc_run_finalizers(10) == 3, "queued: two cleanups and a finalizer");
    TU_CHECK(cleaned[0] == 1 && cleaned[1] == 1 && cleaned[2] == 0, "cleanups %d %d %d",
             cleaned[0], cleaned[1], cleaned[2]);
    TU_CHECK(cleaned[3] == 0 && nseen_now() == 1, "the finalizer first, its cleanup later");
    collect_live();
    TU_CHECK(tc_run_finalizers(10) == 1 && cleaned[3] == 1, "the cleanup after the finalizer");
}

static void sc_weak_to_finalizable(void)
{
    void **w = NULL;
    TC_ROOTS(w);
    w = tc_alloc(&weak_type, sizeof(void *));
    node *n = new_node(7);
    tc_weak_write(w, &w[0], n);
    TU_REQUIRE_EQ(tc_finalizer_set(n, record, NULL), TC_OK);
    n = NULL;
    collect_live();
    TU_CHECK(tc_weak_read(&w[0]) != NULL, "cleared while kept for its finalizer");
    TU_CHECK(tc_run_finalizers(10) == 1, "not run");
    collect_live();
    TU_CHECK(tc_weak_read(&w[0]) == NULL, "valid after its object died");
}

/* The key is unreachable but kept for its finalizer: weak references to
 * it stay valid, so its ephemerons' values must stay too (they were once
 * freed while the ephemeron still handed them out). */
static void sc_ephemeron_finalizable_key(void)
{
    TU_REQUIRE_EQ(tc_root_add(&resurrected, 1), TC_OK);
    void **eph = NULL;
    node *key = NULL, *val = NULL;
    TC_ROOTS(eph, key, val);
    eph = tc_alloc(&eph_type, 2 * sizeof(void *));
    key = new_node(1);
    val = new_node(2);
    TC_WRITE(val, ref, new_node(3)); /* what the value reaches stays too */
    tc_ephemeron_set(eph, key, val);
    TU_REQUIRE_EQ(tc_finalizer_set(key, put_back, NULL), TC_OK);
    key = val = NULL;
    collect_live();
    node *k = tc_ephemeron_key(eph), *v = tc_ephemeron_value(eph);
    TU_CHECK(k != NULL && TU_UNTAG(k->tag) == 1, "the key was cleared while kept for its finalizer");
    TU_CHECK(v != NULL && TU_UNTAG(v->tag) == 2 && TU_UNTAG(((node *)v->ref)->tag) == 3,
             "the value was lost while its key was kept for its finalizer");
    /* Marked: the ephemeron, the value and its node (the key itself is
     * kept by the sweep, uncounted, as in sc_runs_once). */
    TU_CHECK(st.objects_live == 3, "%llu marked (the ephemeron, the value and its node)",
             (unsigned long long)st.objects_live);
    TU_CHECK(tc_run_finalizers(10) == 1 && resurrected == k, "the finalizer did not run");
    collect_live(); /* the key reachable again (a root): the entry is whole */
    v = tc_ephemeron_value(eph);
    TU_CHECK(tc_ephemeron_key(eph) == k && v && TU_UNTAG(v->tag) == 2 &&
                 TU_UNTAG(((node *)v->ref)->tag) == 3,
             "the entry was damaged after resurrection");
    resurrected = NULL; /* now the key dies for good: no finalizer left */
    collect_live();
    collect_live(); /* the zombie goes */
    TU_CHECK(tc_ephemeron_key(eph) == NULL && tc_ephemeron_value(eph) == NULL,
             "the entry outlived its key");
    TU_CHECK(st.objects_live == 1, "%llu live: only the ephemeron", (unsigned long long)st.objects_live);
    /* A key with a cleanup (a FinalizationRegistry entry) and a value that
     * refers back to it (a WeakMap's wrapper): no cycle problem, the key
     * dies, the entry is cleared, the cleanup runs. */
    key = new_node(4);
    val = new_node(5);
    TC_WRITE(val, ref, key);
    tc_ephemeron_set(eph, key, val);
    TU_REQUIRE_EQ(tc_cleanup_add(key, count_cleanup, &cleaned[0]), TC_OK);
    key = val = NULL;
    collect_live();
    TU_CHECK(tc_ephemeron_key(eph) == NULL && tc_ephemeron_value(eph) == NULL,
             "an entry whose value refers to its key (with a cleanup) was kept");
    TU_CHECK(tc_run_finalizers(10) == 1 && cleaned[0] == 1, "the cleanup did not run");
}

static int eph_finalized;
static void note_eph(void *obj, void *ctx)
{
    TU_CHECK(tc_type_of(obj) == &eph_type && ctx == &eph_finalized, "not the ephemeron");
    eph_finalized++;
}

static void sc_finalizable_ephemeron(void)
{
    void **eph = NULL;
    node *key = NULL;
    TC_ROOTS(eph, key);
    eph = tc_alloc(&eph_type, 2 * sizeof(void *));
    key = new_node(1);
    tc_ephemeron_set(eph, key, new_node(2));
    TU_REQUIRE_EQ(tc_finalizer_set(eph, note_eph, &eph_finalized), TC_OK);
    TU_REQUIRE_EQ(tc_finalizer_set(key, record, NULL), TC_OK);
    key = NULL;
    /* Pause 1 scans eph's contents (it has a finalizer) and meets a key
     * that is unmarked and special: does it have a finalizer? */
    collect_live();
    TU_CHECK(tc_run_finalizers(10) == 1 && nseen_now() == 1 && seen[0] == 1, "the key's");
    TU_CHECK(eph_finalized == 0 && tc_ephemeron_value(eph) != NULL, "the entry, while its "
             "key was kept for its finalizer");
    collect_live();
    collect_live();
    TU_CHECK(tc_ephemeron_key(eph) == NULL, "the key outlived its finalizer");
    eph = NULL;
    collect_live();
    TU_CHECK(tc_run_finalizers(10) == 1 && eph_finalized == 1, "the ephemeron's finalizer");
}

static int ran_at_shutdown;
/* registration_during_scan: a finalizable parent reaches a child tagged
 * with the parent's tag + CHILD_TAG.  The batched final_scan must scan
 * every parent's referents, also while the table doubles under it;
 * a child it missed is freed and poisoned before its parent's finalizer
 * reads it. */
#define CHILD_TAG 1000000
#define SCAN_ROUNDS 30
#define SCAN_PER_ROUND 3000
static uint64_t scan_ok, scan_bad;
static int registrar_stop;

static void check_child(void *obj, void *ctx)
{
    (void)ctx;
    node *n = obj;
    node *child = n->ref;
    uintptr_t tag = TU_UNTAG(n->tag);
    if (child && tc_is_heap_object(child) && tc_type_of(child) == &node_type &&
        TU_UNTAG(child->tag) == tag + CHILD_TAG)
        __atomic_add_fetch(&scan_ok, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&scan_bad, 1, __ATOMIC_RELAXED);
}

/* Parents with finalizers, dropped at once: n of them from tag `first`. */
static void make_parents(uintptr_t first, int n)
{
    node *p = NULL;
    TC_ROOTS(p);
    for (int i = 0; i < n; i++) {
        p = new_node(first + (uintptr_t)i);
        TC_WRITE(p, ref, new_node(first + (uintptr_t)i + CHILD_TAG));
        TU_REQUIRE_EQ(tc_finalizer_set(p, check_child, NULL), TC_OK);
    }
}

static void *registrar(void *arg)
{
    (void)arg;
    TU_REQUIRE_EQ(tc_thread_attach(), TC_OK);
    for (uintptr_t tag = 1u << 24; !__atomic_load_n(&registrar_stop, __ATOMIC_ACQUIRE);
         tag += 100) {
        make_parents(tag, 100);
        tc_run_finalizers(1000);
        tu_sleep_blocking(1); /* a pace that the forced cycles keep up with */
    }
    tc_thread_detach();
    return NULL;
}

static void sc_registration_during_scan(void)
{
    pthread_t t;
    TU_REQUIRE_EQ(pthread_create(&t, NULL, registrar, NULL), 0);
    for (int round = 0; round < SCAN_ROUNDS; round++) {
        make_parents((uintptr_t)round * SCAN_PER_ROUND, SCAN_PER_ROUND);
        tc_collect();
        tc_run_finalizers(SIZE_MAX);
    }
    __atomic_store_n(&registrar_stop, 1, __ATOMIC_RELEASE);
    tc_blocking_enter();
    pthread_join(t, NULL);
    tc_blocking_leave();
    for (int i = 0; i < 3; i++) {
        tc_collect();
        tc_run_finalizers(SIZE_MAX);
    }
    TU_CHECK(scan_bad == 0, "%llu of %llu finalizers found their object's child freed",
             (unsigned long long)scan_bad, (unsigned long long)(scan_ok + scan_bad));
    TU_CHECK(scan_ok >= (uint64_t)SCAN_ROUNDS * SCAN_PER_ROUND, "only %llu finalizers ran",
             (unsigned long long)scan_ok);
}

static void note_shutdown(void *obj, void *ctx)
{
    (void)obj;
    *(int *)ctx = 1;
}

static void sc_shutdown_runs_queued(void)
{
    node *n = new_node(1);
    TU_REQUIRE_EQ(tc_finalizer_set(n, note_shutdown, &ran_at_shutdown), TC_OK);
    node *kept = new_node(2); /* reachable at shutdown: never finalized */
    TC_ROOTS(kept);
    TU_REQUIRE_EQ(tc_finalizer_set(kept, record, NULL), TC_OK);
    n = NULL;
    collect_live();
    TU_CHECK(tc_finalizers_pending() == 1, "not queued");
    TC_ROOTS_POP();
    tc_shutdown();
    TU_CHECK(ran_at_shutdown == 1, "tc_shutdown did not run the queued finalizer");
    TU_CHECK(nseen_now() == 0, "a reachable object was finalized");
    TU_REQUIRE_EQ(tc_init(NULL), TC_OK); /* for the scenario's own tc_shutdown */
}

static void sc_errors(void)
{
    int local;
    TU_CHECK(tc_finalizer_set(&local, record, NULL) == TC_EINVAL, "a stack address");
    node *n = new_node(1);
    TC_ROOTS(n);
    TU_CHECK(tc_finalizer_set(n, NULL, NULL) == TC_ENOTFOUND, "removing none");
    TU_CHECK(tc_cleanup_add(n, NULL, NULL) == TC_EINVAL, "a NULL cleanup");
    TU_CHECK(tc_finalizer_set((char *)n + 8, record, NULL) == TC_EINVAL, "interior");
}

#define CASE(name, sc, cfg)                                                   \
    static void name(void **state)                                            \
    {                                                                         \
        (void)state;                                                          \
        tc_config c = cfg;                                                    \
        tu_run_isolated(#name, sc, &c, TIME_LIMIT);                           \
    }

CASE(finalizer_runs_once, sc_runs_once, queue_config())
CASE(finalizer_resurrects, sc_resurrects, queue_config())
CASE(finalizer_thread_allocates, sc_thread_allocates, tu_debug_config())
CASE(finalizer_order, sc_order, queue_config())
CASE(finalizer_cycle, sc_cycle, queue_config())
CASE(cleanups, sc_cleanups, queue_config())
CASE(weak_to_finalizable, sc_weak_to_finalizable, queue_config())
CASE(ephemeron_finalizable_key, sc_ephemeron_finalizable_key, queue_config())
CASE(finalizable_ephemeron, sc_finalizable_ephemeron, queue_config())
CASE(registration_during_scan, sc_registration_during_scan, queue_config())
CASE(shutdown_runs_queued, sc_shutdown_runs_queued, queue_config())
CASE(finalizer_errors, sc_errors, queue_config())

static void finalizers_under_stoptheworld(void **state)
{
    (void)state;
    tc_config c = queue_config();
    c.debug_stoptheworld = 1;
    tu_run_isolated("order", sc_order, &c, TIME_LIMIT);
    tu_run_isolated("cycle", sc_cycle, &c, TIME_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finalizer_runs_once),
        cmocka_unit_test(finalizer_resurrects),
        cmocka_unit_test(finalizer_thread_allocates),
        cmocka_unit_test(finalizer_order),
        cmocka_unit_test(finalizer_cycle),
        cmocka_unit_test(cleanups),
        cmocka_unit_test(weak_to_finalizable),
        cmocka_unit_test(ephemeron_finalizable_key),
        cmocka_unit_test(finalizable_ephemeron),
        cmocka_unit_test(registration_during_scan),
        cmocka_unit_test(shutdown_runs_queued),
        cmocka_unit_test(finalizer_errors),
        cmocka_unit_test(finalizers_under_stoptheworld),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
