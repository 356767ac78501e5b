/*
 * latency.c — the window workload of the classic GC latency experiment,
 * built once per backend (see backend.h).
 *
 * A ring of WINDOW message slots (default 200,000) receives NMSG messages
 * (default 1,000,000): message i is a fresh 1,024-byte leaf object filled
 * with the byte i & 0xff and stored into slot i % WINDOW, replacing the
 * oldest message.  So WINDOW messages (about 200 MB) stay live while the
 * program allocates at full speed: the collector has a large live heap to
 * mark and a mutator that never stops to let it.  The ring is itself a
 * heap object of WINDOW references, stored into through the barrier.
 *
 * Every insertion (allocation + fill + store) is timed on its own with the
 * monotonic clock; the distribution of those times is what a program with
 * a latency budget feels.  The measured phase of record.h is the insertion
 * loop, with a gap tick at the end of each insertion (so a gap runs from
 * the end of one insertion to the end of the next).  Fields added to
 * record.h's:
 *   nmsg, window           the run's size
 *   worst_ms, p999_ms, p99_ms   longest insertion, 99.9th and 99th
 *                          percentile (nearest rank over all insertions)
 *   p50_us, mean_ns        median and mean insertion
 *
 * checksum = for every slot, the first byte of the message in it, plus the
 * number of slots checked.  Each slot must hold the last message that went
 * into it (first and last byte checked) or the run fails.
 *
 * Usage: latency [NMSG [WINDOW]]      (defaults 1000000 200000;
 *                                      quick: 200000 50000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

enum { MSG_SIZE = 1024 };

BK_PTR_TYPE(ring_type, "ring");
BK_LEAF_TYPE(msg_type, "message");

#define USAGE "[NMSG [WINDOW]]   (defaults 1000000 200000)"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least per_mille/1000 of the
 * n sorted values <= it. */
static uint32_t rank(const uint32_t *sorted, long n, unsigned per_mille)
{
    uint64_t r = ((uint64_t)n * per_mille + 999) / 1000;
    return sorted[r ? r - 1 : 0];
}

static unsigned char msg_byte(long i) { return (unsigned char)(i & 0xff); }

int main(int argc, char **argv)
{
    if (argc > 3)
        bk_usage(argv[0], USAGE);
    long nmsg = argc > 1 ? bk_arg(argv[1], 1, 1000000000, argv[0], USAGE) : 1000000;
    long window = argc > 2 ? bk_arg(argv[2], 1, 100000000, argv[0], USAGE) : 200000;

    /* Outside the GC heap: neither collector scans or counts them.  The
     * latency array is touched now so that its page faults do not land
     * inside timed insertions. */
    uint32_t *lat = malloc((size_t)nmsg * sizeof lat[0]);
    if (!lat) {
        fprintf(stderr, "latency: cannot allocate %ld timings\n", nmsg);
        return 1;
    }
    memset(lat, 0, (size_t)nmsg * sizeof lat[0]);

    bk_start_clock();
    bk_init();
    char **ring = NULL;
    char *msg = NULL;
    BK_ROOTS(ring, msg);
    ring = bk_alloc(&ring_type, (size_t)window * sizeof(char *));

    /* The measured phase. */
    bk_gap_stride(0);
    bk_phase_begin();
    uint64_t t0 = bk_now_ns(), sum = 0;
    for (long i = 0; i < nmsg; i++) {
        uint64_t a = bk_now_ns();
        msg = bk_alloc_leaf(&msg_type, MSG_SIZE);
        memset(msg, msg_byte(i), MSG_SIZE);
        BK_WRITE_SLOT(ring, &ring[i % window], msg);
        uint64_t b = bk_now_ns();
        uint64_t d = b - a;
        lat[i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        sum += d;
        bk_gap_tick();
    }
    bk_phase_end();
    uint64_t t1 = bk_now_ns();
    msg = NULL;

    /* Slot s holds message i = the last i < nmsg with i % window == s. */
    uint64_t checksum = 0;
    for (long s = 0; s < window; s++) {
        BK_SAFEPOINT();
        const unsigned char *m = (const unsigned char *)ring[s];
        if (s >= nmsg) {
            if (m) {
                fprintf(stderr, "latency[%s]: slot %ld never written but not empty\n", BK_NAME,
                        s);
                return 1;
            }
            continue;
        }
        long i = s + (nmsg - 1 - s) / window * window;
        if (!m || m[0] != msg_byte(i) || m[MSG_SIZE - 1] != msg_byte(i)) {
            fprintf(stderr, "latency[%s]: slot %ld should hold message %ld (bytes 0x%02x), holds "
                            "%s 0x%02x..0x%02x\n", BK_NAME, s, i, msg_byte(i),
                    m ? "bytes" : "nothing", m ? m[0] : 0, m ? m[MSG_SIZE - 1] : 0);
            return 1;
        }
        checksum += m[0] + 1u;
    }

    BK_BLOCKING_BEGIN();
    qsort(lat, (size_t)nmsg, sizeof lat[0], cmp_u32);
    BK_BLOCKING_END();
    double worst_ms = lat[nmsg - 1] / 1e6, p999_ms = rank(lat, nmsg, 999) / 1e6;
    double p99_ms = rank(lat, nmsg, 990) / 1e6, p50_us = rank(lat, nmsg, 500) / 1e3;
    double mean_ns = (double)sum / nmsg, phase_s = (t1 - t0) / 1e9;

    fprintf(stderr, "latency[%s]: %ld messages of %d bytes through a window of %ld in %.3f s\n",
            BK_NAME, nmsg, MSG_SIZE, window, phase_s);
    fprintf(stderr, "latency[%s]: insertion worst %.3f ms, p99.9 %.3f ms, p99 %.3f ms, median "
                    "%.3f us, mean %.0f ns\n",
            BK_NAME, worst_ms, p999_ms, p99_ms, p50_us, mean_ns);

    char extra[256];
    snprintf(extra, sizeof extra,
             ",\"nmsg\":%ld,\"window\":%ld,\"worst_ms\":%.3f,\"p999_ms\":%.3f,"
             "\"p99_ms\":%.3f,\"p50_us\":%.3f,\"mean_ns\":%.1f",
             nmsg, window, worst_ms, p999_ms, p99_ms, p50_us, mean_ns);
    bk_print_result("latency", checksum, extra);
    free(lat);
    bk_shutdown();
    return 0;
}
