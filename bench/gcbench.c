/*
 * gcbench.c — the Ellis/Kovac/Boehm GCBench, written afresh for this
 * project and built once per backend (see backend.h).
 *
 * Shape of the classic program:
 *   1. build and drop a "stretch" tree of depth 18;
 *   2. build a long-lived tree of depth 16 (top-down) and a leaf array of
 *      500,000 doubles, both kept live to the end;
 *   3. for depth d = 4, 6, ..., 16: NumIters(d) times build a tree of depth
 *      d top-down (allocate children, then fill them in) and drop it, then
 *      NumIters(d) times build one bottom-up (children first) and drop it,
 *      where NumIters(d) = 2 * TreeSize(18) / TreeSize(d);
 *   4. check that the long-lived tree and the array are intact.
 *
 * Output: one JSON line.  checksum = nodes built + nodes found when walking
 * the long-lived tree at the end, so it is identical for both backends only
 * if the work was done and the long-lived data survived.
 *
 * Usage: gcbench [--verify]
 *   --verify  also walks every short-lived tree right after it is built and
 *             checks its shape and contents (slower; for correctness runs,
 *             not for timing).  The checksum is unchanged by it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

enum {
    STRETCH_DEPTH = 18,
    LONG_LIVED_DEPTH = 16,
    ARRAY_SIZE = 500000,
    MIN_DEPTH = 4,
    MAX_DEPTH = 16
};

typedef struct node {
    struct node *left, *right;
    int i, j; /* small integers: never mistaken for heap references */
} node;

BK_PTR_TYPE(node_type, "node");
BK_LEAF_TYPE(array_type, "double[]");

static uint64_t nodes_built;
static int verify;

#define NODE_MAGIC 0x5a17

/* A node that will sit at the given depth (0 = leaf) of its tree. */
static node *new_node(int depth)
{
    nodes_built++;
    node *n = bk_alloc(&node_type, sizeof(node));
    n->i = depth;
    n->j = NODE_MAGIC;
    return n;
}

static long tree_size(int depth) { return (1L << (depth + 1)) - 1; }

static long num_iters(int depth) { return 2 * tree_size(STRETCH_DEPTH) / tree_size(depth); }

/* Top-down: give n two fresh children, then fill each in. */
static void populate(int depth, node *n)
{
    if (depth <= 0)
        return;
    BK_ROOTS(n);
    node *l = new_node(depth - 1);
    BK_WRITE(n, left, l);
    node *r = new_node(depth - 1);
    BK_WRITE(n, right, r);
    populate(depth - 1, n->left);
    populate(depth - 1, n->right);
}

/* Bottom-up: build both subtrees, then the node holding them. */
static node *make_tree(int depth)
{
    if (depth <= 0)
        return new_node(0);
    node *l = NULL, *r = NULL;
    BK_ROOTS(l, r);
    l = make_tree(depth - 1);
    r = make_tree(depth - 1);
    node *n = new_node(depth);
    BK_WRITE(n, left, l);
    BK_WRITE(n, right, r);
    return n;
}

/* Nodes of the complete tree of the given depth rooted at n, or -1 if its
 * shape or any node's contents (i == its depth, j == NODE_MAGIC) is wrong:
 * a node freed early and reused would show up here. */
static long walk(const node *n, int depth)
{
    BK_SAFEPOINT();
    if (!n || n->i != depth || n->j != NODE_MAGIC)
        return -1;
    if (depth == 0)
        return (n->left || n->right) ? -1 : 1;
    long a = walk(n->left, depth - 1);
    long b = walk(n->right, depth - 1);
    return (a < 0 || b < 0) ? -1 : 1 + a + b;
}

static void check_tree(const node *n, int depth, const char *what)
{
    long got = walk(n, depth);
    if (got != tree_size(depth)) {
        fprintf(stderr, "gcbench[%s]: %s of depth %d is damaged (walk gave %ld, expected %ld)\n",
                BK_NAME, what, depth, got, tree_size(depth));
        exit(1);
    }
}

static void time_construction(int depth)
{
    long iters = num_iters(depth);
    node *t = NULL;
    BK_ROOTS(t);
    for (long i = 0; i < iters; i++) {
        t = new_node(depth);
        populate(depth, t);
        if (verify)
            check_tree(t, depth, "top-down tree");
        t = NULL;
    }
    for (long i = 0; i < iters; i++) {
        t = make_tree(depth);
        if (verify)
            check_tree(t, depth, "bottom-up tree");
        t = NULL;
    }
}

int main(int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--verify") == 0) {
            verify = 1;
        } else {
            fprintf(stderr, "usage: %s [--verify]\n", argv[0]);
            return 2;
        }
    }

    bk_start_clock();
    bk_init();
    node *stretch = NULL, *long_lived = NULL;
    double *array = NULL;
    BK_ROOTS(stretch, long_lived, array);

    /* 1. The stretch tree, built and dropped. */
    stretch = make_tree(STRETCH_DEPTH);
    if (verify)
        check_tree(stretch, STRETCH_DEPTH, "stretch tree");
    stretch = NULL;

    /* 2. Long-lived data. */
    long_lived = new_node(LONG_LIVED_DEPTH);
    populate(LONG_LIVED_DEPTH, long_lived);
    array = bk_alloc_leaf(&array_type, ARRAY_SIZE * sizeof(double));
    for (int i = 1; i < ARRAY_SIZE; i++)
        array[i] = 1.0 / i;
    bk_gap_skip(); /* filling the array is not waiting for the collector */

    /* 3. Short-lived trees of growing depth. */
    for (int d = MIN_DEPTH; d <= MAX_DEPTH; d += 2)
        time_construction(d);

    /* 4. The long-lived data must be intact. */
    check_tree(long_lived, LONG_LIVED_DEPTH, "long-lived tree");
    for (int i = 1; i < ARRAY_SIZE; i++)
        if (array[i] != 1.0 / i) {
            fprintf(stderr, "gcbench[%s]: array[%d] = %g, expected %g\n", BK_NAME, i, array[i],
                    1.0 / i);
            return 1;
        }
    uint64_t checksum = nodes_built + (uint64_t)walk(long_lived, LONG_LIVED_DEPTH);

    bk_print_result("gcbench", checksum, "");
    bk_shutdown();
    return 0;
}
