/*
 * alloc.c — small-object allocation throughput, built once per backend
 * (see backend.h).
 *
 * Allocates N pointer-bearing objects whose payload sizes cycle through
 * 16, 32, ..., 256 bytes.  A ring of RING slots (itself a heap object)
 * keeps the newest RING objects live: object k overwrites slot k % RING.
 * Each object's first word holds a tagged sequence number (2k+1, never a
 * heap address); before a slot is overwritten the object in it is checked
 * and its number added to the checksum, so an object freed or reused while
 * still live changes the checksum (or fails the check).
 *
 * Output: one JSON line, with ns_per_alloc = wall time of the loop / N.
 *
 * Usage: alloc [N]      (default 20,000,000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"

enum { RING = 1000, MIN_SIZE = 16, MAX_SIZE = 256, STEP = 16 };

typedef struct obj {
    uintptr_t seq; /* (k << 1) | 1 */
    uintptr_t size;
    /* ...payload up to size bytes in all */
} obj;

BK_PTR_TYPE(obj_type, "obj");
BK_PTR_TYPE(ring_type, "ring");

static void fail(long k, const char *what)
{
    fprintf(stderr, "alloc[%s]: object %ld in the live window: %s\n", BK_NAME, k, what);
    exit(1);
}

int main(int argc, char **argv)
{
    long n = 20000000;
    if (argc > 2 || (argc == 2 && (n = strtol(argv[1], NULL, 10)) <= 0)) {
        fprintf(stderr, "usage: %s [N]\n", argv[0]);
        return 2;
    }

    bk_start_clock();
    bk_init();
    obj **ring = NULL;
    BK_ROOTS(ring);
    ring = bk_alloc(&ring_type, RING * sizeof(obj *));

    uint64_t checksum = 0;
    const size_t nsizes = (MAX_SIZE - MIN_SIZE) / STEP + 1;
    uint64_t t0 = bk_now_ns();
    for (long k = 0; k < n; k++) {
        size_t size = MIN_SIZE + (size_t)(k % (long)nsizes) * STEP;
        obj *o = bk_alloc(&obj_type, size);
        o->seq = ((uintptr_t)k << 1) | 1;
        o->size = size;
        obj **slot = &ring[k % RING];
        obj *old = *slot;
        if (old) {
            long expect = k - RING;
            if (old->seq != (((uintptr_t)expect << 1) | 1))
                fail(expect, "sequence number overwritten");
            if (old->size != MIN_SIZE + (size_t)(expect % (long)nsizes) * STEP)
                fail(expect, "size field overwritten");
            checksum += old->seq >> 1;
        }
        BK_WRITE_SLOT(ring, slot, o);
    }
    uint64_t t1 = bk_now_ns();
    for (long i = 0; i < RING && i < n; i++)
        checksum += ring[i]->seq >> 1;

    char extra[64];
    snprintf(extra, sizeof extra, ",\"n\":%ld,\"ns_per_alloc\":%.2f", n, (double)(t1 - t0) / n);
    bk_print_result("alloc", checksum, extra);
    bk_shutdown();
    return 0;
}
