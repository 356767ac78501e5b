/*
 * bigheap.c — latency with a large live heap, built once per backend (see
 * backend.h).
 *
 * A collector that marks inside its pause pauses for as long as it takes
 * to mark the live heap; this benchmark keeps a big one live and measures
 * what the mutator feels while it allocates garbage:
 *   1. build a long-lived binary tree of depth D (default 22: 2^23 - 1,
 *      about 8.4 million nodes of two child pointers each), top-down; it
 *      stays rooted for the whole run;
 *   2. the measured phase: build and drop N trees (default 4000) of depth
 *      10, alternately top-down and bottom-up;
 *   3. walk the long-lived tree: it must be complete.
 *
 * Every allocation in phases 1 and 2 is followed by a monotonic clock
 * read; the longest gap between the ends of two consecutive allocations is
 * the longest time the mutator was kept from making progress (a pause, an
 * assist, a slow path), whatever the collector itself reports.
 *
 * Output: one JSON line on stdout (bench/compare reads it), a readable
 * summary on stderr.  Fields added to backend.h's:
 *   depth, ntrees          the run's size
 *   build_s, build_max_gap_ms   phase 1 wall time and longest gap
 *   phase_s, max_gap_ms    phase 2 (measured) wall time and longest gap
 *   gaps_over_1ms          phase 2 gaps of 1 ms or more
 *   pauses, pause_p99_ms   pauses of the whole run and their 99th
 *                          percentile (nearest rank over the newest <= 256;
 *                          max_pause_ms is the longest of all)
 *   mmu_1ms, mmu_10ms, mmu_50ms, gaps_recorded, gaps_dropped
 *                          minimum mutator utilization over phase 2,
 *                          counting every allocation gap of more than
 *                          20 us as time the mutator did not run (mmu.h)
 * tricolor only:
 *   mmu_10ms_pauses, pauses_in_phase, mmu_pauses_complete
 *                          the 10 ms MMU of phase 2 from the collector's
 *                          own pause ring instead (stop request to
 *                          restart, placed in time to about a µs; see
 *                          mmu_measure in mmu.h)
 * tricolor only, from tc_set_cycle_callback (cycles reported by the time
 * of the print; the last cycle's report may still be pending):
 *   mark_cycles, mark_workers, mark_workers_min
 *   mark_mb_per_cpu_s      sum(heap_marked) / sum(cpu_background_ns)
 *   mark_mb_per_s          sum(heap_marked) / sum(mark_ns)
 *   mark_rate_basis        "cpu_background_ns": both sums over the cycles
 *                          that marked in the background; "mark_ns": no
 *                          cycle did (marking inside the pause), so both
 *                          are over all cycles and the CPU rate uses
 *                          mark_ns in place of background CPU
 *   iso_mark_mb_per_cpu_s, iso_mark_mb_per_s
 *                          one more forced cycle after phase 3, with the
 *                          big tree live and the mutator waiting: marking
 *                          alone on the machine, the rate that shows
 *                          scaling with the number of workers
 * MB = 10^6 bytes.  TRICOLOR_MARK_WORKERS (read by the library) sets the
 * mark workers.  Boehm: GC_ENABLE_INCREMENTAL=1 (read by libgc) runs it in
 * incremental mode; "incremental" in the JSON says which mode ran.
 *
 * checksum = nodes built + nodes found walking the long-lived tree at the
 * end: equal for both backends only if the same work was done and the
 * long-lived tree survived intact.
 *
 * Usage: bigheap [DEPTH [NTREES]]      (defaults 22 4000; quick: 16 200)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "mmu.h"

#if defined(BACKEND_TRICOLOR)
#include <pthread.h>
#endif

enum { SHORT_DEPTH = 10, MAX_DEPTH = 26 };

typedef struct node {
    struct node *left, *right;
} node;

BK_PTR_TYPE(node_type, "node");

/* ------------------------------------------------------ allocation gaps */

/* The gap clock of the current phase.  Reset at each phase start so that
 * the work between phases (walks, prints) is not counted as a gap. */
static struct {
    uint64_t prev_ns;    /* end of the previous allocation */
    uint64_t max_ns;     /* longest gap so far */
    uint64_t over_1ms;   /* gaps of 1 ms or more */
    mmu_log *log;        /* if set, gaps > MMU_GAP_MIN_NS go here */
} gap;

static uint64_t nodes_built;

static void gap_reset(mmu_log *log)
{
    gap.prev_ns = bk_now_ns();
    gap.max_ns = 0;
    gap.over_1ms = 0;
    gap.log = log;
}

static node *new_node(void)
{
    node *n = bk_alloc(&node_type, sizeof(node));
    uint64_t now = bk_now_ns();
    uint64_t d = now - gap.prev_ns;
    if (d > gap.max_ns)
        gap.max_ns = d;
    if (d >= 1000000)
        gap.over_1ms++;
    if (d > MMU_GAP_MIN_NS && gap.log)
        mmu_log_add(gap.log, gap.prev_ns, now);
    gap.prev_ns = now;
    nodes_built++;
    return n;
}

/* --------------------------------------------------------------- trees */

static long tree_size(int depth) { return (1L << (depth + 1)) - 1; }

/* Top-down: give n two fresh children, then fill each in.  The stores go
 * into an older object, which is what a barrier has to watch. */
static void populate(int depth, node *n)
{
    if (depth <= 0)
        return;
    BK_ROOTS(n);
    node *l = new_node();
    BK_WRITE(n, left, l);
    node *r = new_node();
    BK_WRITE(n, right, r);
    populate(depth - 1, n->left);
    populate(depth - 1, n->right);
}

/* Bottom-up: build both subtrees, then the node holding them. */
static node *make_tree(int depth)
{
    if (depth <= 0)
        return new_node();
    node *l = NULL, *r = NULL;
    BK_ROOTS(l, r);
    l = make_tree(depth - 1);
    r = make_tree(depth - 1);
    node *n = new_node();
    BK_WRITE(n, left, l);
    BK_WRITE(n, right, r);
    return n;
}

/* Nodes of the complete tree of the given depth rooted at n, or -1 if its
 * shape is wrong (a node freed early and reused would show up here). */
static long walk(const node *n, int depth)
{
    if (!n)
        return -1;
    if (depth == 0)
        return (n->left || n->right) ? -1 : 1;
    long a = walk(n->left, depth - 1);
    long b = walk(n->right, depth - 1);
    return (a < 0 || b < 0) ? -1 : 1 + a + b;
}

/* ----------------------------------------------- tricolor's mark rate */

#if defined(BACKEND_TRICOLOR)

/* Sums over the reported cycles.  The callback runs on the collector's
 * background thread, hence the lock. */
static pthread_mutex_t cyc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t n, marked, mark_ns;          /* every cycle */
    uint64_t n_bg, marked_bg, mark_ns_bg; /* cycles with background CPU */
    uint64_t cpu_bg_ns;
    int workers_min, workers_max;
    /* The last forced cycle: the isolated mark (see isolated_mark). */
    uint64_t iso_marked, iso_mark_ns, iso_cpu_ns;
} cyc;

static void on_cycle(const tc_cycle_info *c, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&cyc_lock);
    if (cyc.n == 0 || c->mark_workers < cyc.workers_min)
        cyc.workers_min = c->mark_workers;
    if (cyc.n == 0 || c->mark_workers > cyc.workers_max)
        cyc.workers_max = c->mark_workers;
    cyc.n++;
    cyc.marked += c->heap_marked;
    cyc.mark_ns += c->mark_ns;
    if (c->cpu_background_ns > 0) {
        cyc.n_bg++;
        cyc.marked_bg += c->heap_marked;
        cyc.mark_ns_bg += c->mark_ns;
        cyc.cpu_bg_ns += c->cpu_background_ns;
    }
    if (c->forced) {
        cyc.iso_marked = c->heap_marked;
        cyc.iso_mark_ns = c->mark_ns;
        cyc.iso_cpu_ns = c->cpu_background_ns;
    }
    pthread_mutex_unlock(&cyc_lock);
}

/* The callback sums each cycle into cyc. */
static void collector_fields_start(void) { tc_set_cycle_callback(on_cycle, NULL); }

/* One more cycle with the long-lived tree live while the mutator waits in
 * tc_collect: the workers have the machine to themselves, so this is the
 * mark rate that shows how marking scales with TRICOLOR_MARK_WORKERS. */
static void isolated_mark(void) { tc_collect(); }

static double mb_per_s(uint64_t bytes, uint64_t ns) { return ns ? bytes / 1e6 / (ns / 1e9) : 0; }

/* Appends the mark-rate fields to the JSON extra and prints them too. */
static void collector_fields(char *extra, size_t cap)
{
    pthread_mutex_lock(&cyc_lock);
    int bg = cyc.n_bg > 0;
    uint64_t n = bg ? cyc.n_bg : cyc.n;
    uint64_t marked = bg ? cyc.marked_bg : cyc.marked;
    uint64_t wall_ns = bg ? cyc.mark_ns_bg : cyc.mark_ns;
    uint64_t cpu_ns = bg ? cyc.cpu_bg_ns : cyc.mark_ns; /* fallback: see top */
    int wmin = cyc.workers_min, wmax = cyc.workers_max;
    uint64_t iso_marked = cyc.iso_marked, iso_wall = cyc.iso_mark_ns, iso_cpu = cyc.iso_cpu_ns;
    pthread_mutex_unlock(&cyc_lock);

    const char *basis = bg ? "cpu_background_ns" : "mark_ns";
    size_t len = strlen(extra);
    snprintf(extra + len, cap - len,
             ",\"mark_cycles\":%llu,\"mark_workers\":%d,\"mark_workers_min\":%d,"
             "\"mark_mb_per_cpu_s\":%.1f,\"mark_mb_per_s\":%.1f,\"mark_rate_basis\":\"%s\","
             "\"iso_mark_mb_per_cpu_s\":%.1f,\"iso_mark_mb_per_s\":%.1f",
             (unsigned long long)n, wmax, wmin, mb_per_s(marked, cpu_ns), mb_per_s(marked, wall_ns),
             basis, mb_per_s(iso_marked, iso_cpu), mb_per_s(iso_marked, iso_wall));
    fprintf(stderr, "bigheap[%s]: isolated mark of %.1f MiB (mutator waiting): %.1f MB/s per "
                    "worker-CPU-s, %.1f MB/s wall\n",
            BK_NAME, iso_marked / 1048576.0, mb_per_s(iso_marked, iso_cpu),
            mb_per_s(iso_marked, iso_wall));
    fprintf(stderr, "bigheap[%s]: mark rate over %llu cycles, %d mark worker(s): %.1f MB/s per "
                    "worker-CPU-s, %.1f MB/s wall%s\n",
            BK_NAME, (unsigned long long)n, wmax, mb_per_s(marked, cpu_ns),
            mb_per_s(marked, wall_ns),
            bg ? "" : " (no cycle had background mark CPU: marking ran in the pause, "
                      "so both rates use mark_ns)");
}

#else

static void collector_fields_start(void) {}
static void isolated_mark(void) {}

/* Says which Boehm mode ran: GC_ENABLE_INCREMENTAL is read by libgc. */
static void collector_fields(char *extra, size_t cap)
{
    size_t len = strlen(extra);
    snprintf(extra + len, cap - len, ",\"incremental\":%d", GC_is_incremental_mode());
}

#endif

/* ---------------------------------------------------------------- main */

#define USAGE "[DEPTH [NTREES]]   (DEPTH 1..26, default 22; NTREES >= 0, default 4000)"

static double ms(uint64_t ns) { return ns / 1e6; }

int main(int argc, char **argv)
{
    if (argc > 3)
        bk_usage(argv[0], USAGE);
    int depth = argc > 1 ? (int)bk_arg(argv[1], 1, MAX_DEPTH, argv[0], USAGE) : 22;
    long ntrees = argc > 2 ? bk_arg(argv[2], 0, 100000000, argv[0], USAGE) : 4000;

    mmu_log gaps; /* malloc'd: outside the GC heap */
    mmu_log_init(&gaps, MMU_LOG_CAP);

    bk_start_clock();
    bk_init();
    collector_fields_start();
    node *big = NULL, *t = NULL;
    BK_ROOTS(big, t);

    /* 1. The long-lived tree. */
    uint64_t b0 = bk_now_ns();
    gap_reset(NULL);
    big = new_node();
    populate(depth, big);
    uint64_t build_ns = bk_now_ns() - b0, build_gap_ns = gap.max_ns;

    /* 2. The measured phase: short-lived trees, built and dropped. */
    gap_reset(&gaps);
    uint64_t p0 = gap.prev_ns;
    for (long i = 0; i < ntrees; i++) {
        if (i % 2 == 0) {
            t = new_node();
            populate(SHORT_DEPTH, t);
        } else {
            t = make_tree(SHORT_DEPTH);
        }
        t = NULL;
    }
    uint64_t p1 = bk_now_ns(), phase_ns = p1 - p0;
    gap.log = NULL;
    mmu_result mr; /* now: tricolor's pause ring keeps only the newest pauses */
    mmu_measure(&gaps, p0, p1, &mr);

    /* 3. The long-lived tree must be intact. */
    long found = walk(big, depth);
    if (found != tree_size(depth)) {
        fprintf(stderr, "bigheap[%s]: long-lived tree of depth %d is damaged (walk gave %ld, "
                        "expected %ld)\n", BK_NAME, depth, found, tree_size(depth));
        return 1;
    }
    uint64_t checksum = nodes_built + (uint64_t)found;

    /* Read last, next to bk_print_result's own read of max_pause_ms: a
     * cycle started in phase 2 may still end (and pause) during the walk. */
    bk_pauses ps;
    bk_pause_summary(&ps);
    isolated_mark(); /* after the pause summary: its pauses are not the workload's */

    fprintf(stderr, "bigheap[%s]: tree of depth %d (%ld nodes) built in %.3f s, longest "
                    "allocation gap %.2f ms\n",
            BK_NAME, depth, tree_size(depth), build_ns / 1e9, ms(build_gap_ns));
    fprintf(stderr, "bigheap[%s]: %ld trees of depth %d in %.3f s, longest allocation gap "
                    "%.2f ms, %llu gaps >= 1 ms\n",
            BK_NAME, ntrees, SHORT_DEPTH, phase_ns / 1e9, ms(gap.max_ns),
            (unsigned long long)gap.over_1ms);
    fprintf(stderr, "bigheap[%s]: %llu pauses, longest %.2f ms, p99 %.2f ms (nearest rank over "
                    "the newest %u)\n",
            BK_NAME, (unsigned long long)ps.n, ms(ps.max_ns), ms(ps.p99_ns), ps.window);
    mmu_print("bigheap", &mr);

    char extra[1024];
    snprintf(extra, sizeof extra,
             ",\"depth\":%d,\"ntrees\":%ld,\"build_s\":%.4f,\"build_max_gap_ms\":%.3f,"
             "\"phase_s\":%.4f,\"max_gap_ms\":%.3f,\"gaps_over_1ms\":%llu,"
             "\"pauses\":%llu,\"pause_p99_ms\":%.3f",
             depth, ntrees, build_ns / 1e9, ms(build_gap_ns), phase_ns / 1e9, ms(gap.max_ns),
             (unsigned long long)gap.over_1ms, (unsigned long long)ps.n, ms(ps.p99_ns));
    mmu_append_json(&mr, extra, sizeof extra);
    collector_fields(extra, sizeof extra);
    bk_print_result("bigheap", checksum, extra);
    mmu_log_free(&gaps);
    bk_shutdown();
    return 0;
}
