/* test_options.c — option parsing and resolution: the parsers, TRICOLOR_*
 * environment variables (good values take effect, bad ones warn once and
 * fall back), tc_config (set fields win, bad fields fail tc_init with
 * TC_EINVAL and leave the collector stopped), tc_init twice. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "options.h"
#include "platform.h"
#include "scavenge.h"

static const char *const env_vars[] = {
    "TRICOLOR_GC_PERCENT", "TRICOLOR_MEMORY_LIMIT", "TRICOLOR_TRACE",
    "TRICOLOR_MARK_WORKERS", "TRICOLOR_DEBUG",  "TRICOLOR_IDLE_WORKERS",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
}

static int setup_env(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static int teardown_env(void **state)
{
    (void)state;
    tc_shutdown(); /* no-op if not running */
    clear_env();
    return 0;
}

struct init_call {
    const tc_config *cfg;
    int result;
};

static void call_init(void *arg)
{
    struct init_call *c = arg;
    c->result = tc_init(c->cfg);
}

/* tc_init(cfg) with stderr captured; returns what it printed. */
static char *init_captured(const tc_config *cfg, int *result)
{
    struct init_call c = {.cfg = cfg, .result = 12345};
    char *out = tu_capture_stderr(call_init, &c);
    assert_non_null(out);
    *result = c.result;
    return out;
}

static void init_quietly(const tc_config *cfg)
{
    int r;
    char *out = init_captured(cfg, &r);
    if (r != TC_OK || *out)
        fail_msg("tc_init returned %d and printed \"%s\"", r, out);
    free(out);
}

static tc_stats read_stats(void)
{
    tc_stats st;
    tc_read_stats(&st);
    return st;
}

/* ------------------------------------------------------------- parsers */

static void parse_percent(void **state)
{
    (void)state;
    int v = -77;
    assert_int_equal(options_parse_percent("100", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(options_parse_percent("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(options_parse_percent("2147483647", &v), 0);
    assert_int_equal(v, 2147483647);
    assert_int_equal(options_parse_percent("off", &v), 0);
    assert_int_equal(v, TC_GC_OFF);
    v = 5;
    assert_int_equal(options_parse_percent("OFF", &v), 0);
    assert_int_equal(v, TC_GC_OFF);
    static const char *const bad[] = {"-1", "abc", "12x", "", " 5", "5 ", "99999999999",
                                      "2147483648", "+", "0x10", "of", "offf", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 4242;
        if (options_parse_percent(bad[i], &v) != -1)
            fail_msg("options_parse_percent(\"%s\") accepted it (%d)", bad[i], v);
        assert_int_equal(v, 4242); /* untouched on error */
    }
    assert_int_equal(options_parse_percent(NULL, &v), -1);
}

static void parse_count(void **state)
{
    (void)state;
    int v = -77;
    assert_int_equal(options_parse_count("100", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(options_parse_count("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(options_parse_count("1024", &v), 0);
    assert_int_equal(v, 1024);
    static const char *const bad[] = {"off", "OFF", "-1", "abc", "12x", "", " 5",
                                      "99999999999", "1025"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 4242;
        if (options_parse_count(bad[i], &v) != -1)
            fail_msg("options_parse_count(\"%s\") accepted it (%d)", bad[i], v);
        assert_int_equal(v, 4242);
    }
    assert_int_equal(options_parse_count(NULL, &v), -1);
}

static void parse_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t v;
    } good[] = {
        {"64MiB", (int64_t)64 << 20}, {"1GiB", (int64_t)1 << 30}, {"512", 512},
        {"10B", 10}, {"1KiB", 1024}, {"3TiB", (int64_t)3 << 40}, {"100", 100},
        {"99999999999", 99999999999LL}, {"8388607TiB", (int64_t)8388607 << 40},
        {"9223372036854775807", INT64_MAX}, {"1", 1},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = -1;
        if (options_parse_bytes(good[i].s, &v) != 0)
            fail_msg("options_parse_bytes(\"%s\") refused it", good[i].s);
        if (v != good[i].v)
            fail_msg("options_parse_bytes(\"%s\") = %lld, expected %lld", good[i].s,
                     (long long)v, (long long)good[i].v);
    }
    static const char *const bad[] = {
        "0", "0MiB", "-5", "5MB", "5KB", "5kib", "5 MiB", "MiB", "", " 5", "abc", "12x",
        "99999999TiB", "8388608TiB", "9223372036854775808", "99999999999999999999",
        "1.5GiB", "5PiB", "off",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 4242;
        if (options_parse_bytes(bad[i], &v) != -1)
            fail_msg("options_parse_bytes(\"%s\") accepted it (%lld)", bad[i], (long long)v);
        assert_int_equal(v, 4242);
    }
    int64_t v = 0;
    assert_int_equal(options_parse_bytes(NULL, &v), -1);
}

/* ---------------------------------------------------------- environment */

static void defaults_without_environment(void **state)
{
    (void)state;
    init_quietly(NULL);
    tc_stats st = read_stats();
    assert_int_equal(st.gc_percent, 100);
    assert_int_equal(st.memory_limit, INT64_MAX);
    assert_int_equal(opt.trace, TC_TRACE_OFF);
    assert_int_equal(opt.verify, 0);
    assert_int_equal(opt.checkmark, 0);
    assert_int_equal(opt.poison, 0);
    assert_int_equal(opt.stoptheworld, 0);
}

static void env_gc_percent(void **state)
{
    (void)state;
    setenv("TRICOLOR_GC_PERCENT", "50", 1);
    init_quietly(NULL);
    assert_int_equal(read_stats().gc_percent, 50);
    tc_shutdown();
    setenv("TRICOLOR_GC_PERCENT", "off", 1);
    init_quietly(NULL);
    assert_true(read_stats().gc_percent < 0);
    tc_shutdown();
    setenv("TRICOLOR_GC_PERCENT", "0", 1);
    init_quietly(NULL);
    assert_int_equal(read_stats().gc_percent, 0);
}

/* A bad value: exactly one warning line naming the variable and the value;
 * tc_init still succeeds, with the default. */
static void expect_one_warning(const char *var, const char *value)
{
    setenv(var, value, 1);
    int r;
    char *out = init_captured(NULL, &r);
    assert_int_equal(r, TC_OK);
    if (tu_count_lines(out) != 1 || !strstr(out, var) || !strstr(out, value))
        fail_msg("%s=\"%s\": expected one warning naming both, got \"%s\"", var, value, out);
    free(out);
}

static void env_gc_percent_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {"abc", "-1", "12x", "99999999999", " 5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_one_warning("TRICOLOR_GC_PERCENT", bad[i]);
        assert_int_equal(read_stats().gc_percent, 100);
        tc_shutdown();
    }
    /* An empty value is bad too (it is set, and not a number). */
    setenv("TRICOLOR_GC_PERCENT", "", 1);
    int r;
    char *out = init_captured(NULL, &r);
    assert_int_equal(r, TC_OK);
    assert_int_equal(tu_count_lines(out), 1);
    assert_non_null(strstr(out, "TRICOLOR_GC_PERCENT"));
    free(out);
    assert_int_equal(read_stats().gc_percent, 100);
}

static void env_memory_limit(void **state)
{
    (void)state;
    setenv("TRICOLOR_MEMORY_LIMIT", "64MiB", 1);
    init_quietly(NULL);
    assert_int_equal(read_stats().memory_limit, (int64_t)64 << 20);
    tc_shutdown();
    setenv("TRICOLOR_MEMORY_LIMIT", "123456789", 1);
    init_quietly(NULL);
    assert_int_equal(read_stats().memory_limit, 123456789);
    tc_shutdown();
    setenv("TRICOLOR_MEMORY_LIMIT", "none", 1);
    init_quietly(NULL);
    assert_int_equal(read_stats().memory_limit, INT64_MAX);
    tc_shutdown();
    static const char *const bad[] = {"5MB", "0", "-5", "99999999TiB", "lots"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_one_warning("TRICOLOR_MEMORY_LIMIT", bad[i]);
        assert_int_equal(read_stats().memory_limit, INT64_MAX);
        tc_shutdown();
    }
}

static void env_trace_and_workers(void **state)
{
    (void)state;
    setenv("TRICOLOR_TRACE", "json", 1);
    setenv("TRICOLOR_MARK_WORKERS", "3", 1);
    init_quietly(NULL);
    assert_int_equal(opt.trace, TC_TRACE_JSON);
    assert_int_equal(opt.mark_workers, 3);
    tc_shutdown();
    setenv("TRICOLOR_TRACE", "yes", 1);
    unsetenv("TRICOLOR_MARK_WORKERS");
    expect_one_warning("TRICOLOR_TRACE", "yes");
    assert_int_equal(opt.trace, TC_TRACE_OFF);
    tc_shutdown();
    unsetenv("TRICOLOR_TRACE");
    expect_one_warning("TRICOLOR_MARK_WORKERS", "1025");
    assert_true(opt.mark_workers >= 1 && opt.mark_workers <= 1024); /* the default */
}

static void env_debug(void **state)
{
    (void)state;
    setenv("TRICOLOR_DEBUG", "verify=1,poison=1", 1);
    init_quietly(NULL);
    assert_int_equal(opt.verify, 1);
    assert_int_equal(opt.poison, 1);
    assert_int_equal(opt.checkmark, 0);
    assert_int_equal(opt.stoptheworld, 0);
    tc_shutdown();

    /* Three bad items, one good: three warnings, each naming its item. */
    setenv("TRICOLOR_DEBUG", "bogus=1,checkmark=1,poison=2,verify", 1);
    int r;
    char *out = init_captured(NULL, &r);
    assert_int_equal(r, TC_OK);
    if (tu_count_lines(out) != 3 || !strstr(out, "bogus=1") || !strstr(out, "poison=2") ||
        !strstr(out, "\"verify\"") || !strstr(out, "TRICOLOR_DEBUG"))
        fail_msg("expected three TRICOLOR_DEBUG warnings, got \"%s\"", out);
    free(out);
    assert_int_equal(opt.checkmark, 1);
    assert_int_equal(opt.poison, 0);
    assert_int_equal(opt.verify, 0);
    tc_shutdown();

    /* One bad item alone: one warning. */
    setenv("TRICOLOR_DEBUG", "stoptheworld=yes", 1);
    out = init_captured(NULL, &r);
    assert_int_equal(r, TC_OK);
    assert_int_equal(tu_count_lines(out), 1);
    assert_non_null(strstr(out, "stoptheworld=yes"));
    free(out);
    assert_int_equal(opt.stoptheworld, 0);
    tc_shutdown();

    /* stress=N takes a count, and turns checkmark on. */
    setenv("TRICOLOR_DEBUG", "stress=25", 1);
    init_quietly(NULL);
    assert_int_equal(opt.stress, 25);
    assert_int_equal(opt.checkmark, 1);
    tc_shutdown();
    setenv("TRICOLOR_DEBUG", "stress=-3,stress=many,stress=2000000000", 1);
    out = init_captured(NULL, &r);
    assert_int_equal(r, TC_OK);
    if (tu_count_lines(out) != 3 || !strstr(out, "stress=many") ||
        !strstr(out, "count of allocations"))
        fail_msg("expected three stress warnings, got \"%s\"", out);
    free(out);
    assert_int_equal(opt.stress, 0);
    assert_int_equal(opt.checkmark, 0);
}

/* tc_config.debug_stress: in range, wins over the environment; the trc3
 * layout ends before it and is never read from it. */
#define TC_CONFIG_MAGIC_V3 0x74726333u

static void config_debug_stress(void **state)
{
    (void)state;
    setenv("TRICOLOR_DEBUG", "stress=7", 1);
    tc_config c = TC_CONFIG_INIT;
    c.debug_stress = 100;
    init_quietly(&c);
    assert_int_equal(opt.stress, 100);
    tc_shutdown();
    c.debug_stress = -1;
    int r;
    char *out = init_captured(&c, &r);
    assert_int_equal(r, TC_EINVAL);
    assert_non_null(strstr(out, "debug_stress"));
    free(out);
    c.debug_stress = 55;
    c.magic = TC_CONFIG_MAGIC_V3;
    init_quietly(&c);
    assert_int_equal(opt.stress, 7); /* the environment's */
    tc_shutdown();
    unsetenv("TRICOLOR_DEBUG");
}

/* ------------------------------------------------------------ tc_config */

static void config_wins_over_environment(void **state)
{
    (void)state;
    setenv("TRICOLOR_GC_PERCENT", "50", 1);
    setenv("TRICOLOR_MEMORY_LIMIT", "1GiB", 1);
    setenv("TRICOLOR_DEBUG", "poison=1", 1);
    tc_config c = TC_CONFIG_INIT;
    c.gc_percent = 200;
    c.memory_limit = (int64_t)256 << 20;
    c.debug_poison = 0;
    init_quietly(&c);
    tc_stats st = read_stats();
    assert_int_equal(st.gc_percent, 200);
    assert_int_equal(st.memory_limit, (int64_t)256 << 20);
    assert_int_equal(opt.poison, 0);
    tc_shutdown();

    /* Unset fields are left to the environment. */
    tc_config u = TC_CONFIG_INIT;
    u.trace = TC_TRACE_OFF;
    init_quietly(&u);
    st = read_stats();
    assert_int_equal(st.gc_percent, 50);
    assert_int_equal(st.memory_limit, (int64_t)1 << 30);
    assert_int_equal(opt.poison, 1);
    tc_shutdown();

    /* TC_GC_OFF is a valid setting. */
    tc_config off = TC_CONFIG_INIT;
    off.gc_percent = TC_GC_OFF;
    init_quietly(&off);
    assert_int_equal(read_stats().gc_percent, TC_GC_OFF);
}

static void attach_fails(void *arg)
{
    *(int *)arg = tc_thread_attach();
}

/* After a failed tc_init: the collector is not running (attaching says
 * TC_ESTATE) and a plain tc_init(NULL) works. */
static void expect_stopped_then_init_works(void)
{
    int err = 0;
    char *out = tu_capture_stderr(attach_fails, &err);
    assert_non_null(out);
    assert_int_equal(err, TC_ESTATE);
    free(out);
    init_quietly(NULL);
    assert_int_equal(read_stats().gc_percent, 100);
    void *p = tc_alloc(&tu_leaf_type, 16);
    assert_non_null(p);
    assert_int_equal(tc_is_heap_object(p), 1);
    tc_shutdown();
}

static void config_without_init_macro(void **state)
{
    (void)state;
    tc_config c = {0};
    int r;
    char *out = init_captured(&c, &r);
    assert_int_equal(r, TC_EINVAL);
    assert_int_equal(tu_count_lines(out), 1);
    assert_non_null(strstr(out, "TC_CONFIG_INIT"));
    free(out);
    expect_stopped_then_init_works();

    /* Also with a garbage magic but otherwise sensible fields. */
    tc_config g = TC_CONFIG_INIT;
    g.magic = TC_CONFIG_MAGIC + 1;
    out = init_captured(&g, &r);
    assert_int_equal(r, TC_EINVAL);
    free(out);
    expect_stopped_then_init_works();
}

static void config_out_of_range(void **state)
{
    (void)state;
    static const struct {
        const char *field;
        int which;
        int64_t value;
    } bad[] = {
        {"gc_percent", 0, -2},         {"gc_percent", 0, -100},
        {"trace", 1, 3},               {"trace", 1, -1},
        {"mark_workers", 2, -1},       {"mark_workers", 2, 1025},
        {"debug_verify", 3, 2},        {"debug_checkmark", 4, -1},
        {"debug_poison", 5, 7},        {"debug_stoptheworld", 6, 2},
        {"memory_limit", 7, 0},        {"memory_limit", 7, -1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tc_config c = TC_CONFIG_INIT;
        int v = (int)bad[i].value;
        switch (bad[i].which) {
        case 0: c.gc_percent = v; break;
        case 1: c.trace = v; break;
        case 2: c.mark_workers = v; break;
        case 3: c.debug_verify = v; break;
        case 4: c.debug_checkmark = v; break;
        case 5: c.debug_poison = v; break;
        case 6: c.debug_stoptheworld = v; break;
        default: c.memory_limit = bad[i].value; break;
        }
        int r;
        char *out = init_captured(&c, &r);
        if (r != TC_EINVAL)
            fail_msg("tc_config.%s = %lld: tc_init returned %d, expected TC_EINVAL",
                     bad[i].field, (long long)bad[i].value, r);
        if (tu_count_lines(out) != 1 || !strstr(out, bad[i].field))
            fail_msg("tc_config.%s = %lld: expected one diagnostic naming the field, got "
                     "\"%s\"", bad[i].field, (long long)bad[i].value, out);
        free(out);
        expect_stopped_then_init_works();
    }
    /* The largest legal values are accepted. */
    tc_config ok = TC_CONFIG_INIT;
    ok.gc_percent = 0x7fffffff;
    ok.memory_limit = INT64_MAX;
    ok.trace = TC_TRACE_OFF;
    ok.mark_workers = 0;
    ok.debug_verify = 0;
    init_quietly(&ok);
    assert_int_equal(read_stats().gc_percent, 0x7fffffff);
    assert_int_equal(read_stats().memory_limit, INT64_MAX);
}

/* A bad config value fails even when the environment is fine, and the
 * environment's warnings do not hide it. */
static void config_bad_with_env(void **state)
{
    (void)state;
    setenv("TRICOLOR_GC_PERCENT", "70", 1);
    tc_config c = TC_CONFIG_INIT;
    c.debug_verify = 5;
    int r;
    char *out = init_captured(&c, &r);
    assert_int_equal(r, TC_EINVAL);
    assert_non_null(strstr(out, "debug_verify"));
    free(out);
    unsetenv("TRICOLOR_GC_PERCENT");
    expect_stopped_then_init_works();
}

static void init_twice(void **state)
{
    (void)state;
    init_quietly(NULL);
    void *p = tc_alloc(&tu_leaf_type, 16);
    int r;
    char *out = init_captured(NULL, &r);
    assert_int_equal(r, TC_ESTATE);
    assert_int_equal(tu_count_lines(out), 1);
    free(out);
    /* Still running, the heap untouched. */
    assert_int_equal(tc_is_heap_object(p), 1);
    tc_collect();
    assert_int_equal(read_stats().cycles, 1);
    /* A config passed to the second call changes nothing. */
    tc_config c = TC_CONFIG_INIT;
    c.gc_percent = 7;
    out = init_captured(&c, &r);
    assert_int_equal(r, TC_ESTATE);
    free(out);
    assert_int_equal(read_stats().gc_percent, 100);
    tc_shutdown();
    /* After shutdown it starts afresh. */
    init_quietly(&c);
    assert_int_equal(read_stats().gc_percent, 7);
    assert_int_equal(read_stats().cycles, 0);
}

/* ------------------------------------------- since the pacer: scavenging */

#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

/* The existing tests' env list predates TRICOLOR_SCAVENGE: clear it too. */
static int setup_env_scavenge(void **state)
{
    setup_env(state);
    unsetenv("TRICOLOR_SCAVENGE");
    return 0;
}

static int teardown_env_scavenge(void **state)
{
    teardown_env(state);
    unsetenv("TRICOLOR_SCAVENGE");
    return 0;
}

/* The mode resolved, and the mode the scavenger was started with. */
static void expect_scavenge_mode(int mode)
{
    assert_int_equal(opt.scavenge, mode);
    assert_int_equal(scavenge_mode(), mode);
}

static void parse_scavenge(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int mode;
    } good[] = {
        {"off", TC_SCAVENGE_OFF}, {"OFF", TC_SCAVENGE_OFF}, {"Off", TC_SCAVENGE_OFF},
        {"dontneed", TC_SCAVENGE_DONTNEED}, {"DONTNEED", TC_SCAVENGE_DONTNEED},
        {"DontNeed", TC_SCAVENGE_DONTNEED}, {"free", TC_SCAVENGE_FREE},
        {"FREE", TC_SCAVENGE_FREE}, {"fReE", TC_SCAVENGE_FREE},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int v = -77;
        if (options_parse_scavenge(good[i].s, &v) != 0 || v != good[i].mode)
            fail_msg("options_parse_scavenge(\"%s\") gave %d, expected %d", good[i].s, v,
                     good[i].mode);
    }
    static const char *const bad[] = {"", "0", "1", "2", "no", "madv_free", "dont_need",
                                      "dontneed ", " free", "offf", "fre", "MADV_DONTNEED"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int v = 4242;
        if (options_parse_scavenge(bad[i], &v) != -1)
            fail_msg("options_parse_scavenge(\"%s\") accepted it (%d)", bad[i], v);
        assert_int_equal(v, 4242);
    }
    int v = 4242;
    assert_int_equal(options_parse_scavenge(NULL, &v), -1);
    assert_int_equal(v, 4242);
}

static void env_scavenge(void **state)
{
    (void)state;
    /* No variable: the default, dontneed. */
    init_quietly(NULL);
    expect_scavenge_mode(TC_SCAVENGE_DONTNEED);
    tc_shutdown();
    static const struct {
        const char *s;
        int mode;
    } good[] = {
        {"off", TC_SCAVENGE_OFF}, {"Free", TC_SCAVENGE_FREE}, {"DONTNEED", TC_SCAVENGE_DONTNEED},
        {"OFF", TC_SCAVENGE_OFF}, {"free", TC_SCAVENGE_FREE}, {"dontneed", TC_SCAVENGE_DONTNEED},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setenv("TRICOLOR_SCAVENGE", good[i].s, 1);
        init_quietly(NULL);
        expect_scavenge_mode(good[i].mode);
        tc_shutdown();
    }
}

static void env_scavenge_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {"bogus", "1", "madv_free", "dont-need"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_one_warning("TRICOLOR_SCAVENGE", bad[i]);
        expect_scavenge_mode(TC_SCAVENGE_DONTNEED);
        tc_shutdown();
    }
    /* Set but empty: bad too, one warning. */
    setenv("TRICOLOR_SCAVENGE", "", 1);
    int r;
    char *out = init_captured(NULL, &r);
    assert_int_equal(r, TC_OK);
    if (tu_count_lines(out) != 1 || !strstr(out, "TRICOLOR_SCAVENGE"))
        fail_msg("TRICOLOR_SCAVENGE=\"\": expected one warning, got \"%s\"", out);
    free(out);
    expect_scavenge_mode(TC_SCAVENGE_DONTNEED);
}

static void config_scavenge(void **state)
{
    (void)state;
    /* A set field wins over the environment, either way round. */
    setenv("TRICOLOR_SCAVENGE", "off", 1);
    tc_config c = TC_CONFIG_INIT;
    c.scavenge = TC_SCAVENGE_FREE;
    init_quietly(&c);
    expect_scavenge_mode(TC_SCAVENGE_FREE);
    tc_shutdown();
    setenv("TRICOLOR_SCAVENGE", "free", 1);
    c.scavenge = TC_SCAVENGE_OFF;
    init_quietly(&c);
    expect_scavenge_mode(TC_SCAVENGE_OFF);
    tc_shutdown();
    c.scavenge = TC_SCAVENGE_DONTNEED;
    init_quietly(&c);
    expect_scavenge_mode(TC_SCAVENGE_DONTNEED);
    tc_shutdown();
    /* Unset: the environment's. */
    c.scavenge = TC_UNSET;
    init_quietly(&c);
    expect_scavenge_mode(TC_SCAVENGE_FREE);
    tc_shutdown();
    unsetenv("TRICOLOR_SCAVENGE");

    /* Out of range: TC_EINVAL, one diagnostic naming the field, and the
     * collector stays stopped. */
    static const int bad[] = {-1, 3, 99, TC_UNSET + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tc_config b = TC_CONFIG_INIT;
        b.scavenge = bad[i];
        int r;
        char *out = init_captured(&b, &r);
        if (r != TC_EINVAL)
            fail_msg("tc_config.scavenge = %d: tc_init returned %d, expected TC_EINVAL", bad[i],
                     r);
        if (tu_count_lines(out) != 1 || !strstr(out, "scavenge"))
            fail_msg("tc_config.scavenge = %d: expected one diagnostic naming the field, got "
                     "\"%s\"", bad[i], out);
        free(out);
        assert_int_equal(scavenge_mode(), -1);
        expect_stopped_then_init_works();
    }
}

/* tricolor 0.1's tc_config: the same fields up to debug_stoptheworld, no
 * scavenge, and magic 0x74726963. */
#define TC_CONFIG_MAGIC_V1 0x74726963u
#define V1_CONFIG_SIZE offsetof(tc_config, scavenge)

static void config_old_layout(void **state)
{
    (void)state;
    /* In a full-size struct with an invalid scavenge: not read. */
    setenv("TRICOLOR_SCAVENGE", "off", 1);
    tc_config c = TC_CONFIG_INIT;
    c.magic = TC_CONFIG_MAGIC_V1;
    c.gc_percent = 150;
    c.scavenge = 99;
    init_quietly(&c);
    assert_int_equal(read_stats().gc_percent, 150); /* the fields before are read */
    expect_scavenge_mode(TC_SCAVENGE_OFF);          /* the environment's, not 99 */
    tc_shutdown();
    unsetenv("TRICOLOR_SCAVENGE");

    /* As a 0.1 program passes it: the struct ends where scavenge would
     * start, and here an inaccessible page begins, so reading it crashes. */
    long page = sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    assert_true(mem != MAP_FAILED);
    assert_int_equal(mprotect(mem + page, (size_t)page, PROT_NONE), 0);
    tc_config v1 = TC_CONFIG_INIT;
    v1.magic = TC_CONFIG_MAGIC_V1;
    v1.gc_percent = 70;
    v1.mark_workers = 0;
    char *at = mem + page - V1_CONFIG_SIZE;
    assert_true((uintptr_t)at % _Alignof(tc_config) == 0);
    memcpy(at, &v1, V1_CONFIG_SIZE);
    init_quietly((const tc_config *)(void *)at);
    assert_int_equal(read_stats().gc_percent, 70);
    assert_int_equal(opt.mark_workers, 0);
    expect_scavenge_mode(TC_SCAVENGE_DONTNEED);
    tc_shutdown();
    munmap(mem, 2 * (size_t)page);
}

/* GC percent off with a memory limit: the goal comes from the limit alone,
 * (limit - overhead) less 3%, where the overhead is 0 until a cycle has
 * measured it; the trigger is 70% of the way there (no history). */
static void env_gc_off_with_limit(void **state)
{
    (void)state;
    setenv("TRICOLOR_GC_PERCENT", "off", 1);
    setenv("TRICOLOR_MEMORY_LIMIT", "256MiB", 1);
    init_quietly(NULL);
    tc_stats st = read_stats();
    const uint64_t limit = (uint64_t)256 << 20;
    const uint64_t goal = limit - limit / 100 * 3;
    assert_true(st.gc_percent < 0);
    assert_int_equal(st.memory_limit, (int64_t)limit);
    assert_int_equal(st.heap_goal, goal);
    assert_int_equal(st.next_gc_trigger, (uint64_t)(0.7 * (double)goal));
    /* After a cycle the overhead (metadata, fragmentation) is known and
     * lowers the goal a little (an object, so that there is some). */
    assert_non_null(tc_alloc(&tu_leaf_type, 100));
    tc_collect();
    st = read_stats();
    assert_true(st.heap_goal < goal);
    assert_true(st.heap_goal > goal - (goal >> 3));
    tc_shutdown();
    /* Off and no limit: no goal, no trigger. */
    unsetenv("TRICOLOR_MEMORY_LIMIT");
    init_quietly(NULL);
    st = read_stats();
    assert_int_equal(st.heap_goal, UINT64_MAX);
    assert_int_equal(st.next_gc_trigger, UINT64_MAX);
}

/* Units through the environment, and "none" in any case. */
static void env_memory_limit_units(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t v;
    } good[] = {
        {"1GiB", (int64_t)1 << 30}, {"512KiB", 512 << 10}, {"100B", 100},
        {"2TiB", (int64_t)2 << 40}, {"NONE", INT64_MAX}, {"None", INT64_MAX},
        {"8388607TiB", (int64_t)8388607 << 40},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setenv("TRICOLOR_MEMORY_LIMIT", good[i].s, 1);
        init_quietly(NULL);
        if (read_stats().memory_limit != good[i].v)
            fail_msg("TRICOLOR_MEMORY_LIMIT=%s gave %lld", good[i].s,
                     (long long)read_stats().memory_limit);
        tc_shutdown();
    }
    static const char *const bad[] = {"512mib", "1 GiB", "1GB", "1.5GiB", "-1MiB", "0B"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_one_warning("TRICOLOR_MEMORY_LIMIT", bad[i]);
        assert_int_equal(read_stats().memory_limit, INT64_MAX);
        tc_shutdown();
    }
}

/* ------------------------------------------------------- idle workers */

/* Threads of this process; with name, only those so named
 * (/proc/self/task/N/comm). */
static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = name ? fopen(path, "r") : NULL;
        if (f && fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = 0;
        if (f)
            fclose(f);
        n += !name || strcmp(comm, name) == 0;
    }
    closedir(d);
    return n;
}

/* Threads running with the collector started with one dedicated worker
 * and no idle ones (measure_base_threads). */
static int base_threads;

static void measure_base_threads(void)
{
    setenv("TRICOLOR_MARK_WORKERS", "1", 1);
    setenv("TRICOLOR_IDLE_WORKERS", "0", 1);
    init_quietly(NULL);
    assert_int_equal(opt.idle_workers, 0);
    base_threads = threads_named(NULL);
    assert_int_equal(threads_named("tc-mark-idle"), 0);
    tc_shutdown();
    unsetenv("TRICOLOR_IDLE_WORKERS");
}

/* The resolved count, and the idle-priority threads running: exactly
 * `running` more threads than the base (pthread_create has returned for
 * each when tc_init does), which name themselves tc-mark-idle soon after
 * they start. */
static void expect_idle_workers(int resolved, int running, int dedicated)
{
    assert_int_equal(opt.idle_workers, resolved);
    assert_int_equal(threads_named(NULL), base_threads + running + dedicated - 1);
    for (int i = 0; i < 5000 && threads_named("tc-mark-idle") != running; i++)
        tu_sleep_blocking(1);
    assert_int_equal(threads_named("tc-mark-idle"), running);
}

static void idle_workers_env_and_config(void **state)
{
    (void)state;
    int dflt = 0; /* opt-in: they can hold up a cycle on a busy machine */
    measure_base_threads();
    init_quietly(NULL);
    expect_idle_workers(dflt, dflt, 1); /* the default */
    tc_shutdown();
    assert_int_equal(threads_named("tc-mark-idle"), 0); /* all joined */
    setenv("TRICOLOR_IDLE_WORKERS", "3", 1);
    init_quietly(NULL);
    expect_idle_workers(3, 3, 1);
    tc_shutdown();
    /* Without dedicated workers the collector thread marks alone. */
    setenv("TRICOLOR_MARK_WORKERS", "0", 1);
    init_quietly(NULL);
    expect_idle_workers(3, 0, 0);
    tc_shutdown();
    setenv("TRICOLOR_MARK_WORKERS", "1", 1);

    /* A bad value warns once and keeps the default. */
    setenv("TRICOLOR_IDLE_WORKERS", "-1", 1);
    expect_one_warning("TRICOLOR_IDLE_WORKERS", "-1");
    expect_idle_workers(dflt, dflt, 1);
    tc_shutdown();

    /* The config wins over the environment; out of range fails. */
    setenv("TRICOLOR_IDLE_WORKERS", "3", 1);
    tc_config c = TC_CONFIG_INIT;
    c.idle_workers = 1;
    init_quietly(&c);
    expect_idle_workers(1, 1, 1);
    tc_shutdown();
    static const int bad[] = {-1, 1025, TC_UNSET + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.idle_workers = bad[i];
        int r;
        char *out = init_captured(&c, &r);
        if (r != TC_EINVAL || tu_count_lines(out) != 1 || !strstr(out, "idle_workers"))
            fail_msg("tc_config.idle_workers = %d: tc_init returned %d and printed \"%s\"",
                     bad[i], r, out);
        free(out);
        expect_stopped_then_init_works();
    }
}

/* The "trc2" layout ends before idle_workers: never read from it. */
#define TC_CONFIG_MAGIC_V2 0x74726332u

static void idle_workers_old_layout(void **state)
{
    (void)state;
    measure_base_threads(); /* the scavenger running, as below */
    setenv("TRICOLOR_IDLE_WORKERS", "2", 1);
    setenv("TRICOLOR_SCAVENGE", "off", 1);
    tc_config c = TC_CONFIG_INIT;
    c.magic = TC_CONFIG_MAGIC_V2;
    c.scavenge = TC_SCAVENGE_FREE; /* in the trc2 layout: read */
    c.idle_workers = 99;           /* past its end: not read */
    init_quietly(&c);
    expect_scavenge_mode(TC_SCAVENGE_FREE);
    expect_idle_workers(2, 2, 1); /* the environment's */
    tc_shutdown();
    unsetenv("TRICOLOR_SCAVENGE");
    unsetenv("TRICOLOR_MARK_WORKERS");
}

int main(void)
{
    clear_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_percent),
        cmocka_unit_test(parse_count),
        cmocka_unit_test(parse_bytes),
        cmocka_unit_test_setup_teardown(defaults_without_environment, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(env_gc_percent, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(env_gc_percent_bad, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(env_memory_limit, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(config_debug_stress, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(env_trace_and_workers, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(env_debug, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(config_wins_over_environment, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(config_without_init_macro, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(config_out_of_range, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(config_bad_with_env, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(init_twice, setup_env, teardown_env),
        cmocka_unit_test(parse_scavenge),
        cmocka_unit_test_setup_teardown(env_scavenge, setup_env_scavenge, teardown_env_scavenge),
        cmocka_unit_test_setup_teardown(env_scavenge_bad, setup_env_scavenge,
                                        teardown_env_scavenge),
        cmocka_unit_test_setup_teardown(config_scavenge, setup_env_scavenge,
                                        teardown_env_scavenge),
        cmocka_unit_test_setup_teardown(idle_workers_env_and_config, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(idle_workers_old_layout, setup_env_scavenge,
                                        teardown_env_scavenge),
        cmocka_unit_test_setup_teardown(config_old_layout, setup_env_scavenge,
                                        teardown_env_scavenge),
        cmocka_unit_test_setup_teardown(env_gc_off_with_limit, setup_env_scavenge,
                                        teardown_env_scavenge),
        cmocka_unit_test_setup_teardown(env_memory_limit_units, setup_env_scavenge,
                                        teardown_env_scavenge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
