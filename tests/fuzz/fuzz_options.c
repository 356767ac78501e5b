/*
 * fuzz_options.c — libFuzzer target for the parsing of TRICOLOR_* values
 * (gc/options.c).
 *
 * The input is split at '\n' into fields; each field is a C string (an
 * embedded NUL ends it, as it would end an environment value).
 *
 *   1. Every field goes to each options_parse_* function, and the answer
 *      is compared with an independent model of the documented grammar
 *      (docs/tuning.md): same accept/reject decision, same value; an
 *      accepted value is in range (count 0..1024, percent >= 0 or
 *      TC_GC_OFF, bytes > 0, scavenge a TC_SCAVENGE_*) and survives a
 *      round trip through its canonical spelling.
 *   2. The first eight fields become TRICOLOR_GC_PERCENT, _MEMORY_LIMIT,
 *      _TRACE, _MARK_WORKERS, _IDLE_WORKERS, _SCAVENGE, _DEBUG and
 *      _FINALIZERS (a variable with no field is unset); options_resolve(NULL) must
 *      succeed whatever they say (bad values only warn), and every field
 *      of `opt` must be what the model says: the parsed value, or the
 *      default after a warning.
 *   3. A tc_config built from the input's bytes (magic current, older or
 *      bogus; each field unset, at a range edge, or raw) goes through
 *      options_resolve(&cfg) over the same environment: TC_EINVAL exactly
 *      when the model says a field is out of range (and then `opt` is left
 *      alone), otherwise 0 with every set field winning.
 *
 * The environment options_resolve sees is an array of this file's own
 * ("NAME=value" strings), swapped into `environ` around the call: setenv
 * would keep every value ever set (glibc never frees them) and grow
 * without bound over millions of inputs.
 *
 * The warnings that bad values print on stderr are expected: they are
 * sent to /dev/null while the library runs (sanitizer reports still go to
 * the real stderr).  FUZZ_OPTIONS_VERBOSE=1 shows them.
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "options.h"
#include "tricolor.h"

/* A failed property: print it to the real stderr and abort, which
 * libFuzzer reports as a crash with the input saved. */
static int real_stderr = 2;

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf - 1)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t unused = write(real_stderr, "fuzz_options: property failed: ", 31);
    unused = write(real_stderr, buf, (size_t)n);
    (void)unused;
    abort();
}

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond))                                                          \
            fail(__VA_ARGS__);                                                \
    } while (0)

/* ------------------------------------------------------- quiet stderr */

static int devnull = -1, verbose;

static void quiet_begin(void)
{
    if (!verbose)
        dup2(devnull, 2);
}

static void quiet_end(void)
{
    if (!verbose)
        dup2(real_stderr, 2);
}

/* ------------------------------------------------------------ the model */

/* [+-]?[0-9]+ in [lo, hi].  Digits past the range saturate (no overflow). */
static int model_int(const char *s, long long lo, long long hi, long long *out)
{
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long long mag = 0;
    const unsigned long long cap = (unsigned long long)LLONG_MAX + 1;
    for (; isdigit((unsigned char)*s); s++)
        mag = mag > cap / 10 ? cap + 1 : mag * 10 + (unsigned)(*s - '0');
    if (*s)
        return -1;
    if (mag > (unsigned long long)LLONG_MAX + (neg ? 1u : 0u))
        return -1; /* strtoll: ERANGE */
    long long v = neg ? (mag == cap ? LLONG_MIN : -(long long)mag) : (long long)mag;
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int model_percent(const char *s, int *out)
{
    if (strcasecmp(s, "off") == 0) {
        *out = TC_GC_OFF;
        return 0;
    }
    long long v;
    if (model_int(s, 0, INT_MAX, &v))
        return -1;
    *out = (int)v;
    return 0;
}

static int model_count(const char *s, int *out)
{
    long long v;
    if (model_int(s, 0, 1024, &v))
        return -1;
    *out = (int)v;
    return 0;
}

/* [0-9]+ then "", B, KiB, MiB, GiB or TiB; > 0 and at most INT64_MAX bytes. */
static int model_bytes(const char *s, int64_t *out)
{
    unsigned long long v = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return -1;
    /* v saturates just above INT64_MAX: every such value is rejected. */
    for (; isdigit((unsigned char)*p); p++)
        v = v > (unsigned long long)INT64_MAX / 10 ? (unsigned long long)INT64_MAX + 1
                                                   : v * 10 + (unsigned)(*p - '0');
    int shift;
    if (!strcmp(p, "") || !strcmp(p, "B"))
        shift = 0;
    else if (!strcmp(p, "KiB"))
        shift = 10;
    else if (!strcmp(p, "MiB"))
        shift = 20;
    else if (!strcmp(p, "GiB"))
        shift = 30;
    else if (!strcmp(p, "TiB"))
        shift = 40;
    else
        return -1;
    if (v == 0 || v > ((unsigned long long)INT64_MAX >> shift))
        return -1;
    *out = (int64_t)(v << shift);
    return 0;
}

static int model_scavenge(const char *s, int *out)
{
    if (!strcasecmp(s, "off"))
        *out = TC_SCAVENGE_OFF;
    else if (!strcasecmp(s, "dontneed"))
        *out = TC_SCAVENGE_DONTNEED;
    else if (!strcasecmp(s, "free"))
        *out = TC_SCAVENGE_FREE;
    else
        return -1;
    return 0;
}

static int model_finalizers(const char *s, int *out)
{
    if (!strcasecmp(s, "thread"))
        *out = TC_FINALIZE_THREAD;
    else if (!strcasecmp(s, "queue"))
        *out = TC_FINALIZE_QUEUE;
    else
        return -1;
    return 0;
}

/* TRICOLOR_DEBUG: comma-separated name=0|1, stress=N or stalls=N (0 to a
 * billion);
 * anything else in an item is skipped with a warning; a value of 256
 * bytes or more is ignored whole.  (Stress implies checkmark:
 * model_stress_implies.) */
static void model_debug(const char *s, tc_options *o)
{
    size_t len = strlen(s);
    if (len >= 256)
        return;
    const char *p = s;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n) {
            char item[256];
            memcpy(item, p, n);
            item[n] = 0;
            char *eq = strchr(item, '=');
            long long count;
            if (!strncmp(item, "stress=", 7)) {
                if (model_int(item + 7, 0, 1000000000, &count) == 0)
                    o->stress = (int)count;
            } else if (!strncmp(item, "stalls=", 7)) {
                if (model_int(item + 7, 0, 1000000000, &count) == 0)
                    o->stalls_us = (int)count;
            } else if (eq && (!strcmp(eq + 1, "0") || !strcmp(eq + 1, "1"))) {
                int v = eq[1] - '0';
                *eq = 0;
                if (!strcmp(item, "verify"))
                    o->verify = v;
                else if (!strcmp(item, "checkmark"))
                    o->checkmark = v;
                else if (!strcmp(item, "poison"))
                    o->poison = v;
                else if (!strcmp(item, "stoptheworld"))
                    o->stoptheworld = v;
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

/* ------------------------------------------------ 1. the parsers alone */

static void check_parsers(const char *s)
{
    int got, want;
    int64_t gotb, wantb;

    int rc = options_parse_percent(s, &got), mrc = model_percent(s, &want);
    CHECK(rc == mrc, "options_parse_percent(\"%s\") = %d, model says %d", s, rc, mrc);
    if (rc == 0) {
        CHECK(got == want, "options_parse_percent(\"%s\") -> %d, model %d", s, got, want);
        CHECK(got >= 0 || got == TC_GC_OFF, "percent %d out of range", got);
        char canon[32];
        if (got == TC_GC_OFF)
            snprintf(canon, sizeof canon, "OFF");
        else
            snprintf(canon, sizeof canon, "%d", got);
        int again = -2;
        CHECK(options_parse_percent(canon, &again) == 0 && again == got,
              "percent %d does not round-trip through \"%s\"", got, canon);
    }

    rc = options_parse_count(s, &got);
    mrc = model_count(s, &want);
    CHECK(rc == mrc, "options_parse_count(\"%s\") = %d, model says %d", s, rc, mrc);
    if (rc == 0) {
        CHECK(got == want && got >= 0 && got <= 1024, "options_parse_count(\"%s\") -> %d", s, got);
        char canon[32];
        snprintf(canon, sizeof canon, "%d", got);
        int again = -2;
        CHECK(options_parse_count(canon, &again) == 0 && again == got,
              "count %d does not round-trip", got);
    }

    rc = options_parse_bytes(s, &gotb);
    mrc = model_bytes(s, &wantb);
    CHECK(rc == mrc, "options_parse_bytes(\"%s\") = %d, model says %d", s, rc, mrc);
    if (rc == 0) {
        CHECK(gotb == wantb && gotb > 0, "options_parse_bytes(\"%s\") -> %lld, model %lld", s,
              (long long)gotb, (long long)wantb);
        /* The canonical spelling: the largest unit that divides it. */
        static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        int k = 0;
        while (k < 4 && gotb % ((int64_t)1 << (10 * (k + 1))) == 0)
            k++;
        char canon[48];
        snprintf(canon, sizeof canon, "%lld%s", (long long)(gotb >> (10 * k)), unit[k]);
        int64_t again = -2;
        CHECK(options_parse_bytes(canon, &again) == 0 && again == gotb,
              "bytes %lld does not round-trip through \"%s\"", (long long)gotb, canon);
    }

    rc = options_parse_scavenge(s, &got);
    mrc = model_scavenge(s, &want);
    CHECK(rc == mrc, "options_parse_scavenge(\"%s\") = %d, model says %d", s, rc, mrc);
    if (rc == 0)
        CHECK(got == want && got >= TC_SCAVENGE_OFF && got <= TC_SCAVENGE_FREE,
              "options_parse_scavenge(\"%s\") -> %d", s, got);

    rc = options_parse_finalizers(s, &got);
    mrc = model_finalizers(s, &want);
    CHECK(rc == mrc, "options_parse_finalizers(\"%s\") = %d, model says %d", s, rc, mrc);
    if (rc == 0)
        CHECK(got == want, "options_parse_finalizers(\"%s\") -> %d", s, got);

    /* Garbage in the output variable must not matter, and a rejected
     * value leaves it alone. */
    got = 12345;
    if (options_parse_count(s, &got))
        CHECK(got == 12345, "a rejected count wrote its output");
}

/* ------------------------------------------------- 2. the environment */

enum { V_PERCENT, V_LIMIT, V_TRACE, V_WORKERS, V_IDLE, V_SCAVENGE, V_DEBUG, V_FINALIZERS, NVARS };
static const char *const var_names[NVARS] = {
    "TRICOLOR_GC_PERCENT",   "TRICOLOR_MEMORY_LIMIT", "TRICOLOR_TRACE",
    "TRICOLOR_MARK_WORKERS", "TRICOLOR_IDLE_WORKERS", "TRICOLOR_SCAVENGE",
    "TRICOLOR_DEBUG",        "TRICOLOR_FINALIZERS",
};

static tc_options defaults; /* options_resolve(NULL) with no TRICOLOR_* set */

/* The environment for one options_resolve call: v[i] NULL = unset. */
extern char **environ;
static char env_text[NVARS][4200];
static char *env_list[NVARS + 1];

static void use_env(const char *const v[NVARS])
{
    int n = 0;
    for (int i = 0; i < NVARS; i++)
        if (v[i]) {
            snprintf(env_text[i], sizeof env_text[i], "%s=%s", var_names[i], v[i]);
            env_list[n++] = env_text[i];
        }
    env_list[n] = NULL;
}

/* options_resolve(cfg) with env_list as the whole environment. */
static int resolve_in_env(const tc_config *cfg)
{
    char **saved = environ;
    environ = env_list;
    quiet_begin();
    int rc = options_resolve(cfg);
    quiet_end();
    environ = saved;
    return rc;
}

/* What options_resolve(NULL) must produce for these values (NULL: unset). */
static tc_options model_env(const char *const v[NVARS])
{
    tc_options o = defaults;
    int i;
    int64_t b;
    if (v[V_PERCENT] && model_percent(v[V_PERCENT], &i) == 0)
        o.gc_percent = i;
    if (v[V_LIMIT] && strcasecmp(v[V_LIMIT], "none") != 0 && model_bytes(v[V_LIMIT], &b) == 0)
        o.memory_limit = b;
    if (v[V_TRACE])
        o.trace = !strcmp(v[V_TRACE], "1")      ? TC_TRACE_TEXT
                  : !strcmp(v[V_TRACE], "json") ? TC_TRACE_JSON
                                                : TC_TRACE_OFF;
    if (v[V_WORKERS] && model_count(v[V_WORKERS], &i) == 0)
        o.mark_workers = i;
    if (v[V_IDLE] && model_count(v[V_IDLE], &i) == 0)
        o.idle_workers = i;
    if (v[V_SCAVENGE] && model_scavenge(v[V_SCAVENGE], &i) == 0)
        o.scavenge = i;
    if (v[V_DEBUG])
        model_debug(v[V_DEBUG], &o);
    if (v[V_FINALIZERS] && model_finalizers(v[V_FINALIZERS], &i) == 0)
        o.finalizers = i;
    return o;
}

static void check_opt_equals(const tc_options *want, const char *what)
{
    CHECK(opt.gc_percent == want->gc_percent, "%s: gc_percent %d, want %d", what,
          opt.gc_percent, want->gc_percent);
    CHECK(opt.memory_limit == want->memory_limit, "%s: memory_limit %lld, want %lld", what,
          (long long)opt.memory_limit, (long long)want->memory_limit);
    CHECK(opt.trace == want->trace, "%s: trace %d, want %d", what, opt.trace, want->trace);
    CHECK(opt.mark_workers == want->mark_workers, "%s: mark_workers %d, want %d", what,
          opt.mark_workers, want->mark_workers);
    CHECK(opt.idle_workers == want->idle_workers, "%s: idle_workers %d, want %d", what,
          opt.idle_workers, want->idle_workers);
    CHECK(opt.scavenge == want->scavenge, "%s: scavenge %d, want %d", what, opt.scavenge,
          want->scavenge);
    CHECK(opt.verify == want->verify && opt.checkmark == want->checkmark &&
              opt.poison == want->poison && opt.stoptheworld == want->stoptheworld,
          "%s: debug flags %d%d%d%d, want %d%d%d%d", what, opt.verify, opt.checkmark,
          opt.poison, opt.stoptheworld, want->verify, want->checkmark, want->poison,
          want->stoptheworld);
    CHECK(opt.stress == want->stress, "%s: stress %d, want %d", what, opt.stress, want->stress);
    CHECK(opt.finalizers == want->finalizers, "%s: finalizers %d, want %d", what,
          opt.finalizers, want->finalizers);
    CHECK(opt.stalls_us == want->stalls_us, "%s: stalls_us %d, want %d", what, opt.stalls_us,
          want->stalls_us);
}

/* The stress mode turns checkmark on, whoever asked for it. */
static void model_stress_implies(tc_options *o)
{
    if (o->stress)
        o->checkmark = 1;
}

/* Whatever the environment says, the result is a usable configuration. */
static void check_opt_sane(const char *what)
{
    CHECK(opt.gc_percent >= 0 || opt.gc_percent == TC_GC_OFF, "%s: gc_percent %d", what,
          opt.gc_percent);
    CHECK(opt.memory_limit > 0, "%s: memory_limit %lld", what, (long long)opt.memory_limit);
    CHECK(opt.trace >= TC_TRACE_OFF && opt.trace <= TC_TRACE_JSON, "%s: trace %d", what,
          opt.trace);
    CHECK(opt.mark_workers >= 0 && opt.mark_workers <= 1024, "%s: mark_workers %d", what,
          opt.mark_workers);
    CHECK(opt.idle_workers >= 0 && opt.idle_workers <= 1024, "%s: idle_workers %d", what,
          opt.idle_workers);
    CHECK(opt.scavenge >= TC_SCAVENGE_OFF && opt.scavenge <= TC_SCAVENGE_FREE,
          "%s: scavenge %d", what, opt.scavenge);
    CHECK(opt.stress >= 0 && opt.stress <= 1000000000, "%s: stress %d", what, opt.stress);
    CHECK(!opt.stress || opt.checkmark, "%s: stress without checkmark", what);
    CHECK(opt.stalls_us >= 0 && opt.stalls_us <= 1000000000, "%s: stalls_us %d", what,
          opt.stalls_us);
    CHECK(opt.finalizers == TC_FINALIZE_THREAD || opt.finalizers == TC_FINALIZE_QUEUE,
          "%s: finalizers %d", what, opt.finalizers);
    CHECK((opt.verify | opt.checkmark | opt.poison | opt.stoptheworld) >= 0 &&
              (opt.verify | opt.checkmark | opt.poison | opt.stoptheworld) <= 1,
          "%s: debug flags not 0/1", what);
}

/* --------------------------------------------------- 3. tc_config */

#define MAGIC_V1 0x74726963u
#define MAGIC_V2 0x74726332u
#define MAGIC_V3 0x74726333u
#define MAGIC_V4 0x74726334u
#define MAGIC_V5 0x74726335u

/* Bytes of the input, consumed from the end (the fields come from the
 * front); 0 once exhausted. */
typedef struct bytes_src {
    const uint8_t *p;
    size_t n;
} bytes_src;

static uint32_t take(bytes_src *b, int nbytes)
{
    uint32_t v = 0;
    for (int i = 0; i < nbytes; i++) {
        v <<= 8;
        if (b->n)
            v |= b->p[--b->n];
    }
    return v;
}

/* An int field: unset, an interesting value, or raw bytes. */
static int pick_int(bytes_src *b)
{
    static const int edge[] = {TC_UNSET, -2, -1, 0, 1, 2, 3, 50, 100, 1024, 1025, INT_MAX,
                               INT_MIN + 1};
    uint32_t sel = take(b, 1);
    if (sel < 0x80)
        return TC_UNSET;
    if (sel < 0xf0)
        return edge[sel % (sizeof edge / sizeof edge[0])];
    return (int)take(b, 4);
}

static int64_t pick_i64(bytes_src *b)
{
    static const int64_t edge[] = {TC_UNSET, -1, 0, 1, 4096, (int64_t)1 << 30, INT64_MAX,
                                   INT64_MIN, (int64_t)TC_UNSET + 1};
    uint32_t sel = take(b, 1);
    if (sel < 0x80)
        return TC_UNSET;
    if (sel < 0xf0)
        return edge[sel % (sizeof edge / sizeof edge[0])];
    return (int64_t)(((uint64_t)take(b, 4) << 32) | take(b, 4));
}

/* take_int's rule: unset leaves *dst, else it must be in [lo, hi]. */
static int model_take(int v, int lo, int hi, int *dst)
{
    if (v == TC_UNSET)
        return 0;
    if (v < lo || v > hi)
        return -1;
    *dst = v;
    return 0;
}

static void check_config(bytes_src *b, const tc_options *env_model)
{
    tc_config c = TC_CONFIG_INIT;
    uint32_t m = take(b, 1);
    c.magic = m < 0x60   ? TC_CONFIG_MAGIC
              : m < 0x70 ? MAGIC_V5
              : m < 0x90 ? MAGIC_V4
              : m < 0xb0 ? MAGIC_V3
              : m < 0xc8 ? MAGIC_V2
              : m < 0xf0 ? MAGIC_V1
                         : take(b, 4);
    c.gc_percent = pick_int(b);
    c.memory_limit = pick_i64(b);
    c.trace = pick_int(b);
    c.mark_workers = pick_int(b);
    c.debug_verify = pick_int(b);
    c.debug_checkmark = pick_int(b);
    c.debug_poison = pick_int(b);
    c.debug_stoptheworld = pick_int(b);
    c.scavenge = pick_int(b);
    c.idle_workers = pick_int(b);
    c.debug_stress = pick_int(b);
    c.finalizers = pick_int(b);
    c.debug_stalls_us = pick_int(b);
    /* The layout's version (0: a bogus magic), as options.c numbers them. */
    int version = c.magic == MAGIC_V1          ? 1
                  : c.magic == MAGIC_V2        ? 2
                  : c.magic == MAGIC_V3        ? 3
                  : c.magic == MAGIC_V4        ? 4
                  : c.magic == MAGIC_V5        ? 5
                  : c.magic == TC_CONFIG_MAGIC ? 6
                                               : 0;

    tc_options want = *env_model;
    int bad = 0;
    if (!version) {
        bad = 1;
    } else {
        bad |= model_take(c.gc_percent, TC_GC_OFF, INT_MAX, &want.gc_percent);
        bad |= model_take(c.trace, TC_TRACE_OFF, TC_TRACE_JSON, &want.trace);
        bad |= model_take(c.mark_workers, 0, 1024, &want.mark_workers);
        bad |= model_take(c.debug_verify, 0, 1, &want.verify);
        bad |= model_take(c.debug_checkmark, 0, 1, &want.checkmark);
        bad |= model_take(c.debug_poison, 0, 1, &want.poison);
        bad |= model_take(c.debug_stoptheworld, 0, 1, &want.stoptheworld);
        /* Older layouts lack the later fields. */
        if (version >= 2)
            bad |= model_take(c.scavenge, TC_SCAVENGE_OFF, TC_SCAVENGE_FREE, &want.scavenge);
        if (version >= 3)
            bad |= model_take(c.idle_workers, 0, 1024, &want.idle_workers);
        if (version >= 4)
            bad |= model_take(c.debug_stress, 0, 1000000000, &want.stress);
        if (version >= 5)
            bad |= model_take(c.finalizers, TC_FINALIZE_THREAD, TC_FINALIZE_QUEUE,
                              &want.finalizers);
        if (version >= 6)
            bad |= model_take(c.debug_stalls_us, 0, 1000000000, &want.stalls_us);
        if (c.memory_limit != TC_UNSET) {
            if (c.memory_limit <= 0)
                bad = 1;
            else
                want.memory_limit = c.memory_limit;
        }
    }

    tc_options before = opt;
    int rc = resolve_in_env(&c);
    if (bad) {
        CHECK(rc == TC_EINVAL, "options_resolve(cfg) = %d for a bad config (magic %#x)", rc,
              c.magic);
        CHECK(memcmp(&before, &opt, sizeof opt) == 0, "a failed options_resolve changed opt");
    } else {
        CHECK(rc == 0, "options_resolve(cfg) = %d for a good config (magic %#x)", rc, c.magic);
        model_stress_implies(&want);
        check_opt_sane("options_resolve(cfg)");
        check_opt_equals(&want, "options_resolve(cfg)");
    }
}

/* ------------------------------------------------------------- driver */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *v = getenv("FUZZ_OPTIONS_VERBOSE");
    verbose = v && *v && strcmp(v, "0") != 0;
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    real_stderr = fcntl(2, F_DUPFD_CLOEXEC, 10);
    if (devnull < 0 || real_stderr < 0) {
        perror("fuzz_options: /dev/null or dup(2)");
        abort();
    }
    /* ASan and UBSan reports must not vanish into /dev/null. */
    __sanitizer_set_report_fd((void *)(intptr_t)real_stderr);
    const char *none[NVARS] = {0};
    use_env(none);
    if (resolve_in_env(NULL) != 0)
        fail("options_resolve(NULL) failed with an empty environment");
    defaults = opt;
    CHECK(defaults.gc_percent == 100 && defaults.memory_limit == INT64_MAX &&
              defaults.trace == TC_TRACE_OFF && defaults.scavenge == TC_SCAVENGE_DONTNEED &&
              !defaults.verify && !defaults.checkmark && !defaults.poison &&
              !defaults.stoptheworld,
          "the defaults are not the documented ones");
    check_opt_sane("defaults");
    return 0;
}

#define MAX_FIELDS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0; /* longer values test nothing new, only slower */
    char buf[4097];
    memcpy(buf, data, size);
    buf[size] = 0;

    /* Fields: '\n'-separated C strings (an embedded NUL ends a field). */
    const char *field[MAX_FIELDS];
    int nfields = 0;
    char *p = buf, *end = buf + size;
    while (nfields < MAX_FIELDS) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        field[nfields++] = p;
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }

    for (int i = 0; i < nfields; i++)
        check_parsers(field[i]);

    /* The environment: field i is variable i; missing ones unset. */
    const char *vals[NVARS];
    for (int i = 0; i < NVARS; i++)
        vals[i] = i < nfields ? field[i] : NULL;
    use_env(vals);
    tc_options want = model_env(vals);
    int rc = resolve_in_env(NULL);
    tc_options env_want = want; /* before stress's checkmark: the config may unset stress */
    model_stress_implies(&want);
    CHECK(rc == 0, "options_resolve(NULL) = %d: bad environment values must only warn", rc);
    check_opt_sane("options_resolve(NULL)");
    check_opt_equals(&want, "options_resolve(NULL)");

    bytes_src b = {data, size};
    check_config(&b, &env_want);
    return 0;
}
