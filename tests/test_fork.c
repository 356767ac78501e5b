/* test_fork.c — fork() while the collector runs (issue 12, item 4).
 *
 * The library's pthread_atfork handlers finish the cycle under way, stop
 * the world and take every lock of the library before the fork; the
 * parent then carries on, and the child, where only the forking thread
 * exists, gets collector threads of its own.  Each case runs in a forked
 * test child (the "process" below) with a time limit, so a deadlock fails
 * the case, and each fork's child must allocate, collect, check its data
 * and shut down within its own limit. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define TIME_LIMIT 120
#define CHILD_LIMIT_NS 30000000000ull
#define NMUT 3

static int stop_flag;

/* A mutator: builds and drops lists, keeps one alive, checks it. */
static void *mutator(void *arg)
{
    (void)arg;
    TU_REQUIRE_EQ(tc_thread_attach(), TC_OK);
    tu_pair *keep = NULL, *tmp = NULL;
    TC_ROOTS(keep, tmp);
    keep = tu_make_list(500);
    while (!__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE)) {
        tmp = tu_make_list(200);
        tu_check_list(tmp, 200);
        tu_check_list(keep, 500);
        tc_safepoint();
    }
    tc_thread_detach();
    return NULL;
}

/* In a fork's child: the collector must work for this one thread. */
static _Noreturn void child_after_fork(tu_pair *parents_list, uintptr_t n, int shutdown_only)
{
    if (!shutdown_only) {
        tu_check_list(parents_list, n);
        tu_pair *mine = NULL;
        TC_ROOTS(mine);
        mine = tu_make_list(20000);
        tc_stats st;
        tc_read_stats(&st);
        uint64_t c0 = st.cycles;
        tc_collect();
        tc_collect();
        tc_read_stats(&st);
        TU_CHECK(st.cycles >= c0 + 2, "the child ran %llu cycles",
                 (unsigned long long)(st.cycles - c0));
        tu_check_list(mine, 20000);
        tu_check_list(parents_list, n);
        /* The parent's other threads do not exist here: their roots are
         * gone, this thread's list and the parent list are what is live. */
        TU_CHECK(st.objects_live == 20000 + n, "%llu objects live in the child, expected %llu",
                 (unsigned long long)st.objects_live, (unsigned long long)(20000 + n));
    }
    tc_shutdown();
    tu_fork_child_exit();
}

/* Wait for a fork's child; it must exit 0 within CHILD_LIMIT_NS. */
static void wait_child(pid_t pid)
{
    uint64_t deadline = tu_now_ns() + CHILD_LIMIT_NS;
    int status = 0;
    tc_blocking_enter();
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (tu_now_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            tc_blocking_leave();
            TU_REQUIRE(0, "a fork's child hung (killed)");
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    tc_blocking_leave();
    TU_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a fork's child failed: status %d",
               status);
}

typedef enum { FORK_RUNNING, FORK_BLOCKING, FORK_SHUTDOWN_ONLY } fork_mode;

/* Fork from this (attached) thread, in a blocking region or not. */
static void fork_once(tu_pair *list, uintptr_t n, fork_mode mode)
{
    if (mode == FORK_BLOCKING)
        tc_blocking_enter();
    pid_t pid = fork();
    TU_REQUIRE(pid >= 0, "fork failed");
    if (pid == 0) {
        if (mode == FORK_BLOCKING)
            tc_blocking_leave();
        child_after_fork(list, n, mode == FORK_SHUTDOWN_ONLY);
    }
    if (mode == FORK_BLOCKING)
        tc_blocking_leave();
    wait_child(pid);
}

/* Fork from a thread that is not attached. */
static void *unattached_forker(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    if (pid == 0) {
        /* The child may attach this thread and use the collector. */
        int ok = tc_thread_attach() == TC_OK;
        if (ok) {
            tu_pair *l = NULL;
            TC_ROOTS(l);
            l = tu_make_list(1000);
            tc_collect();
            tu_check_list(l, 1000);
        }
        tc_shutdown();
        _exit(ok ? 0 : 1);
    }
    return (void *)(intptr_t)pid;
}

static void sc_fork_while_collecting(void)
{
    tu_pair *list = NULL;
    TC_ROOTS(list);
    list = tu_make_list(3000);
    pthread_t th[NMUT];
    for (int i = 0; i < NMUT; i++)
        TU_REQUIRE_EQ(pthread_create(&th[i], NULL, mutator, NULL), 0);
    for (int round = 0; round < 12; round++) {
        fork_once(list, 3000, (fork_mode)(round % 3));
        tu_check_list(list, 3000);
    }
    pthread_t f;
    TU_REQUIRE_EQ(pthread_create(&f, NULL, unattached_forker, NULL), 0);
    void *pid;
    tc_blocking_enter();
    pthread_join(f, &pid);
    tc_blocking_leave();
    wait_child((pid_t)(intptr_t)pid);
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
    tc_blocking_enter();
    for (int i = 0; i < NMUT; i++)
        pthread_join(th[i], NULL);
    tc_blocking_leave();
    /* The parent's collector still works. */
    tc_collect();
    tu_check_list(list, 3000);
}

static void fork_while_collecting(void **state)
{
    (void)state;
    tc_config c = TC_CONFIG_INIT;
    c.gc_percent = 5; /* cycles all the time: forks land in every phase */
    c.debug_checkmark = 1;
    c.debug_poison = 1;
    tu_run_isolated("fork while collecting", sc_fork_while_collecting, &c, TIME_LIMIT);
}

/* A process that never started the collector, or shut it down, forks as
 * usual, and its child may start one. */
static void sc_fork_without_collector(void)
{
    tc_shutdown();
    pid_t pid = fork();
    TU_REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        int ok = tc_init(NULL) == TC_OK;
        if (ok) {
            tu_pair *l = NULL;
            TC_ROOTS(l);
            l = tu_make_list(1000);
            tc_collect();
            tu_check_list(l, 1000);
        }
        tc_shutdown();
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    TU_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    TU_REQUIRE_EQ(tc_init(NULL), TC_OK); /* for the scenario's own tc_shutdown */
}

static void fork_without_collector(void **state)
{
    (void)state;
    tu_run_isolated("fork without collector", sc_fork_without_collector, NULL, TIME_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fork_while_collecting),
        cmocka_unit_test(fork_without_collector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
