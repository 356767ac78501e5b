/* test_weak.c — weak references, weak containers and ephemerons (issue 16).
 *
 * Each case runs in a forked child under checkmark and poison, with no
 * automatic cycles, so every cycle is one the test asked for:
 *
 *   weak_ref_cleared          a weak reference reads NULL once its target
 *                             is unreachable, its slot is cleared, and the
 *                             target's memory goes one cycle later
 *   weak_read_while_marking   a weak read during marking keeps the target
 *   no_revival_after_mark     between mark termination and sweeping, a
 *                             read of a dead target returns NULL
 *   weak_container            a Lua-style weak-valued array: exactly the
 *                             dead entries clear
 *   ephemeron_basic           value kept while the key lives, entry cleared
 *                             when it dies
 *   ephemeron_chain_cycle     a key reachable only through another
 *                             ephemeron's value; keys reaching each other
 *                             only through values; a value that refers to
 *                             its own key
 *   ephemeron_key_store_while_marking
 *                             a key made reachable only by a store during
 *                             marking keeps its value
 *   ephemeron_set_while_marking
 *                             tc_ephemeron_set during marking re-pairs
 *   weak_stats                the counters in tc_stats and the cycle info
 *   pending_table             the pending ephemerons' table against a
 *                             model: many ephemerons per key, keys that
 *                             collide, growth, takes in any order
 *   ephemeron_clear_race      a thread reading key, then value, of
 *                             ephemerons whose keys die, while the sweeper
 *                             clears them: a NULL key never comes with a
 *                             value (the value was once returned after
 *                             being freed; a race hunt: it caught that bug
 *                             in 2 runs of 5)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector.h"
#include "test_util.h"
#include "weak.h"

#define TIME_LIMIT 60

static const tc_type weak_type = {.name = "weak", .layout = TC_LAYOUT_WEAK};
static const tc_type eph_type = {.name = "eph", .layout = TC_LAYOUT_EPHEMERON};
static const tc_type table_type = {.name = "table", .layout = TC_LAYOUT_SLOTS};

typedef struct eph {
    void *key, *value, *next;
} eph;

static tc_stats st;

static uint64_t live(void)
{
    tc_collect();
    tc_read_stats(&st);
    return st.objects_live;
}

static void *new_weak(void *target)
{
    void **w = tc_alloc(&weak_type, sizeof(void *));
    TU_REQUIRE(w != NULL, "tc_alloc");
    tc_weak_write(w, &w[0], target);
    return w;
}

static eph *new_eph(void *key, void *value)
{
    eph *e = tc_alloc(&eph_type, sizeof(eph));
    TU_REQUIRE(e != NULL, "tc_alloc");
    tc_ephemeron_set(e, key, value);
    return e;
}

static void raw_is_null(void *const *slot, const char *what)
{
    TU_CHECK(__atomic_load_n((void **)slot, __ATOMIC_RELAXED) == NULL, "%s not cleared", what);
}

/* ------------------------------------------------------------- weak refs */

static void sc_weak_ref_cleared(void)
{
    void **w = NULL, *target = NULL;
    TC_ROOTS(w, target);
    target = tu_seeded_leaf(&tu_leaf_type, 7);
    w = new_weak(target);
    TU_CHECK(live() == 2, "%llu live", (unsigned long long)st.objects_live);
    TU_CHECK(tc_weak_read(&w[0]) == target, "a live target reads back");
    TU_CHECK(tu_seeded_leaf_ok(tc_weak_read(&w[0]), &tu_leaf_type, 7), "intact");
    void *addr = target;
    target = NULL;
    TU_CHECK(live() == 1, "the target is not live (%llu)", (unsigned long long)st.objects_live);
    TU_CHECK(tc_weak_read(&w[0]) == NULL, "a dead target reads NULL");
    raw_is_null(&w[0], "the weak slot");
    /* One cycle on, the zombie is freed. */
    live();
    TU_CHECK(!tc_is_heap_object(addr), "the dead target's memory was not freed");
    /* A weak reference to a non-heap value or NULL stays as it is. */
    tc_weak_write(w, &w[0], TU_TAG(42));
    live();
    TU_CHECK(tc_weak_read(&w[0]) == TU_TAG(42), "a tagged value in a weak slot changed");
}

/* A weak read while marking keeps its target: the collector's snapshot
 * did not have it (only the weak slot did), yet it survives. */
static void sc_weak_read_while_marking(void)
{
    void **w = NULL, *got = NULL;
    TC_ROOTS(w, got);
    void *target = tu_seeded_leaf(&tu_leaf_type, 9);
    w = new_weak(target);
    target = NULL;
    uint64_t n = tu_start_held_cycle(); /* marking: the target is only weakly held */
    got = tc_weak_read(&w[0]);
    TU_REQUIRE(got != NULL, "the target was already gone");
    collector_test_hold_marking(0);
    collector_wait(n);
    TU_CHECK(tu_seeded_leaf_ok(got, &tu_leaf_type, 9), "read while marking, then freed");
    TU_CHECK(tc_weak_read(&w[0]) == got, "the weak slot was cleared under a live target");
    got = NULL;
    live();
    TU_CHECK(tc_weak_read(&w[0]) == NULL, "dead at last");
}

/* Between mark termination and the sweep, a dead target is not revived. */
static void sc_no_revival_after_mark(void)
{
    void **w = NULL, *kept = NULL;
    TC_ROOTS(w, kept);
    w = tc_alloc(&weak_type, 2 * sizeof(void *));
    kept = tu_seeded_leaf(&tu_leaf_type, 1);
    tc_weak_write(w, &w[0], tu_seeded_leaf(&tu_leaf_type, 2)); /* dies */
    tc_weak_write(w, &w[1], kept);
    collector_test_hold_sweep(1);
    uint64_t n = collector_request(1);
    TU_REQUIRE(tu_wait_phase(PHASE_SWEEP, 20) == 0, "no sweep phase");
    /* Marked, not swept yet: the slot still holds the dead object. */
    TU_CHECK(__atomic_load_n(&w[0], __ATOMIC_RELAXED) != NULL, "cleared before the sweep?");
    TU_CHECK(tc_weak_read(&w[0]) == NULL, "a dead target was revived");
    TU_CHECK(tc_weak_read(&w[1]) == kept, "a live one was not");
    collector_test_hold_sweep(0);
    collector_wait(n);
    raw_is_null(&w[0], "the dead slot");
    TU_CHECK(tu_seeded_leaf_ok(kept, &tu_leaf_type, 1), "the live target");
}

/* A weak-valued array, as a Lua table with __mode "v" holds its values. */
#define NW 1000

static void sc_weak_container(void)
{
    void **arr = NULL, **strong = NULL;
    TC_ROOTS(arr, strong);
    arr = tc_alloc(&weak_type, NW * sizeof(void *));
    strong = tc_alloc(&table_type, NW * sizeof(void *));
    for (uint32_t i = 0; i < NW; i++) {
        void *o = tu_seeded_leaf(&tu_leaf_type, i);
        tc_weak_write(arr, &arr[i], o);
        if (i % 3 == 0)
            tc_write(strong, &strong[i], o);
    }
    live();
    for (uint32_t i = 0; i < NW; i++) {
        void *v = tc_weak_read(&arr[i]);
        if (i % 3 == 0)
            TU_CHECK(v && tu_seeded_leaf_ok(v, &tu_leaf_type, i), "entry %u lost", i);
        else
            TU_CHECK(v == NULL, "entry %u kept", i);
    }
    TU_CHECK(st.objects_live == 2 + (NW + 2) / 3, "%llu live", (unsigned long long)st.objects_live);
}

/* ------------------------------------------------------------- ephemerons */

static void sc_ephemeron_basic(void)
{
    void *key = NULL;
    eph *e = NULL;
    TC_ROOTS(key, e);
    key = tu_seeded_leaf(&tu_leaf_type, 1);
    e = new_eph(key, tu_seeded_leaf(&tu_leaf_type, 2));
    live();
    TU_CHECK(st.objects_live == 3, "%llu live", (unsigned long long)st.objects_live);
    TU_CHECK(tu_seeded_leaf_ok(tc_ephemeron_value(e), &tu_leaf_type, 2), "value lost");
    TU_CHECK(tc_ephemeron_key(e) == key, "key");
    key = NULL;
    live();
    TU_CHECK(st.objects_live == 1, "%llu live: key and value should be gone",
             (unsigned long long)st.objects_live);
    TU_CHECK(tc_ephemeron_key(e) == NULL && tc_ephemeron_value(e) == NULL, "not cleared");
    raw_is_null(&e->key, "the key slot");
    raw_is_null(&e->value, "the value slot");
    /* A key that is no heap object never dies: its value is strong. */
    tc_ephemeron_set(e, TU_TAG(3), tu_seeded_leaf(&tu_leaf_type, 4));
    live();
    TU_CHECK(tu_seeded_leaf_ok(tc_ephemeron_value(e), &tu_leaf_type, 4), "tagged key's value");
}

/* k1 rooted; e1: k1 -> k2; e2: k2 -> v2 (k2 reachable only through e1's
 * value).  And c1: a -> b, c2: b -> a with nothing else holding a or b.
 * And s: k -> v where v refers to k (a WeakMap's classic leak). */
static void sc_ephemeron_chain_cycle(void)
{
    void *k1 = NULL, **table = NULL;
    TC_ROOTS(k1, table);
    table = tc_alloc(&table_type, 5 * sizeof(void *));
    k1 = tu_seeded_leaf(&tu_leaf_type, 1);
    void *k2 = tc_alloc(&table_type, sizeof(void *)); /* a k2 that is also a container */
    tc_write(table, &table[0], new_eph(k1, k2));
    tc_write(table, &table[1], new_eph(k2, tu_seeded_leaf(&tu_leaf_type, 22)));
    void *a = tu_seeded_leaf(&tu_leaf_type, 30), *b = tu_seeded_leaf(&tu_leaf_type, 31);
    tc_write(table, &table[2], new_eph(a, b));
    tc_write(table, &table[3], new_eph(b, a));
    void **k = tc_alloc(&table_type, sizeof(void *)), **v = tc_alloc(&table_type, sizeof(void *));
    tc_write(v, &v[0], k); /* the value refers to its own key */
    tc_write(table, &table[4], new_eph(k, v));
    k2 = a = b = k = v = NULL;
    live();
    eph *e1 = table[0], *e2 = table[1];
    TU_CHECK(tc_ephemeron_value(e1) != NULL, "chain: k2 lost");
    TU_CHECK(tc_ephemeron_key(e2) == tc_ephemeron_value(e1), "chain: e2's key");
    TU_CHECK(tu_seeded_leaf_ok(tc_ephemeron_value(e2), &tu_leaf_type, 22), "chain: v2 lost");
    for (int i = 2; i <= 4; i++)
        TU_CHECK(tc_ephemeron_key(table[i]) == NULL && tc_ephemeron_value(table[i]) == NULL,
                 "ephemeron %d (cycle / self-key) was not cleared", i);
    /* table, 5 ephemerons, k1, k2, v2. */
    TU_CHECK(st.objects_live == 9, "%llu live", (unsigned long long)st.objects_live);
    /* Drop k1: the whole chain goes. */
    k1 = NULL;
    live();
    TU_CHECK(tc_ephemeron_value(e1) == NULL && tc_ephemeron_value(e2) == NULL, "chain kept");
    TU_CHECK(st.objects_live == 6, "%llu live", (unsigned long long)st.objects_live);
}

/* Marking: the key is reachable only as e's key at the snapshot; the
 * program reads it (keeping it) and stores it in a live object.  The key
 * lives, so the value must too. */
static void sc_key_store_while_marking(void)
{
    eph *e = NULL;
    void **holder = NULL;
    TC_ROOTS(e, holder);
    holder = tc_alloc(&table_type, sizeof(void *));
    e = new_eph(tu_seeded_leaf(&tu_leaf_type, 5), tu_seeded_leaf(&tu_leaf_type, 6));
    /* No cycle in between: one would find the key dead. */
    uint64_t n = tu_start_held_cycle();
    void *key = tc_ephemeron_key(e);
    TU_REQUIRE(key != NULL, "key already gone");
    tc_write(holder, &holder[0], key);
    key = NULL;
    collector_test_hold_marking(0);
    collector_wait(n);
    TU_CHECK(tu_seeded_leaf_ok(holder[0], &tu_leaf_type, 5), "the key");
    TU_CHECK(tu_seeded_leaf_ok(tc_ephemeron_value(e), &tu_leaf_type, 6),
             "the value of a key stored while marking was lost");
    live(); /* and in the next cycle, from the snapshot */
    TU_CHECK(tu_seeded_leaf_ok(tc_ephemeron_value(e), &tu_leaf_type, 6), "value, next cycle");
}

/* Marking: e gets a new key and value; the new key is rooted, the new
 * value only in e. */
static void sc_set_while_marking(void)
{
    eph *e = NULL;
    void *key = NULL;
    TC_ROOTS(e, key);
    e = new_eph(tu_seeded_leaf(&tu_leaf_type, 1), tu_seeded_leaf(&tu_leaf_type, 2));
    live(); /* e's old key is dead: e is cleared */
    uint64_t n = tu_start_held_cycle();
    key = tu_seeded_leaf(&tu_leaf_type, 3); /* black */
    void *old = tu_seeded_leaf(&tu_leaf_type, 10);
    tc_ephemeron_set(e, old, NULL);
    tc_ephemeron_set(e, key, tu_seeded_leaf(&tu_leaf_type, 4));
    collector_test_hold_marking(0);
    collector_wait(n);
    live();
    TU_CHECK(tc_ephemeron_key(e) == key, "key");
    TU_CHECK(tu_seeded_leaf_ok(tc_ephemeron_value(e), &tu_leaf_type, 4), "value lost");
}

static void sc_weak_stats(void)
{
    void **w = NULL;
    eph *e = NULL;
    TC_ROOTS(w, e);
    w = tc_alloc(&weak_type, 8 * sizeof(void *));
    for (int i = 0; i < 8; i++)
        tc_weak_write(w, &w[i], tu_seeded_leaf(&tu_leaf_type, (uint32_t)i));
    e = new_eph(tu_seeded_leaf(&tu_leaf_type, 8), tu_seeded_leaf(&tu_leaf_type, 9));
    tc_stats before;
    tc_read_stats(&before);
    live();
    TU_CHECK(st.weak_cleared - before.weak_cleared == 9, "%llu weak slots cleared",
             (unsigned long long)(st.weak_cleared - before.weak_cleared));
    TU_CHECK(st.ephemerons - before.ephemerons >= 1, "ephemerons not counted");
}

/* ------------------------------------------------------ pending table */

/* The table alone (weak.c), no marking: keys that are not heap objects
 * are filed and never "marked", so weak_ephemeron_pending files each.
 * Key k has k % 4 ephemerons (0 to 3); keys are 16 bytes apart, so many
 * share a stripe and probe runs collide.  Key k/2 is taken after key k is
 * filed, for odd k: each stripe grows three times (64 slots to 512) while
 * keys filed long before are taken, so takes meet entries in a grown
 * stripe's old table (not yet moved), in its new one, and in both; the
 * other half is taken at the end, in a scrambled order. */
#define PT_KEYS 20000
#define PT_BASE ((uintptr_t)1 << 40)

static uintptr_t pt_key(unsigned k) { return PT_BASE + (uintptr_t)k * 16; }
static uintptr_t pt_eph(unsigned k, unsigned j) { return PT_BASE * 2 + (uintptr_t)k * 64 + j * 16; }

static void pt_file(unsigned from, unsigned to)
{
    for (unsigned k = from; k < to; k++)
        for (unsigned j = 0; j < k % 4; j++)
            TU_REQUIRE(weak_ephemeron_pending(pt_key(k), pt_eph(k, j)) == 1, "key %u", k);
}

/* Take key k's entries (in pieces of 2) and check them against the model. */
static void pt_take(unsigned k)
{
    uintptr_t got[8], piece[2];
    size_t n = 0, m;
    while ((m = weak_take_pending(pt_key(k), piece, 2)) > 0) {
        TU_REQUIRE(n + m <= 8, "key %u: too many entries", k);
        for (size_t i = 0; i < m; i++)
            got[n++] = piece[i];
    }
    TU_CHECK(n == k % 4, "key %u: %zu entries, not %u", k, n, k % 4);
    for (unsigned j = 0; j < k % 4; j++) {
        int found = 0;
        for (size_t i = 0; i < n; i++)
            found += got[i] == pt_eph(k, j);
        TU_CHECK(found == 1, "key %u: ephemeron %u found %d times", k, j, found);
    }
}

static void sc_pending_table(void)
{
    unsigned stride = 7919; /* a prime: a scrambled order */
    for (unsigned k = 0; k < PT_KEYS; k++) {
        pt_file(k, k + 1);
        if (k & 1)
            pt_take(k / 2);
    }
    for (unsigned i = 0; i < PT_KEYS; i++) {
        unsigned k = (i * stride) % PT_KEYS;
        if (k >= PT_KEYS / 2)
            pt_take(k);
    }
    for (unsigned k = 0; k < PT_KEYS; k += 97) /* all gone */
        TU_CHECK(weak_take_pending(pt_key(k), (uintptr_t[1]){0}, 1) == 0, "key %u again", k);
    weak_forget_pending();
}

/* ------------------------------------------------- clearing vs reading */

#define RACE_N 2048
#define RACE_CYCLES 3000
#define RACE_SECONDS 5
static const tc_type leaf_type = {.name = "leaf", .layout = TC_LAYOUT_LEAF};
static void **race_table; /* a global root: RACE_N ephemerons */
static int race_stop;
static uint64_t race_bad, race_reads;

static uintptr_t race_stamp(int i) { return 0x5eed0000u + (unsigned)i; }

/* The reader reads while the main thread collects; it stops (and says so)
 * while the main thread refills the table, whose objects it then sees
 * through the release/acquire pair on race_phase: the test's own
 * synchronisation, as a program's would be. */
static int race_phase, race_ack; /* phase 1: a refill is wanted; ack: the reader waits */

static void *race_reader(void *arg)
{
    (void)arg;
    TU_REQUIRE_EQ(tc_thread_attach(), TC_OK);
    while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE)) {
        if (__atomic_load_n(&race_phase, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&race_ack, 1, __ATOMIC_RELEASE);
            while (__atomic_load_n(&race_phase, __ATOMIC_ACQUIRE) &&
                   !__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE))
                tc_safepoint();
            __atomic_store_n(&race_ack, 0, __ATOMIC_RELEASE);
            continue;
        }
        for (int i = 0; i < RACE_N; i++) {
            void *e = tc_read(&race_table[i]);
            if (!e)
                continue;
            void *k = tc_ephemeron_key(e);
            uintptr_t *v = tc_ephemeron_value(e);
            race_reads++;
            /* No key, no value; a value is the one its key was given. */
            if ((!k && v) || (v && *v != race_stamp(i)))
                race_bad++;
        }
        tc_safepoint();
    }
    tc_thread_detach();
    return NULL;
}

/* Stop the reader before a refill. */
static void race_pause_reader(void)
{
    __atomic_store_n(&race_phase, 1, __ATOMIC_RELEASE);
    tc_blocking_enter();
    while (!__atomic_load_n(&race_ack, __ATOMIC_ACQUIRE))
        nanosleep(&(struct timespec){0, 10000}, NULL);
    tc_blocking_leave();
}

static void sc_ephemeron_clear_race(void)
{
    race_table = tc_alloc(&table_type, RACE_N * sizeof(void *));
    TU_REQUIRE_EQ(tc_root_add((void **)&race_table, 1), TC_OK);
    void *k = NULL, *e = NULL;
    uintptr_t *v = NULL;
    TC_ROOTS(k, v, e);
    __atomic_store_n(&race_phase, 1, __ATOMIC_RELEASE); /* no reading before the first fill */
    pthread_t t;
    TU_REQUIRE_EQ(pthread_create(&t, NULL, race_reader, NULL), 0);
    uint64_t end = tu_now_ns() + (uint64_t)RACE_SECONDS * 1000000000u;
    int cycles = 0;
    for (; cycles < RACE_CYCLES && tu_now_ns() < end; cycles++) {
        race_pause_reader();
        for (int i = 0; i < RACE_N; i++) {
            k = tc_alloc(&leaf_type, 16);
            v = tc_alloc(&leaf_type, 16);
            *v = race_stamp(i);
            e = tc_alloc(&eph_type, 2 * sizeof(void *));
            tc_ephemeron_set(e, k, v);
            tc_write(race_table, &race_table[i], e);
        }
        k = v = e = NULL; /* every key is unreachable now */
        __atomic_store_n(&race_phase, 0, __ATOMIC_RELEASE); /* read while it collects */
        tc_collect();
    }
    __atomic_store_n(&race_stop, 1, __ATOMIC_RELEASE);
    tc_blocking_enter();
    pthread_join(t, NULL);
    tc_blocking_leave();
    TU_CHECK(race_bad == 0, "%llu of %llu reads of an ephemeron gave a value without its key, "
             "or a freed one (%d cycles)", (unsigned long long)race_bad,
             (unsigned long long)race_reads, cycles);
}

#define CASE(name, sc)                                                        \
    static void name(void **state)                                            \
    {                                                                         \
        (void)state;                                                          \
        tc_config c = tu_debug_config();                                      \
        tu_run_isolated(#name, sc, &c, TIME_LIMIT);                           \
    }

CASE(weak_ref_cleared, sc_weak_ref_cleared)
CASE(weak_read_while_marking, sc_weak_read_while_marking)
CASE(no_revival_after_mark, sc_no_revival_after_mark)
CASE(weak_container, sc_weak_container)
CASE(ephemeron_basic, sc_ephemeron_basic)
CASE(ephemeron_chain_cycle, sc_ephemeron_chain_cycle)
CASE(ephemeron_key_store_while_marking, sc_key_store_while_marking)
CASE(ephemeron_set_while_marking, sc_set_while_marking)
CASE(weak_stats, sc_weak_stats)
CASE(pending_table, sc_pending_table)
CASE(ephemeron_clear_race, sc_ephemeron_clear_race)

/* The same under stoptheworld, and with verify (every weak store checked). */
static void all_under_stoptheworld_and_verify(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    c.debug_stoptheworld = 1;
    tu_run_isolated("weak_ref_cleared", sc_weak_ref_cleared, &c, TIME_LIMIT);
    tu_run_isolated("ephemeron_chain_cycle", sc_ephemeron_chain_cycle, &c, TIME_LIMIT);
    c.debug_stoptheworld = 0;
    c.debug_verify = 1;
    tu_run_isolated("weak_container", sc_weak_container, &c, TIME_LIMIT);
    tu_run_isolated("ephemeron_basic", sc_ephemeron_basic, &c, TIME_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(weak_ref_cleared),
        cmocka_unit_test(weak_read_while_marking),
        cmocka_unit_test(no_revival_after_mark),
        cmocka_unit_test(weak_container),
        cmocka_unit_test(ephemeron_basic),
        cmocka_unit_test(ephemeron_chain_cycle),
        cmocka_unit_test(ephemeron_key_store_while_marking),
        cmocka_unit_test(ephemeron_set_while_marking),
        cmocka_unit_test(weak_stats),
        cmocka_unit_test(pending_table),
        cmocka_unit_test(ephemeron_clear_race),
        cmocka_unit_test(all_under_stoptheworld_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
