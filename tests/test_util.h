/* test_util.h — shared helpers for the cmocka tests. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tricolor.h"

/* Types every test may use. */
extern const tc_type tu_pair_type;   /* SLOTS: { void *car, *cdr; } */
extern const tc_type tu_leaf_type;   /* LEAF */
extern const tc_type tu_traced_type; /* TRACE: tu_traced */

typedef struct tu_pair {
    void *car, *cdr;
} tu_pair;

/* A traced object: n references in refs[], plus non-reference data. */
typedef struct tu_traced {
    uint64_t magic;
    size_t n;
    void *refs[4];
} tu_traced;

/* Tagged integers as interpreters store them: odd, never a reference. */
#define TU_TAG(i) ((void *)(((uintptr_t)(i) << 1) | 1))
#define TU_UNTAG(p) ((uintptr_t)(p) >> 1)

/* A rooted-while-built list of n pairs whose cars are TU_TAG(n-1) ... TU_TAG(0)
 * from the head; tu_check_list asserts exactly that shape. */
tu_pair *tu_make_list(uintptr_t n);
void tu_check_list(const tu_pair *l, uintptr_t n);

/* In a forked child: restore the default action of the crash signals that
 * cmocka catches, so a crash kills the child instead of resuming the suite. */
void tu_child_default_signals(void);

/* tc_init(NULL) and assert it worked; tc_shutdown. For cmocka setup and
 * teardown hooks. */
int tu_setup(void **state);
int tu_teardown(void **state);

/* Cycles triggered by allocation run on the collector thread: wait (in a
 * blocking region, polling) until at least n cycles have completed; fails
 * the test after 30 s. */
void tu_wait_cycles(uint64_t n);

/* Capture what the library writes to stderr while fn(arg) runs. */
char *tu_capture_stderr(void (*fn)(void *), void *arg);

#endif
