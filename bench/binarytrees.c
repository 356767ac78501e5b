/*
 * binarytrees.c — the Benchmarks Game binary-trees, written afresh for
 * this project and built once per backend (see backend.h).
 *
 * With max = max(DEPTH, 6) (default 21) and min = 4:
 *   1. a stretch tree of depth max + 1 is built bottom-up, checked and
 *      dropped;
 *   2. a long-lived tree of depth max is built and kept;
 *   3. for d = 4, 6, ..., max: 2^(max - d + 4) trees of depth d are built
 *      bottom-up, checked and dropped one after the other;
 *   4. the long-lived tree is checked.
 * "Checked" is the program's item check: the number of nodes in the tree.
 *
 * With THREADS = 1 (the default) one mutator does everything, the
 * benchmark's single-threaded form.  With THREADS = T > 1 (0: one per
 * core) step 3 is shared by T mutators, the main thread and T - 1 more:
 * mutator k builds the trees i = k, k + T, k + 2T, ... of every depth, so
 * the collector runs beside as many allocating threads as there are cores.
 *
 * Output: the program's usual lines on stderr, one JSON line on stdout.
 * checksum = the sum of all the checks printed, so it is the same for every
 * backend and thread count only if every tree was complete when checked.
 * The time spent walking trees to check them is not counted as a gap in
 * the allocation (record.h: bk_gap_skip).
 *
 * Usage: binarytrees [DEPTH [THREADS]]      (default 21 1; quick: 16)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"

enum { MIN_DEPTH = 4, DEFAULT_DEPTH = 21, LIMIT_DEPTH = 28, MAX_THREADS = 256 };

typedef struct node {
    struct node *left, *right;
} node;

BK_PTR_TYPE(node_type, "node");

/* Children first, then the node holding them.  l and r are roots while
 * the other subtree is being built. */
static node *bottom_up_tree(int depth)
{
    if (depth <= 0)
        return bk_alloc(&node_type, sizeof(node));
    node *l = NULL, *r = NULL;
    BK_ROOTS(l, r);
    l = bottom_up_tree(depth - 1);
    r = bottom_up_tree(depth - 1);
    node *n = bk_alloc(&node_type, sizeof(node));
    BK_WRITE(n, left, l);
    BK_WRITE(n, right, r);
    return n;
}

/* Nodes in the tree.  A node has both children or none. */
static long item_check(const node *n)
{
    BK_SAFEPOINT();
    if (!n->left)
        return 1;
    return 1 + item_check(n->left) + item_check(n->right);
}

/* Every check has a known answer: a damaged tree fails the run at once
 * rather than only changing the checksum. */
static void expect_nodes(const char *what, int depth, long count, long check)
{
    long want = count * ((1L << (depth + 1)) - 1);
    if (check != want) {
        fprintf(stderr, "binarytrees[%s]: %s of depth %d: check %ld, expected %ld\n", BK_NAME,
                what, depth, check, want);
        exit(1);
    }
}

/* Step 3's share of mutator k of n: the sum of the checks at each depth. */
typedef struct share {
    int k, n, max_depth;
    long check[LIMIT_DEPTH + 1];
} share;

static void *short_lived_trees(void *arg)
{
    share *sh = arg;
    node *t = NULL;
    BK_ROOTS(t);
    for (int d = MIN_DEPTH; d <= sh->max_depth; d += 2) {
        long iterations = 1L << (sh->max_depth - d + MIN_DEPTH);
        for (long i = sh->k; i < iterations; i += sh->n) {
            t = bottom_up_tree(d);
            sh->check[d] += item_check(t);
            bk_gap_skip();
            t = NULL;
        }
    }
    return NULL;
}

#define USAGE "[DEPTH [THREADS]]   (DEPTH 1..28, default 21; THREADS 0..256, 0 = one per core, default 1)"

int main(int argc, char **argv)
{
    if (argc > 3)
        bk_usage(argv[0], USAGE);
    int depth = argc > 1 ? (int)bk_arg(argv[1], 1, LIMIT_DEPTH, argv[0], USAGE) : DEFAULT_DEPTH;
    int nthreads = argc > 2 ? (int)bk_arg(argv[2], 0, MAX_THREADS, argv[0], USAGE) : 1;
    if (nthreads == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : (int)ncpu;
    }
    int max_depth = depth < MIN_DEPTH + 2 ? MIN_DEPTH + 2 : depth;
    static share shares[MAX_THREADS];
    static bk_thread threads[MAX_THREADS];

    bk_start_clock();
    bk_init();
    node *t = NULL, *long_lived = NULL;
    BK_ROOTS(t, long_lived);
    uint64_t checksum = 0;

    /* 1. The stretch tree. */
    t = bottom_up_tree(max_depth + 1);
    long check = item_check(t);
    bk_gap_skip();
    t = NULL;
    expect_nodes("stretch tree", max_depth + 1, 1, check);
    checksum += (uint64_t)check;
    fprintf(stderr, "stretch tree of depth %d\t check: %ld\n", max_depth + 1, check);

    /* 2. The long-lived tree. */
    long_lived = bottom_up_tree(max_depth);

    /* 3. Many short-lived trees at each depth, shared by the mutators;
     * this thread is mutator 0. */
    for (int k = 0; k < nthreads; k++)
        shares[k] = (share){.k = k, .n = nthreads, .max_depth = max_depth};
    for (int k = 1; k < nthreads; k++)
        bk_thread_start(&threads[k], short_lived_trees, &shares[k]);
    short_lived_trees(&shares[0]);
    for (int k = 1; k < nthreads; k++)
        bk_thread_join(threads[k]);
    bk_gap_skip(); /* waiting for the others is not a gap either */
    for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + MIN_DEPTH);
        check = 0;
        for (int k = 0; k < nthreads; k++)
            check += shares[k].check[d];
        expect_nodes("short-lived trees", d, iterations, check);
        checksum += (uint64_t)check;
        fprintf(stderr, "%ld\t trees of depth %d\t check: %ld\n", iterations, d, check);
    }

    /* 4. The long-lived tree, still whole. */
    check = item_check(long_lived);
    expect_nodes("long-lived tree", max_depth, 1, check);
    checksum += (uint64_t)check;
    fprintf(stderr, "long lived tree of depth %d\t check: %ld\n", max_depth, check);

    char extra[64];
    snprintf(extra, sizeof extra, ",\"depth\":%d,\"threads\":%d", max_depth, nthreads);
    bk_print_result("binarytrees", checksum, extra);
    bk_shutdown();
    return 0;
}
