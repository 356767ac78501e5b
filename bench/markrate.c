/*
 * markrate.c — how fast a collector marks, per marking thread, built once
 * per backend (see backend.h).
 *
 * Builds a live heap of about MIB MiB of binary trees (depth 16, nodes of
 * two references and a tagged integer: the pointer chasing an interpreter
 * heap is made of), then forces ROUNDS full collections with the mutator
 * waiting and times the marking of each:
 *   tricolor  TRICOLOR_MARK_WORKERS=WORKERS dedicated mark workers and
 *             TRICOLOR_IDLE_WORKERS=0, so that exactly WORKERS threads
 *             mark; from each forced cycle's tc_cycle_info, the mark wall
 *             time is pause 1 + concurrent mark + pause 2 and the mark CPU
 *             is the CPU of the workers, the pauses and any assists;
 *   Boehm     GC_MARKERS=WORKERS (the collecting thread and WORKERS - 1
 *             helpers); GC_EVENT_MARK_START..MARK_END gives the wall time,
 *             and the process CPU time over the same interval (the world
 *             is stopped: only markers run) the CPU.
 * The variables are set by the program itself, before the collector
 * starts.
 *
 * Rates count the live bytes the program allocated (the objects' sizes as
 * requested, the same for every backend), MB = 10^6 bytes:
 *   mark_mb_per_cpu_s   live bytes / mark CPU time: the rate of one
 *                       marking thread (the "per worker" rate)
 *   mark_mb_per_s       live bytes / mark wall time.  A forced cycle is
 *                       marked flat out by tricolor's workers (design.md
 *                       §10), as Boehm marks with the world stopped; the
 *                       two cores are shared with the program's thread and
 *                       the collector's, which wait.
 * each the median over the rounds, and mark_cpu_ms / mark_wall_ms, the
 * medians of the round times.
 *
 * checksum = nodes built + nodes found walking every tree at the end.
 *
 * Usage: markrate [WORKERS [MIB [ROUNDS]]]   (defaults 1 256 5; quick: 1 32 3)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend.h"

enum { TREE_DEPTH = 16, MAX_ROUNDS = 64 };

typedef struct node {
    struct node *left, *right;
    uintptr_t value; /* tagged: (depth << 1) | 1, never a reference */
} node;

BK_PTR_TYPE(node_type, "node");
BK_PTR_TYPE(forest_type, "forest");

static long tree_nodes(int depth) { return (1L << (depth + 1)) - 1; }

static node *make_tree(int depth)
{
    node *l = NULL, *r = NULL;
    BK_ROOTS(l, r);
    if (depth > 0) {
        l = make_tree(depth - 1);
        r = make_tree(depth - 1);
    }
    node *n = bk_alloc(&node_type, sizeof(node));
    n->value = ((uintptr_t)depth << 1) | 1;
    BK_WRITE(n, left, l);
    BK_WRITE(n, right, r);
    return n;
}

static long walk(const node *n, int depth)
{
    BK_SAFEPOINT();
    if (!n || n->value != (((uintptr_t)depth << 1) | 1))
        return -1;
    if (depth == 0)
        return (n->left || n->right) ? -1 : 1;
    long a = walk(n->left, depth - 1), b = walk(n->right, depth - 1);
    return a < 0 || b < 0 ? -1 : 1 + a + b;
}

/* One forced collection's marking: wall and CPU time. */
typedef struct mark_time {
    uint64_t wall_ns, cpu_ns;
} mark_time;

#if defined(BACKEND_TRICOLOR)

/* The cycle callback runs on the collector thread after the cycle, maybe
 * after tc_collect has returned: the main thread waits for it. */
enum { REPORT_WAIT_S = 60 };
static pthread_mutex_t cyc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cyc_cond = PTHREAD_COND_INITIALIZER;
static uint64_t forced_seen;
static mark_time last_forced;
static int last_workers;

static void on_cycle(const tc_cycle_info *c, void *ctx)
{
    (void)ctx;
    if (!c->forced)
        return;
    pthread_mutex_lock(&cyc_lock);
    last_forced.wall_ns = c->stw1_ns + c->mark_ns + c->stw2_ns;
    last_forced.cpu_ns = c->cpu_background_ns + c->cpu_idle_ns + c->cpu_stw_ns + c->cpu_assist_ns;
    last_workers = c->mark_workers;
    forced_seen++;
    pthread_cond_broadcast(&cyc_cond);
    pthread_mutex_unlock(&cyc_lock);
}

static void configure(int workers)
{
    char w[16];
    snprintf(w, sizeof w, "%d", workers);
    setenv("TRICOLOR_MARK_WORKERS", w, 1);
    setenv("TRICOLOR_IDLE_WORKERS", "0", 1);
}

static void start_measuring(void) { tc_set_cycle_callback(on_cycle, NULL); }


static mark_time collect_timed(void)
{
    pthread_mutex_lock(&cyc_lock);
    uint64_t want = forced_seen + 1;
    pthread_mutex_unlock(&cyc_lock);
    tc_collect();
    tc_blocking_enter(); /* waiting, as the next cycle may stop the world */
    /* The report follows the cycle within milliseconds; a minute means it
     * will never come (a cycle that served tc_collect reported as not
     * forced once hung CI here): fail instead of hanging. */
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += REPORT_WAIT_S;
    pthread_mutex_lock(&cyc_lock);
    while (forced_seen < want)
        if (pthread_cond_timedwait(&cyc_cond, &cyc_lock, &limit) == ETIMEDOUT && forced_seen < want)
            bk_die("markrate: no report of a forced cycle a minute after tc_collect returned");
    mark_time t = last_forced;
    pthread_mutex_unlock(&cyc_lock);
    tc_blocking_leave();
    return t;
}

/* The workers the cycles reported, which must be the ones asked for. */
static int workers_used(void) { return last_workers; }

#else

static void configure(int workers)
{
    char w[16];
    snprintf(w, sizeof w, "%d", workers);
    setenv("GC_MARKERS", w, 1);
}

static void start_measuring(void) {}

static mark_time collect_timed(void)
{
    GC_gcollect();
    return (mark_time){bk__last_mark_ns, bk__last_mark_cpu_ns};
}

static int workers_used(void) { return GC_get_parallel() ? (int)GC_get_parallel() + 1 : 1; }

#endif

static uint64_t median(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], bk_cmp_u64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define USAGE "[WORKERS [MIB [ROUNDS]]]   (WORKERS 1..64, default 1; MIB 1..65536, default 256; " \
              "ROUNDS 1..64, default 5)"

int main(int argc, char **argv)
{
    if (argc > 4)
        bk_usage(argv[0], USAGE);
    int workers = argc > 1 ? (int)bk_arg(argv[1], 1, 64, argv[0], USAGE) : 1;
    long mib = argc > 2 ? bk_arg(argv[2], 1, 65536, argv[0], USAGE) : 256;
    int rounds = argc > 3 ? (int)bk_arg(argv[3], 1, MAX_ROUNDS, argv[0], USAGE) : 5;

    configure(workers);
    bk_start_clock();
    bk_init();
    start_measuring();
    long per_tree = tree_nodes(TREE_DEPTH);
    long ntrees = (long)((mib << 20) / (per_tree * (long)sizeof(node)));
    if (ntrees < 1)
        ntrees = 1;
    node **forest = NULL;
    BK_ROOTS(forest);
    forest = bk_alloc(&forest_type, (size_t)ntrees * sizeof(node *));
    for (long i = 0; i < ntrees; i++) {
        node *t = make_tree(TREE_DEPTH);
        BK_WRITE_SLOT(forest, &forest[i], t);
    }
    uint64_t live = (uint64_t)ntrees * (uint64_t)per_tree * sizeof(node);
    live += (uint64_t)ntrees * sizeof(node *);
    collect_timed(); /* settle: sweep the build's garbage, warm the caches */

    uint64_t wall[MAX_ROUNDS], cpu[MAX_ROUNDS], rate_wall[MAX_ROUNDS], rate_cpu[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        mark_time t = collect_timed();
        wall[r] = t.wall_ns;
        cpu[r] = t.cpu_ns;
        rate_wall[r] = t.wall_ns ? (uint64_t)(live * 1e6 / t.wall_ns) : 0; /* kB/s */
        rate_cpu[r] = t.cpu_ns ? (uint64_t)(live * 1e6 / t.cpu_ns) : 0;
    }
    bk_phase_end();

    uint64_t found = 0;
    for (long i = 0; i < ntrees; i++) {
        long n = walk(forest[i], TREE_DEPTH);
        if (n != per_tree) {
            fprintf(stderr, "markrate[%s]: tree %ld is damaged (walk gave %ld, expected %ld)\n",
                    BK_NAME, i, n, per_tree);
            return 1;
        }
        found += (uint64_t)n;
    }
    int used = workers_used();
    if (used != workers) {
        fprintf(stderr, "markrate[%s]: asked for %d marking threads, the collector used %d\n",
                BK_NAME, workers, used);
        return 1;
    }

    double mb_s = median(rate_wall, rounds) / 1e3, mb_cpu_s = median(rate_cpu, rounds) / 1e3;
    double wall_ms = median(wall, rounds) / 1e6, cpu_ms = median(cpu, rounds) / 1e6;
    fprintf(stderr, "markrate[%s]: %.1f MiB live in %ld trees, %d marking thread(s): %.0f MB/s "
                    "per marking CPU-second, %.0f MB/s wall (median of %d: %.1f ms wall, %.1f ms "
                    "CPU)\n",
            BK_NAME, live / 1048576.0, ntrees, workers, mb_cpu_s, mb_s, rounds, wall_ms, cpu_ms);
    char extra[256];
    snprintf(extra, sizeof extra,
             ",\"workers\":%d,\"live_mib\":%.1f,\"rounds\":%d,\"mark_wall_ms\":%.2f,"
             "\"mark_cpu_ms\":%.2f,\"mark_mb_per_s\":%.1f,\"mark_mb_per_cpu_s\":%.1f",
             workers, live / 1048576.0, rounds, wall_ms, cpu_ms, mb_s, mb_cpu_s);
    bk_print_result("markrate", (uint64_t)ntrees * (uint64_t)per_tree + found, extra);
    bk_shutdown();
    return 0;
}
