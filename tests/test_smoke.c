/* test_smoke.c — the simplest end-to-end check: a rooted list survives
 * collections and an unrooted one is reclaimed. */
#include <stdlib.h>

#include "test_util.h"

static void rooted_list_survives(void **state)
{
    (void)state;
    tu_pair *list = NULL;
    TC_ROOTS(list);
    for (intptr_t i = 0; i < 1000; i++) {
        tu_pair *p = tc_alloc(&tu_pair_type, sizeof *p);
        p->car = (void *)(i * 2 + 1); /* tagged integer */
        TC_WRITE(p, cdr, list);
        list = p;
    }
    for (int k = 0; k < 3; k++)
        tc_collect();
    intptr_t expect = 999;
    for (tu_pair *p = list; p; p = p->cdr, expect--)
        assert_int_equal((intptr_t)p->car, expect * 2 + 1);
    assert_int_equal(expect, -1);
    tc_stats st;
    tc_read_stats(&st);
    assert_true(st.objects_live >= 1000);
    list = NULL;
    tc_collect();
    tc_read_stats(&st);
    assert_true(st.objects_live < 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rooted_list_survives, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
