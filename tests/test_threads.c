/* test_threads.c — several attached mutators: rooted structures survive
 * cycles run by any thread or by the trigger; blocking regions do not hold
 * up a pause and their roots stay roots; detach drops a thread's roots;
 * attach/detach in a loop; concurrent tc_collect.
 *
 * Each test runs in a forked child with a time limit, so that a deadlock
 * fails that one test (with a message) instead of hanging the file.  The
 * child starts its own collector; checks in the child (any thread) are
 * CHECK (record and go on) or REQUIRE (main thread: report and exit). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t live_after_collect(void)
{
    static tc_stats st;
    tc_collect();
    tc_read_stats(&st);
    return st.objects_live;
}

/* ------------------------------------------------ checks in the child */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char fail_msg[512];
static int failed;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            pthread_mutex_lock(&fail_lock);                                   \
            if (!failed++) {                                                  \
                int n_ = snprintf(fail_msg, sizeof fail_msg, "%s:%d: %s: ",   \
                                  __FILE__, __LINE__, #cond);                 \
                snprintf(fail_msg + n_, sizeof fail_msg - (size_t)n_,         \
                         __VA_ARGS__);                                        \
            }                                                                 \
            pthread_mutex_unlock(&fail_lock);                                 \
        }                                                                     \
    } while (0)

/* Main thread of the child only: a failed requirement ends the test. */
#define REQUIRE(cond, ...)                                                    \
    do {                                                                      \
        CHECK(cond, __VA_ARGS__);                                             \
        if (!(cond))                                                          \
            child_exit();                                                     \
    } while (0)

#define REQUIRE_EQ(a, b)                                                      \
    do {                                                                      \
        unsigned long long a_ = (unsigned long long)(a);                      \
        unsigned long long b_ = (unsigned long long)(b);                      \
        REQUIRE(a_ == b_, "%s = %llu, expected %s = %llu", #a, a_, #b, b_);   \
    } while (0)

static void child_exit(void)
{
    pthread_mutex_lock(&fail_lock);
    int f = failed;
    if (f)
        fprintf(stderr, "%d failed check(s); first: %s\n", f, fail_msg);
    pthread_mutex_unlock(&fail_lock);
    fflush(stdout);
    fflush(stderr);
    /* exit, not _exit: a sanitizer's report sets the exit status at exit. */
    exit(f ? 1 : 0);
}

/* In a forked child: undo cmocka's handlers for crash signals, so that a
 * crash kills the child instead of resuming the test suite in it. */
/* Run scenario() in a forked child that starts its own collector; fail
 * the cmocka test if it fails, crashes or does not finish in time.  The
 * parent runs no collector, so it is single-threaded at the fork. */
static void run_isolated(const char *name, void (*scenario)(void), int seconds)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tu_child_default_signals();
        if (tc_init(NULL) != TC_OK) {
            fprintf(stderr, "tc_init failed\n");
            _exit(2);
        }
        scenario();
        tc_shutdown();
        child_exit();
    }
    uint64_t deadline = now_ns() + (uint64_t)seconds * 1000000000u;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (now_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            print_error("DEADLOCK? %s did not finish in %d s; killed\n", name, seconds);
            fail();
        }
        usleep(5000);
    }
    if (WIFSIGNALED(status))
        print_error("%s: child killed by signal %d\n", name, WTERMSIG(status));
    assert_false(WIFSIGNALED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#define TIME_LIMIT 20 /* seconds per test; a normal run takes < 3 */

/* Join workers from the (attached) main thread: a pause must not wait for
 * it, so it waits inside a blocking region. */
static void join_all(pthread_t *th, int n)
{
    tc_blocking_enter();
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    tc_blocking_leave();
}

static void barrier_wait_blocking(pthread_barrier_t *b)
{
    tc_blocking_enter();
    pthread_barrier_wait(b);
    tc_blocking_leave();
}

/* ------------------------------------------------------------ helpers */

#define LEAF_BYTES 96

/* A vector object of n slots, each a pair (car = patterned leaf with seed
 * seeds[i], cdr = TU_TAG(i)).  2n + 1 objects. */
static void **make_vec(size_t n, const uint32_t *seeds)
{
    void **vec = NULL;
    TC_ROOTS(vec);
    vec = tc_alloc(&tu_pair_type, n * sizeof(void *));
    CHECK(vec != NULL, "alloc failed");
    if (!vec)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        tu_pair *p = tc_alloc(&tu_pair_type, sizeof *p);
        CHECK(p != NULL, "alloc failed");
        if (!p)
            return NULL;
        tc_write(vec, &vec[i], p); /* rooted through vec before the next alloc */
        p->cdr = TU_TAG(i);
        TC_WRITE(p, car, tu_patterned(&tu_leaf_type, LEAF_BYTES, seeds[i]));
    }
    return vec;
}

static int vec_ok(void **vec, size_t n, const uint32_t *seeds)
{
    if (!vec || tc_type_of(vec) != &tu_pair_type)
        return 0;
    for (size_t i = 0; i < n; i++) {
        tu_pair *p = vec[i];
        if (!p || tc_type_of(p) != &tu_pair_type || p->cdr != TU_TAG(i) ||
            !tu_patterned_ok(p->car, &tu_leaf_type, LEAF_BYTES, seeds[i]))
            return 0;
    }
    return 1;
}

static void garbage(int pairs, int leaves, size_t leaf_bytes)
{
    for (int i = 0; i < pairs; i++) {
        tu_pair *p = tc_alloc(&tu_pair_type, sizeof *p);
        if (p)
            p->car = TU_TAG(0x77);
    }
    for (int i = 0; i < leaves; i++) {
        unsigned char *l = tc_alloc(&tu_leaf_type, leaf_bytes);
        if (l)
            memset(l, 0xee, leaf_bytes);
    }
}

/* Cycle callback log: counts cycles, forced or not. */
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cb_calls, cb_forced, cb_auto, cb_last_cycle, cb_out_of_order;

static void on_cycle(const tc_cycle_info *info, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&cb_lock);
    cb_calls++;
    if (info->forced)
        cb_forced++;
    else
        cb_auto++;
    if (info->cycle != cb_last_cycle + 1)
        cb_out_of_order++;
    cb_last_cycle = info->cycle;
    pthread_mutex_unlock(&cb_lock);
}

static void cb_reset(void)
{
    pthread_mutex_lock(&cb_lock);
    cb_calls = cb_forced = cb_auto = cb_last_cycle = cb_out_of_order = 0;
    pthread_mutex_unlock(&cb_lock);
    tc_set_cycle_callback(on_cycle, NULL);
}

/* ------------------------------------------------ four mutators at once */

#define NWORK 4
#define VEC_N 200
#define ITERS 400

static pthread_barrier_t start_barrier;

typedef struct worker {
    int id;
    int iters;
    int collects;
} worker;

static void *mutator_main(void *arg)
{
    worker *w = arg;
    int err = tc_thread_attach();
    CHECK(err == TC_OK, "attach: %d", err);
    if (err)
        return NULL;
    {
        uint32_t seeds[VEC_N];
        for (int i = 0; i < VEC_N; i++)
            seeds[i] = (uint32_t)(w->id * 100000 + i);
        void **vec = NULL;
        tu_pair *chain = NULL; /* a growing list, kept */
        TC_ROOTS(vec, chain);
        vec = make_vec(VEC_N, seeds);
        barrier_wait_blocking(&start_barrier);
        uint32_t next_seed = (uint32_t)(w->id * 100000 + 50000);
        for (int it = 0; it < w->iters; it++) {
            /* Garbage: threads 2 and 3 make much more of it, so the trigger
             * starts cycles. */
            if (w->id >= 2)
                garbage(400, 12, 4000);
            else
                garbage(200, 4, 1000);
            /* Replace one element's leaf through the barrier. */
            int k = (it * 7 + w->id) % VEC_N;
            void *leaf = tu_patterned(&tu_leaf_type, LEAF_BYTES, next_seed);
            TC_WRITE((tu_pair *)vec[k], car, leaf);
            seeds[k] = next_seed++;
            /* Grow the kept chain. */
            tu_pair *c = tc_alloc(&tu_pair_type, sizeof *c);
            CHECK(c != NULL, "alloc");
            if (c) {
                c->car = TU_TAG(it);
                TC_WRITE(c, cdr, chain);
                chain = c;
            }
            if (it % 20 == 0)
                CHECK(vec_ok(vec, VEC_N, seeds), "thread %d: vector corrupted at %d", w->id, it);
            if (it % 25 == 0) {
                tc_blocking_enter();
                usleep(300);
                tc_blocking_leave();
            }
            if (w->id < 2 && it % 80 == 40) {
                tc_collect();
                w->collects++;
            }
            tc_safepoint();
        }
        CHECK(vec_ok(vec, VEC_N, seeds), "thread %d: vector corrupted at the end", w->id);
        int n = w->iters;
        for (tu_pair *c = chain; c; c = c->cdr)
            CHECK(TU_UNTAG(c->car) == (uintptr_t)--n, "thread %d: chain broken", w->id);
        CHECK(n == 0, "thread %d: chain length off by %d", w->id, n);
    }
    tc_thread_detach();
    return NULL;
}

static void sc_four_mutators(void)
{
    cb_reset();
    pthread_barrier_init(&start_barrier, NULL, NWORK);
    pthread_t th[NWORK];
    worker w[NWORK];
    for (int i = 0; i < NWORK; i++) {
        /* Different lengths: threads detach while the others continue. */
        w[i] = (worker){.id = i, .iters = ITERS / 2 + i * ITERS / 4};
        REQUIRE_EQ(pthread_create(&th[i], NULL, mutator_main, &w[i]), 0);
    }
    join_all(th, NWORK);
    pthread_barrier_destroy(&start_barrier);
    REQUIRE(w[0].collects > 0 && w[1].collects > 0, "no tc_collect calls");
    /* All detached: nothing of theirs is live. */
    REQUIRE_EQ(live_after_collect(), 0);
    pthread_mutex_lock(&cb_lock);
    printf("four mutators: %llu forced and %llu triggered cycles\n",
           (unsigned long long)cb_forced, (unsigned long long)cb_auto);
    REQUIRE(cb_auto > 0, "no triggered cycle");
    uint64_t most = (uint64_t)(w[0].collects > w[1].collects ? w[0].collects : w[1].collects);
    REQUIRE(cb_forced >= most + 1, "%llu forced cycles for %llu sequential calls",
            (unsigned long long)cb_forced, (unsigned long long)most + 1);
    REQUIRE_EQ(cb_out_of_order, 0);
    pthread_mutex_unlock(&cb_lock);
}

static void four_mutators(void **state)
{
    (void)state;
    run_isolated("four_mutators", sc_four_mutators, TIME_LIMIT);
}

/* -------------------------------------------------- blocking regions */

static pthread_barrier_t b2;
typedef struct sleeper_ctx {
    int sleep_ms;
    void *scanned[2]; /* reported by a thread root scanner */
} sleeper_ctx;

static void scan_two(tc_visitor *v, void *ctx)
{
    sleeper_ctx *s = ctx;
    tc_visit_slots(v, s->scanned, 2);
}

static void *sleeper_main(void *arg)
{
    sleeper_ctx *s = arg;
    int err = tc_thread_attach();
    CHECK(err == TC_OK, "attach: %d", err);
    if (err)
        return NULL;
    {
        uint32_t seeds[50];
        for (int i = 0; i < 50; i++)
            seeds[i] = 9000u + (uint32_t)i;
        void **vec = NULL;
        TC_ROOTS(vec);
        vec = make_vec(50, seeds); /* 101 objects */
        s->scanned[0] = tu_patterned(&tu_leaf_type, LEAF_BYTES, 1);
        s->scanned[1] = tu_patterned(&tu_leaf_type, LEAF_BYTES, 2);
        CHECK(tc_thread_root_scanner_add(scan_two, s) == TC_OK, "scanner");
        tc_blocking_enter();
        pthread_barrier_wait(&b2); /* main may collect from here on */
        usleep((useconds_t)s->sleep_ms * 1000);
        tc_blocking_leave();
        CHECK(vec_ok(vec, 50, seeds), "sleeper's vector corrupted");
        CHECK(tu_patterned_ok(s->scanned[0], &tu_leaf_type, LEAF_BYTES, 1) &&
                  tu_patterned_ok(s->scanned[1], &tu_leaf_type, LEAF_BYTES, 2),
              "sleeper's scanned roots corrupted");
        barrier_wait_blocking(&b2); /* main checks the count once more */
        barrier_wait_blocking(&b2);
    }
    tc_thread_detach();
    return NULL;
}

static void sc_blocking_does_not_hold_up_pauses(void)
{
    pthread_barrier_init(&b2, NULL, 2);
    static sleeper_ctx s = {.sleep_ms = 2000};
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, sleeper_main, &s), 0);
    barrier_wait_blocking(&b2);
    /* The sleeper sits in its blocking region for 2 s now. */
    uint64_t t0 = now_ns();
    for (int i = 0; i < 5; i++) {
        garbage(5000, 10, 500);
        /* Its frame and its thread scanner are still roots. */
        REQUIRE_EQ(live_after_collect(), 101 + 2);
    }
    uint64_t dt = now_ns() - t0;
    printf("5 collections while a thread blocks: %.1f ms\n", (double)dt / 1e6);
    REQUIRE(dt < 1000000000u, "the collections took %.3f s", (double)dt / 1e9);
    barrier_wait_blocking(&b2);
    REQUIRE_EQ(live_after_collect(), 101 + 2);
    barrier_wait_blocking(&b2);
    join_all(&th, 1);
    REQUIRE_EQ(live_after_collect(), 0);
    pthread_barrier_destroy(&b2);
}

static void blocking_does_not_hold_up_pauses(void **state)
{
    (void)state;
    run_isolated("blocking_does_not_hold_up_pauses", sc_blocking_does_not_hold_up_pauses,
                 TIME_LIMIT);
}

/* A thread leaving its blocking region while the world is stopped waits,
 * and the cycle sees its roots: many short regions against many cycles. */
static volatile int churn_stop;

static void *region_churner(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (tc_thread_attach() != TC_OK) {
        CHECK(0, "attach");
        return NULL;
    }
    {
        uint32_t seeds[20];
        for (int i = 0; i < 20; i++)
            seeds[i] = (uint32_t)(id * 1000 + i);
        void **vec = NULL;
        TC_ROOTS(vec);
        vec = make_vec(20, seeds);
        barrier_wait_blocking(&b2);
        int rounds = 0;
        while (!__atomic_load_n(&churn_stop, __ATOMIC_ACQUIRE)) {
            tc_blocking_enter();
            if (rounds % 8 == 0)
                usleep(50);
            tc_blocking_leave();
            garbage(20, 0, 0);
            if (++rounds % 64 == 0)
                CHECK(vec_ok(vec, 20, seeds), "churner %d corrupted", id);
        }
        CHECK(vec_ok(vec, 20, seeds), "churner %d corrupted", id);
    }
    tc_thread_detach();
    return NULL;
}

static void sc_blocking_regions_against_cycles(void)
{
    enum { NT = 3 };
    pthread_barrier_init(&b2, NULL, NT + 1);
    __atomic_store_n(&churn_stop, 0, __ATOMIC_RELEASE);
    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        REQUIRE_EQ(pthread_create(&th[i], NULL, region_churner, (void *)(intptr_t)i), 0);
    barrier_wait_blocking(&b2);
    for (int i = 0; i < 200; i++) {
        static tc_stats st;
        tc_read_stats(&st);
        uint64_t born_before = st.objects_allocated;
        tc_collect();
        if (i % 50 == 0) {
            /* The churners' rooted vectors, plus at most the objects born
             * (black) while this cycle marked: older garbage is not
             * reachable. */
            tc_read_stats(&st);
            uint64_t born = st.objects_allocated - born_before;
            REQUIRE(st.objects_live >= NT * 41, "objects_live %llu < %d",
                    (unsigned long long)st.objects_live, NT * 41);
            REQUIRE(st.objects_live <= NT * 41 + born, "objects_live %llu > %d + %llu born",
                    (unsigned long long)st.objects_live, NT * 41, (unsigned long long)born);
        }
    }
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELEASE);
    join_all(th, NT);
    pthread_barrier_destroy(&b2);
    REQUIRE_EQ(live_after_collect(), 0);
}

static void blocking_regions_against_cycles(void **state)
{
    (void)state;
    run_isolated("blocking_regions_against_cycles", sc_blocking_regions_against_cycles,
                 TIME_LIMIT);
}

/* -------------------------------------------------------------- detach */

static pthread_barrier_t b3;
static sleeper_ctx dctx;

static void *detacher_main(void *arg)
{
    (void)arg;
    if (tc_thread_attach() != TC_OK) {
        CHECK(0, "attach");
        return NULL;
    }
    {
        uint32_t seeds[30];
        for (int i = 0; i < 30; i++)
            seeds[i] = 500u + (uint32_t)i;
        void **vec = NULL;
        TC_ROOTS(vec);
        vec = make_vec(30, seeds); /* 61 objects */
        dctx.scanned[0] = tu_patterned(&tu_leaf_type, LEAF_BYTES, 5);
        dctx.scanned[1] = NULL;
        CHECK(tc_thread_root_scanner_add(scan_two, &dctx) == TC_OK, "scanner");
        barrier_wait_blocking(&b3); /* 1: main counts 62 */
        barrier_wait_blocking(&b3); /* 2 */
        /* Detach inside the frame's scope: the frame and the scanner stop
         * being roots; leaving the scope afterwards must be harmless. */
        tc_thread_detach();
        pthread_barrier_wait(&b3); /* 3: main counts 0 */
        pthread_barrier_wait(&b3); /* 4 */
    }
    /* Attach again: a fresh record, no scanners, no frames. */
    if (tc_thread_attach() != TC_OK) {
        CHECK(0, "re-attach");
        return NULL;
    }
    {
        void *x = NULL;
        TC_ROOTS(x);
        x = tu_patterned(&tu_leaf_type, LEAF_BYTES, 6);
        barrier_wait_blocking(&b3); /* 5: main counts 1 */
        barrier_wait_blocking(&b3); /* 6 */
        CHECK(tu_patterned_ok(x, &tu_leaf_type, LEAF_BYTES, 6), "x corrupted");
    }
    tc_thread_detach();
    return NULL;
}

static char *detach_diag;

static void detach_sequence(void *arg)
{
    uint64_t *live = arg;
    barrier_wait_blocking(&b3); /* 1 */
    live[0] = live_after_collect();
    barrier_wait_blocking(&b3); /* 2 */
    barrier_wait_blocking(&b3); /* 3 */
    live[1] = live_after_collect();
    barrier_wait_blocking(&b3); /* 4 */
    barrier_wait_blocking(&b3); /* 5 */
    live[2] = live_after_collect();
    barrier_wait_blocking(&b3); /* 6 */
}

static void sc_detach_drops_roots(void)
{
    pthread_barrier_init(&b3, NULL, 2);
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, detacher_main, NULL), 0);
    uint64_t live[3] = {0, 0, 0};
    detach_diag = tu_capture_stderr(detach_sequence, live);
    join_all(&th, 1);
    pthread_barrier_destroy(&b3);
    REQUIRE_EQ(live[0], 62);
    REQUIRE_EQ(live[1], 0);
    REQUIRE_EQ(live[2], 1);
    REQUIRE_EQ(live_after_collect(), 0);
    /* Leaving a frame's scope after detaching printed nothing. */
    REQUIRE(detach_diag != NULL, "capture failed");
    REQUIRE(*detach_diag == 0, "unexpected diagnostics: %s", detach_diag);
    free(detach_diag);
}

static void detach_drops_roots(void **state)
{
    (void)state;
    run_isolated("detach_drops_roots", sc_detach_drops_roots, TIME_LIMIT);
}

/* ------------------------------------------------ attach/detach loop */

static volatile int loop_done;

static void *attach_detach_loop(void *arg)
{
    (void)arg;
    for (int round = 0; round < 100; round++) {
        int err = tc_thread_attach();
        CHECK(err == TC_OK, "attach round %d: %d", round, err);
        if (err)
            break;
        {
            uint32_t seeds[10];
            for (int i = 0; i < 10; i++)
                seeds[i] = (uint32_t)(round * 10 + i);
            void **vec = NULL;
            TC_ROOTS(vec);
            vec = make_vec(10, seeds);
            garbage(300, 2, 2000);
            if (round % 10 == 0)
                tc_collect();
            tc_safepoint();
            CHECK(vec_ok(vec, 10, seeds), "round %d: vector corrupted", round);
        }
        tc_thread_detach();
    }
    __atomic_store_n(&loop_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *steady_allocator(void *arg)
{
    uint64_t *cycles_seen = arg;
    if (tc_thread_attach() != TC_OK) {
        CHECK(0, "attach");
        return NULL;
    }
    {
        uint32_t seeds[100];
        for (int i = 0; i < 100; i++)
            seeds[i] = 777000u + (uint32_t)i;
        void **vec = NULL;
        TC_ROOTS(vec);
        vec = make_vec(100, seeds);
        int rounds = 0;
        while (!__atomic_load_n(&loop_done, __ATOMIC_ACQUIRE) || rounds < 500) {
            garbage(2000, 20, 1500); /* ~100 KiB: the trigger runs cycles */
            if (++rounds % 10 == 0)
                CHECK(vec_ok(vec, 100, seeds), "allocator's vector corrupted");
        }
        CHECK(vec_ok(vec, 100, seeds), "allocator's vector corrupted");
        static tc_stats st;
        tc_read_stats(&st);
        *cycles_seen = st.cycles;
    }
    tc_thread_detach();
    return NULL;
}

static void sc_attach_detach_repeatedly(void)
{
    __atomic_store_n(&loop_done, 0, __ATOMIC_RELEASE);
    uint64_t cycles = 0;
    pthread_t th[2];
    REQUIRE_EQ(pthread_create(&th[0], NULL, steady_allocator, &cycles), 0);
    REQUIRE_EQ(pthread_create(&th[1], NULL, attach_detach_loop, NULL), 0);
    join_all(th, 2);
    REQUIRE(cycles >= 5, "only %llu cycles", (unsigned long long)cycles);
    REQUIRE_EQ(live_after_collect(), 0);
}

static void attach_detach_repeatedly(void **state)
{
    (void)state;
    run_isolated("attach_detach_repeatedly", sc_attach_detach_repeatedly, TIME_LIMIT);
}

/* -------------------------------------------- tc_collect from 4 threads */

#define NCOLL 4
#define CALLS 20

static void *collector_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (tc_thread_attach() != TC_OK) {
        CHECK(0, "attach");
        return NULL;
    }
    {
        static tc_stats sts[NCOLL];
        tc_stats *st = &sts[id];
        void *mine = NULL;
        TC_ROOTS(mine);
        mine = tu_patterned(&tu_leaf_type, LEAF_BYTES, (uint32_t)id);
        barrier_wait_blocking(&start_barrier);
        for (int i = 0; i < CALLS; i++) {
            tc_read_stats(st);
            uint64_t before = st->cycles;
            tc_collect();
            tc_read_stats(st);
            CHECK(st->cycles > before, "thread %d call %d: cycles %llu -> %llu", id, i,
                  (unsigned long long)before, (unsigned long long)st->cycles);
            CHECK(tu_patterned_ok(mine, &tu_leaf_type, LEAF_BYTES, (uint32_t)id),
                  "thread %d: object corrupted", id);
            /* Each thread's object at least (others' may be gone). */
            CHECK(st->objects_live >= 1, "thread %d: live %llu", id,
                  (unsigned long long)st->objects_live);
        }
    }
    tc_thread_detach();
    return NULL;
}

static void sc_concurrent_collect(void)
{
    cb_reset();
    pthread_barrier_init(&start_barrier, NULL, NCOLL);
    pthread_t th[NCOLL];
    for (int i = 0; i < NCOLL; i++)
        REQUIRE_EQ(pthread_create(&th[i], NULL, collector_main, (void *)(intptr_t)i), 0);
    join_all(th, NCOLL);
    pthread_barrier_destroy(&start_barrier);
    static tc_stats st;
    tc_read_stats(&st);
    /* Calls may share cycles, but each thread's 20 calls need 20... */
    REQUIRE(st.cycles >= CALLS && st.cycles <= NCOLL * CALLS, "%llu cycles",
            (unsigned long long)st.cycles);
    pthread_mutex_lock(&cb_lock);
    /* ...and each cycle was reported exactly once, in order. */
    REQUIRE_EQ(cb_calls, st.cycles);
    REQUIRE_EQ(cb_out_of_order, 0);
    REQUIRE_EQ(cb_auto, 0);
    pthread_mutex_unlock(&cb_lock);
    REQUIRE_EQ(live_after_collect(), 0);
}

static void concurrent_collect(void **state)
{
    (void)state;
    run_isolated("concurrent_collect", sc_concurrent_collect, TIME_LIMIT);
}

/* ------------------------------------ detaching with a stop pending */

static volatile int detach_rounds_done;

/* C work that does not touch the heap (and so need not poll). */
static uint64_t busy_work_us(unsigned us)
{
    uint64_t end = now_ns() + (uint64_t)us * 1000u, x = 1;
    while (now_ns() < end)
        for (int i = 0; i < 100; i++)
            x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

static void *detach_after_work(void *arg)
{
    (void)arg;
    for (int round = 0; round < 300; round++) {
        int err = tc_thread_attach();
        CHECK(err == TC_OK, "attach round %d: %d", round, err);
        if (err)
            break;
        {
            void *x = NULL;
            TC_ROOTS(x);
            x = tu_patterned(&tu_leaf_type, LEAF_BYTES, (uint32_t)round);
            CHECK(tu_patterned_ok(x, &tu_leaf_type, LEAF_BYTES, (uint32_t)round), "round %d",
                  round);
        }
        /* The last safepoint was in tc_alloc; a stop requested from now on
         * has to be let through by tc_thread_detach itself. */
        volatile uint64_t sink = busy_work_us(100);
        (void)sink;
        tc_thread_detach();
    }
    __atomic_store_n(&detach_rounds_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *collect_until_done(void *arg)
{
    (void)arg;
    if (tc_thread_attach() != TC_OK) {
        CHECK(0, "attach");
        return NULL;
    }
    while (!__atomic_load_n(&detach_rounds_done, __ATOMIC_ACQUIRE))
        tc_collect();
    tc_thread_detach();
    return NULL;
}

static void sc_detach_while_stop_pending(void)
{
    __atomic_store_n(&detach_rounds_done, 0, __ATOMIC_RELEASE);
    pthread_t th[2];
    REQUIRE_EQ(pthread_create(&th[0], NULL, collect_until_done, NULL), 0);
    REQUIRE_EQ(pthread_create(&th[1], NULL, detach_after_work, NULL), 0);
    join_all(th, 2);
    REQUIRE_EQ(live_after_collect(), 0);
}

static void detach_while_stop_pending(void **state)
{
    (void)state;
    run_isolated("detach_while_stop_pending", sc_detach_while_stop_pending, TIME_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_mutators),
        cmocka_unit_test(blocking_does_not_hold_up_pauses),
        cmocka_unit_test(blocking_regions_against_cycles),
        cmocka_unit_test(detach_drops_roots),
        cmocka_unit_test(attach_detach_repeatedly),
        cmocka_unit_test(concurrent_collect),
        cmocka_unit_test(detach_while_stop_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
