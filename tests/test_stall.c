/* test_stall.c — the stall tracer (TRICOLOR_DEBUG=stalls=N,
 * tc_config.debug_stalls_us).
 *
 *   options          stalls=N from the environment and the config (and a
 *                    trc5 config, which has no such field); bad values
 *   format           the text line and the JSON object of a made-up stall:
 *                    only causes of 1 us or more in text, every cause in
 *                    JSON, spans swept, locks, off-CPU time
 *   pause_stall      a root scanner that sleeps 40 ms makes pause 1 long:
 *                    a thread polling tc_safepoint stalls, and its line
 *                    puts nearly all of the time in tts/pause/resume; the
 *                    stats and the cycle's trace line count it
 *   fresh_stall      a 64 MiB allocation from reused pages is zeroed in
 *                    tc_alloc: a stall whose main cause is "fresh" (JSON)
 *   off              threshold 0: no line, no counts, whatever happens
 *
 * Bounds are loose on purpose: a busy machine can preempt any thread, and
 * that time counts toward what the thread was doing.  Only what holds on
 * any machine is asserted: a 40 ms sleep inside a pause is at least 40 ms
 * of somebody's stall, and a parked thread's time is all tts, pause or
 * resume. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector.h" /* collector_running */
#include "test_util.h"

#include "options.h"
#include "stall.h"

/* ------------------------------------------------------------- options */

static void resolve_env(void *arg)
{
    (void)arg;
    options_resolve(NULL);
}

static void options(void **state)
{
    (void)state;
    setenv("TRICOLOR_DEBUG", "poison=1,stalls=250", 1);
    assert_int_equal(options_resolve(NULL), 0);
    assert_int_equal(opt.stalls_us, 250);
    assert_int_equal(opt.poison, 1);

    tc_config c = TC_CONFIG_INIT;
    c.debug_stalls_us = 1000;
    assert_int_equal(options_resolve(&c), 0);
    assert_int_equal(opt.stalls_us, 1000); /* the config wins */
    c.debug_stalls_us = -1;
    assert_int_equal(options_resolve(&c), TC_EINVAL);
    c.debug_stalls_us = 0;
    assert_int_equal(options_resolve(&c), 0);
    assert_int_equal(opt.stalls_us, 0);

    /* A program compiled against the trc5 layout has no debug_stalls_us:
     * whatever lies past its end is never read. */
    c = (tc_config)TC_CONFIG_INIT;
    c.magic = 0x74726335u;
    c.debug_stalls_us = -7;
    assert_int_equal(options_resolve(&c), 0);
    assert_int_equal(opt.stalls_us, 250); /* the environment's */

    static const char *const bad[] = {"stalls=", "stalls=-1", "stalls=1x", "stalls=2000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("TRICOLOR_DEBUG", bad[i], 1);
        char *err = tu_capture_stderr(resolve_env, NULL);
        assert_non_null(err);
        if (!strstr(err, "ignored: stalls takes a threshold in microseconds"))
            print_error("TRICOLOR_DEBUG=%s: \"%s\"\n", bad[i], err);
        assert_non_null(strstr(err, "ignored: stalls takes a threshold in microseconds"));
        assert_int_equal(opt.stalls_us, 0);
        free(err);
    }
    unsetenv("TRICOLOR_DEBUG");
    assert_int_equal(options_resolve(NULL), 0);
}

/* A collector with no automatic cycles, the stall tracer at stalls_us,
 * the trace in mode `trace`, no scavenger. */
static void init_traced(int stalls_us, int trace)
{
    tc_config c = TC_CONFIG_INIT;
    c.gc_percent = TC_GC_OFF;
    c.debug_stalls_us = stalls_us;
    c.trace = trace;
    c.scavenge = TC_SCAVENGE_OFF;
    assert_int_equal(tc_init(&c), TC_OK);
}

/* ------------------------------------------------------------- format */

static void format(void **state)
{
    (void)state;
    stall_report r = {.call = "tc_alloc", .cycle = 12, .phase = 2, .total_ns = 3214000,
                      .spans_swept = 4, .off_cpu_ns = 2300000};
    r.cause_ns[TC_STALL_PAUSE] = 2100000;
    r.cause_ns[TC_STALL_ASSIST] = 500000;
    r.cause_ns[TC_STALL_SWEEP] = 200000;
    r.cause_ns[TC_STALL_LOCK] = 90000;
    r.lock_ns[STALL_LOCK_HEAP] = 80000;
    r.lock_ns[STALL_LOCK_CENTRAL] = 10000;
    r.cause_ns[TC_STALL_REFILL] = 400; /* under a microsecond: not shown */
    r.cause_ns[TC_STALL_OTHER] = 23600;
    char buf[1024];
    int n = stall_format(&r, 0, buf, sizeof buf);
    const char *want = "tc stall: 3.214 ms in tc_alloc, cycle 12 sweep: pause 2.100, "
                       "assist 0.500, sweep 0.200 (4 spans), lock 0.090 (heap 0.080, "
                       "central 0.010), other 0.024; off cpu 2.300\n";
    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));

    n = stall_format(&r, 1, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(buf));
    assert_memory_equal(buf, "{\"stall\":{\"call\":\"tc_alloc\",\"cycle\":12,\"phase\":\"sweep\","
                             "\"ms\":3.214,\"causes_ms\":{\"tts\":0.000,\"pause\":2.100,",
                        strlen("{\"stall\":{\"call\":\"tc_alloc\",\"cycle\":12,\"phase\":"
                               "\"sweep\",\"ms\":3.214,\"causes_ms\":{\"tts\":0.000,"
                               "\"pause\":2.100,"));
    for (int c = 0; c < TC_STALL_CAUSES; c++) {
        char key[32];
        snprintf(key, sizeof key, "\"%s\":", tc_stall_cause_name(c));
        assert_non_null(strstr(buf, key));
    }
    assert_non_null(strstr(buf, "\"off_cpu_ms\":2.300,\"spans_swept\":4,"));
    assert_non_null(strstr(buf, "\"locks_ms\":{\"heap\":0.080,\"central\":0.010,"));
    assert_string_equal(buf + n - 4, "}}}\n");
    assert_string_equal(tc_stall_cause_name(TC_STALL_CAUSES), "?");
    assert_string_equal(tc_stall_cause_name(-1), "?");

    /* A buffer too small: cut, terminated, never overrun. */
    char small[40];
    memset(small, 'x', sizeof small);
    n = stall_format(&r, 0, small, 32);
    assert_int_equal(n, 31);
    assert_int_equal(small[31], 0);
    assert_int_equal(small[32], 'x');
}

/* --------------------------------------------------------- pause_stall */

#define SLEEP_MS 40

static void sleepy_scanner(tc_visitor *v, void *ctx)
{
    (void)v;
    (void)ctx;
    tu_nap_ms(SLEEP_MS);
}

static atomic_int poller_stop, poller_ready;

static void *poller(void *arg)
{
    (void)arg;
    TU_REQUIRE_EQ(tc_thread_attach(), TC_OK);
    poller_ready = 1;
    while (!poller_stop)
        tc_safepoint();
    tc_thread_detach();
    return NULL;
}

static void collect_beside_poller(void *arg)
{
    (void)arg;
    poller_stop = poller_ready = 0;
    pthread_t th;
    TU_REQUIRE_EQ(pthread_create(&th, NULL, poller, NULL), 0);
    while (!poller_ready)
        tu_sleep_blocking(1);
    tc_collect();
    poller_stop = 1;
    tc_blocking_enter();
    pthread_join(th, NULL);
    tc_blocking_leave();
}

/* The value after " name " in a text stall line, or -1. */
static double cause_ms(const char *line, const char *name)
{
    char key[32];
    snprintf(key, sizeof key, " %s ", name);
    const char *p = strstr(line, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static double nonneg(double x) { return x < 0 ? 0 : x; }

static void pause_stall(void **state)
{
    (void)state;
    init_traced(5000, TC_TRACE_TEXT);
    assert_int_equal(tc_root_scanner_add(sleepy_scanner, NULL), TC_OK);
    char *err = tu_capture_stderr(collect_beside_poller, NULL);
    assert_non_null(err);

    /* The poller's stall: at least the sleep, and all of it parked. */
    const char *line = strstr(err, "tc stall: ");
    int found = 0;
    for (; line && !found; line = strstr(line + 1, "tc stall: ")) {
        double total;
        char call[32];
        if (sscanf(line, "tc stall: %lf ms in %31[^,]", &total, call) != 2 ||
            strcmp(call, "tc_safepoint") != 0 || total < SLEEP_MS)
            continue;
        double parked = nonneg(cause_ms(line, "tts")) + nonneg(cause_ms(line, "pause")) +
                        nonneg(cause_ms(line, "resume"));
        if (parked < 0.9 * total)
            print_error("parked %.3f of %.3f ms: %s\n", parked, total, line);
        assert_true(parked >= 0.9 * total);
        if (cause_ms(line, "pause") < SLEEP_MS * 0.9)
            print_error("%s\n", line);
        assert_true(cause_ms(line, "pause") >= SLEEP_MS * 0.9);
        found = 1;
    }
    if (!found)
        print_error("no tc_safepoint stall of %d ms or more in:\n%s\n", SLEEP_MS, err);
    assert_true(found);

    /* The cycle's trace line counts it. */
    const char *cycle = strstr(err, "tc 1 @");
    assert_non_null(cycle);
    const char *eol = strchr(cycle, '\n');
    const char *stalls = strstr(cycle, " stalls ");
    assert_true(stalls && stalls < eol);

    tc_stats st;
    tc_read_stats(&st);
    assert_true(st.stalls >= 1);
    assert_true(st.stall_max_ns >= SLEEP_MS * 1000000ull);
    assert_true(st.stall_cause_ns[TC_STALL_PAUSE] >= SLEEP_MS * 900000ull);
    uint64_t sum = 0;
    for (int k = 0; k < TC_STALL_CAUSES; k++)
        sum += st.stall_cause_ns[k];
    assert_int_equal(sum, st.stall_ns); /* the causes split each stall exactly */
    free(err);
    assert_int_equal(tc_root_scanner_remove(sleepy_scanner, NULL), TC_OK);
    tc_shutdown();
}

/* --------------------------------------------------------- fresh_stall */

#define BIG ((size_t)64 << 20)
static const tc_type blob_type = {.name = "blob", .layout = TC_LAYOUT_LEAF};

static void big_twice(void *arg)
{
    (void)arg;
    void *p = tc_alloc(&blob_type, BIG);
    assert_non_null(p);
    memset(p, 0x5a, BIG); /* its pages are backed and dirty now */
    p = NULL;
    tc_collect();         /* freed: the span is needzero */
    p = tc_alloc(&blob_type, BIG);
    assert_non_null(p);
    assert_int_equal(((unsigned char *)p)[BIG / 2], 0);
}

static void fresh_stall(void **state)
{
    (void)state;
    init_traced(1000, TC_TRACE_JSON);
    char *err = tu_capture_stderr(big_twice, NULL);
    assert_non_null(err);
    /* The second allocation zeroes 64 MiB: its stall's largest cause. */
    int found = 0;
    for (const char *p = strstr(err, "{\"stall\":"); p && !found;
         p = strstr(p + 1, "{\"stall\":")) {
        const char *f = strstr(p, "\"fresh\":"), *ms = strstr(p, "\"ms\":");
        const char *eol = strchr(p, '\n');
        static const char head[] = "{\"stall\":{\"call\":\"tc_alloc\"";
        if (!f || !ms || f > eol || strncmp(p, head, strlen(head)) != 0)
            continue;
        double fresh = strtod(f + 8, NULL), total = strtod(ms + 5, NULL);
        found = fresh >= 0.5 * total && fresh > 0;
    }
    if (!found)
        print_error("no tc_alloc stall mostly \"fresh\" in:\n%s\n", err);
    assert_true(found);
    /* The cycle's JSON line has the stalls object. */
    assert_non_null(strstr(err, ",\"stalls\":{\"n\":"));
    free(err);
    tc_shutdown();
}

/* ------------------------------------------------------------------ off */

static void off(void **state)
{
    (void)state;
    init_traced(0, TC_TRACE_TEXT);
    assert_int_equal(tc_root_scanner_add(sleepy_scanner, NULL), TC_OK);
    char *err = tu_capture_stderr(collect_beside_poller, NULL);
    assert_non_null(err);
    assert_null(strstr(err, "tc stall"));
    assert_null(strstr(err, " stalls "));
    tc_stats st;
    tc_read_stats(&st);
    assert_int_equal(st.stalls, 0);
    assert_int_equal(st.stall_ns, 0);
    free(err);
    assert_int_equal(tc_root_scanner_remove(sleepy_scanner, NULL), TC_OK);
    tc_shutdown();
}

/* A test that failed half-way left its collector running: stop it, so
 * that the next test's tc_init does not fail too. */
static int shut_down(void **state)
{
    (void)state;
    if (collector_running()) {
        tc_root_scanner_remove(sleepy_scanner, NULL);
        tc_shutdown();
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options),
        cmocka_unit_test(format),
        cmocka_unit_test_teardown(pause_stall, shut_down),
        cmocka_unit_test_teardown(fresh_stall, shut_down),
        cmocka_unit_test_teardown(off, shut_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
