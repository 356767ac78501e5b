/*
 * objsize — the bytes a collector's heap takes per small object (issue 15's
 * "bytes per object"): for payloads of 8, 16, 24 and 32 bytes in turn, N
 * live leaf objects, each the only reference from a slot of one pointer
 * array, then a full collection; the heap's bytes in use (tricolor:
 * `heap_inuse`, the spans holding objects; Boehm GC: heap size less its
 * free bytes) before and after, over N.  Side metadata (mark bits, page
 * maps) is not counted, for either.
 *
 * Each object holds its number + 1 in its first word; after the
 * collection the program sums them, so the checksum is 4 × N(N+1)/2.
 */
#include <stdint.h>
#include <stdio.h>

#include "backend.h"

BK_PTR_TYPE(array_type, "array");
BK_LEAF_TYPE(leaf_type, "leaf");

static const size_t sizes[] = {8, 16, 24, 32};
enum { NSIZES = sizeof sizes / sizeof sizes[0] };

#define USAGE "[N]   (N >= 1000, default 1000000)"

int main(int argc, char **argv)
{
    if (argc > 2)
        bk_usage(argv[0], USAGE);
    long n = argc > 1 ? bk_arg(argv[1], 1000, 100000000L, argv[0], USAGE) : 1000000;

    bk_start_clock();
    bk_init();
    uintptr_t **arr = NULL;
    BK_ROOTS(arr);
    arr = bk_alloc(&array_type, (size_t)n * sizeof(uintptr_t *));
    uint64_t checksum = 0;
    double per[NSIZES];
    for (int k = 0; k < NSIZES; k++) {
        bk_collect();
        uint64_t before = bk_heap_inuse();
        for (long i = 0; i < n; i++) {
            uintptr_t *o = bk_alloc_leaf(&leaf_type, sizes[k]);
            o[0] = (uintptr_t)i + 1;
            BK_WRITE_SLOT(arr, &arr[i], o);
        }
        bk_collect();
        uint64_t after = bk_heap_inuse();
        per[k] = after > before ? (double)(after - before) / (double)n : 0;
        for (long i = 0; i < n; i++) {
            checksum += arr[i][0];
            BK_WRITE_SLOT(arr, &arr[i], NULL);
        }
    }
    bk_phase_end();
    char extra[160];
    snprintf(extra, sizeof extra,
             ",\"n\":%ld,\"bytes_8\":%.2f,\"bytes_16\":%.2f,\"bytes_24\":%.2f,\"bytes_32\":%.2f", n,
             per[0], per[1], per[2], per[3]);
    bk_print_result("objsize", checksum, extra);
    bk_shutdown();
    return 0;
}
