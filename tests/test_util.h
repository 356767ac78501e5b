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

/* ------------------------------------------ scenarios in a forked child
 *
 * A scenario runs in a forked child that starts its own collector, with a
 * time limit, so that a deadlock or a crash fails one test instead of the
 * whole file.  Inside the child, use TU_CHECK (any thread: record the
 * first failure and go on) and TU_REQUIRE (the child's main thread: record
 * and end the child); never cmocka's assertions, which would unwind into
 * the suite's copy in the child. */

void tu_check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* End the child: status 1 if a check failed (printing the first), else 0. */
_Noreturn void tu_child_exit(void);
/* The same for the child of a fork made while other threads ran, with
 * _exit: what those threads had allocated is unreachable in the child
 * (a record being attached, a buffer in flight), and LeakSanitizer would
 * call it a leak.  Errors ASan reports as they happen still fail it. */
_Noreturn void tu_fork_child_exit(void);

#define TU_CHECK(cond, ...)                                                   \
    do {                                                                      \
        if (!(cond))                                                          \
            tu_check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);          \
    } while (0)

#define TU_REQUIRE(cond, ...)                                                 \
    do {                                                                      \
        if (!(cond)) {                                                        \
            tu_check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);          \
            tu_child_exit();                                                  \
        }                                                                     \
    } while (0)

#define TU_REQUIRE_EQ(a, b)                                                   \
    do {                                                                      \
        unsigned long long a_ = (unsigned long long)(a);                      \
        unsigned long long b_ = (unsigned long long)(b);                      \
        TU_REQUIRE(a_ == b_, "%s = %llu, expected %s = %llu", #a, a_, #b, b_); \
    } while (0)

/* A cfg for tu_fork_scenario / tu_run_isolated: the child runs only
 * scenario() and tu_child_exit(), and starts no collector itself. */
#define TU_NO_INIT ((const tc_config *)-1)

/* Fork; the child runs tc_init(cfg) (cfg may be NULL), scenario(),
 * tc_shutdown() and tu_child_exit().  Waits at most `seconds` (then kills
 * it: the result is -1).  If err_out is not NULL, the child's stderr is
 * captured into a malloc'd string stored there.  Returns the wait status. */
int tu_fork_scenario(void (*scenario)(void), const tc_config *cfg, int seconds,
                     char **err_out);

/* tu_fork_scenario, and fail the cmocka test unless the child aborted
 * (SIGABRT) with `needle` in what it wrote on stderr. */
void tu_expect_abort(void (*scenario)(void), const tc_config *cfg, const char *needle);

/* tu_fork_scenario, and fail the cmocka test unless the child exited 0. */
void tu_run_isolated(const char *name, void (*scenario)(void), const tc_config *cfg,
                     int seconds);

/* CLOCK_MONOTONIC in ns. */
uint64_t tu_now_ns(void);

/* Sleep without holding up a pause (a blocking region). */
void tu_sleep_blocking(unsigned ms);
/* Sleep ms without touching the collector: for root scanners and trace
 * functions, which run with the world stopped. */
void tu_nap_ms(unsigned ms);

/* Poll until collector_phase() == phase, calling tc_safepoint() so that
 * the collector can stop the world meanwhile.  Returns 0 on success, -1
 * after `seconds`.  The buffer of the write barrier is not flushed (no
 * blocking region). */
int tu_wait_phase(int phase, int seconds);

/* A tc_config for scenario children: no automatic cycles (gc off),
 * checkmark and poison on. */
tc_config tu_debug_config(void);

/* A 64-byte object of type `type` (a LEAF type) filled with a pattern
 * derived from seed; tu_seeded_leaf_ok says whether p is still such an
 * object with its pattern intact (poison=1: a freed one reads header 0 or
 * 0xdb bytes).  No cmocka calls: usable in forked children and threads. */
void *tu_seeded_leaf(const tc_type *type, uint32_t seed);
int tu_seeded_leaf_ok(const void *p, const tc_type *type, uint32_t seed);
/* The same for an object of `bytes` bytes; byte i of seed's pattern. */
void *tu_patterned(const tc_type *type, size_t bytes, uint32_t seed);
int tu_patterned_ok(const void *p, const tc_type *type, size_t bytes, uint32_t seed);
unsigned char tu_pattern_byte(uint32_t seed, size_t i);

/* The number of newlines in s (a captured stderr's lines). */
size_t tu_count_lines(const char *s);

/* tc_collect, then the objects the cycle found live. */
uint64_t tu_live_after_collect(void);

/* Ask for a cycle with marking held (collector_test_hold_marking) and
 * return its number once its pause 1 is over: barrier on, black allocation
 * on, roots greyed, nothing scanned.  TU_REQUIREs it within 20 s. */
uint64_t tu_start_held_cycle(void);

#endif
