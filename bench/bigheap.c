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
 * The clock is read after every allocation (record.h: stride 1), so the
 * gaps are the times the mutator was kept from making progress between two
 * allocations (a pause, an assist, a slow path), whatever the collector
 * itself reports.
 *
 * Output: one JSON line on stdout, a readable summary on stderr.  Fields
 * added to record.h's (whose phase is step 2):
 *   depth, ntrees          the run's size
 *   build_s, build_max_gap_ms   step 1's wall time and longest gap
 *
 * checksum = nodes built + nodes found walking the long-lived tree at the
 * end: equal for every backend only if the same work was done and the
 * long-lived tree survived intact.
 *
 * Usage: bigheap [DEPTH [NTREES]]      (defaults 22 4000; quick: 16 200)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"


enum { SHORT_DEPTH = 10, MAX_DEPTH = 26 };

typedef struct node {
    struct node *left, *right;
} node;

BK_PTR_TYPE(node_type, "node");

static uint64_t nodes_built;

static node *new_node(void)
{
    nodes_built++;
    return bk_alloc(&node_type, sizeof(node));
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
    BK_SAFEPOINT();
    if (!n)
        return -1;
    if (depth == 0)
        return (n->left || n->right) ? -1 : 1;
    long a = walk(n->left, depth - 1);
    long b = walk(n->right, depth - 1);
    return (a < 0 || b < 0) ? -1 : 1 + a + b;
}

/* ---------------------------------------------------------------- main */

#define USAGE "[DEPTH [NTREES]]   (DEPTH 1..26, default 22; NTREES >= 0, default 4000)"

static double ms(uint64_t ns) { return ns / 1e6; }

int main(int argc, char **argv)
{
    if (argc > 3)
        bk_usage(argv[0], USAGE);
    int depth = argc > 1 ? (int)bk_arg(argv[1], 1, MAX_DEPTH, argv[0], USAGE) : 22;
    long ntrees = argc > 2 ? bk_arg(argv[2], 0, 100000000, argv[0], USAGE) : 4000;

    bk_start_clock();
    bk_init();
    bk_gap_stride(1);
    node *big = NULL, *t = NULL;
    BK_ROOTS(big, t);

    /* 1. The long-lived tree. */
    bk_phase_begin();
    uint64_t b0 = bk_now_ns();
    big = new_node();
    populate(depth, big);
    uint64_t build_ns = bk_now_ns() - b0, build_gap_ns = bk_gap_max_ns();

    /* 2. The measured phase: short-lived trees, built and dropped. */
    bk_phase_begin();
    uint64_t p0 = bk_now_ns();
    for (long i = 0; i < ntrees; i++) {
        if (i % 2 == 0) {
            t = new_node();
            populate(SHORT_DEPTH, t);
        } else {
            t = make_tree(SHORT_DEPTH);
        }
        t = NULL;
    }
    bk_phase_end();
    uint64_t phase_ns = bk_now_ns() - p0, phase_gap_ns = bk_gap_max_ns();

    /* 3. The long-lived tree must be intact. */
    long found = walk(big, depth);
    if (found != tree_size(depth)) {
        fprintf(stderr, "bigheap[%s]: long-lived tree of depth %d is damaged (walk gave %ld, "
                        "expected %ld)\n", BK_NAME, depth, found, tree_size(depth));
        return 1;
    }
    uint64_t checksum = nodes_built + (uint64_t)found;

    fprintf(stderr, "bigheap[%s]: tree of depth %d (%ld nodes) built in %.3f s, longest "
                    "allocation gap %.2f ms\n",
            BK_NAME, depth, tree_size(depth), build_ns / 1e9, ms(build_gap_ns));
    fprintf(stderr, "bigheap[%s]: %ld trees of depth %d in %.3f s, longest allocation gap "
                    "%.2f ms\n",
            BK_NAME, ntrees, SHORT_DEPTH, phase_ns / 1e9, ms(phase_gap_ns));

    char extra[256];
    snprintf(extra, sizeof extra,
             ",\"depth\":%d,\"ntrees\":%ld,\"build_s\":%.4f,\"build_max_gap_ms\":%.3f", depth,
             ntrees, build_ns / 1e9, ms(build_gap_ns));
    bk_print_result("bigheap", checksum, extra);
    bk_shutdown();
    return 0;
}
