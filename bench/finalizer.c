/*
 * finalizer.c — finalizers while the program churns, built once per
 * backend (see backend.h).
 *
 * LIVE finalizable objects (default 200,000) stay in a rooted array while
 * the program replaces some of them and makes short-lived ones, all with
 * finalizers (tricolor: tc_finalizer_set, run by the library's finalizer
 * thread, TC_FINALIZE_THREAD, the default; Boehm GC: GC_register_finalizer,
 * run as Boehm runs them by default, from allocations and collections on
 * the mutator thread).  A finalizable object holds a child (a leaf with
 * its id and a check word) and its own id and check word; ids are
 * unique: the first LIVE are 0 .. LIVE-1, then each new object takes the
 * next.
 *
 * Set-up (not in the measured phase): the LIVE objects.  The measured
 * phase: ROUNDS rounds, each of which
 *   - replaces D = max(1, LIVE / 100) live objects: the k-th replacement
 *     of the run (k = 0, 1, ...) drops the object at position k * M mod
 *     LIVE (M: the first integer from floor(LIVE * 0.6180339887) up that
 *     is coprime with LIVE) and puts a new one there;
 *   - then makes S = 4 * D short-lived ones and drops each at once;
 *   - allocates garbage: 8 linked nodes of 6 words per finalizable object.
 * Round r's replacements take ids LIVE + r * (D + S) + j (j < D), its
 * short-lived objects the next S.
 *
 * The finalizer checks that the object it is given is intact (its id and
 * check word, its child's), sets the id's byte in a C array (outside the
 * GC heap) and fails the run if it was already set (ran twice), and adds
 * id + 1 to a sum.  At the end: a full collection, then the program
 * waits (at most 60 s) until as many finalizers have run as objects were
 * dropped, and checks that exactly the dropped objects' ids are set and
 * no live one's.  (tricolor: one collection, then the finalizer thread
 * runs what it queued.  Boehm GC: GC_invoke_finalizers until none is
 * ready, then another collection while some remain, up to
 * BK_FINAL_COLLECTIONS in all; its conservative scan may keep a dropped
 * object, so up to BK_RETAIN_TOLERANCE may remain unfinalized, reported
 * as "retained": see backend.h.)
 *
 * checksum = the sum of (id + 1) over the objects finalized, plus over
 * those retained (none for tricolor): bench/run computes it from the
 * replacement rule.
 *
 * Fields added to record.h's (whose phase is the churn):
 *   live, rounds, finalizable   the run's size: objects given finalizers
 *   build_s                 set-up time
 *   finalized_in_churn      finalizers that had run when the churn ended
 *   drain_s, check_collections, retained   the final collection(s) and
 *                           the wait for the finalizers, how many full
 *                           collections that made, and how many dropped
 *                           objects were left unfinalized (see above)
 *
 * Usage: finalizer [LIVE [ROUNDS]]      (defaults 200000 200)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#define USAGE "[LIVE [ROUNDS]]   (defaults 200000 200)"

enum { SHORT_PER_REPLACED = 4, GARBAGE_NODES = 8, DRAIN_LIMIT_S = 60 };

typedef struct child {
    uint64_t id, check;
} child;

/* id and check are stored tagged (2 * x + 1): a SLOTS object's words are
 * values, and an odd word is never a reference. */
typedef struct fobj {
    child *kid;
    uintptr_t id2, check2;
} fobj;

typedef struct gnode {
    struct gnode *next;
    void *pad[5];
} gnode;

BK_PTR_TYPE(array_type, "array");
BK_PTR_TYPE(fobj_type, "finalizable");
BK_LEAF_TYPE(child_type, "child");
BK_PTR_TYPE(gnode_type, "garbage");

/* 62 bits: it is stored tagged. */
static uint64_t check_of(uint64_t id) { return ((id + 1) * 0x9e3779b97f4a7c15ull) >> 2; }
static uintptr_t tag(uint64_t x) { return (uintptr_t)(2 * x + 1); }
static uint64_t untag(uintptr_t w) { return (uint64_t)(w >> 1); }

/* What the finalizers record; they may run on another thread. */
static uint8_t *ran;        /* one byte per id */
static uint64_t nids;       /* ids handed out */
static uint64_t finalized;  /* finalizers run */
static uint64_t fin_sum;    /* sum of id + 1 */
static uint64_t fin_errors; /* bad objects, second runs */
static uint64_t first_bad = UINT64_MAX;

static void note_error(uint64_t id)
{
    __atomic_fetch_add(&fin_errors, 1, __ATOMIC_RELAXED);
    uint64_t none = UINT64_MAX;
    __atomic_compare_exchange_n(&first_bad, &none, id, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static void on_finalize(void *obj, void *ctx)
{
    (void)ctx;
    const fobj *f = obj;
    uint64_t id = untag(f->id2);
    if (!(f->id2 & 1) || id >= nids || untag(f->check2) != check_of(id) || !f->kid ||
        f->kid->id != id || f->kid->check != check_of(id)) {
        note_error(id);
        return;
    }
    if (__atomic_exchange_n(&ran[id], 1, __ATOMIC_RELAXED)) {
        note_error(id);
        return;
    }
    __atomic_fetch_add(&fin_sum, id + 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&finalized, 1, __ATOMIC_RELEASE);
}

/* A finalizable object with id, its child, and its finalizer. */
static fobj *new_fobj(uint64_t id)
{
    fobj *f = NULL;
    child *c = NULL;
    BK_ROOTS(f, c);
    c = bk_alloc_leaf(&child_type, sizeof(child));
    c->id = id;
    c->check = check_of(id);
    f = bk_alloc(&fobj_type, sizeof(fobj));
    BK_WRITE(f, kid, c);
    BK_WRITE(f, id2, tag(id));
    BK_WRITE(f, check2, tag(check_of(id)));
    bk_finalizer_set(f, on_finalize, NULL);
    return f;
}

static void garbage(void)
{
    gnode *g = NULL, *n = NULL;
    BK_ROOTS(g, n);
    for (int i = 0; i < GARBAGE_NODES; i++) {
        n = bk_alloc(&gnode_type, sizeof(gnode));
        BK_WRITE(n, next, g);
        g = n;
    }
}

#if !BK_RETAIN_TOLERANCE
static void sleep_a_little(void)
{
    struct timespec ts = {0, 500000};
    tc_blocking_enter(); /* the collector may stop the world meanwhile */
    nanosleep(&ts, NULL);
    tc_blocking_leave();
}
#endif

int main(int argc, char **argv)
{
    if (argc > 3)
        bk_usage(argv[0], USAGE);
    uint64_t nlive = argc > 1 ? (uint64_t)bk_arg(argv[1], 1, 100000000, argv[0], USAGE) : 200000;
    long rounds = argc > 2 ? bk_arg(argv[2], 0, 1000000, argv[0], USAGE) : 200;
    uint64_t per_round = nlive / 100 ? nlive / 100 : 1, nshort = SHORT_PER_REPLACED * per_round;
    uint64_t stride = bk_stride_of(nlive);
    nids = nlive + (uint64_t)rounds * (per_round + nshort);
    /* bench/run computes the checksum in awk's doubles: keep it exact. */
    if ((double)nids * ((double)nids + 1) / 2 > 0x1p53)
        bk_usage(argv[0], USAGE " (and LIVE + 5 x ROUNDS x LIVE/100 below 134 million)");
    ran = calloc(nids, 1);
    if (!ran)
        bk_die("cannot allocate the finalizers' record");

    bk_start_clock();
    bk_init();
    fobj **live = NULL, *f = NULL;
    BK_ROOTS(live, f);

    uint64_t b0 = bk_now_ns();
    live = bk_alloc(&array_type, nlive * sizeof(void *));
    for (uint64_t i = 0; i < nlive; i++) {
        f = new_fobj(i);
        BK_WRITE_SLOT(live, &live[i], f);
        garbage();
    }
    f = NULL;
    uint64_t build_ns = bk_now_ns() - b0;

    /* The measured phase: the churn. */
    bk_phase_begin();
    uint64_t p0 = bk_now_ns(), next_id = nlive, kth = 0;
    for (long r = 0; r < rounds; r++) {
        for (uint64_t j = 0; j < per_round; j++, kth++) {
            uint64_t pos = (kth % nlive) * stride % nlive;
            f = new_fobj(next_id++);
            BK_WRITE_SLOT(live, &live[pos], f); /* drops the old one */
            garbage();
        }
        for (uint64_t j = 0; j < nshort; j++) {
            f = new_fobj(next_id++); /* dropped at once */
            garbage();
        }
        f = NULL;
    }
    bk_phase_end();
    uint64_t phase_ns = bk_now_ns() - p0, phase_gap_ns = bk_gap_max_ns();
    uint64_t in_churn = __atomic_load_n(&finalized, __ATOMIC_ACQUIRE);
    if (next_id != nids)
        bk_fail("finalizer", "made %llu objects, expected %llu", (unsigned long long)next_id,
             (unsigned long long)nids);

    /* Every dropped object's finalizer must run, once. */
    uint64_t expected = nids - nlive, d0 = bk_now_ns();
    int collections = 1;
    bk_collect();
    for (;;) {
        uint64_t n = __atomic_load_n(&finalized, __ATOMIC_ACQUIRE);
        if (n >= expected || __atomic_load_n(&fin_errors, __ATOMIC_RELAXED))
            break;
        if (bk_now_ns() - d0 > (uint64_t)DRAIN_LIMIT_S * 1000000000u)
            bk_fail("finalizer", "after %d s and %d full collection(s), %llu of the %llu dropped objects' "
                 "finalizers had run", DRAIN_LIMIT_S, collections, (unsigned long long)n,
                 (unsigned long long)expected);
        if (bk_finalizers_run() > 0)
            continue;
#if BK_RETAIN_TOLERANCE
        /* Boehm runs finalizers on this thread: none ready means none will
         * be until another collection finds more (see backend.h). */
        if (collections == BK_FINAL_COLLECTIONS)
            break;
        bk_collect();
        collections++;
#else
        sleep_a_little(); /* the finalizer thread is at work */
#endif
    }
    uint64_t drain_ns = bk_now_ns() - d0;
    uint64_t nerr = __atomic_load_n(&fin_errors, __ATOMIC_RELAXED);
    if (nerr)
        bk_fail("finalizer", "%llu finalizer runs were wrong (a damaged object, or a second run), the first "
             "for id %llu", (unsigned long long)nerr, (unsigned long long)first_bad);
    uint64_t nfin = __atomic_load_n(&finalized, __ATOMIC_ACQUIRE);
    if (nfin > expected || expected - nfin > BK_RETAIN_TOLERANCE)
        bk_fail("finalizer", "%llu finalizers ran after %d full collection(s), expected %llu",
             (unsigned long long)nfin, collections, (unsigned long long)expected);
    uint64_t retained = expected - nfin;
    /* Exactly the dropped ones: no live object's id is set. */
    for (uint64_t i = 0; i < nlive; i++) {
        if (i % 4096 == 0)
            BK_SAFEPOINT();
        uint64_t id = untag(live[i]->id2);
        if (__atomic_load_n(&ran[id], __ATOMIC_RELAXED))
            bk_fail("finalizer", "the live object %llu (position %llu) was finalized", (unsigned long long)id,
                 (unsigned long long)i);
    }
    uint64_t set = 0;
    for (uint64_t id = 0; id < nids; id++)
        set += __atomic_load_n(&ran[id], __ATOMIC_RELAXED);
    if (set != nfin)
        bk_fail("finalizer", "%llu ids finalized, but %llu finalizers ran", (unsigned long long)set,
             (unsigned long long)nfin);
    /* The sum over the finalized ids, and over the dropped objects a
     * conservative scan retained (only Boehm's, at most
     * BK_RETAIN_TOLERANCE): so the checksum is the same for every backend
     * while the run still fails on any other difference. */
    uint64_t checksum = __atomic_load_n(&fin_sum, __ATOMIC_RELAXED);
    if (retained) {
        for (uint64_t i = 0; i < nlive; i++)
            ran[untag(live[i]->id2)] = 2; /* live: not retained */
        for (uint64_t id = 0; id < nids; id++)
            if (!ran[id]) {
                fprintf(stderr, "finalizer[%s]: object %llu was dropped but never finalized "
                                "(retained by the conservative scan)\n", BK_NAME,
                        (unsigned long long)id);
                checksum += id + 1;
            }
    }

    fprintf(stderr, "finalizer[%s]: %llu live finalizable objects set up in %.3f s; %ld rounds "
                    "of %llu replaced + %llu short-lived in %.3f s, longest gap %.2f ms; %llu "
                    "finalized during the churn, %llu of %llu after %.3f s more and %d full "
                    "collection(s)\n",
            BK_NAME, (unsigned long long)nlive, build_ns / 1e9, rounds,
            (unsigned long long)per_round, (unsigned long long)nshort, phase_ns / 1e9,
            phase_gap_ns / 1e6, (unsigned long long)in_churn, (unsigned long long)nfin,
            (unsigned long long)expected, drain_ns / 1e9, collections);

    char extra[256];
    snprintf(extra, sizeof extra,
             ",\"live\":%llu,\"rounds\":%ld,\"finalizable\":%llu,\"build_s\":%.4f,"
             "\"finalized_in_churn\":%llu,\"drain_s\":%.4f,\"check_collections\":%d,"
             "\"retained\":%llu",
             (unsigned long long)nlive, rounds, (unsigned long long)nids, build_ns / 1e9,
             (unsigned long long)in_churn, drain_ns / 1e9, collections,
             (unsigned long long)retained);
    bk_print_result("finalizer", checksum, extra);
    bk_shutdown();
    free(ran);
    return 0;
}
