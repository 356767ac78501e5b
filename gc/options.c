/* options.c — TRICOLOR_* environment variables and tc_config; see options.h. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "platform.h"

tc_options opt;

static int default_mark_workers(void)
{
    int n = plat_ncpu();
    return n <= 4 ? 1 : n / 4;
}

/* A decimal integer in [lo, hi] with nothing after it. */
static int parse_int_range(const char *s, long long lo, long long hi, long long *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int options_parse_percent(const char *s, int *out)
{
    long long v;
    if (s && strcasecmp(s, "off") == 0) {
        *out = TC_GC_OFF;
        return 0;
    }
    if (parse_int_range(s, 0, INT_MAX, &v))
        return -1;
    *out = (int)v;
    return 0;
}

int options_parse_count(const char *s, int *out)
{
    long long v;
    if (parse_int_range(s, 0, 1024, &v))
        return -1;
    *out = (int)v;
    return 0;
}

int options_parse_bytes(const char *s, int64_t *out)
{
    static const struct { const char *name; int shift; } units[] = {
        {"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
    };
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].name) != 0)
            continue;
        if (v == 0 || v > ((unsigned long long)INT64_MAX >> units[i].shift))
            return -1;
        *out = (int64_t)(v << units[i].shift);
        return 0;
    }
    return -1;
}

int options_parse_scavenge(const char *s, int *out)
{
    static const char *const names[] = {"off", "dontneed", "free"};
    for (int i = 0; s && i < 3; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = i; /* TC_SCAVENGE_OFF, _DONTNEED, _FREE in order */
            return 0;
        }
    return -1;
}

int options_parse_finalizers(const char *s, int *out)
{
    if (s && strcasecmp(s, "thread") == 0)
        *out = TC_FINALIZE_THREAD;
    else if (s && strcasecmp(s, "queue") == 0)
        *out = TC_FINALIZE_QUEUE;
    else
        return -1;
    return 0;
}

static void warn_env(const char *name, const char *value, const char *why, const char *used)
{
    plat_diag("%s=\"%s\" ignored: %s; using %s", name, value, why, used);
}

/* Environment variable `name`, if set, parsed into *field by `parse`; a
 * value it rejects is ignored with a warning that says what was expected
 * and what is used instead. */
static void env_int(const char *name, int (*parse)(const char *, int *), int *field,
                    const char *expected, const char *used)
{
    const char *s = getenv(name);
    if (s && parse(s, field))
        warn_env(name, s, expected, used);
}

static void env_limit(int64_t *field)
{
    const char *s = getenv("TRICOLOR_MEMORY_LIMIT");
    if (s && strcasecmp(s, "none") != 0 && options_parse_bytes(s, field))
        warn_env("TRICOLOR_MEMORY_LIMIT", s,
                 "expected a positive byte count with an optional unit B, KiB, MiB, GiB or TiB",
                 "no limit");
}

static void env_trace(int *field)
{
    const char *s = getenv("TRICOLOR_TRACE");
    if (!s || !*s || strcmp(s, "0") == 0)
        return;
    if (strcmp(s, "1") == 0)
        *field = TC_TRACE_TEXT;
    else if (strcmp(s, "json") == 0)
        *field = TC_TRACE_JSON;
    else
        warn_env("TRICOLOR_TRACE", s, "expected 0, 1 or json", "0");
}

/* stress=N and stalls=N: an integer from 0 to a billion. */
static int parse_debug_count(const char *s, int *out)
{
    long long v;
    if (parse_int_range(s, 0, 1000000000, &v))
        return -1;
    *out = (int)v;
    return 0;
}

/* TRICOLOR_DEBUG=name=value,...: each value 0 or 1; stress=N; stalls=N. */
static void env_debug(tc_options *o)
{
    const char *s = getenv("TRICOLOR_DEBUG");
    if (!s)
        return;
    char buf[256];
    if (strlen(s) >= sizeof buf) {
        warn_env("TRICOLOR_DEBUG", s, "too long", "no debug options");
        return;
    }
    strcpy(buf, s);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq && strncmp(item, "stress=", 7) == 0) {
            if (parse_debug_count(eq + 1, &o->stress))
                plat_diag("TRICOLOR_DEBUG: \"%s\" ignored: stress takes a count of "
                          "allocations from 0 to 1000000000", item);
            continue;
        }
        if (eq && strncmp(item, "stalls=", 7) == 0) {
            if (parse_debug_count(eq + 1, &o->stalls_us))
                plat_diag("TRICOLOR_DEBUG: \"%s\" ignored: stalls takes a threshold in "
                          "microseconds from 0 to 1000000000", item);
            continue;
        }
        int value = eq && (strcmp(eq + 1, "1") == 0 || strcmp(eq + 1, "0") == 0)
                        ? eq[1] - '0' : -1;
        if (eq)
            *eq = 0;
        int *field = strcmp(item, "verify") == 0       ? &o->verify
                     : strcmp(item, "checkmark") == 0  ? &o->checkmark
                     : strcmp(item, "poison") == 0     ? &o->poison
                     : strcmp(item, "stoptheworld") == 0 ? &o->stoptheworld
                                                       : NULL;
        if (!field || value < 0) {
            if (eq)
                *eq = '=';
            plat_diag("TRICOLOR_DEBUG: \"%s\" ignored: expected verify, checkmark, poison or "
                      "stoptheworld, each =0 or =1, or stress=N or stalls=N", item);
            continue;
        }
        *field = value;
    }
}

/* A set cfg field, checked; TC_UNSET leaves *dst alone. */
static int take_int(const char *name, int v, int lo, int hi, int *dst)
{
    if (v == TC_UNSET)
        return 0;
    if (v < lo || v > hi) {
        plat_diag("tc_init: tc_config.%s = %d is out of range [%d, %d]", name, v, lo, hi);
        return TC_EINVAL;
    }
    *dst = v;
    return 0;
}

/* Earlier tc_config layouts: V1 ends before `scavenge`, V2 before
 * `idle_workers`, V3 before `debug_stress`, V4 before `finalizers`, V5
 * before `debug_stalls_us`. */
#define TC_CONFIG_MAGIC_V1 0x74726963u
#define TC_CONFIG_MAGIC_V2 0x74726332u
#define TC_CONFIG_MAGIC_V3 0x74726333u
#define TC_CONFIG_MAGIC_V4 0x74726334u
#define TC_CONFIG_MAGIC_V5 0x74726335u

/* The layout's version: 1, 2, 3, ..., or 0 if magic is none of them. */
static int config_version(unsigned magic)
{
    switch (magic) {
    case TC_CONFIG_MAGIC_V1: return 1;
    case TC_CONFIG_MAGIC_V2: return 2;
    case TC_CONFIG_MAGIC_V3: return 3;
    case TC_CONFIG_MAGIC_V4: return 4;
    case TC_CONFIG_MAGIC_V5: return 5;
    case TC_CONFIG_MAGIC: return 6;
    default: return 0;
    }
}

static int take_config(const tc_config *c, tc_options *o)
{
    int version = config_version(c->magic);
    if (!version) {
        plat_diag("tc_init: tc_config was not initialised with TC_CONFIG_INIT");
        return TC_EINVAL;
    }
    int err = 0;
    err |= take_int("gc_percent", c->gc_percent, TC_GC_OFF, INT_MAX, &o->gc_percent);
    err |= take_int("trace", c->trace, TC_TRACE_OFF, TC_TRACE_JSON, &o->trace);
    err |= take_int("mark_workers", c->mark_workers, 0, 1024, &o->mark_workers);
    err |= take_int("debug_verify", c->debug_verify, 0, 1, &o->verify);
    err |= take_int("debug_checkmark", c->debug_checkmark, 0, 1, &o->checkmark);
    err |= take_int("debug_poison", c->debug_poison, 0, 1, &o->poison);
    err |= take_int("debug_stoptheworld", c->debug_stoptheworld, 0, 1, &o->stoptheworld);
    /* Fields the program's layout has. */
    if (version >= 2)
        err |= take_int("scavenge", c->scavenge, TC_SCAVENGE_OFF, TC_SCAVENGE_FREE, &o->scavenge);
    if (version >= 3)
        err |= take_int("idle_workers", c->idle_workers, 0, 1024, &o->idle_workers);
    if (version >= 4)
        err |= take_int("debug_stress", c->debug_stress, 0, 1000000000, &o->stress);
    if (version >= 5)
        err |= take_int("finalizers", c->finalizers, TC_FINALIZE_THREAD, TC_FINALIZE_QUEUE,
                        &o->finalizers);
    if (version >= 6)
        err |= take_int("debug_stalls_us", c->debug_stalls_us, 0, 1000000000, &o->stalls_us);
    if (c->memory_limit != TC_UNSET) {
        if (c->memory_limit <= 0) {
            plat_diag("tc_init: tc_config.memory_limit = %lld must be > 0 (INT64_MAX: no limit)",
                      (long long)c->memory_limit);
            err = TC_EINVAL;
        } else {
            o->memory_limit = c->memory_limit;
        }
    }
    return err ? TC_EINVAL : 0;
}

int options_resolve(const tc_config *cfg)
{
    tc_options o = {
        .gc_percent = 100,
        .memory_limit = INT64_MAX,
        .trace = TC_TRACE_OFF,
        .mark_workers = default_mark_workers(),
        .scavenge = TC_SCAVENGE_DONTNEED,
        .idle_workers = 0, /* opt-in: see tuning.md */
    };
    env_int("TRICOLOR_GC_PERCENT", options_parse_percent, &o.gc_percent,
            "expected an integer >= 0 or \"off\"", "100");
    env_limit(&o.memory_limit);
    env_trace(&o.trace);
    env_int("TRICOLOR_MARK_WORKERS", options_parse_count, &o.mark_workers,
            "expected an integer from 0 to 1024", "the default");
    env_int("TRICOLOR_IDLE_WORKERS", options_parse_count, &o.idle_workers,
            "expected an integer from 0 to 1024", "the default");
    env_int("TRICOLOR_SCAVENGE", options_parse_scavenge, &o.scavenge,
            "expected off, dontneed or free", "dontneed");
    env_int("TRICOLOR_FINALIZERS", options_parse_finalizers, &o.finalizers,
            "expected thread or queue", "thread");
    env_debug(&o);
    if (cfg) {
        int err = take_config(cfg, &o);
        if (err)
            return err;
    }
    if (o.stress)
        o.checkmark = 1; /* what the stress mode is for */
    opt = o;
    return 0;
}
