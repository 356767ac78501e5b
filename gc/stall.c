/* stall.c — the stall tracer; see stall.h. */
#include "stall.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atomics.h"
#include "collector.h"
#include "platform.h"
#include "threads.h"

/* Stalls, summed: since init, and since the last cycle report. */
typedef struct stall_totals {
    tc_aword n, ns, max_ns;
    tc_aword cause_ns[TC_STALL_CAUSES];
} stall_totals;

uint64_t stall_threshold_ns; /* read inline (stall.h) */

/* The module's state, zeroed in one place (stall_reset), but for each
 * thread's traced call (rec, below).  Atomic words, no lock. */
static struct stall_state {
    /* The cycle started last and its phase, as the collector told them. */
    tc_aword cycle_now, phase_now;
    int json; /* set by stall_init: reports in JSON */
    stall_totals since_init, since_report;
} st;

void stall_note_cycle(uint64_t cycle, int phase)
{
    at_store(&st.cycle_now, cycle);
    at_store(&st.phase_now, (uintptr_t)phase);
}


static const char *const cause_names[TC_STALL_CAUSES] = {
    "tts", "pause", "resume", "assist", "assist_wait", "sweep", "refill",
    "fresh", "release", "lock", "collect", "start", "other",
};
static const char *const lock_names[STALL_NLOCKS] = {
    "heap", "central", "grey", "frames", "pending",
};

const char *tc_stall_cause_name(int cause)
{
    return cause >= 0 && cause < TC_STALL_CAUSES ? cause_names[cause] : "?";
}

/* The calling thread's traced call.  depth: traced calls open (they nest);
 * cur: the cause time goes to now, since `mark`.  cpu0, at wall time
 * cpu_wall0: the thread's CPU clock when the call first opened a section
 * (0: not read).  It is read there, not on entry, because it costs a
 * system call (0.5 us) and most calls open no section. */
typedef struct stall_rec {
    int depth;
    int cur;
    uint64_t start, mark;
    uint64_t cpu0, cpu_wall0;
    uint64_t cause_ns[TC_STALL_CAUSES];
    uint64_t lock_ns[STALL_NLOCKS];
    uint64_t spans_swept;
} stall_rec;

static TC_TLS stall_rec rec;


void stall_init(int threshold_us, int json)
{
    stall_threshold_ns = (uint64_t)threshold_us * 1000;
    st.json = json;
}

void stall_reset(void)
{
    stall_threshold_ns = 0;
    st = (struct stall_state){0};
}

void stall_enter_slow(void)
{
    if (rec.depth++ > 0)
        return;
    uint64_t now = plat_now_ns();
    memset(&rec, 0, sizeof rec);
    rec.depth = 1;
    rec.cur = TC_STALL_OTHER;
    rec.start = rec.mark = now;
}

/* Charge the time since the last switch to the current cause. */
static uint64_t charge(void)
{
    uint64_t now = plat_now_ns();
    rec.cause_ns[rec.cur] += now - rec.mark;
    rec.mark = now;
    return now;
}

int stall_begin_slow(int cause)
{
    if (rec.depth == 0)
        return -1;
    /* The time so far goes to the current cause before the CPU clock's
     * system call: a thread preempted in that call lost its core inside
     * the new section, and the line says so (off cpu), where it was once
     * 7 ms of `other` before a 40 ms pause (test_stall, on a busy
     * machine). */
    uint64_t now = charge();
    if (!rec.cpu0) {
        rec.cpu_wall0 = now;
        rec.cpu0 = plat_thread_cpu_ns() + 1;
    }
    int prev = rec.cur;
    rec.cur = cause;
    return prev;
}

void stall_end_slow(int prev)
{
    charge();
    rec.cur = prev;
}

/* Charge up to ns of the time since `mark` to cause c. */
static void charge_part(uint64_t now, uint64_t ns, int c)
{
    if (ns > now - rec.mark)
        ns = now - rec.mark;
    rec.cause_ns[c] += ns;
    rec.mark += ns;
}

void stall_end_park_slow(int prev, uint64_t tts_ns, uint64_t paused_ns)
{
    uint64_t now = plat_now_ns();
    charge_part(now, tts_ns, TC_STALL_TTS);
    charge_part(now, paused_ns, TC_STALL_PAUSE);
    rec.cause_ns[TC_STALL_RESUME] += now - rec.mark;
    rec.mark = now;
    rec.cur = prev;
}

void stall_lock_slow(pthread_mutex_t *m, int lock)
{
    int err = pthread_mutex_trylock(m);
    if (err != EBUSY) {
        if (err)
            plat_fatal("pthread_mutex_trylock failed (%d)", err);
        return;
    }
    int prev = stall_begin_slow(TC_STALL_LOCK);
    uint64_t t0 = rec.mark;
    pthread_mutex_lock(m);
    if (prev >= 0) {
        stall_end_slow(prev);
        rec.lock_ns[lock] += rec.mark - t0;
    }
}

void stall_note_swept_slow(void)
{
    if (rec.depth)
        rec.spans_swept++;
}

static void at_max(tc_aword *p, uint64_t v)
{
    uint64_t old;
    while ((old = at_load(p)) < v && !at_cas(p, old, v)) {
    }
}

static void add_totals(stall_totals *t, const stall_report *r)
{
    at_add(&t->n, 1);
    at_add(&t->ns, r->total_ns);
    at_max(&t->max_ns, r->total_ns);
    for (int c = 0; c < TC_STALL_CAUSES; c++)
        if (r->cause_ns[c])
            at_add(&t->cause_ns[c], r->cause_ns[c]);
}

static const char *phase_name(int phase)
{
    return phase == PHASE_MARK ? "mark" : phase == PHASE_SWEEP ? "sweep" : "idle";
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

/* Appends printf output to buf at *n, keeping *n <= len - 1. */
static void put(char *buf, size_t len, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
    if (*n >= len - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *n, len - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n = *n + (size_t)k < len - 1 ? *n + (size_t)k : len - 1;
}

/* " (a 1.000, b 0.200)": the entries of ns[0..count) of a microsecond or
 * more (what the line can show), in ms, named; nothing if none is. */
static void put_named_ms(char *buf, size_t len, size_t *n, const char *const *names,
                         const uint64_t *ns, int count)
{
    const char *sep = " (";
    for (int i = 0; i < count; i++) {
        if (ns[i] < 1000)
            continue;
        put(buf, len, n, "%s%s %.3f", sep, names[i], ms(ns[i]));
        sep = ", ";
    }
    if (*sep == ',')
        put(buf, len, n, ")");
}

static int format_json(const stall_report *r, char *buf, size_t len)
{
    size_t n = 0;
    put(buf, len, &n, "{\"stall\":{\"call\":\"%s\",\"cycle\":%" PRIu64 ",\"phase\":\"%s\","
        "\"ms\":%.3f,\"causes_ms\":{", r->call, r->cycle, phase_name(r->phase), ms(r->total_ns));
    for (int c = 0; c < TC_STALL_CAUSES; c++)
        put(buf, len, &n, "%s\"%s\":%.3f", c ? "," : "", cause_names[c], ms(r->cause_ns[c]));
    put(buf, len, &n, "},\"off_cpu_ms\":%.3f,\"spans_swept\":%" PRIu64 ",\"locks_ms\":{",
        ms(r->off_cpu_ns), r->spans_swept);
    for (int l = 0; l < STALL_NLOCKS; l++)
        put(buf, len, &n, "%s\"%s\":%.3f", l ? "," : "", lock_names[l], ms(r->lock_ns[l]));
    put(buf, len, &n, "}}}\n");
    return (int)n;
}

/* "tc stall: 3.214 ms in tc_alloc, cycle 12 mark: pause 2.100, assist
 * 0.500, sweep 0.200 (4 spans), lock 0.090 (heap 0.080, central 0.010),
 * other 0.024; off cpu 2.300": the causes that took a microsecond or more
 * (what the line can show), in enum order; then how much of the call
 * the thread spent not running (parked, waiting for a lock, or
 * preempted by the OS), which overlaps the causes. */
static int format_text(const stall_report *r, char *buf, size_t len)
{
    size_t n = 0;
    put(buf, len, &n, "tc stall: %.3f ms in %s, cycle %" PRIu64 " %s:", ms(r->total_ns), r->call,
        r->cycle, phase_name(r->phase));
    const char *sep = " ";
    for (int c = 0; c < TC_STALL_CAUSES; c++) {
        if (r->cause_ns[c] < 1000)
            continue;
        put(buf, len, &n, "%s%s %.3f", sep, cause_names[c], ms(r->cause_ns[c]));
        sep = ", ";
        if (c == TC_STALL_SWEEP)
            put(buf, len, &n, " (%" PRIu64 " span%s)", r->spans_swept,
                r->spans_swept == 1 ? "" : "s");
        if (c == TC_STALL_LOCK)
            put_named_ms(buf, len, &n, lock_names, r->lock_ns, STALL_NLOCKS);
    }
    if (r->off_cpu_ns >= 1000)
        put(buf, len, &n, "; off cpu %.3f", ms(r->off_cpu_ns));
    put(buf, len, &n, "\n");
    return (int)n;
}

int stall_format(const stall_report *r, int json, char *buf, size_t len)
{
    if (len == 0)
        return 0;
    buf[0] = 0;
    return json ? format_json(r, buf, len) : format_text(r, buf, len);
}

void stall_leave_slow(const char *call)
{
    if (rec.depth == 0 || --rec.depth > 0)
        return;
    uint64_t now = charge();
    uint64_t total = now - rec.start;
    if (total < stall_threshold_ns)
        return;
    stall_report r = {.call = call, .cycle = at_load(&st.cycle_now),
                      .phase = (int)at_load(&st.phase_now), .total_ns = total,
                      .spans_swept = rec.spans_swept};
    if (rec.cpu0) {
        uint64_t ran = plat_thread_cpu_ns() + 1 - rec.cpu0, wall = now - rec.cpu_wall0;
        r.off_cpu_ns = wall > ran ? wall - ran : 0;
    }
    memcpy(r.cause_ns, rec.cause_ns, sizeof r.cause_ns);
    memcpy(r.lock_ns, rec.lock_ns, sizeof r.lock_ns);
    add_totals(&st.since_init, &r);
    add_totals(&st.since_report, &r);
    char line[768];
    int n = stall_format(&r, st.json, line, sizeof line);
    ssize_t unused = write(2, line, (size_t)n);
    (void)unused;
}

/* JSON: ",\"stalls\":{\"n\":3,\"ms\":4.512,\"max_ms\":2.100,\"tts_ms\":0.000,
 * ...}", every cause.  Text, only while the tracer is on: ", 3 stalls
 * 4.512 ms, max 2.100 (assist 3.200, pause 1.312)", the causes that took
 * any time. */
void stall_format_cycle(const tc_cycle_info *c, int json, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    if (json) {
        put(buf, len, &n, ",\"stalls\":{\"n\":%" PRIu64 ",\"ms\":%.3f,\"max_ms\":%.3f",
            c->stalls, ms(c->stall_ns), ms(c->stall_max_ns));
        for (int k = 0; k < TC_STALL_CAUSES; k++)
            put(buf, len, &n, ",\"%s_ms\":%.3f", cause_names[k], ms(c->stall_cause_ns[k]));
        put(buf, len, &n, "}");
        return;
    }
    if (!stall_on())
        return;
    put(buf, len, &n, ", %" PRIu64 " stalls %.3f ms", c->stalls, ms(c->stall_ns));
    if (!c->stalls)
        return;
    put(buf, len, &n, ", max %.3f", ms(c->stall_max_ns));
    put_named_ms(buf, len, &n, cause_names, c->stall_cause_ns, TC_STALL_CAUSES);
}

void stall_read_totals(tc_stats *out)
{
    out->stalls = at_load(&st.since_init.n);
    out->stall_ns = at_load(&st.since_init.ns);
    out->stall_max_ns = at_load(&st.since_init.max_ns);
    for (int c = 0; c < TC_STALL_CAUSES; c++)
        out->stall_cause_ns[c] = at_load(&st.since_init.cause_ns[c]);
}

/* Reads each counter and subtracts what it read: a stall that ends
 * meanwhile lands in this report or the next, never in neither. */
static uint64_t take(tc_aword *p)
{
    uint64_t v = at_load(p);
    at_sub(p, v);
    return v;
}

void stall_take_cycle(tc_cycle_info *info)
{
    info->stalls = take(&st.since_report.n);
    info->stall_ns = take(&st.since_report.ns);
    uint64_t max;
    do
        max = at_load(&st.since_report.max_ns);
    while (!at_cas(&st.since_report.max_ns, max, 0));
    info->stall_max_ns = max;
    for (int c = 0; c < TC_STALL_CAUSES; c++)
        info->stall_cause_ns[c] = take(&st.since_report.cause_ns[c]);
}
