/*
 * deeproots.c — pauses against the size of a thread's root set, built
 * once per backend (see backend.h).
 *
 * An interpreter deep in recursion holds many roots on its own stack: a
 * Scheme 14,000 calls deep had 72,642 TC_ROOTS slots, and tricolor's first
 * pause, which scanned them, took 2.15 ms (issue 14).  Here one thread
 * recurses DEPTH levels (default 10,000), each with a frame of 10 rooted
 * variables (BK_ROOTS: TC_ROOTS for tricolor; Boehm GC finds them on the C
 * stack), so 100,000 slots, each the only reference to an object of its
 * own.  At the bottom it allocates N small garbage objects (default
 * 10,000,000; a ring of RING of them stays live), which runs many cycles
 * with every slot live.  The measured phase is that allocation; the
 * longest pause is the figure to read.  Then the thread returns level by
 * level, checking every object: id k (its 1-based place among the slots)
 * in its first word, so a freed and reused one shows.
 *
 * checksum: the sum of the ids, slots (slots + 1) / 2 with slots = 10 DEPTH.
 *
 * Usage: deeproots [DEPTH [N]]      (default 10000 10000000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"

enum { SLOTS_PER_LEVEL = 10, RING = 4096, GARBAGE_BYTES = 32 };

typedef struct cell {
    uintptr_t id;
    void *next;
} cell;

BK_PTR_TYPE(cell_type, "cell");
BK_PTR_TYPE(ring_type, "ring");

static long depth_max, garbage_n;
static uint64_t checksum;

static cell *new_cell(uintptr_t id)
{
    cell *c = bk_alloc(&cell_type, sizeof(cell));
    c->id = id;
    return c;
}

static void check(const cell *c, uintptr_t id)
{
    if (!c || c->id != id) {
        fprintf(stderr, "deeproots[%s]: the object of slot %lu is %s\n", BK_NAME,
                (unsigned long)id, c ? "damaged" : "gone");
        exit(1);
    }
    checksum += id;
}

/* The bottom: the measured allocation. */
static void churn(void)
{
    void **ring = NULL;
    BK_ROOTS(ring);
    ring = bk_alloc(&ring_type, RING * sizeof(void *));
    bk_phase_begin();
    for (long k = 0; k < garbage_n; k++) {
        cell *c = bk_alloc(&cell_type, GARBAGE_BYTES);
        c->id = (uintptr_t)k;
        BK_WRITE_SLOT(ring, &ring[k % RING], c);
    }
    bk_phase_end();
}

static void level(long d)
{
    uintptr_t id = (uintptr_t)d * SLOTS_PER_LEVEL + 1;
    cell *a0 = NULL, *a1 = NULL, *a2 = NULL, *a3 = NULL, *a4 = NULL;
    cell *a5 = NULL, *a6 = NULL, *a7 = NULL, *a8 = NULL, *a9 = NULL;
    BK_ROOTS(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9);
    a0 = new_cell(id);
    a1 = new_cell(id + 1);
    a2 = new_cell(id + 2);
    a3 = new_cell(id + 3);
    a4 = new_cell(id + 4);
    a5 = new_cell(id + 5);
    a6 = new_cell(id + 6);
    a7 = new_cell(id + 7);
    a8 = new_cell(id + 8);
    a9 = new_cell(id + 9);
    if (d + 1 < depth_max)
        level(d + 1);
    else
        churn();
    check(a0, id);
    check(a1, id + 1);
    check(a2, id + 2);
    check(a3, id + 3);
    check(a4, id + 4);
    check(a5, id + 5);
    check(a6, id + 6);
    check(a7, id + 7);
    check(a8, id + 8);
    check(a9, id + 9);
}

#define USAGE "[DEPTH [N]]   (DEPTH 1..100000, default 10000; N >= 1, default 10000000)"

int main(int argc, char **argv)
{
    if (argc > 3)
        bk_usage(argv[0], USAGE);
    depth_max = argc > 1 ? bk_arg(argv[1], 1, 100000, argv[0], USAGE) : 10000;
    garbage_n = argc > 2 ? bk_arg(argv[2], 1, 4000000000L, argv[0], USAGE) : 10000000;
    bk_start_clock();
    bk_init();
    level(0);
    char extra[96];
    snprintf(extra, sizeof extra, ",\"depth\":%ld,\"slots\":%ld,\"garbage\":%ld", depth_max,
             depth_max * SLOTS_PER_LEVEL, garbage_n);
    bk_print_result("deeproots", checksum, extra);
    bk_shutdown();
    return 0;
}
