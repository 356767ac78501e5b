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
 * One mutator thread (the benchmark's single-threaded form).
 *
 * Output: the program's usual lines on stderr, one JSON line on stdout.
 * checksum = the sum of all the checks printed, so it is the same for both
 * backends only if every tree was complete when checked.
 *
 * Usage: binarytrees [DEPTH]      (default 21; quick: 16)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"

enum { MIN_DEPTH = 4, DEFAULT_DEPTH = 21, LIMIT_DEPTH = 28 };

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

int main(int argc, char **argv)
{
    long depth = DEFAULT_DEPTH;
    char *end = NULL;
    if (argc > 2 || (argc == 2 && ((depth = strtol(argv[1], &end, 10)) < 1 ||
                                   depth > LIMIT_DEPTH || *argv[1] == '\0' || *end != '\0'))) {
        fprintf(stderr, "usage: %s [DEPTH]   (1..%d, default %d)\n", argv[0], LIMIT_DEPTH,
                DEFAULT_DEPTH);
        return 2;
    }
    int max_depth = depth < MIN_DEPTH + 2 ? MIN_DEPTH + 2 : (int)depth;

    bk_start_clock();
    bk_init();
    node *t = NULL, *long_lived = NULL;
    BK_ROOTS(t, long_lived);
    uint64_t checksum = 0;

    /* 1. The stretch tree. */
    t = bottom_up_tree(max_depth + 1);
    long check = item_check(t);
    t = NULL;
    expect_nodes("stretch tree", max_depth + 1, 1, check);
    checksum += (uint64_t)check;
    fprintf(stderr, "stretch tree of depth %d\t check: %ld\n", max_depth + 1, check);

    /* 2. The long-lived tree. */
    long_lived = bottom_up_tree(max_depth);

    /* 3. Many short-lived trees at each depth. */
    for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + MIN_DEPTH);
        check = 0;
        for (long i = 0; i < iterations; i++) {
            t = bottom_up_tree(d);
            check += item_check(t);
            t = NULL;
        }
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
    snprintf(extra, sizeof extra, ",\"depth\":%d", max_depth);
    bk_print_result("binarytrees", checksum, extra);
    bk_shutdown();
    return 0;
}
