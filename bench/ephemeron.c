/*
 * ephemeron.c — weak references and ephemerons while the program churns,
 * built once per backend (see backend.h).
 *
 * KEYS live keys (default 1,000,000), each with one entry in a WeakMap-
 * like table of ephemerons and one weak reference, while the program
 * replaces keys and allocates garbage:
 *   keys     a rooted array of KEYS keys; a key is a small leaf object
 *            (its id, its position in keys, the slots of its entry and of
 *            its weak reference);
 *   table    (KINDS both or eph) an array of ephemerons key -> value, the
 *            value a leaf holding the key's id and a check word: the key is
 *            held weakly and the value only through the key, as in
 *            JavaScript's WeakMap (tricolor: TC_LAYOUT_EPHEMERON objects,
 *            tc_ephemeron_set / _key / _value);
 *   wtable   (KINDS both or weak) an array of weak references to the keys,
 *            one-word cells (tricolor: TC_LAYOUT_WEAK objects; Boehm GC:
 *            atomic cells registered with GC_general_register_disappearing_
 *            link).
 * Both tables start with room for 1.5 x KEYS.  A new entry or weak
 * reference goes into the next slot, going round the table, that is empty
 * or that the collector has cleared (its key word compared with NULL: a
 * test that keeps nothing alive); when a whole lap finds none the table
 * grows by half.  So the collector's clearing is what makes room.
 *
 * Set-up (not in the measured phase): the KEYS keys, entries and weak
 * references.  The measured phase: ROUNDS rounds, each of which
 *   - replaces D = max(1, KEYS / 100) keys: the k-th replacement of the run
 *     (k = 0, 1, ...) drops the key at position k * M mod KEYS (M: the
 *     first integer from floor(KEYS * 0.6180339887) up that is coprime
 *     with KEYS, so the drops are scattered and every KEYS consecutive
 *     ones hit every position once) and puts there a new key with id KEYS + k, with its
 *     own new entry and weak reference; the dropped key's entry and weak
 *     reference must vanish;
 *   - allocates garbage: 16 linked nodes of 6 words per replacement;
 *   - looks up D live keys (a fixed pseudo-random sequence): the entry at
 *     the key's slot must have that key and a value with its id, and the
 *     weak reference at its slot must read that key.
 * Each lookup, and each slot a replacement probes, is a step of the
 * program's own work (bk_work_step): the gaps are measured between every
 * 16 steps or allocations, as between every 16 allocations elsewhere.
 * (Without it, a round's 10,000 lookups, 2-10 ms of cache misses, were
 * each one gap, whatever the collector did.)
 * Then one full collection, which clears every dropped key's entry and
 * weak reference, and the check: every slot of each table is empty,
 * cleared (an entry's key and value both NULL; a weak reference NULL), or
 * holds a live key's entry (the key in keys at its position, the entry
 * at the key's slot, seen once, the value matching); and exactly KEYS are
 * live.  Anything else fails the run.  (Boehm GC, a conservative
 * collector, may keep a dropped key that a stale word points to: its
 * builds collect again while such entries remain, up to
 * BK_FINAL_COLLECTIONS in all, then accept up to BK_RETAIN_TOLERANCE of
 * them, reported as "retained" (see backend.h); tricolor, a precise
 * collector, gets one collection and no tolerance.)
 *
 * checksum = the sum of (id + 1) over the live entries, plus the same over
 * the live weak references (bench/run computes it from the replacement
 * rule).
 *
 * Fields added to record.h's (whose phase is the churn):
 *   keys, rounds, replaced, eph, weak   the run's size and kinds (1/0)
 *   build_s                 set-up time
 *   reused_eph, grow_eph    (with ephemerons) slots the churn found cleared
 *                           and reused, table growths
 *   reused_weak, grow_weak  (with weak references) the same
 *   check_s, check_collections, retained   the final collection(s) and
 *                           check, how many full collections it made, and
 *                           how many entries and weak references of dropped
 *                           keys remained after them (see above)
 *   weak_cleared, ephemerons_scanned   (tricolor) tc_stats' counters
 *
 * Boehm GC 8.2 has no ephemerons: its builds accept KINDS weak only and
 * exit with status 2 otherwise; bench/run reports those cases as n/a.
 *
 * Usage: ephemeron [KEYS [ROUNDS [KINDS]]]   (defaults 1000000 150 both;
 *                                             KINDS: both, eph or weak)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#define USAGE "[KEYS [ROUNDS [KINDS]]]   (defaults 1000000 150 both; KINDS both, eph or weak)"

/* LOOKUP_SAFEPOINT: table probes and lookups between two safepoints.  A
 * lookup takes 0.2 to 1 us (its words are cache misses in a 600 MiB heap,
 * more while marking, when each read shades), so 64 of them keep a pause's
 * time-to-safepoint under 0.1 ms, as an interpreter's polls at calls and
 * loop back-edges would. */
enum { GARBAGE_NODES = 16, LOOKUP_SAFEPOINT = 64 };

typedef struct key {
    uint64_t id, pos, eslot, wslot;
} key;

typedef struct value {
    uint64_t id, check;
} value;

typedef struct gnode {
    struct gnode *next;
    void *pad[5];
} gnode;

BK_PTR_TYPE(array_type, "array");
BK_LEAF_TYPE(key_type, "key");
BK_PTR_TYPE(gnode_type, "garbage");

/* ------------------------------------------------------------ ephemerons */

#if BK_HAS_EPHEMERONS
BK_LEAF_TYPE(value_type, "value");

static uint64_t check_of(uint64_t id) { return (id + 1) * 0x9e3779b97f4a7c15ull; }

static const tc_type eph_type = {.name = "ephemeron", .layout = TC_LAYOUT_EPHEMERON};

static void *eph_new(key *k, value *v)
{
    void *e = bk_alloc(&eph_type, 2 * sizeof(void *));
    tc_ephemeron_set(e, k, v);
    return e;
}
static key *eph_key(void *e) { return tc_ephemeron_key(e); }
static value *eph_value(void *e) { return tc_ephemeron_value(e); }
/* The key word compared with NULL: no read barrier, nothing kept alive. */
static int eph_cleared(void *e) { return tc_read((void *const *)e) == NULL; }
static void *eph_raw_value(void *e) { return tc_read((void *const *)e + 1); }
#endif

/* ---------------------------------------------------------------- tables */

typedef struct table {
    size_t cap, cursor;
    uint64_t reused, grows;
    int is_eph;
} table;

static int slot_cleared(const table *t, void *x)
{
#if BK_HAS_EPHEMERONS
    if (t->is_eph)
        return eph_cleared(x);
#endif
    (void)t;
    return bk_weak_cleared(x);
}

/* A free slot of *arr (a rooted variable): the next one, from the cursor,
 * that is empty or cleared; the table grows by half if none is. */
static size_t take_slot(table *t, void ***arr)
{
    size_t c = t->cap, i = t->cursor;
    for (size_t n = 0; n < c; n++) {
        void *x = (*arr)[i];
        size_t here = i;
        if (++i == c)
            i = 0;
        if (!x || slot_cleared(t, x)) {
            t->reused += x != NULL;
            t->cursor = i;
            return here;
        }
        if (n % LOOKUP_SAFEPOINT == LOOKUP_SAFEPOINT - 1)
            BK_SAFEPOINT();
        bk_work_step();
    }
    void **grown = NULL;
    BK_ROOTS(grown);
    size_t ncap = c + c / 2 + 1;
    grown = bk_alloc(&array_type, ncap * sizeof(void *));
    for (size_t j = 0; j < c; j++) {
        if ((*arr)[j])
            BK_WRITE_SLOT(grown, &grown[j], (*arr)[j]);
        if (j % LOOKUP_SAFEPOINT == LOOKUP_SAFEPOINT - 1)
            BK_SAFEPOINT();
    }
    *arr = grown;
    t->cap = ncap;
    t->grows++;
    t->cursor = (c + 1) % ncap;
    bk_gap_skip(); /* a copy of the table: the program's own work */
    return c;
}

/* ------------------------------------------------------------------ main */

static key *new_key(uint64_t id, uint64_t pos)
{
    key *k = bk_alloc_leaf(&key_type, sizeof(key));
    k->id = id;
    k->pos = pos;
    return k;
}

#if BK_HAS_EPHEMERONS
static value *new_value(uint64_t id)
{
    value *v = bk_alloc_leaf(&value_type, sizeof(value));
    v->id = id;
    v->check = check_of(id);
    return v;
}
#endif

/* The final check of one table: returns the sum of (id + 1) over its live
 * entries; *cleared counts the cleared ones and *stale those of dropped
 * keys that are still there (each is reported if `report`).  Anything else
 * wrong fails the run. */
static uint64_t check_table(const table *t, void **arr, key **keys, uint64_t nkeys,
                            uint8_t *seen, uint64_t *cleared, uint64_t *stale, int report)
{
    const char *what = t->is_eph ? "entry" : "weak reference";
    const char *tname = t->is_eph ? "ephemeron" : "weak";
    uint64_t sum = 0, live = 0;
    memset(seen, 0, nkeys);
    *cleared = *stale = 0;
    for (size_t i = 0; i < t->cap; i++) {
        void *x = arr[i];
        if (i % LOOKUP_SAFEPOINT == 0)
            BK_SAFEPOINT();
        if (!x)
            continue;
        key *k;
#if BK_HAS_EPHEMERONS
        if (t->is_eph) {
            k = eph_key(x);
            value *v = eph_value(x);
            if (!k) {
                if (v || eph_raw_value(x))
                    bk_fail("ephemeron", "table slot %zu: the entry's key was cleared but not its value", i);
                ++*cleared;
                continue;
            }
            if (!v || v->id != k->id || v->check != check_of(k->id))
                bk_fail("ephemeron", "table slot %zu: the entry of key %llu has a wrong value", i,
                     (unsigned long long)k->id);
        } else
#endif
        {
            k = bk_weak_get(x);
            if (!k) {
                ++*cleared;
                continue;
            }
        }
        if (k->pos >= nkeys || keys[k->pos] != k) {
            if (report && *stale < 10)
                fprintf(stderr, "ephemeron[%s]: %s table slot %zu: key %llu (position %llu) is "
                                "not live: its %s should have been cleared\n", BK_NAME, tname,
                        i, (unsigned long long)k->id, (unsigned long long)k->pos, what);
            ++*stale;
            continue;
        }
        if ((t->is_eph ? k->eslot : k->wslot) != i)
            bk_fail("ephemeron", "%s table slot %zu: key %llu's %s is at slot %llu", tname, i,
                 (unsigned long long)k->id, what,
                 (unsigned long long)(t->is_eph ? k->eslot : k->wslot));
        if (seen[k->pos]++)
            bk_fail("ephemeron", "key %llu has two %s", (unsigned long long)k->id,
                 t->is_eph ? "entries" : "weak references");
        live++;
        sum += k->id + 1;
    }
    if (!*stale && live != nkeys)
        bk_fail("ephemeron", "%llu live %s, expected %llu", (unsigned long long)live,
             t->is_eph ? "entries" : "weak references", (unsigned long long)nkeys);
    return sum;
}

int main(int argc, char **argv)
{
    if (argc > 4)
        bk_usage(argv[0], USAGE);
    uint64_t nkeys = argc > 1 ? (uint64_t)bk_arg(argv[1], 1, 100000000, argv[0], USAGE) : 1000000;
    long rounds = argc > 2 ? bk_arg(argv[2], 0, 1000000, argv[0], USAGE) : 150;
    const char *kinds = argc > 3 ? argv[3] : "both";
    int use_eph, use_weak;
    if (strcmp(kinds, "both") == 0)
        use_eph = use_weak = 1;
    else if (strcmp(kinds, "eph") == 0)
        use_eph = 1, use_weak = 0;
    else if (strcmp(kinds, "weak") == 0)
        use_eph = 0, use_weak = 1;
    else
        bk_usage(argv[0], USAGE);
    if (use_eph && !BK_HAS_EPHEMERONS) {
        fprintf(stderr, "ephemeron[%s]: this collector has no ephemerons (KINDS %s): not "
                        "applicable\n", BK_NAME, kinds);
        return 2;
    }
    uint64_t per_round = nkeys / 100 ? nkeys / 100 : 1, stride = bk_stride_of(nkeys);
    /* bench/run computes the checksum in awk's doubles: keep it exact. */
    if ((double)nkeys * (double)nkeys > 0x1p53 ||
        2.0 * (double)nkeys * ((double)nkeys + (double)rounds * (double)per_round + 1) > 0x1p53)
        bk_usage(argv[0], USAGE " (and KEYS x (KEYS + ROUNDS x KEYS/100) below 2^52)");
    uint8_t *seen = malloc(nkeys);
    if (!seen)
        bk_die("cannot allocate the check's bitmap");

    bk_start_clock();
    bk_init();
    void **keys_v = NULL, **etab = NULL, **wtab = NULL;
    key *k = NULL;
    value *v = NULL;
    void *x = NULL;
    gnode *g = NULL, *gn = NULL;
    BK_ROOTS(keys_v, etab, wtab, k, v, x, g, gn);
    (void)v; /* unused without ephemerons */
    key **keys = NULL;
    table et = {.is_eph = 1}, wt = {.is_eph = 0};

    /* Set-up: the keys, their entries and weak references. */
    uint64_t b0 = bk_now_ns();
    keys_v = bk_alloc(&array_type, nkeys * sizeof(void *));
    keys = (key **)keys_v;
    size_t cap0 = (size_t)(nkeys + nkeys / 2);
    if (use_eph) {
        etab = bk_alloc(&array_type, cap0 * sizeof(void *));
        et.cap = cap0;
    }
    if (use_weak) {
        wtab = bk_alloc(&array_type, cap0 * sizeof(void *));
        wt.cap = cap0;
    }
    for (uint64_t i = 0; i < nkeys; i++) {
        k = new_key(i, i);
#if BK_HAS_EPHEMERONS
        if (use_eph) {
            v = new_value(i);
            x = eph_new(k, v);
            k->eslot = i;
            BK_WRITE_SLOT(etab, &etab[i], x);
        }
#endif
        if (use_weak) {
            x = bk_weak_new(k);
            k->wslot = i;
            BK_WRITE_SLOT(wtab, &wtab[i], x);
        }
        BK_WRITE_SLOT(keys_v, &keys_v[i], k);
    }
    et.cursor = wt.cursor = (size_t)nkeys;
    k = NULL;
    v = NULL;
    x = NULL;
    uint64_t build_ns = bk_now_ns() - b0;

    /* The measured phase: the churn. */
    bk_phase_begin();
    uint64_t p0 = bk_now_ns(), kth = 0, rng = 0x2545f4914f6cdd1dull;
    for (long r = 0; r < rounds; r++) {
        for (uint64_t j = 0; j < per_round; j++, kth++) {
            uint64_t pos = (kth % nkeys) * stride % nkeys; /* = kth * M mod KEYS */
            k = new_key(nkeys + kth, pos);
#if BK_HAS_EPHEMERONS
            if (use_eph) {
                v = new_value(k->id);
                x = eph_new(k, v);
                size_t s = take_slot(&et, &etab);
                BK_WRITE_SLOT(etab, &etab[s], x);
                k->eslot = s;
            }
#endif
            if (use_weak) {
                x = bk_weak_new(k);
                size_t s = take_slot(&wt, &wtab);
                BK_WRITE_SLOT(wtab, &wtab[s], x);
                k->wslot = s;
            }
            keys = (key **)keys_v;
            BK_WRITE_SLOT(keys_v, &keys[pos], k); /* drops the old key */
            g = NULL;
            for (int n = 0; n < GARBAGE_NODES; n++) {
                gn = bk_alloc(&gnode_type, sizeof(gnode));
                BK_WRITE(gn, next, g);
                g = gn;
            }
            g = gn = NULL;
        }
        k = NULL;
        v = NULL;
        x = NULL;
        /* Lookups of live keys. */
        for (uint64_t j = 0; j < per_round; j++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if (j % LOOKUP_SAFEPOINT == 0)
                BK_SAFEPOINT();
            bk_work_step();
            key *q = keys[rng % nkeys];
#if BK_HAS_EPHEMERONS
            if (use_eph) {
                void *e = etab[q->eslot];
                value *qv = eph_value(e);
                if (eph_key(e) != q || !qv || qv->id != q->id || qv->check != check_of(q->id))
                    bk_fail("ephemeron", "round %ld: the entry of live key %llu is damaged", r,
                         (unsigned long long)q->id);
            }
#endif
            if (use_weak && bk_weak_get(wtab[q->wslot]) != q)
                bk_fail("ephemeron", "round %ld: the weak reference to live key %llu does not read it", r,
                     (unsigned long long)q->id);
        }
    }
    bk_phase_end();
    uint64_t phase_ns = bk_now_ns() - p0, phase_gap_ns = bk_gap_max_ns();

    /* A full collection, then the check (again, for a conservative
     * collector, while dropped keys' entries remain: see backend.h). */
    uint64_t c0 = bk_now_ns();
    uint64_t checksum = 0, ecleared = 0, wcleared = 0, estale = 0, wstale = 0;
    int collections = 0;
    keys = (key **)keys_v;
    do {
        bk_collect();
        collections++;
        int last = collections == BK_FINAL_COLLECTIONS; /* report what remains */
        checksum = 0;
        if (use_eph)
            checksum += check_table(&et, etab, keys, nkeys, seen, &ecleared, &estale, last);
        if (use_weak)
            checksum += check_table(&wt, wtab, keys, nkeys, seen, &wcleared, &wstale, last);
    } while ((estale || wstale) && collections < BK_FINAL_COLLECTIONS);
    if (estale > BK_RETAIN_TOLERANCE || wstale > BK_RETAIN_TOLERANCE)
        bk_fail("ephemeron", "after %d full collection(s), %llu entries and %llu weak references of dropped "
             "keys were not cleared", collections, (unsigned long long)estale,
             (unsigned long long)wstale);
    uint64_t check_ns = bk_now_ns() - c0;

    fprintf(stderr, "ephemeron[%s]: %llu keys (%s), set up in %.3f s; %ld rounds of %llu "
                    "replacements in %.3f s, longest gap %.2f ms; check in %.3f s\n",
            BK_NAME, (unsigned long long)nkeys, kinds, build_ns / 1e9, rounds,
            (unsigned long long)per_round, phase_ns / 1e9, phase_gap_ns / 1e6, check_ns / 1e9);
    if (use_eph)
        fprintf(stderr, "ephemeron[%s]: entries: %llu slots reused, %llu growths, capacity "
                        "%zu, %llu cleared at the end\n", BK_NAME,
                (unsigned long long)et.reused, (unsigned long long)et.grows, et.cap,
                (unsigned long long)ecleared);
    if (use_weak)
        fprintf(stderr, "ephemeron[%s]: weak references: %llu slots reused, %llu growths, "
                        "capacity %zu, %llu cleared at the end\n", BK_NAME,
                (unsigned long long)wt.reused, (unsigned long long)wt.grows, wt.cap,
                (unsigned long long)wcleared);

    char extra[512];
    size_t len = 0;
    len += (size_t)snprintf(extra + len, sizeof extra - len,
                            ",\"keys\":%llu,\"rounds\":%ld,\"replaced\":%llu,\"eph\":%d,"
                            "\"weak\":%d,\"build_s\":%.4f,\"check_s\":%.4f,"
                            "\"check_collections\":%d,\"retained\":%llu",
                            (unsigned long long)nkeys, rounds, (unsigned long long)kth, use_eph,
                            use_weak, build_ns / 1e9, check_ns / 1e9, collections,
                            (unsigned long long)(estale + wstale));
    if (use_eph)
        len += (size_t)snprintf(extra + len, sizeof extra - len,
                                ",\"reused_eph\":%llu,\"grow_eph\":%llu",
                                (unsigned long long)et.reused, (unsigned long long)et.grows);
    if (use_weak)
        len += (size_t)snprintf(extra + len, sizeof extra - len,
                                ",\"reused_weak\":%llu,\"grow_weak\":%llu",
                                (unsigned long long)wt.reused, (unsigned long long)wt.grows);
#if defined(BACKEND_TRICOLOR)
    static tc_stats st; /* large: off the stack */
    tc_read_stats(&st);
    snprintf(extra + len, sizeof extra - len, ",\"weak_cleared\":%llu,\"ephemerons_scanned\":%llu",
             (unsigned long long)st.weak_cleared, (unsigned long long)st.ephemerons);
#endif
    bk_print_result("ephemeron", checksum, extra);
    free(seen);
    bk_shutdown();
    return 0;
}
