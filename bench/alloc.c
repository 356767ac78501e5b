/*
 * alloc.c — small-object allocation throughput, built once per backend
 * (see backend.h).
 *
 * Each of THREADS mutators (default 1) allocates N pointer-bearing
 * objects whose payload sizes cycle through 16, 32, ..., 256 bytes.  A
 * ring of RING slots per mutator (itself a heap object) keeps its newest
 * RING objects live: object k overwrites slot k % RING.  Each object's
 * first word holds a tagged sequence number (2k+1, never a heap address);
 * before a slot is overwritten the object in it is checked and its number
 * added to the checksum, so an object freed or reused while still live
 * changes the checksum (or fails the check).
 *
 * Output: one JSON line, with ns_per_alloc = wall time of the allocation
 * phase / N: the time one allocation takes on each thread while all
 * THREADS allocate at once (so with 2 threads on 2 cores, half of
 * ns_per_alloc per object of the whole program, if they scale).
 *
 * Usage: alloc [N [THREADS]]      (default 20,000,000 1)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"

enum { RING = 1000, MIN_SIZE = 16, MAX_SIZE = 256, STEP = 16, MAX_THREADS = 64 };

typedef struct obj {
    uintptr_t seq; /* (k << 1) | 1 */
    uintptr_t size;
    /* ...payload up to size bytes in all */
} obj;

BK_PTR_TYPE(obj_type, "obj");
BK_PTR_TYPE(ring_type, "ring");

typedef struct mutator {
    int id;
    long n;
    uint64_t checksum;
} mutator;

static void fail(const mutator *m, long k, const char *what)
{
    fprintf(stderr, "alloc[%s]: mutator %d, object %ld in the live window: %s\n", BK_NAME, m->id,
            k, what);
    exit(1);
}

static const size_t nsizes = (MAX_SIZE - MIN_SIZE) / STEP + 1;

static size_t size_of(long k) { return MIN_SIZE + (size_t)(k % (long)nsizes) * STEP; }

static void *run(void *arg)
{
    mutator *m = arg;
    obj **ring = NULL;
    BK_ROOTS(ring);
    ring = bk_alloc(&ring_type, RING * sizeof(obj *));
    for (long k = 0; k < m->n; k++) {
        size_t size = size_of(k);
        obj *o = bk_alloc(&obj_type, size);
        o->seq = ((uintptr_t)k << 1) | 1;
        o->size = size;
        obj **slot = &ring[k % RING];
        obj *old = *slot;
        if (old) {
            long expect = k - RING;
            if (old->seq != (((uintptr_t)expect << 1) | 1))
                fail(m, expect, "sequence number overwritten");
            if (old->size != size_of(expect))
                fail(m, expect, "size field overwritten");
            m->checksum += old->seq >> 1;
        }
        BK_WRITE_SLOT(ring, slot, o);
    }
    for (long i = 0; i < RING && i < m->n; i++)
        m->checksum += ring[i]->seq >> 1;
    return NULL;
}

#define USAGE "[N [THREADS]]   (N >= 1, default 20000000; THREADS 1..64, default 1)"

int main(int argc, char **argv)
{
    if (argc > 3)
        bk_usage(argv[0], USAGE);
    long n = argc > 1 ? bk_arg(argv[1], 1, 4000000000L, argv[0], USAGE) : 20000000;
    int nthreads = argc > 2 ? (int)bk_arg(argv[2], 1, MAX_THREADS, argv[0], USAGE) : 1;
    static mutator muts[MAX_THREADS];
    static bk_thread threads[MAX_THREADS];

    bk_start_clock();
    bk_init();
    /* Mutator 0 is this thread, whose gaps are recorded. */
    for (int i = 0; i < nthreads; i++)
        muts[i] = (mutator){.id = i, .n = n};
    uint64_t t0 = bk_now_ns();
    for (int i = 1; i < nthreads; i++)
        bk_thread_start(&threads[i], run, &muts[i]);
    run(&muts[0]);
    for (int i = 1; i < nthreads; i++)
        bk_thread_join(threads[i]);
    uint64_t t1 = bk_now_ns();
    bk_phase_end();

    uint64_t checksum = 0;
    for (int i = 0; i < nthreads; i++)
        checksum += muts[i].checksum;
    char extra[96];
    snprintf(extra, sizeof extra, ",\"n\":%ld,\"threads\":%d,\"ns_per_alloc\":%.2f", n, nthreads,
             (double)(t1 - t0) / n);
    bk_print_result("alloc", checksum, extra);
    bk_shutdown();
    return 0;
}
