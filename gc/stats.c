/* stats.c — see stats.h. */
#include "stats.h"
#include "check.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"
#include "pacer.h"
#include "platform.h"
#include "scavenge.h"
#include "stall.h"
#include "threads.h"
#include "weak.h"
#include "final.h"

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(stats_lock, RANK_STATS);
/* The module's state, all under stats_lock, zeroed in one place
 * (stats_reset). */
static struct stats_state {
    uint64_t init_ns;
    uint64_t num_pauses, pause_total, pause_max;
    uint64_t pause_ring[TC_PAUSE_RING], pause_end_ring[TC_PAUSE_RING];
    uint64_t cpu_stw, cpu_background, cpu_assist, cpu_sweep, cpu_barrier, cpu_idle;
    uint64_t last_cycle_assist;
    uint64_t last_cycles, last_marked, last_objects;
    /* The cycle callback.  cycle_fn_running is set while the collector
     * thread calls it, so that replacing it waits for that call to return
     * (the caller may free the old ctx right after), unless the caller is
     * that call itself (in_cycle_fn). */
    tc_cycle_fn cycle_fn;
    void *cycle_ctx;
    int cycle_fn_running;
} stats;
static pthread_cond_t cycle_fn_done = PTHREAD_COND_INITIALIZER;
static TC_TLS int in_cycle_fn;

void stats_init(uint64_t now)
{
    stats_reset();
    stats.init_ns = now;
}

void stats_reset(void)
{
    pthread_mutex_lock(&stats_lock);
    stats = (struct stats_state){0};
    pthread_mutex_unlock(&stats_lock);
}

void stats_fork(int stage)
{
    plat_fork_mutex(&stats_lock, stage);
    plat_fork_cond(&cycle_fn_done, stage);
}

uint64_t stats_since_init(uint64_t now) { return now - stats.init_ns; }

void stats_record_pause(uint64_t ns, uint64_t end, uint64_t cpu)
{
    pthread_mutex_lock(&stats_lock);
    stats.pause_ring[stats.num_pauses % TC_PAUSE_RING] = ns;
    stats.pause_end_ring[stats.num_pauses % TC_PAUSE_RING] = end - stats.init_ns;
    stats.num_pauses++;
    stats.pause_total += ns;
    if (ns > stats.pause_max)
        stats.pause_max = ns;
    stats.cpu_stw += cpu;
    pthread_mutex_unlock(&stats_lock);
}

/* Add ns to one of the CPU counters above (stats_lock). */
static void add_cpu(uint64_t *counter, uint64_t ns)
{
    pthread_mutex_lock(&stats_lock);
    *counter += ns;
    pthread_mutex_unlock(&stats_lock);
}

void stats_add_cpu_background(uint64_t ns) { add_cpu(&stats.cpu_background, ns); }
void stats_add_cpu_sweep(uint64_t ns) { add_cpu(&stats.cpu_sweep, ns); }
void stats_add_cpu_barrier(uint64_t ns) { add_cpu(&stats.cpu_barrier, ns); }
void stats_add_cpu_idle(uint64_t ns) { add_cpu(&stats.cpu_idle, ns); }

/* Once per cycle, with that cycle's assist CPU. */
void stats_add_cpu_assist(uint64_t ns)
{
    pthread_mutex_lock(&stats_lock);
    stats.cpu_assist += ns;
    stats.last_cycle_assist = ns;
    pthread_mutex_unlock(&stats_lock);
}

void stats_set_last_cycle(uint64_t cycles, uint64_t marked, uint64_t objects)
{
    pthread_mutex_lock(&stats_lock);
    stats.last_cycles = cycles;
    stats.last_marked = marked;
    stats.last_objects = objects;
    pthread_mutex_unlock(&stats_lock);
}

static double cpu_fraction_locked(uint64_t now)
{
    double avail = (double)(now - stats.init_ns) * plat_ncpu();
    double used = (double)(stats.cpu_stw + stats.cpu_background + stats.cpu_assist + stats.cpu_sweep + stats.cpu_barrier);
    return avail > 0 ? used / avail : 0.0;
}

double stats_gc_cpu_fraction(uint64_t now)
{
    pthread_mutex_lock(&stats_lock);
    double f = cpu_fraction_locked(now);
    pthread_mutex_unlock(&stats_lock);
    return f;
}

/* tc_stats's size in 0.2, the first layout read by size: a smaller size
 * is a caller's mistake.  The layout before the end must never change
 * (tricolor.h), and these pin it. */
#define STATS_SIZE_0_2 4472
_Static_assert(sizeof(tc_stats) == STATS_SIZE_0_2,
               "tc_stats changed: add fields at the end, and raise the size here");
_Static_assert(TC_STALL_CAUSES == 13,
               "tc_stats.stall_cause_ns keeps 0.2's length: count a new cause in a field at "
               "the end of tc_stats");

void tc_read_stats_sized(tc_stats *out, size_t size)
{
    if (!out || size < STATS_SIZE_0_2) {
        plat_diag("tc_read_stats_sized: %s (a tc_stats is at least %zu bytes); nothing read",
                  out ? "size too small" : "NULL out", (size_t)STATS_SIZE_0_2);
        return;
    }
    tc_stats all;
    (tc_read_stats)(&all);
    size_t known = size < sizeof all ? size : sizeof all;
    memcpy(out, &all, known);
    memset((char *)out + known, 0, size - known);
}

void(tc_read_stats)(tc_stats *out)
{
    memset(out, 0, sizeof *out);
    threads_alloc_totals(&out->bytes_allocated, &out->objects_allocated);
    uint64_t now = plat_now_ns();
    pthread_mutex_lock(&stats_lock);
    out->cycles = stats.last_cycles;
    out->heap_live = stats.last_marked;
    out->objects_live = stats.last_objects;
    out->pause_total_ns = stats.pause_total;
    out->pause_max_ns = stats.pause_max;
    out->num_pauses = stats.num_pauses;
    memcpy(out->pause_ns, stats.pause_ring, sizeof stats.pause_ring);
    memcpy(out->pause_end_ns, stats.pause_end_ring, sizeof stats.pause_end_ring);
    out->gc_cpu_background_ns = stats.cpu_background + stats.cpu_sweep;
    out->gc_cpu_assist_ns = stats.cpu_assist;
    out->gc_cpu_stw_ns = stats.cpu_stw;
    out->gc_cpu_barrier_ns = stats.cpu_barrier;
    out->gc_cpu_fraction = cpu_fraction_locked(now);
    out->last_cycle_assist_ns = stats.last_cycle_assist;
    out->gc_cpu_idle_ns = stats.cpu_idle;
    pthread_mutex_unlock(&stats_lock);
    out->heap_inuse = heap_inuse_bytes();
    out->heap_mapped = heap_mapped_bytes();
    out->heap_released = heap_released_bytes();
    out->sys_bytes = heap_retained_bytes() + heap_metadata_bytes();
    out->scavenged_bytes = scavenge_released_total();
    out->gc_cpu_scavenge_ns = scavenge_cpu_ns();
    out->gc_cpu_limited = pacer_limiter_full();
    out->weak_cleared = weak_total_cleared();
    out->ephemerons = weak_total_ephemerons();
    out->finalizers_queued = final_total_queued();
    out->finalizers_run = final_total_run();
    out->finalizers_pending = tc_finalizers_pending();
    stall_read_totals(out);
    out->heap_goal = pacer_goal();
    out->next_gc_trigger = pacer_trigger();
    out->gc_percent = pacer_gc_percent();
    out->memory_limit = pacer_memory_limit();
}

void tc_set_cycle_callback(tc_cycle_fn fn, void *ctx)
{
    int blocked = threads_block_if_running();
    pthread_mutex_lock(&stats_lock);
    stats.cycle_fn = fn;
    stats.cycle_ctx = ctx;
    while (stats.cycle_fn_running && !in_cycle_fn)
        pthread_cond_wait(&cycle_fn_done, &stats_lock);
    pthread_mutex_unlock(&stats_lock);
    threads_unblock(blocked);
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }
static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

static int format_json(const tc_cycle_info *c, char *buf, size_t len)
{
    char stalls[512];
    stall_format_cycle(c, 1, stalls, sizeof stalls);
    return snprintf(
        buf, len,
        "{\"cycle\":%" PRIu64 ",\"start_s\":%.6f,\"gc_cpu_fraction\":%.6f,"
        "\"wall_ns\":{\"stw1\":%" PRIu64 ",\"mark\":%" PRIu64 ",\"stw2\":%" PRIu64
        ",\"sweep\":%" PRIu64 ",\"sweep_term\":%" PRIu64 ",\"mark_start\":%" PRIu64
        ",\"mark_term\":%" PRIu64 "},"
        "\"cpu_ns\":{\"stw\":%" PRIu64 ",\"background\":%" PRIu64 ",\"assist\":%" PRIu64
        ",\"idle\":%" PRIu64 ",\"sweep\":%" PRIu64 ",\"barrier\":%" PRIu64 "},"
        "\"pause_ns\":%" PRIu64 ",\"tts_ns\":%" PRIu64 ",\"tts_split_ns\":{\"stw1\":%" PRIu64
        ",\"stw2\":%" PRIu64 "},"
        "\"mark_term_attempts\":%d,"
        "\"heap\":{\"trigger\":%" PRIu64 ",\"start\":%" PRIu64 ",\"end\":%" PRIu64
        ",\"marked\":%" PRIu64 ",\"goal\":%" PRIu64 ",\"released\":%" PRIu64 "},"
        "\"objects_marked\":%" PRIu64 ",\"roots\":%" PRIu64
        ",\"workers\":%d,\"forced\":%s,\"cpu_limited\":%s,"
        "\"weak\":{\"cleared\":%" PRIu64 ",\"ephemerons\":%" PRIu64
        ",\"finalizers_queued\":%" PRIu64 ",\"finalizers_run\":%" PRIu64 "}%s}\n",
        c->cycle, (double)c->start_ns / 1e9, c->gc_cpu_fraction, c->stw1_ns, c->mark_ns,
        c->stw2_ns, c->sweep_ns, c->sweep_term_ns, c->mark_start_ns, c->mark_term_ns,
        c->cpu_stw_ns, c->cpu_background_ns, c->cpu_assist_ns, c->cpu_idle_ns, c->cpu_sweep_ns,
        c->cpu_barrier_ns, c->pause_ns, c->tts_ns, c->tts1_ns, c->tts2_ns, c->mark_term_attempts,
        c->heap_trigger, c->heap_start, c->heap_end, c->heap_marked, c->heap_goal,
        c->heap_released, c->objects_marked, c->roots, c->mark_workers,
        c->forced ? "true" : "false", c->cpu_limited ? "true" : "false", c->weak_cleared,
        c->ephemerons, c->finalizers_queued, c->finalizers_run, stalls);
}

/* The goal in MiB, or "no" when GC percent is off and there is no limit. */
static const char *goal_text(uint64_t goal, char *buf, size_t len)
{
    if (goal == UINT64_MAX)
        return "no";
    snprintf(buf, len, "%.1f", mib(goal));
    return buf;
}

/* ", 12 weak, 3 eph, 2+1 fin": weak slots cleared, ephemerons processed,
 * finalizers queued + run; nothing when all are 0. */
static const char *weak_text(const tc_cycle_info *c, char *buf, size_t len)
{
    if (!c->weak_cleared && !c->ephemerons && !c->finalizers_queued && !c->finalizers_run)
        return "";
    snprintf(buf, len, ", %" PRIu64 " weak, %" PRIu64 " eph, %" PRIu64 "+%" PRIu64 " fin",
             c->weak_cleared, c->ephemerons, c->finalizers_queued, c->finalizers_run);
    return buf;
}

int stats_format_trace(const tc_cycle_info *c, int json, char *buf, size_t len)
{
    char goal[32], trig[32], weak[96], stalls[256];
    stall_format_cycle(c, 0, stalls, sizeof stalls);
    if (json)
        return format_json(c, buf, len);
    return snprintf(
        buf, len,
        "tc %" PRIu64 " @%.3fs %.0f%%: %.3f+%.3f+%.3f+%.3f ms clock, "
        "%.3f+%.3f/%.3f/%.3f+%.3f ms cpu, %.3f ms barrier, %.1f->%.1f->%.1f MiB, "
        "%s MiB goal, %s MiB trigger, %.3f+%.3f ms tts, %d term, %" PRIu64 " roots, %d W%s%s%s%s\n",
        c->cycle, (double)c->start_ns / 1e9, c->gc_cpu_fraction * 100, ms(c->stw1_ns),
        ms(c->mark_ns), ms(c->stw2_ns), ms(c->sweep_ns), ms(c->cpu_stw_ns),
        ms(c->cpu_assist_ns), ms(c->cpu_background_ns), ms(c->cpu_idle_ns),
        ms(c->cpu_sweep_ns), ms(c->cpu_barrier_ns), mib(c->heap_start), mib(c->heap_end),
        mib(c->heap_marked), goal_text(c->heap_goal, goal, sizeof goal),
        goal_text(c->heap_trigger, trig, sizeof trig), ms(c->tts1_ns), ms(c->tts2_ns),
        c->mark_term_attempts, c->roots, c->mark_workers, weak_text(c, weak, sizeof weak),
        stalls, c->forced ? " (forced)" : "", c->cpu_limited ? " (cpu limited)" : "");
}

void stats_emit_cycle(const tc_cycle_info *info, int trace_mode)
{
    if (trace_mode != TC_TRACE_OFF) {
        char line[1024];
        int n = stats_format_trace(info, trace_mode == TC_TRACE_JSON, line, sizeof line);
        if (n > 0) {
            ssize_t unused = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
            (void)unused;
        }
    }
    pthread_mutex_lock(&stats_lock);
    tc_cycle_fn fn = stats.cycle_fn;
    void *ctx = stats.cycle_ctx;
    stats.cycle_fn_running = fn != NULL;
    pthread_mutex_unlock(&stats_lock);
    if (!fn)
        return;
    in_cycle_fn = 1;
    fn(info, ctx);
    in_cycle_fn = 0;
    pthread_mutex_lock(&stats_lock);
    stats.cycle_fn_running = 0;
    pthread_cond_broadcast(&cycle_fn_done);
    pthread_mutex_unlock(&stats_lock);
}
