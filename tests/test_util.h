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

/* tc_init(NULL) and assert it worked; tc_shutdown. For cmocka setup and
 * teardown hooks. */
int tu_setup(void **state);
int tu_teardown(void **state);

/* Capture what the library writes to stderr while fn(arg) runs. */
char *tu_capture_stderr(void (*fn)(void *), void *arg);

#endif
