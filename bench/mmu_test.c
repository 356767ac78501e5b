/*
 * mmu_test.c — checks mmu.h: hand-computed cases, then random gap sets
 * against a brute-force scan of every window start.  Exits 1 on the first
 * mismatch.  Times are in ms here (any unit works: MMU is a ratio).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mmu.h"

#define MS 1000000u /* ns */

static int failures;

static void expect(const char *name, double got, double want)
{
    double d = got - want;
    if (d < -1e-9 || d > 1e-9) {
        fprintf(stderr, "mmu_test: %s: got %.6f, expected %.6f\n", name, got, want);
        failures++;
    }
}

/* MMU over the phase [t0, t1] ms with window w ms, gaps given in ms. */
static double mmu_ms(const uint64_t (*gaps)[2], size_t n, uint64_t t0, uint64_t t1, uint64_t w)
{
    mmu_gap g[16];
    for (size_t i = 0; i < n; i++)
        g[i] = (mmu_gap){gaps[i][0] * MS, gaps[i][1] * MS};
    size_t m = mmu_normalize(g, n, t0 * MS, t1 * MS);
    return mmu(g, m, t0 * MS, t1 * MS, w * MS);
}

#define CASE(name, gaps, t0, t1, w, want)                                                     \
    expect(name, mmu_ms(gaps, sizeof(gaps) / sizeof(gaps[0]), t0, t1, w), want)

static void hand_cases(void)
{
    expect("no gaps", mmu_ms(NULL, 0, 0, 100, 10), 1.0);

    static const uint64_t one5[][2] = {{40, 45}};
    CASE("one 5 ms gap, w 10", one5, 0, 100, 10, 0.5);
    CASE("one 5 ms gap, w 1", one5, 0, 100, 1, 0.0);
    CASE("one 5 ms gap, w 50", one5, 0, 100, 50, 0.9);

    static const uint64_t two3[][2] = {{40, 43}, {45, 48}};
    CASE("two 3 ms gaps 2 ms apart, w 10", two3, 0, 100, 10, 0.4);

    static const uint64_t long20[][2] = {{30, 50}};
    CASE("gap longer than w", long20, 0, 100, 10, 0.0);

    /* The worst window ends where a gap ends: [10, 20] holds 1 + 5 ms. */
    static const uint64_t end_aligned[][2] = {{10, 11}, {15, 20}};
    CASE("window aligned to a gap end", end_aligned, 0, 100, 10, 0.4);

    static const uint64_t edges[][2] = {{0, 4}, {96, 100}};
    CASE("gaps at both phase edges, w 10", edges, 0, 100, 10, 0.6);
    CASE("gaps at both phase edges, w = phase", edges, 0, 100, 100, 0.92);
    CASE("gaps at both phase edges, w > phase", edges, 0, 100, 500, 0.92);

    /* Gaps reaching outside the phase count only inside it. */
    static const uint64_t outside[][2] = {{95, 104}, {190, 250}, {300, 310}};
    CASE("gaps straddling the phase edges, w 10", outside, 100, 200, 10, 0.0);
    CASE("gaps straddling the phase edges, w 20", outside, 100, 200, 20, 0.5);
    expect("gap wholly outside the phase", mmu_ms(outside + 2, 1, 100, 200, 10), 1.0);

    /* Unsorted and overlapping: merged to [40, 44] and [45, 48]. */
    static const uint64_t messy[][2] = {{45, 48}, {40, 43}, {42, 44}};
    CASE("unsorted overlapping gaps", messy, 0, 100, 10, 0.3);
}

/* Busy time of window [t, t + w] summed gap by gap: obviously right. */
static uint64_t busy_brute(const mmu_gap *g, size_t n, uint64_t t, uint64_t w)
{
    uint64_t busy = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = g[i].start > t ? g[i].start : t;
        uint64_t e = g[i].end < t + w ? g[i].end : t + w;
        if (s < e)
            busy += e - s;
    }
    return busy;
}

/* With integer endpoints the worst window starts at an integer, so trying
 * every integer start finds it. */
static void random_cases(void)
{
    srand(12345);
    for (int trial = 0; trial < 500; trial++) {
        const uint64_t t0 = 1000, t1 = 1000 + 200 + (uint64_t)(rand() % 200);
        mmu_gap g[12];
        size_t n = (size_t)(rand() % 12);
        for (size_t i = 0; i < n; i++) {
            uint64_t s = 950 + (uint64_t)(rand() % 500);
            g[i] = (mmu_gap){s, s + 1 + (uint64_t)(rand() % 40)};
        }
        size_t m = mmu_normalize(g, n, t0, t1);
        uint64_t w = 1 + (uint64_t)(rand() % 450);
        double want;
        if (w >= t1 - t0) { /* one window: the whole phase */
            want = (double)(t1 - t0 - busy_brute(g, m, t0, t1 - t0)) / (double)(t1 - t0);
        } else {
            uint64_t worst = 0;
            for (uint64_t t = t0; t + w <= t1; t++) {
                uint64_t b = busy_brute(g, m, t, w);
                if (b > worst)
                    worst = b;
            }
            want = (double)(w - worst) / (double)w;
        }
        char name[64];
        snprintf(name, sizeof name, "random trial %d (w %llu, %zu gaps)", trial,
                 (unsigned long long)w, m);
        expect(name, mmu(g, m, t0, t1, w), want);
    }
}

int main(void)
{
    hand_cases();
    random_cases();
    if (failures) {
        fprintf(stderr, "mmu_test: %d failure(s)\n", failures);
        return 1;
    }
    printf("mmu_test: all cases passed\n");
    return 0;
}
