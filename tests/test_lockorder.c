/* test_lockorder.c — the checking build's lock-order check (gc/check.h):
 * a lock taken while a lock of the same or a later rank is held stops the
 * process, naming both and where they were taken; locks taken in order,
 * trylocks, and locks without a rank pass.  In a build without the check
 * (TRICOLOR_CHECKING off) the tests are skipped. */
#include <stdlib.h>

#include "test_util.h"

#include "check.h"

static pthread_mutex_t outer = PTHREAD_MUTEX_INITIALIZER; /* ranked as roots_lock */
static pthread_mutex_t inner = PTHREAD_MUTEX_INITIALIZER; /* ranked as heap_lock */
static pthread_mutex_t other = PTHREAD_MUTEX_INITIALIZER; /* ranked as heap_lock too */
static pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER; /* no rank */

static void rank_them(void)
{
    lock_rank_set(&outer, RANK_ROOTS);
    lock_rank_set(&inner, RANK_HEAP);
    lock_rank_set(&other, RANK_HEAP);
}

static void sc_in_order(void)
{
    rank_them();
    pthread_mutex_lock(&outer);
    pthread_mutex_lock(&plain);
    pthread_mutex_lock(&inner);
    pthread_mutex_unlock(&inner);
    pthread_mutex_unlock(&plain);
    /* A trylock may go against the order: it cannot wait. */
    TU_REQUIRE(pthread_mutex_trylock(&inner) == 0, "trylock");
    pthread_mutex_unlock(&inner);
    pthread_mutex_unlock(&outer);
    /* Released: the order starts again. */
    pthread_mutex_lock(&inner);
    pthread_mutex_unlock(&inner);
    pthread_mutex_lock(&outer);
    pthread_mutex_unlock(&outer);
    lock_rank_clear(&outer);
    lock_rank_clear(&inner);
    lock_rank_clear(&other);
}

static void sc_against_order(void)
{
    rank_them();
    pthread_mutex_lock(&inner);
    pthread_mutex_lock(&outer);
}

static void sc_two_of_a_rank(void)
{
    rank_them();
    pthread_mutex_lock(&inner);
    pthread_mutex_lock(&other);
}

/* Run scenario in a child (no collector needed); its status and stderr. */
static int run_child(void (*scenario)(void), char **err)
{
    return tu_fork_scenario(scenario, TU_NO_INIT, 60, err);
}

static void skip_without_check(void)
{
    if (!TC_CHECKING_ON)
        skip();
}

static void locks_in_order_pass(void **state)
{
    (void)state;
    skip_without_check();
    char *err = NULL;
    int status = run_child(sc_in_order, &err);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        print_error("status %#x, stderr:\n%s\n", status, err ? err : "");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(err);
}

static void lock_against_order_stops(void **state)
{
    (void)state;
    skip_without_check();
    tu_expect_abort(sc_against_order, TU_NO_INIT, "takes roots_lock while holding heap_lock");
    tu_expect_abort(sc_against_order, TU_NO_INIT, "test_lockorder.c:");
}

static void two_locks_of_a_rank_stop(void **state)
{
    (void)state;
    skip_without_check();
    tu_expect_abort(sc_two_of_a_rank, TU_NO_INIT, "takes heap_lock while holding heap_lock");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(locks_in_order_pass),
        cmocka_unit_test(lock_against_order_stops),
        cmocka_unit_test(two_locks_of_a_rank_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
