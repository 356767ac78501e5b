/* test_termination.c — mark termination and the threads around it:
 *
 *   blocked_through_cycles   threads enter blocking regions during a mark
 *                            (their barrier buffers are flushed then) and
 *                            stay there for that cycle's termination and a
 *                            whole further cycle; their roots stay roots
 *   attach_detach_in_mark    threads attach, allocate, store and detach
 *                            while a cycle is held in its mark phase
 *   collect_while_held       tc_collect from several threads during a
 *                            cycle's mark: none returns before a cycle that
 *                            started after its call; one cycle serves all
 *   collect_storm            tc_collect from several threads in a loop:
 *                            the same promise, every cycle reported once
 *   stw1_nothing_to_sweep    after tc_collect (which waits for the sweep)
 *                            the next pause 1 has no span left to sweep
 *
 * Each scenario runs in a forked child with its own collector (checkmark
 * and poison on, automatic cycles off). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "mark.h"
#include "test_util.h"
#include "threads.h"

#define TIME_LIMIT 60 /* seconds per scenario; a normal run takes < 2 */

static const tc_type vec_type = {.name = "term_vec", .layout = TC_LAYOUT_SLOTS};
static const tc_type item_type = {.name = "term_item", .layout = TC_LAYOUT_LEAF};

static void **new_vec(size_t n) { return tc_alloc(&vec_type, n * sizeof(void *)); }

static void garbage(int n)
{
    for (int i = 0; i < n; i++) {
        void **g = new_vec(2 + (size_t)(i % 7));
        tc_write(g, &g[0], TU_TAG(i));
    }
}

static void barrier_wait_blocking(pthread_barrier_t *b)
{
    tc_blocking_enter();
    pthread_barrier_wait(b);
    tc_blocking_leave();
}

static void join_blocking(pthread_t *th, int n)
{
    tc_blocking_enter();
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    tc_blocking_leave();
}

/* ------------------------------------ threads blocked through cycles */

#define NBLOCK 3
#define DOOMED 3

static pthread_barrier_t built, go, entered, leave;
static void *doomed_at[NBLOCK][DOOMED]; /* written before `entered` */

/* R = [kept item, DOOMED items]; while marking, overwrite the doomed ones
 * (buffered), then block: entering flushes the buffer, so they are marked
 * before the thread goes quiet for the rest of the test. */
static void *blocker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (tc_thread_attach() != TC_OK) {
        TU_CHECK(0, "attach");
        return NULL;
    }
    {
        tc_thread *self = thread_self();
        void **r = NULL;
        TC_ROOTS(r);
        r = new_vec(1 + DOOMED);
        for (int i = 0; i <= DOOMED; i++)
            tc_write(r, &r[i], tu_seeded_leaf(&item_type, (uint32_t)(id * 10 + i)));
        barrier_wait_blocking(&built);
        barrier_wait_blocking(&go); /* main holds a cycle in its mark phase now */
        for (int i = 0; i < DOOMED; i++) {
            doomed_at[id][i] = r[1 + i];
            tc_write(r, &r[1 + i], NULL);
        }
        TU_CHECK(self->barrier_n == DOOMED, "thread %d buffered %zu values", id, self->barrier_n);
        tc_blocking_enter();
        TU_CHECK(self->barrier_n == 0, "thread %d: buffer not flushed on entering", id);
        for (int i = 0; i < DOOMED; i++)
            TU_CHECK(mark_is_marked(doomed_at[id][i]), "thread %d: doomed %d not shaded", id, i);
        pthread_barrier_wait(&entered);
        pthread_barrier_wait(&leave); /* two cycles later */
        tc_blocking_leave();
        TU_CHECK(tu_seeded_leaf_ok(r[0], &item_type, (uint32_t)(id * 10)), "thread %d: kept item corrupted", id);
    }
    tc_thread_detach();
    return NULL;
}

static void sc_blocked_through_cycles(void)
{
    pthread_barrier_init(&built, NULL, NBLOCK + 1);
    pthread_barrier_init(&go, NULL, NBLOCK + 1);
    pthread_barrier_init(&entered, NULL, NBLOCK + 1);
    pthread_barrier_init(&leave, NULL, NBLOCK + 1);
    pthread_t th[NBLOCK];
    for (int i = 0; i < NBLOCK; i++)
        TU_REQUIRE_EQ(pthread_create(&th[i], NULL, blocker_main, (void *)(intptr_t)i), 0);
    barrier_wait_blocking(&built);
    TU_REQUIRE_EQ(tu_live_after_collect(), NBLOCK * (2 + DOOMED));
    uint64_t n = tu_start_held_cycle();
    barrier_wait_blocking(&go);
    barrier_wait_blocking(&entered); /* every thread blocking, its buffer flushed */
    collector_test_hold_marking(0);
    collector_wait(n);
    for (int t = 0; t < NBLOCK; t++)
        for (int i = 0; i < DOOMED; i++)
            TU_CHECK(tu_seeded_leaf_ok(doomed_at[t][i], &item_type, (uint32_t)(t * 10 + 1 + i)),
                     "thread %d: doomed item %d freed while shaded", t, i);
    /* A whole cycle with the threads blocked: their frames are roots. */
    TU_REQUIRE_EQ(tu_live_after_collect(), NBLOCK * 2);
    TU_REQUIRE_EQ(collector_test_stw1_swept(), 0);
    for (int t = 0; t < NBLOCK; t++)
        for (int i = 0; i < DOOMED; i++)
            TU_CHECK(!tc_is_heap_object(doomed_at[t][i]), "doomed item outlived two cycles");
    barrier_wait_blocking(&leave);
    join_blocking(th, NBLOCK);
    TU_REQUIRE_EQ(tu_live_after_collect(), 0);
    pthread_barrier_destroy(&built);
    pthread_barrier_destroy(&go);
    pthread_barrier_destroy(&entered);
    pthread_barrier_destroy(&leave);
}

static void blocked_through_cycles(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("blocked_through_cycles", sc_blocked_through_cycles, &c, TIME_LIMIT);
}

/* --------------------------------- attach and detach during a mark */

#define GN 64
#define NATTACH 4
#define ROUNDS 2 /* attach/detach rounds per thread */

static void *groot[1]; /* a registered root: the shared vector G */
static void *gone_at[NATTACH * ROUNDS];

/* G's slots: [0, 16) moved via a new thread's root into a black object;
 * [16, 32) moved heap to heap into it; [32, 48) deleted (shaded, then
 * garbage); [48, 64) untouched. */
static void attached_round(int j)
{
    void **g = groot[0];
    void *local = NULL, **fresh = NULL;
    TC_ROOTS(local, fresh);
    local = g[j]; /* root <- heap, then the heap copy goes */
    tc_write(g, &g[j], NULL);
    fresh = new_vec(3); /* black */
    TU_CHECK(mark_is_marked(fresh), "round %d: a new thread's allocation is not black", j);
    tc_write(fresh, &fresh[0], local);
    local = NULL;
    tc_write(fresh, &fresh[1], g[16 + j]);
    tc_write(g, &g[16 + j], NULL);
    tc_write(fresh, &fresh[2], tu_seeded_leaf(&item_type, (uint32_t)(1000 + j)));
    garbage(200);
    tc_write(g, &g[j], fresh);
    gone_at[j] = g[32 + j];
    tc_write(g, &g[32 + j], NULL);
}

static void *attacher_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int round = 0; round < ROUNDS; round++) {
        int err = tc_thread_attach();
        TU_CHECK(err == TC_OK, "attach: %d", err);
        if (err)
            return NULL;
        TU_CHECK(collector_phase() == PHASE_MARK, "attached outside the mark phase");
        attached_round(id * ROUNDS + round);
        tc_thread_detach(); /* flushes the barrier buffer */
    }
    return NULL;
}

/* Attached before the cycle; detaches during its mark: its frame was in
 * the snapshot, so what only it held survives this cycle, not the next. */
static pthread_barrier_t early_b;
static void *early_item;

static void *early_main(void *arg)
{
    (void)arg;
    if (tc_thread_attach() != TC_OK) {
        TU_CHECK(0, "attach");
        return NULL;
    }
    {
        void *mine = NULL;
        TC_ROOTS(mine);
        mine = early_item = tu_seeded_leaf(&item_type, 4242);
        barrier_wait_blocking(&early_b); /* built */
        barrier_wait_blocking(&early_b); /* the cycle is held */
        tc_thread_detach();
    }
    return NULL;
}

static void check_g_after(void)
{
    void **g = groot[0];
    for (int j = 0; j < NATTACH * ROUNDS; j++) {
        void **f = g[j];
        TU_CHECK(tc_is_heap_object(f) && tc_type_of(f) == &vec_type, "G[%d] not a vector", j);
        if (!tc_is_heap_object(f))
            continue;
        TU_CHECK(tu_seeded_leaf_ok(f[0], &item_type, (uint32_t)j), "G[%d][0]: the item moved via a root was freed", j);
        TU_CHECK(tu_seeded_leaf_ok(f[1], &item_type, (uint32_t)(16 + j)), "G[%d][1]: the item moved heap to heap", j);
        TU_CHECK(tu_seeded_leaf_ok(f[2], &item_type, (uint32_t)(1000 + j)), "G[%d][2]: the new item", j);
    }
    for (int j = 48; j < GN; j++)
        TU_CHECK(tu_seeded_leaf_ok(g[j], &item_type, (uint32_t)j), "G[%d] corrupted", j);
}

static void sc_attach_detach_in_mark(void)
{
    TU_REQUIRE_EQ(tc_root_add(groot, 1), TC_OK);
    groot[0] = new_vec(GN);
    for (uint32_t j = 0; j < GN; j++)
        tc_write(groot[0], &((void **)groot[0])[j], tu_seeded_leaf(&item_type, j));
    pthread_barrier_init(&early_b, NULL, 2);
    pthread_t early;
    TU_REQUIRE_EQ(pthread_create(&early, NULL, early_main, NULL), 0);
    barrier_wait_blocking(&early_b);
    TU_REQUIRE_EQ(tu_live_after_collect(), 1 + GN + 1);
    uint64_t n = tu_start_held_cycle();
    barrier_wait_blocking(&early_b);
    join_blocking(&early, 1);
    pthread_t th[NATTACH];
    for (int i = 0; i < NATTACH; i++)
        TU_REQUIRE_EQ(pthread_create(&th[i], NULL, attacher_main, (void *)(intptr_t)i), 0);
    join_blocking(th, NATTACH);
    TU_REQUIRE_EQ(collector_phase(), PHASE_MARK); /* all of it happened while marking */
    collector_test_hold_marking(0);
    collector_wait(n);
    TU_CHECK(tu_seeded_leaf_ok(early_item, &item_type, 4242), "the early thread's item died with its detach");
    for (int j = 0; j < NATTACH * ROUNDS; j++)
        TU_CHECK(tu_seeded_leaf_ok(gone_at[j], &item_type, (uint32_t)(32 + j)), "deleted G[%d] freed while shaded",
                 32 + j);
    check_g_after();
    /* G, per round a vector with 3 items, the untouched 16... */
    uint64_t want = 1 + NATTACH * ROUNDS * 4 + (GN - 48);
    /* ...plus the items of slots no round used. */
    want += 3 * (16 - NATTACH * ROUNDS);
    TU_REQUIRE_EQ(tu_live_after_collect(), want);
    TU_CHECK(!tc_is_heap_object(early_item), "the early thread's item outlived its detach");
    check_g_after();
    groot[0] = NULL;
    TU_REQUIRE_EQ(tu_live_after_collect(), 0);
    pthread_barrier_destroy(&early_b);
}

static void attach_detach_in_mark(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("attach_detach_in_mark", sc_attach_detach_in_mark, &c, TIME_LIMIT);
}

/* ------------------------------------------------ concurrent tc_collect */

#define NCOLL 4
#define CALLS 25

static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cb_calls, cb_forced, cb_last, cb_out_of_order;

static void on_cycle(const tc_cycle_info *info, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&cb_lock);
    cb_calls++;
    cb_forced += info->forced != 0;
    cb_out_of_order += info->cycle != cb_last + 1;
    cb_last = info->cycle;
    pthread_mutex_unlock(&cb_lock);
}

static uint64_t last_reported(void)
{
    pthread_mutex_lock(&cb_lock);
    uint64_t c = cb_last;
    pthread_mutex_unlock(&cb_lock);
    return c;
}

/* A collect whose promise can be checked from outside: if cycle R was the
 * last reported when the call began, cycle R+1 may have started already,
 * so only R+2 is sure to start after the call; if a cycle was seen in its
 * mark or sweep phase after reading R, it is >= R+1, so the call must wait
 * for R+2; otherwise R+1 at least. */
static void checked_collect(int id, int call)
{
    uint64_t r = last_reported();
    int busy = collector_phase() != PHASE_OFF;
    tc_collect();
    uint64_t after = last_reported();
    uint64_t need = r + (busy ? 2 : 1);
    TU_CHECK(after >= need, "thread %d call %d: returned after cycle %llu; cycle %llu was %s",
             id, call, (unsigned long long)after, (unsigned long long)r + (busy ? 1 : 0),
             busy ? "already running at the call" : "the last reported");
}

static pthread_barrier_t coll_b;
static tc_thread *coll_self[NCOLL];
static int about_to_collect[NCOLL];

static void *held_collector_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (tc_thread_attach() != TC_OK) {
        TU_CHECK(0, "attach");
        return NULL;
    }
    coll_self[id] = thread_self();
    barrier_wait_blocking(&coll_b); /* main holds a cycle's mark now */
    __atomic_store_n(&about_to_collect[id], 1, __ATOMIC_RELEASE);
    checked_collect(id, 0);
    tc_thread_detach();
    return NULL;
}

/* Wait until thread i is inside tc_collect: flagged, then BLOCKING (the
 * wait of collector_wait, after its request). */
static void wait_inside_collect(int i)
{
    while (!__atomic_load_n(&about_to_collect[i], __ATOMIC_ACQUIRE) ||
           at_load(&coll_self[i]->state) != TS_BLOCKING)
        tu_sleep_blocking(1);
}

static void sc_collect_while_held(void)
{
    tc_set_cycle_callback(on_cycle, NULL);
    TU_REQUIRE_EQ(tu_live_after_collect(), 0);
    TU_REQUIRE_EQ(last_reported(), 1);
    pthread_barrier_init(&coll_b, NULL, NCOLL + 1);
    pthread_t th[NCOLL];
    for (int i = 0; i < NCOLL; i++)
        TU_REQUIRE_EQ(pthread_create(&th[i], NULL, held_collector_main, (void *)(intptr_t)i), 0);
    uint64_t n = tu_start_held_cycle();
    TU_REQUIRE_EQ(n, 2);
    barrier_wait_blocking(&coll_b);
    for (int i = 0; i < NCOLL; i++)
        wait_inside_collect(i);
    /* Every caller asked while cycle 2 was running: cycle 2 cannot serve
     * them; cycle 3 serves them all. */
    collector_test_hold_marking(0);
    join_blocking(th, NCOLL);
    pthread_barrier_destroy(&coll_b);
    static tc_stats st;
    tc_read_stats(&st);
    TU_REQUIRE_EQ(st.cycles, 3);
    pthread_mutex_lock(&cb_lock);
    TU_REQUIRE_EQ(cb_calls, 3);
    TU_REQUIRE_EQ(cb_forced, 3);
    TU_REQUIRE_EQ(cb_out_of_order, 0);
    pthread_mutex_unlock(&cb_lock);
}

static void collect_while_held(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("collect_while_held", sc_collect_while_held, &c, TIME_LIMIT);
}

static void *storm_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (tc_thread_attach() != TC_OK) {
        TU_CHECK(0, "attach");
        return NULL;
    }
    {
        void *mine = NULL;
        TC_ROOTS(mine);
        mine = tu_seeded_leaf(&item_type, (uint32_t)(700 + id));
        barrier_wait_blocking(&coll_b);
        for (int i = 0; i < CALLS; i++) {
            garbage(500);
            checked_collect(id, i);
            TU_CHECK(tu_seeded_leaf_ok(mine, &item_type, (uint32_t)(700 + id)), "thread %d: item corrupted", id);
        }
    }
    tc_thread_detach();
    return NULL;
}

static void sc_collect_storm(void)
{
    tc_set_cycle_callback(on_cycle, NULL);
    pthread_barrier_init(&coll_b, NULL, NCOLL);
    pthread_t th[NCOLL];
    for (int i = 0; i < NCOLL; i++)
        TU_REQUIRE_EQ(pthread_create(&th[i], NULL, storm_main, (void *)(intptr_t)i), 0);
    join_blocking(th, NCOLL);
    pthread_barrier_destroy(&coll_b);
    static tc_stats st;
    tc_read_stats(&st);
    printf("collect storm: %d threads x %d calls, %llu cycles\n", NCOLL, CALLS,
           (unsigned long long)st.cycles);
    /* Calls share cycles, but each thread's calls need one each. */
    TU_REQUIRE(st.cycles >= CALLS && st.cycles <= NCOLL * CALLS, "%llu cycles",
               (unsigned long long)st.cycles);
    pthread_mutex_lock(&cb_lock);
    TU_REQUIRE_EQ(cb_calls, st.cycles); /* each reported once, in order */
    TU_REQUIRE_EQ(cb_forced, st.cycles);
    TU_REQUIRE_EQ(cb_out_of_order, 0);
    pthread_mutex_unlock(&cb_lock);
    TU_REQUIRE_EQ(tu_live_after_collect(), 0);
}

static void collect_storm(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("collect_storm", sc_collect_storm, &c, TIME_LIMIT);
}

/* ------------------------------------------ pause 1 finds nothing to sweep */

static void sc_stw1_nothing_to_sweep(void)
{
    void **keep = NULL;
    TC_ROOTS(keep);
    keep = new_vec(100);
    for (uint32_t i = 0; i < 100; i++)
        tc_write(keep, &keep[i], tu_seeded_leaf(&item_type, i));
    tc_collect();
    for (int k = 0; k < 20; k++) {
        garbage(20000); /* spans to sweep, in several size classes */
        tc_collect();   /* returns once its sweep is done... */
        /* ...so this cycle's pause 1 found the last one's all swept. */
        TU_CHECK(collector_test_stw1_swept() == 0, "round %d: pause 1 swept %llu spans", k,
                 (unsigned long long)collector_test_stw1_swept());
    }
    for (uint32_t i = 0; i < 100; i++)
        TU_CHECK(tu_seeded_leaf_ok(keep[i], &item_type, i), "item %u corrupted", i);
}

static void stw1_nothing_to_sweep(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("stw1_nothing_to_sweep", sc_stw1_nothing_to_sweep, &c, TIME_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocked_through_cycles),
        cmocka_unit_test(attach_detach_in_mark),
        cmocka_unit_test(collect_while_held),
        cmocka_unit_test(collect_storm),
        cmocka_unit_test(stw1_nothing_to_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
