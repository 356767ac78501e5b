/* test_lifecycle.c — tc_init / tc_shutdown: restart from scratch, state
 * errors, shutdown without init, memory returned to the OS. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#define MiB ((uint64_t)1 << 20)

static tc_stats st;

static uint64_t live_after_collect(void)
{
    tc_collect();
    tc_read_stats(&st);
    return st.objects_live;
}

static void assert_fresh_stats(void)
{
    tc_read_stats(&st);
    assert_int_equal(st.cycles, 0);
    assert_int_equal(st.objects_allocated, 0);
    assert_int_equal(st.bytes_allocated, 0);
    assert_int_equal(st.objects_live, 0);
    assert_int_equal(st.heap_live, 0);
    assert_int_equal(st.heap_inuse, 0);
    assert_int_equal(st.num_pauses, 0);
    assert_int_equal(st.pause_total_ns, 0);
    assert_int_equal(st.pause_max_ns, 0);
    assert_int_equal(st.pause_ns[0], 0);
}

/* Cycle numbers as reported to the callback. */
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cb_first, cb_last, cb_n;
static void on_cycle(const tc_cycle_info *info, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&cb_lock);
    if (!cb_n++)
        cb_first = info->cycle;
    cb_last = info->cycle;
    pthread_mutex_unlock(&cb_lock);
}

static void *g_root[1];

static void restart_starts_afresh(void **state)
{
    (void)state;
    for (int run = 0; run < 5; run++) {
        assert_int_equal(tc_init(NULL), TC_OK);
        assert_fresh_stats();
        pthread_mutex_lock(&cb_lock);
        cb_n = cb_first = cb_last = 0;
        pthread_mutex_unlock(&cb_lock);
        tc_set_cycle_callback(on_cycle, NULL);
        {
            tu_pair *l = NULL;
            TC_ROOTS(l);
            l = tu_make_list(1000);
            /* Roots registered in a previous run are forgotten: adding the
             * same slots again is no EEXIST. */
            g_root[0] = tu_make_list(10);
            assert_int_equal(tc_root_add(g_root, 1), TC_OK);
            tc_read_stats(&st);
            assert_int_equal(st.objects_allocated, 1010);
            for (int k = 0; k < 3; k++) {
                for (int g = 0; g < 5000; g++)
                    tc_alloc(&tu_leaf_type, 40);
                assert_int_equal(live_after_collect(), 1010);
                tu_check_list(l, 1000);
                tu_check_list(g_root[0], 10);
            }
            assert_int_equal(st.cycles, 3);
            assert_int_equal(st.objects_allocated, 1010 + 3 * 5000);
            pthread_mutex_lock(&cb_lock);
            assert_int_equal(cb_first, 1);
            assert_int_equal(cb_last, 3);
            assert_int_equal(cb_n, 3);
            pthread_mutex_unlock(&cb_lock);
            /* Odd runs leave the global root registered. */
            if (run % 2 == 0)
                assert_int_equal(tc_root_remove(g_root), TC_OK);
        }
        assert_int_equal(live_after_collect(), run % 2 == 0 ? 0 : 10);
        tc_shutdown();
    }
}

static void restart_after_leaving_things_behind(void **state)
{
    (void)state;
    for (int run = 0; run < 3; run++) {
        assert_int_equal(tc_init(NULL), TC_OK);
        assert_fresh_stats();
        tu_pair *l = NULL;
        TC_ROOTS(l);
        l = tu_make_list(500);
        g_root[0] = tu_make_list(20);
        assert_int_equal(tc_root_add(g_root, 1), TC_OK);
        tc_set_gc_percent(30);
        tc_set_memory_limit(64 * MiB);
        assert_int_equal(live_after_collect(), 520);
        /* Shut down with a root registered, a frame live, settings changed. */
        tc_shutdown();
        /* The frame (still in scope) pops harmlessly after the restart. */
        assert_int_equal(tc_init(NULL), TC_OK);
        tc_read_stats(&st);
        assert_int_equal(st.gc_percent, 100);
        assert_int_equal(st.memory_limit, INT64_MAX);
        assert_int_equal(live_after_collect(), 0);
        tc_shutdown();
    }
}

/* ---------------------------------------------------- state errors */

static void shutdown_without_init(void **state)
{
    (void)state;
    tc_shutdown();
    tc_shutdown();
    assert_int_equal(tc_init(NULL), TC_OK);
    tu_pair *l = NULL;
    TC_ROOTS(l);
    l = tu_make_list(10);
    assert_int_equal(live_after_collect(), 10);
    TC_ROOTS_POP();
    tc_shutdown();
    tc_shutdown(); /* again: no-op */
}

static void init_twice_call(void *arg)
{
    int *r = arg;
    r[0] = tc_init(NULL);
    tc_config c = TC_CONFIG_INIT;
    r[1] = tc_init(&c);
}

static void init_twice(void **state)
{
    (void)state;
    assert_int_equal(tc_init(NULL), TC_OK);
    int r[2] = {1, 1};
    char *err = tu_capture_stderr(init_twice_call, r);
    assert_int_equal(r[0], TC_ESTATE);
    assert_int_equal(r[1], TC_ESTATE);
    assert_non_null(err);
    assert_non_null(strstr(err, "already running"));
    free(err);
    /* The running collector is unharmed. */
    tu_pair *l = NULL;
    TC_ROOTS(l);
    l = tu_make_list(100);
    assert_int_equal(live_after_collect(), 100);
    tu_check_list(l, 100);
    tc_read_stats(&st);
    assert_int_equal(st.objects_allocated, 100);
    TC_ROOTS_POP();
    tc_shutdown();
}

static void bad_config_call(void *arg)
{
    int *r = arg;
    tc_config c = TC_CONFIG_INIT;
    c.magic = 0;
    r[0] = tc_init(&c);
    tc_config d = TC_CONFIG_INIT;
    d.gc_percent = -5;
    r[1] = tc_init(&d);
    tc_config e = TC_CONFIG_INIT;
    e.memory_limit = 0;
    r[2] = tc_init(&e);
    tc_config f = TC_CONFIG_INIT;
    f.debug_poison = 2;
    r[3] = tc_init(&f);
}

static void attach_call(void *arg)
{
    *(int *)arg = tc_thread_attach();
}

static void bad_config_leaves_nothing_running(void **state)
{
    (void)state;
    int r[4] = {1, 1, 1, 1};
    char *err = tu_capture_stderr(bad_config_call, r);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i], TC_EINVAL);
    assert_non_null(err);
    assert_non_null(strstr(err, "TC_CONFIG_INIT"));
    assert_non_null(strstr(err, "gc_percent"));
    assert_non_null(strstr(err, "memory_limit"));
    assert_non_null(strstr(err, "debug_poison"));
    free(err);
    /* Nothing is running: attaching is refused... */
    int ar = 1;
    err = tu_capture_stderr(attach_call, &ar);
    assert_int_equal(ar, TC_ESTATE);
    assert_non_null(strstr(err, "not running"));
    free(err);
    /* ...and a good config starts it. */
    tc_config c = TC_CONFIG_INIT;
    c.gc_percent = 42;
    assert_int_equal(tc_init(&c), TC_OK);
    tc_read_stats(&st);
    assert_int_equal(st.gc_percent, 42);
    tc_shutdown();
}

/* A thread still attached at shutdown is forgotten; after a restart it is
 * not attached (and must attach again). */
static pthread_barrier_t bar;
static int stale_alloc_null, stale_err, stale_reattach, stale_ok;
static char *stale_diag;

static void stale_thread_calls(void *arg)
{
    (void)arg;
    stale_alloc_null = tc_alloc(&tu_pair_type, 16) == NULL;
    stale_err = tc_last_error();
}

static void *stale_thread(void *arg)
{
    (void)arg;
    stale_reattach = tc_thread_attach();
    pthread_barrier_wait(&bar); /* 1: attached; main shuts down and restarts */
    pthread_barrier_wait(&bar); /* 2 */
    stale_diag = tu_capture_stderr(stale_thread_calls, NULL);
    stale_reattach = tc_thread_attach();
    if (stale_reattach == TC_OK) {
        tu_pair *p = NULL;
        TC_ROOTS(p);
        p = tc_alloc(&tu_pair_type, sizeof *p);
        stale_ok = p != NULL && tc_is_heap_object(p);
    }
    tc_thread_detach();
    return NULL;
}

static void shutdown_diag(void *arg)
{
    (void)arg;
    tc_shutdown();
}

static void thread_attached_across_restart(void **state)
{
    (void)state;
    assert_int_equal(tc_init(NULL), TC_OK);
    pthread_barrier_init(&bar, NULL, 2);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stale_thread, NULL), 0);
    tc_blocking_enter();
    pthread_barrier_wait(&bar); /* 1 */
    tc_blocking_leave();
    assert_int_equal(stale_reattach, TC_OK);
    char *err = tu_capture_stderr(shutdown_diag, NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "still attached"));
    free(err);
    assert_int_equal(tc_init(NULL), TC_OK);
    tc_blocking_enter();
    pthread_barrier_wait(&bar); /* 2 */
    pthread_join(th, NULL);
    tc_blocking_leave();
    pthread_barrier_destroy(&bar);
    assert_true(stale_alloc_null);
    assert_int_equal(stale_err, TC_ENOTATTACHED);
    assert_non_null(stale_diag);
    assert_non_null(strstr(stale_diag, "not attached"));
    free(stale_diag);
    assert_int_equal(stale_reattach, TC_OK);
    assert_true(stale_ok);
    tc_read_stats(&st);
    assert_int_equal(st.objects_allocated, 1); /* the stale thread's, this run */
    assert_int_equal(live_after_collect(), 0);
    tc_shutdown();
}

/* ------------------------------------------------- memory goes back */

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void shutdown_unmaps(void **state)
{
    (void)state;
    uint64_t rss0 = rss_bytes();
    assert_true(rss0 > 0);
    assert_int_equal(tc_init(NULL), TC_OK);
    {
        void **big = NULL, **small = NULL;
        TC_ROOTS(big, small);
        /* 150 MiB in 100 KiB objects, touched. */
        big = tc_alloc(&tu_pair_type, 1536 * sizeof(void *));
        for (int i = 0; i < 1536; i++) {
            void *o = tc_alloc(&tu_leaf_type, 100 * 1024);
            assert_non_null(o);
            memset(o, 0x42, 100 * 1024);
            tc_write(big, &big[i], o);
        }
        /* ~50 MiB in small objects. */
        small = tc_alloc(&tu_pair_type, 2000 * sizeof(void *));
        for (int i = 0; i < 2000; i++) {
            void **v = tc_alloc(&tu_pair_type, 100 * sizeof(void *));
            tc_write(small, &small[i], v);
            for (int j = 0; j < 100; j++)
                tc_write(v, &v[j], tc_alloc(&tu_leaf_type, 200));
        }
        assert_int_equal(live_after_collect(), 1 + 1536 + 1 + 2000 + 200000);
        for (int g = 0; g < 50; g++)
            tc_alloc(&tu_leaf_type, 1024 * 1024); /* and some garbage */
        tc_collect();
    }
    uint64_t rss1 = rss_bytes();
    print_message("RSS: %.1f MiB at start, %.1f MiB in use\n", (double)rss0 / MiB,
                  (double)rss1 / MiB);
    assert_true(rss1 >= rss0 + 180 * MiB);
    tc_shutdown();
    uint64_t rss2 = rss_bytes();
    print_message("RSS after shutdown: %.1f MiB\n", (double)rss2 / MiB);
    assert_true(rss2 <= rss0 + 50 * MiB);
    /* And once more: a second run does not keep the first run's memory. */
    assert_int_equal(tc_init(NULL), TC_OK);
    {
        void **big = NULL;
        TC_ROOTS(big);
        big = tc_alloc(&tu_pair_type, 1024 * sizeof(void *));
        for (int i = 0; i < 1024; i++) {
            void *o = tc_alloc(&tu_leaf_type, 100 * 1024);
            memset(o, 0x43, 100 * 1024);
            tc_write(big, &big[i], o);
        }
        assert_int_equal(live_after_collect(), 1025);
    }
    tc_shutdown();
    uint64_t rss3 = rss_bytes();
    assert_true(rss3 <= rss0 + 50 * MiB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shutdown_without_init),
        cmocka_unit_test(restart_starts_afresh),
        cmocka_unit_test(restart_after_leaving_things_behind),
        cmocka_unit_test(init_twice),
        cmocka_unit_test(bad_config_leaves_nothing_running),
        cmocka_unit_test(thread_attached_across_restart),
        cmocka_unit_test(shutdown_unmaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
