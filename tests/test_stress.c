/* test_stress.c — four mutators mutate and trade object graphs while
 * hundreds of concurrent cycles run, with checkmark and poison on; after
 * every round each thread checks every object its graph reaches, field by
 * field.
 *
 * A thread's graph is a table (a vector object held in a TC_ROOTS frame)
 * of "bags".  A bag is a vector object; every object reachable from it
 * belongs to it (each object records its bag's id) and references never
 * cross bags.  So a bag handed to another thread through the mailbox (a
 * registered root array behind a mutex) takes all its objects along, and
 * no object is touched by two threads without that mutex in between:
 * ThreadSanitizer has nothing to report without suppressions.
 *
 * The mutations are the ones a concurrent collector can get wrong: stores
 * over live references (the deletion barrier), deleting a reference after
 * copying it into a TC_ROOTS local and storing it back later into another
 * (possibly black, just allocated) object, overlapping tc_write_slots,
 * fresh objects linked in while marking, bags moving between threads'
 * roots through the mailbox, and sometimes large vectors (several 128 KiB
 * oblets) with references at the oblet boundaries.
 *
 * Lost objects show up three ways: checkmark aborts at mark termination,
 * a poisoned (0xdb) or header-0 object fails the walk, or an object of
 * another bag (a slot freed and reused) fails the bag id check.
 *
 * Weak references, ephemerons and finalizers: each thread also keeps a
 * WEAK object whose slots point at objects of its bags, and a table of
 * ephemerons keyed by such objects, each valued with a leaf of its own;
 * after every round, a weak slot or ephemeron whose target the walk just
 * reached must read it (and the ephemeron's value must be intact), and a
 * weak read must never return anything but its target or NULL.  Some new
 * leaves get finalizers (leaves: no finalizer cycles), run by the
 * library's finalizer thread, which checks each object intact, counts
 * it once, and sometimes resurrects it for a while; some nodes get
 * cleanups.  At the end every finalizer and cleanup must have run exactly
 * once.
 *
 * Budget: the mutators run for at least TC_STRESS_SECONDS (default 6),
 * then on until 100 cycles have completed, and the test fails only if
 * they have not by the hard maximum, TC_STRESS_MAX_SECONDS (default 20
 * times the budget, at most the budget + 600 s): a busy machine makes the
 * run longer, not a failure.  A fifth thread calls tc_collect in a loop,
 * so the count does not depend on how fast the mutators allocate (a
 * sanitizer build does fewer operations in the same time).
 * TC_STRESS_CHECKMARK=0 turns checkmark off, only to show that the walk
 * alone catches a lost object.
 * TC_STRESS_DEFER=N makes every N-th attempt of a program thread (an
 * assist, a barrier flush) to lock a pending-ephemeron stripe fail as if
 * a marker held it (weak_test_fail_trylock), so that the filings and
 * takes it then defers to the markers run under checkmark; the run must
 * have deferred some.  TC_STRESS_DEFER=1 refuses every attempt.
 * TC_STRESS_SMALL_CHUNKS=1 makes markers hand over their postponed
 * ephemerons in chunks of 3, and program threads their deferred items
 * in chunks of 2 (mark_test_small_chunks).
 *
 * Seeds: mutator i (0..3) draws its choices from a xorshift generator
 * seeded with 0x9e3779b97f4a7c15 * (base + i).  The base is
 * TC_STRESS_SEED (decimal or 0x hex), 1 by default (the seeds this test
 * always had), or a time-based one with TC_STRESS_SEED=random.  The first
 * line printed gives the base and the four seeds; TC_STRESS_SEED=<base>
 * replays each mutator's sequence of choices (the interleaving of the
 * threads and the timing of the cycles still differ from run to run).
 *
 * Soak mode: TC_STRESS_SOAK=1 (say with TC_STRESS_SECONDS=3600, see
 * scripts/soak.sh) prints a progress line every 60 s (elapsed seconds,
 * cycles, objects checked so far, RSS in MiB from /proc/self/statm) and at
 * the end the cycles, the objects checked and the RSS drift: RSS after the
 * first 10% of the run against RSS at the end (before the mutators stop),
 * and the largest RSS seen (sampled every 100 ms); then, since single
 * samples are noisy, the mean RSS over the second tenth of the run against
 * the mean over the last tenth.  Every check, and checkmark, stays on. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector.h" /* collector_test_stw1_swept */
#include "mark.h"      /* mark_test_small_chunks */
#include "weak.h"      /* weak_test_fail_trylock */
#include "test_util.h"

/* ------------------------------------------------------------ the objects */

#define NODE_REFS 3
#define TNODE_REFS 3
#define SENTINEL 0x5e17 /* the only tagged integer stored in a reference slot */

enum { MAGIC_NODE = 0x6e6f6465, MAGIC_TNODE = 0x746e6f64, MAGIC_LEAF = 0x6c656166,
       MAGIC_VEC = 0x76656374 };

/* SLOTS: every word a tagged integer or a reference. */
typedef struct node {
    void *magic, *bag, *serial;
    void *refs[NODE_REFS];
    void *check;
} node;

/* TRACE: plain integers around the references. */
typedef struct tnode {
    uint64_t magic, bag, serial;
    void *refs[TNODE_REFS];
    uint64_t check;
} tnode;

/* LEAF: len bytes of a pattern derived from the serial. */
typedef struct leaf {
    uint64_t magic, bag, serial, len;
    unsigned char bytes[];
} leaf;

/* SLOTS: a vector of n references (bags and tables are vectors too). */
typedef struct vec {
    void *magic, *bag, *serial, *n;
    void *refs[];
} vec;

static void trace_tnode(tc_visitor *v, void *obj)
{
    tnode *t = obj;
    for (int i = 0; i < TNODE_REFS; i++)
        tc_visit(v, TC_READ(t, refs[i]));
}

static const tc_type node_type = {.name = "stress_node", .layout = TC_LAYOUT_SLOTS};
static const tc_type tnode_type = {.name = "stress_tnode", .layout = TC_LAYOUT_TRACE,
                                   .trace = trace_tnode};
static const tc_type leaf_type = {.name = "stress_leaf", .layout = TC_LAYOUT_LEAF};
static const tc_type vec_type = {.name = "stress_vec", .layout = TC_LAYOUT_SLOTS};
static const tc_type junk_type = {.name = "stress_garbage", .layout = TC_LAYOUT_SLOTS};

static uint64_t mix(uint64_t bag, uint64_t serial)
{
    uint64_t x = bag * 0x9e3779b97f4a7c15u ^ serial;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9u;
    return x ^ (x >> 29);
}

static unsigned char leaf_byte(uint64_t serial, size_t i)
{
    return (unsigned char)(serial * 131u + i * 7u + 1u);
}

static int is_ref(const void *p) { return p && !((uintptr_t)p & 15); }

/* -------------------------------------------------------------- a mutator */

#define NMUT 4
#define TABLE_N 8
#define BAGS_EACH 3
#define BAG_SLOTS 24
#define BAG_MAX_OBJECTS 400
#define NLOC 6
#define OPS_PER_ROUND 64
#define EXCHANGE_EVERY 4 /* rounds */
#define OBLET_WORDS (128 * 1024 / 8)
#define BALLAST_N 1000        /* list nodes per thread: marking takes a while */
#define BALLAST_BAG 0         /* the bag id of ballast nodes */
#define BALLAST_CHECK_EVERY 32 /* rounds */

/* A set of addresses, open addressing, 0 = empty. */
typedef struct pset {
    uintptr_t *v;
    size_t cap, n;
} pset;

typedef struct walker {
    void **stack;
    size_t n, cap;
    uintptr_t *set; /* open addressing, 0 = empty */
    size_t set_cap, set_n;
    pset *reach;    /* if set, every object walked goes in it too */
} walker;

#define NWEAK 32
#define NEPH 16
#define EPH_BAG 999999 /* the bag id of ephemeron values */

typedef struct mut {
    int id;
    uint64_t rng, serial;
    vec **table;               /* a rooted local of the thread's main function */
    uint64_t bag_ids[TABLE_N]; /* expected id of the bag in each table slot */
    void **loc;                /* NLOC rooted locals */
    int loc_slot[NLOC];        /* table slot of the bag loc[k] came from */
    void **fresh;              /* a rooted local for objects being built */
    node **ballast;            /* a rooted local: a long list, see make_ballast */
    uint64_t ops, ops_marking, rounds, checked, exchanges, big_vecs;
    walker w;
    void ***weak;              /* a rooted local: a WEAK object of NWEAK slots */
    void *weak_target[NWEAK];  /* what each slot was last given (not a root) */
    vec **ephs;                /* a rooted local: NEPH ephemerons */
    void *eph_key[NEPH];       /* their keys (not roots) */
    uint64_t eph_serial[NEPH]; /* their values' serials */
    pset reach;                /* what the round's walk reached */
    uint64_t weak_checked, weak_cleared_seen;
} mut;

static uint64_t rnd(mut *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static uint64_t next_serial(mut *m) { return ((uint64_t)m->id << 40) | ++m->serial; }

/* Every allocation here is followed by initialising stores with no
 * safepoint in between, and the new object is not reachable yet. */

static node *new_node(mut *m, uint64_t bag)
{
    node *n = tc_alloc(&node_type, sizeof *n);
    uint64_t serial = next_serial(m);
    TC_WRITE(n, magic, TU_TAG(MAGIC_NODE));
    TC_WRITE(n, bag, TU_TAG(bag));
    TC_WRITE(n, serial, TU_TAG(serial));
    TC_WRITE(n, check, TU_TAG(mix(bag, serial) >> 2));
    return n;
}

static tnode *new_tnode(mut *m, uint64_t bag)
{
    tnode *t = tc_alloc(&tnode_type, sizeof *t);
    t->magic = MAGIC_TNODE;
    t->bag = bag;
    t->serial = next_serial(m);
    t->check = mix(bag, t->serial);
    return t;
}

static size_t leaf_len(mut *m)
{
    uint64_t r = rnd(m) % 1000;
    return r < 2 ? 33000 + r * 5000 : r < 30 ? 1000 + r * 50 : (size_t)(r % 121);
}

static leaf *new_leaf(mut *m, uint64_t bag)
{
    size_t len = leaf_len(m);
    leaf *l = tc_alloc(&leaf_type, sizeof *l + len);
    l->magic = MAGIC_LEAF;
    l->bag = bag;
    l->serial = next_serial(m);
    l->len = len;
    for (size_t i = 0; i < len; i++)
        l->bytes[i] = leaf_byte(l->serial, i);
    return l;
}

static vec *new_vec(mut *m, uint64_t bag, size_t n)
{
    vec *v = tc_alloc(&vec_type, sizeof *v + n * sizeof(void *));
    TC_WRITE(v, magic, TU_TAG(MAGIC_VEC));
    TC_WRITE(v, bag, TU_TAG(bag));
    TC_WRITE(v, serial, TU_TAG(next_serial(m)));
    TC_WRITE(v, n, TU_TAG(n));
    return v;
}

/* A large vector now and then: several oblets to scan. */
static size_t vec_len(mut *m)
{
    return rnd(m) % 600 == 0 ? 3 * OBLET_WORDS + 100 : 2 + rnd(m) % 14;
}

static void *new_object(mut *m, uint64_t bag)
{
    switch (rnd(m) % 8) {
    case 0: case 1: case 2: return new_node(m, bag);
    case 3: case 4: return new_tnode(m, bag);
    case 5: case 6: return new_leaf(m, bag);
    default: {
        size_t n = vec_len(m);
        m->big_vecs += n > OBLET_WORDS;
        return new_vec(m, bag, n);
    }
    }
}

/* The reference slots of obj: none for a leaf. */
static void **ref_slots(void *obj, size_t *n)
{
    const tc_type *t = tc_type_of(obj);
    if (t == &node_type) {
        *n = NODE_REFS;
        return ((node *)obj)->refs;
    }
    if (t == &tnode_type) {
        *n = TNODE_REFS;
        return ((tnode *)obj)->refs;
    }
    if (t == &vec_type) {
        /* Trust no length the object's size cannot hold: after a lost
         * object's slot is reused, the walk should report it, not crash. */
        *n = TU_UNTAG(((vec *)obj)->n);
        if (*n > (tc_size(obj) - sizeof(vec)) / sizeof(void *))
            *n = 0;
        return ((vec *)obj)->refs;
    }
    *n = 0;
    return NULL;
}

/* In a large vector, mostly a slot at an oblet boundary: the first or
 * last word of a 128 KiB piece of the payload (refs[] starts at word 4). */
static size_t boundary_index(mut *m, size_t n)
{
    size_t pieces = (n + 4 + OBLET_WORDS - 1) / OBLET_WORDS;
    size_t k = 1 + rnd(m) % pieces;
    size_t word = k * OBLET_WORDS - (rnd(m) & 1);
    return word - 4 < n ? word - 4 : n - 1;
}

static void **pick_slot(mut *m, void *obj)
{
    size_t n;
    void **s = ref_slots(obj, &n);
    if (!n)
        return NULL;
    return &s[n > 1024 && rnd(m) % 4 ? boundary_index(m, n) : rnd(m) % n];
}

static void *walk(mut *m, void *from, int steps)
{
    void *cur = from;
    for (int i = 0; i < steps; i++) {
        void **slot = pick_slot(m, cur);
        if (!slot)
            break;
        if (is_ref(*slot) && tc_is_heap_object(*slot))
            cur = *slot;
    }
    return cur;
}

static int is_container(void *x)
{
    const tc_type *t = tc_is_heap_object(x) ? tc_type_of(x) : NULL;
    return t == &node_type || t == &tnode_type || t == &vec_type;
}

/* An object of the bag that holds references (the bag itself at worst;
 * NULL only if the bag was freed, which the round's check reports). */
static void *pick_container(mut *m, void *bag)
{
    for (int tries = 0; tries < 8; tries++) {
        void *x = walk(m, bag, (int)(rnd(m) % 6));
        if (is_container(x))
            return x;
    }
    return is_container(bag) ? bag : NULL;
}

static int random_bag(mut *m)
{
    for (int tries = 0; tries < 16; tries++) {
        int i = (int)(rnd(m) % TABLE_N);
        if ((*m->table)->refs[i])
            return i;
    }
    return -1;
}

/* ------------------------------------------------------------ mutations */

/* Store val over a random reference slot of an object of the bag. */
static void store_somewhere(mut *m, void *bag, void *val)
{
    void *x = pick_container(m, bag);
    void **slot = x ? pick_slot(m, x) : NULL;
    if (slot)
        tc_write(x, slot, val);
}

static void op_store(mut *m, void *bag)
{
    store_somewhere(m, bag, walk(m, bag, (int)(rnd(m) % 6)));
}

static void op_delete(mut *m, void *bag)
{
    store_somewhere(m, bag, rnd(m) & 1 ? NULL : TU_TAG(SENTINEL));
}

/* Heap -> TC_ROOTS local: copy the reference into a root, then delete it
 * from the heap; it goes back into some object later. */
static void op_to_root(mut *m, int b)
{
    int k = (int)(rnd(m) % NLOC);
    if (m->loc[k])
        return;
    void *x = pick_container(m, (*m->table)->refs[b]);
    void **slot = x ? pick_slot(m, x) : NULL;
    if (!slot || !is_ref(*slot))
        return;
    m->loc[k] = *slot;
    m->loc_slot[k] = b;
    tc_write(x, slot, NULL);
}

/* TC_ROOTS local -> heap, into an object of the bag it came from (often
 * one allocated just now: black while marking, never scanned). */
static void op_from_root(mut *m, int k)
{
    if (!m->loc[k])
        return;
    void *bag = (*m->table)->refs[m->loc_slot[k]];
    if (rnd(m) & 1) {
        *m->fresh = new_node(m, m->bag_ids[m->loc_slot[k]]);
        TC_WRITE((node *)*m->fresh, refs[rnd(m) % NODE_REFS], m->loc[k]);
        m->loc[k] = *m->fresh;
        *m->fresh = NULL;
    }
    store_somewhere(m, bag, m->loc[k]);
    m->loc[k] = NULL;
}

static void maybe_special(mut *m, void *obj);

static void op_new(mut *m, int b)
{
    *m->fresh = new_object(m, m->bag_ids[b]);
    maybe_special(m, *m->fresh);
    void *bag = (*m->table)->refs[b];
    size_t n;
    void **slots = ref_slots(*m->fresh, &n);
    for (size_t i = 0; i < n && i < 16; i++)
        tc_write(*m->fresh, &slots[i], walk(m, bag, (int)(rnd(m) % 6)));
    if (n > 16) /* a large vector: fill its boundary words */
        for (int i = 0; i < 8; i++)
            tc_write(*m->fresh, &slots[boundary_index(m, n)], walk(m, bag, 3));
    store_somewhere(m, bag, *m->fresh);
    *m->fresh = NULL;
}

/* Overlapping tc_write_slots inside a vector, either direction, or a copy
 * from a C array of the bag's objects; the result must be memmove's. */
static void op_slots(mut *m, void *bag)
{
    vec *v = bag;
    for (int tries = 0; tries < 4; tries++) {
        void *x = walk(m, bag, (int)(rnd(m) % 6));
        if (tc_type_of(x) == &vec_type) {
            v = x;
            break;
        }
    }
    size_t n = 0;
    if (is_container(v) && tc_type_of(v) == &vec_type)
        ref_slots(v, &n);
    if (n < 2)
        return; /* only if the bag was freed: the round's check reports it */
    if (n > 64)
        n = 64; /* the head of a large vector */
    size_t len = 1 + rnd(m) % (n - 1), src = rnd(m) % (n - len + 1), dst = rnd(m) % (n - len + 1);
    void *want[64], *arr[64];
    memcpy(want, v->refs, n * sizeof(void *));
    if (rnd(m) % 4 == 0) {
        for (size_t i = 0; i < len; i++)
            arr[i] = walk(m, bag, (int)(rnd(m) % 6));
        memcpy(want + dst, arr, len * sizeof(void *));
        tc_write_slots(v, &v->refs[dst], arr, len);
    } else {
        memmove(want + dst, want + src, len * sizeof(void *));
        tc_write_slots(v, &v->refs[dst], &v->refs[src], len);
    }
    TU_CHECK(memcmp(v->refs, want, n * sizeof(void *)) == 0,
             "thread %d: tc_write_slots(dst %zu, src %zu, %zu) is not memmove", m->id, dst, src,
             len);
}

static void op_garbage(mut *m)
{
    for (int i = 0; i < 24; i++) {
        size_t words = 2 + rnd(m) % 40;
        void **g = tc_alloc(&junk_type, words * sizeof(void *));
        tc_write(g, &g[0], TU_TAG(i));
    }
}

/* ------------------------------------- weak references, finalizers */

static int pset_add(pset *s, uintptr_t p);
static int pset_has(const pset *s, uintptr_t p);
static const char *check_leaf(leaf *l, uint64_t bag);

static const tc_type weak_type = {.name = "stress_weak", .layout = TC_LAYOUT_WEAK};
static const tc_type eph_type = {.name = "stress_eph", .layout = TC_LAYOUT_EPHEMERON};

/* An object's serial (every kind has one), to tell a target from a new
 * object at the same address. */
static uint64_t serial_of(void *p)
{
    const tc_type *t = tc_type_of(p);
    if (t == &node_type)
        return TU_UNTAG(((node *)p)->serial);
    if (t == &tnode_type)
        return ((tnode *)p)->serial;
    if (t == &leaf_type)
        return ((leaf *)p)->serial;
    if (t == &vec_type)
        return TU_UNTAG(((vec *)p)->serial);
    return 0;
}

/* Finalizers and cleanups: each may run once (fin_lock). */
static pthread_mutex_t fin_lock = PTHREAD_MUTEX_INITIALIZER;
static pset fin_done, clean_done;
static uint64_t fin_registered, clean_registered, fin_double, fin_damaged;
static void *resurrect[4]; /* a registered root: finalized leaves, alive a while */
static unsigned resurrect_next;

static void fin_leaf(void *obj, void *ctx)
{
    (void)ctx;
    leaf *l = obj;
    const char *bad = check_leaf(l, l->bag);
    pthread_mutex_lock(&fin_lock);
    fin_damaged += bad != NULL;
    fin_double += (uint64_t)pset_add(&fin_done, l->serial);
    /* Every fourth resurrected: alive until four more have been. */
    if (l->serial % 4 == 0)
        resurrect[resurrect_next++ % 4] = obj;
    pthread_mutex_unlock(&fin_lock);
}

static void clean_node(void *ctx)
{
    pthread_mutex_lock(&fin_lock);
    fin_double += (uint64_t)pset_add(&clean_done, (uintptr_t)ctx);
    pthread_mutex_unlock(&fin_lock);
}

/* A new object may get a finalizer (leaves: they refer to nothing, so
 * there are no finalizer cycles) or a cleanup (nodes). */
static void maybe_special(mut *m, void *obj)
{
    if (rnd(m) % 16)
        return;
    const tc_type *t = tc_type_of(obj);
    if (t == &leaf_type && tc_finalizer_set(obj, fin_leaf, NULL) == TC_OK)
        __atomic_add_fetch(&fin_registered, 1, __ATOMIC_RELAXED);
    else if (t == &node_type &&
             tc_cleanup_add(obj, clean_node, (void *)(uintptr_t)serial_of(obj)) == TC_OK)
        __atomic_add_fetch(&clean_registered, 1, __ATOMIC_RELAXED);
}

/* Point a weak slot, or an ephemeron (with a new leaf as its value), at
 * an object of the bag. */
static void op_weak(mut *m, void *bag)
{
    void *target = walk(m, bag, (int)(rnd(m) % 6));
    if (rnd(m) & 1) {
        int i = (int)(rnd(m) % NWEAK);
        tc_weak_write(*m->weak, &(*m->weak)[i], target);
        m->weak_target[i] = target;
        return;
    }
    int j = (int)(rnd(m) % NEPH);
    *m->fresh = new_leaf(m, EPH_BAG);
    tc_ephemeron_set((*m->ephs)->refs[j], target, *m->fresh);
    m->eph_key[j] = target;
    m->eph_serial[j] = ((leaf *)*m->fresh)->serial;
    *m->fresh = NULL;
}

/* Is want (a target recorded earlier) an object the round's walk reached,
 * and still the same object? */
static int still_reached(mut *m, void *want, uint64_t serial)
{
    return want && pset_has(&m->reach, (uintptr_t)want) && serial_of(want) == serial;
}

static uint64_t weak_serial[NMUT][NWEAK], eph_key_serial[NMUT][NEPH];

static void check_weak(mut *m)
{
    uint64_t *ws = weak_serial[m->id - 1], *ks = eph_key_serial[m->id - 1];
    for (int i = 0; i < NWEAK; i++) {
        void *t = tc_weak_read(&(*m->weak)[i]), *want = m->weak_target[i];
        TU_CHECK(!t || t == want, "thread %d: weak slot %d reads %p, not its target %p", m->id,
                 i, t, want);
        if (want && t == want && pset_has(&m->reach, (uintptr_t)want))
            ws[i] = serial_of(want); /* learn it while it is surely the target */
        if (still_reached(m, want, ws[i])) {
            TU_CHECK(t == want, "thread %d: weak slot %d lost its target %p, which is reachable",
                     m->id, i, want);
            m->weak_checked++;
        }
        if (!t && want) {
            m->weak_target[i] = NULL;
            m->weak_cleared_seen++;
        }
    }
    for (int j = 0; j < NEPH; j++) {
        void *e = (*m->ephs)->refs[j], *want = m->eph_key[j];
        void *k = tc_ephemeron_key(e);
        TU_CHECK(!k || k == want, "thread %d: ephemeron %d's key %p, not %p", m->id, j, k, want);
        if (want && k == want && pset_has(&m->reach, (uintptr_t)want))
            ks[j] = serial_of(want);
        if (still_reached(m, want, ks[j])) {
            leaf *v = tc_ephemeron_value(e);
            TU_CHECK(k == want, "thread %d: ephemeron %d lost its reachable key", m->id, j);
            TU_CHECK(v && !check_leaf(v, EPH_BAG) && v->serial == m->eph_serial[j],
                     "thread %d: ephemeron %d's value is lost or damaged (%p)", m->id, j,
                     (void *)v);
            m->weak_checked++;
        }
        if (!k && want)
            m->eph_key[j] = NULL;
    }
}

static void one_op(mut *m)
{
    int b = random_bag(m);
    uint64_t r = rnd(m) % 100;
    if (b < 0 || r < 8)
        op_garbage(m);
    else if (r < 30)
        op_store(m, (*m->table)->refs[b]);
    else if (r < 40)
        op_delete(m, (*m->table)->refs[b]);
    else if (r < 55)
        op_to_root(m, b);
    else if (r < 70)
        op_from_root(m, (int)(rnd(m) % NLOC));
    else if (r < 92)
        op_new(m, b);
    else if (r < 96)
        op_slots(m, (*m->table)->refs[b]);
    else
        op_weak(m, (*m->table)->refs[b]);
    tc_safepoint();
    m->ops++;
    m->ops_marking += collector_phase() == PHASE_MARK;
}

/* ------------------------------------------------------------ verification */

static uint64_t mix(uint64_t bag, uint64_t serial);

/* Add p; returns 1 if it was there already. */
static int pset_add(pset *s, uintptr_t p)
{
    if (2 * (s->n + 1) > s->cap) {
        pset old = *s;
        s->cap = old.cap ? 2 * old.cap : 1024;
        s->v = calloc(s->cap, sizeof *s->v);
        s->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.v[i])
                pset_add(s, old.v[i]);
        free(old.v);
    }
    size_t mask = s->cap - 1, i = (size_t)(mix(0, p) & mask);
    for (; s->v[i]; i = (i + 1) & mask)
        if (s->v[i] == p)
            return 1;
    s->v[i] = p;
    s->n++;
    return 0;
}

static int pset_has(const pset *s, uintptr_t p)
{
    if (!s->cap)
        return 0;
    size_t mask = s->cap - 1, i = (size_t)(mix(0, p) & mask);
    for (; s->v[i]; i = (i + 1) & mask)
        if (s->v[i] == p)
            return 1;
    return 0;
}

static void pset_clear(pset *s)
{
    if (s->v)
        memset(s->v, 0, s->cap * sizeof *s->v);
    s->n = 0;
}

static int seen_before(walker *w, void *p)
{
    if (2 * (w->set_n + 1) > w->set_cap) {
        size_t old_cap = w->set_cap;
        uintptr_t *old = w->set;
        w->set_cap = old_cap ? 2 * old_cap : 1024;
        w->set = calloc(w->set_cap, sizeof *w->set);
        w->set_n = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i])
                seen_before(w, (void *)old[i]);
        free(old);
    }
    size_t mask = w->set_cap - 1, i = (size_t)(mix(0, (uintptr_t)p) & mask);
    for (; w->set[i]; i = (i + 1) & mask)
        if (w->set[i] == (uintptr_t)p)
            return 1;
    w->set[i] = (uintptr_t)p;
    w->set_n++;
    return 0;
}

static void push(walker *w, void *p)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 1024;
        w->stack = realloc(w->stack, w->cap * sizeof *w->stack);
    }
    w->stack[w->n++] = p;
}

/* Check the reference words of an object and push its referents. */
static const char *push_refs(walker *w, void *const *refs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *r = refs[i];
        if (!r || r == TU_TAG(SENTINEL))
            continue;
        if (!is_ref(r))
            return (uintptr_t)r == 0xdbdbdbdbdbdbdbdbu ? "a poisoned reference slot"
                                                       : "a reference slot holds junk";
        if (!tc_is_heap_object(r))
            return "a reference to something that is not a live object (freed?)";
        push(w, r);
    }
    return NULL;
}

#define TAGGED_EQ(word, v) ((word) == TU_TAG(v))

static const char *check_node(walker *w, node *n, uint64_t bag)
{
    if (!TAGGED_EQ(n->magic, MAGIC_NODE) || !TAGGED_EQ(n->bag, bag) || !((uintptr_t)n->serial & 1))
        return "node header words";
    if (!TAGGED_EQ(n->check, mix(bag, TU_UNTAG(n->serial)) >> 2))
        return "node check word";
    return push_refs(w, n->refs, NODE_REFS);
}

static const char *check_tnode(walker *w, tnode *t, uint64_t bag)
{
    if (t->magic != MAGIC_TNODE || t->bag != bag || t->check != mix(bag, t->serial))
        return "tnode integers";
    return push_refs(w, t->refs, TNODE_REFS);
}

static const char *check_leaf(leaf *l, uint64_t bag)
{
    if (l->magic != MAGIC_LEAF || l->bag != bag || l->len > 50000 ||
        tc_size(l) < sizeof *l + l->len)
        return "leaf header";
    for (size_t i = 0; i < l->len; i++)
        if (l->bytes[i] != leaf_byte(l->serial, i))
            return l->bytes[i] == 0xdb ? "a poisoned leaf byte" : "leaf pattern";
    return NULL;
}

static const char *check_vec(walker *w, vec *v, uint64_t bag)
{
    size_t n = TU_UNTAG(v->n);
    if (!TAGGED_EQ(v->magic, MAGIC_VEC) || !TAGGED_EQ(v->bag, bag) || !((uintptr_t)v->n & 1) ||
        tc_size(v) < sizeof *v + n * sizeof(void *))
        return "vector header words";
    return push_refs(w, v->refs, n);
}

static const char *check_object(walker *w, void *p, uint64_t bag)
{
    if ((uintptr_t)p % 16 || !tc_is_heap_object(p))
        return "not a live heap object (header 0: freed)";
    const tc_type *t = tc_type_of(p);
    if (t == &node_type)
        return check_node(w, p, bag);
    if (t == &tnode_type)
        return check_tnode(w, p, bag);
    if (t == &leaf_type)
        return check_leaf(p, bag);
    if (t == &vec_type)
        return check_vec(w, p, bag);
    return "an object of a foreign type (slot reused?)";
}

/* Walk everything reachable from root (an object of bag `bag`), checking
 * each object once.  Returns the number of objects. */
static size_t verify_from(walker *w, void *root, uint64_t bag, const char *who, int thread)
{
    if (w->set)
        memset(w->set, 0, w->set_cap * sizeof *w->set);
    w->set_n = w->n = 0;
    push(w, root);
    size_t count = 0;
    while (w->n) {
        void *p = w->stack[--w->n];
        if (seen_before(w, p))
            continue;
        count++;
        if (w->reach)
            pset_add(w->reach, (uintptr_t)p);
        const char *bad = check_object(w, p, bag);
        if (bad) {
            TU_CHECK(!bad, "thread %d, %s (bag %llu): object %p: %s", thread, who,
                     (unsigned long long)bag, p, bad);
            return count;
        }
    }
    return count;
}

/* Bags that grew too big lose half their slots (garbage for the GC). */
static void prune(mut *m, vec *bag)
{
    for (size_t i = 0; i < BAG_SLOTS; i++)
        if (rnd(m) & 1)
            tc_write(bag, &bag->refs[i], NULL);
}

/* m->checked is read by the main thread's progress lines while the
 * mutator runs (soak mode): relaxed atomics. */
static void add_checked(mut *m, size_t n)
{
    __atomic_fetch_add(&m->checked, (uint64_t)n, __ATOMIC_RELAXED);
}

/* Everything the thread reaches; the ballast (which no operation
 * touches) only every BALLAST_CHECK_EVERY rounds and at the end. */
static void check_weak(mut *m);

static void verify_graph(mut *m, int with_ballast)
{
    pset_clear(&m->reach);
    m->w.reach = &m->reach;
    if (with_ballast) {
        size_t n = verify_from(&m->w, *m->ballast, BALLAST_BAG, "ballast", m->id);
        TU_CHECK(n == BALLAST_N, "thread %d: ballast has %zu nodes", m->id, n);
        add_checked(m, n);
    }
    for (int b = 0; b < TABLE_N; b++) {
        vec *bag = (*m->table)->refs[b];
        if (!bag)
            continue;
        size_t n = verify_from(&m->w, bag, m->bag_ids[b], "table", m->id);
        add_checked(m, n);
        if (n > BAG_MAX_OBJECTS)
            prune(m, bag);
    }
    for (int k = 0; k < NLOC; k++)
        if (m->loc[k])
            add_checked(m, verify_from(&m->w, m->loc[k], m->bag_ids[m->loc_slot[k]],
                                       "TC_ROOTS local", m->id));
    m->w.reach = NULL;
    check_weak(m);
}

/* ------------------------------------------------------------- the mailbox */

#define MAIL_N 8
static void *mailbox[MAIL_N]; /* a registered root */
static uint64_t mail_ids[MAIL_N];
static pthread_mutex_t mail_lock = PTHREAD_MUTEX_INITIALIZER;

/* Send one bag, take one (maybe the same): a bag moves from one thread's
 * heap table to a global root to another thread's table, while marking
 * or not.  No heap access while holding mail_lock, so a thread waiting
 * for it never holds up a pause for long. */
static void exchange(mut *m)
{
    for (int k = 0; k < NLOC; k++)
        op_from_root(m, k); /* the locals may point into the bag we send */
    int b = random_bag(m);
    if (b < 0)
        return;
    *m->fresh = (*m->table)->refs[b];
    tc_write(*m->table, (void **)&(*m->table)->refs[b], NULL);
    pthread_mutex_lock(&mail_lock);
    int sent = 0;
    for (int j = 0; j < MAIL_N && !sent; j++)
        if (!mailbox[j]) {
            mailbox[j] = *m->fresh;
            mail_ids[j] = m->bag_ids[b];
            sent = 1;
        }
    /* Take a random bag: another thread's, or ours back. */
    for (int j = (int)(rnd(m) % MAIL_N), i = 0; sent && i < MAIL_N; i++, j = (j + 1) % MAIL_N)
        if (mailbox[j]) {
            *m->fresh = mailbox[j];
            m->bag_ids[b] = mail_ids[j];
            mailbox[j] = NULL;
            break;
        }
    pthread_mutex_unlock(&mail_lock);
    tc_write(*m->table, (void **)&(*m->table)->refs[b], *m->fresh);
    *m->fresh = NULL;
    m->exchanges += sent;
}

/* --------------------------------------------------------------- threads */

static int stop_flag;
static pthread_barrier_t start_barrier;
static mut muts[NMUT];

static int stopping(void) { return __atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE); }

/* A list that no operation touches: it makes each cycle's marking long
 * enough that many mutations land while it runs. */
static void make_ballast(mut *m)
{
    for (int i = 0; i < BALLAST_N; i++) {
        node *n = new_node(m, BALLAST_BAG);
        TC_WRITE(n, refs[0], *m->ballast);
        *m->ballast = n;
    }
}

static void build_bag(mut *m, int b, uint64_t id)
{
    m->bag_ids[b] = id;
    *m->fresh = new_vec(m, id, BAG_SLOTS);
    tc_write(*m->table, (void **)&(*m->table)->refs[b], *m->fresh);
    *m->fresh = NULL;
    for (int i = 0; i < 40; i++)
        op_new(m, b);
}

static void mutate(mut *m)
{
    vec *table = NULL, *ephs = NULL;
    void *loc[NLOC] = {0};
    void *fresh = NULL;
    void **weak = NULL;
    node *ballast = NULL;
    TC_ROOTS(table, fresh, ballast, loc[0], loc[1], loc[2], loc[3], loc[4], loc[5]);
    TC_ROOTS(weak, ephs);
    weak = tc_alloc(&weak_type, NWEAK * sizeof(void *));
    ephs = new_vec(m, 0, NEPH);
    for (int j = 0; j < NEPH; j++)
        tc_write(ephs, &ephs->refs[j], tc_alloc(&eph_type, 2 * sizeof(void *)));
    m->weak = &weak;
    m->ephs = &ephs;
    m->table = &table;
    m->ballast = &ballast;
    make_ballast(m);
    m->loc = loc;
    m->fresh = &fresh;
    table = new_vec(m, 0, TABLE_N);
    for (int b = 0; b < BAGS_EACH; b++)
        build_bag(m, b, (uint64_t)m->id * 100 + (uint64_t)b + 1);
    tc_blocking_enter();
    pthread_barrier_wait(&start_barrier);
    tc_blocking_leave();
    while (!stopping()) {
        for (int i = 0; i < OPS_PER_ROUND; i++)
            one_op(m);
        verify_graph(m, m->rounds % BALLAST_CHECK_EVERY == 0);
        if (++m->rounds % EXCHANGE_EVERY == 0)
            exchange(m);
    }
    for (int k = 0; k < NLOC; k++)
        op_from_root(m, k);
    tc_collect();
    verify_graph(m, 1);
}

static void *mutator_main(void *arg)
{
    mut *m = arg;
    int err = tc_thread_attach();
    TU_CHECK(err == TC_OK, "attach: %d", err);
    if (err)
        return NULL;
    mutate(m);
    tc_thread_detach();
    free(m->w.stack);
    free(m->w.set);
    free(m->reach.v);
    return NULL;
}

static uint64_t collects;

static void *collect_loop(void *arg)
{
    (void)arg;
    if (tc_thread_attach() != TC_OK) {
        TU_CHECK(0, "attach");
        return NULL;
    }
    while (!stopping()) {
        tc_collect();
        collects++;
    }
    tc_thread_detach();
    return NULL;
}

/* What the cycle callback saw (collector thread; read after the joins). */
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cb_cycles, cb_forced, cb_last, cb_out_of_order, cb_max_attempts, cb_pause_max;
static int cb_workers;

static void on_cycle(const tc_cycle_info *info, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&cb_lock);
    cb_cycles++;
    cb_forced += info->forced != 0;
    cb_out_of_order += info->cycle != cb_last + 1;
    cb_last = info->cycle;
    if ((uint64_t)info->mark_term_attempts > cb_max_attempts)
        cb_max_attempts = (uint64_t)info->mark_term_attempts;
    if (info->pause_ns > cb_pause_max)
        cb_pause_max = info->pause_ns;
    cb_workers = info->mark_workers;
    pthread_mutex_unlock(&cb_lock);
}

static int budget_seconds(void)
{
    const char *s = getenv("TC_STRESS_SECONDS");
    int v = s ? atoi(s) : 0;
    return v > 0 ? v : 6;
}

/* The cycles a run must complete (past the budget if need be). */
#define MIN_CYCLES 100

/* The hard maximum: past the budget the run goes on only until
 * MIN_CYCLES cycles have completed, and never past this. */
static int max_seconds(void)
{
    int budget = budget_seconds();
    const char *s = getenv("TC_STRESS_MAX_SECONDS");
    int v = s ? atoi(s) : 0;
    if (v <= 0)
        v = 20 * budget < budget + 600 ? 20 * budget : budget + 600;
    return v < budget ? budget : v;
}

static int soak_mode(void)
{
    const char *s = getenv("TC_STRESS_SOAK");
    return s && *s && strcmp(s, "0") != 0;
}

/* TC_STRESS_SEED: the base of the mutators' seeds (see the header). */
static uint64_t base_seed(void)
{
    const char *s = getenv("TC_STRESS_SEED");
    if (!s || !*s)
        return 1;
    if (strcmp(s, "random") == 0)
        return tu_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
    int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    return strtoull(s, NULL, hex ? 16 : 10);
}

static uint64_t mutator_seed(uint64_t base, int i)
{
    uint64_t x = 0x9e3779b97f4a7c15u * (base + (uint64_t)i);
    return x ? x : 0x9e3779b97f4a7c15u; /* xorshift never leaves 0 */
}

/* Resident set size in MiB (/proc/self/statm), or -1. */
static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size, resident;
    int n = f ? fscanf(f, "%llu %llu", &size, &resident) : 0;
    if (f)
        fclose(f);
    if (n != 2)
        return -1;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static uint64_t objects_checked(void)
{
    uint64_t n = 0;
    for (int i = 0; i < NMUT; i++)
        n += __atomic_load_n(&muts[i].checked, __ATOMIC_RELAXED);
    return n;
}

static uint64_t cycles_so_far(void)
{
    pthread_mutex_lock(&cb_lock);
    uint64_t n = cb_cycles;
    pthread_mutex_unlock(&cb_lock);
    return n;
}

/* Everything is unreachable now: collect until every finalizer and
 * cleanup has been queued and run (the finalizer thread runs them), drop
 * the resurrected leaves, and check each ran exactly once. */
static void drain_finalizers(void)
{
    uint64_t deadline = tu_now_ns() + 60000000000ull;
    for (int rounds = 0;; rounds++) {
        pthread_mutex_lock(&fin_lock);
        for (int i = 0; i < 4; i++)
            resurrect[i] = NULL;
        int done = fin_done.n == fin_registered && clean_done.n == clean_registered;
        pthread_mutex_unlock(&fin_lock);
        if (done && tc_finalizers_pending() == 0 && rounds > 2)
            break;
        TU_REQUIRE(tu_now_ns() < deadline, "finalizers: %zu of %llu ran, cleanups %zu of %llu",
                   fin_done.n, (unsigned long long)fin_registered, clean_done.n,
                   (unsigned long long)clean_registered);
        tc_collect();
        tu_sleep_blocking(2);
    }
    tc_collect();
    tc_collect();
    printf("stress: %llu finalizers and %llu cleanups ran once each\n",
           (unsigned long long)fin_registered, (unsigned long long)clean_registered);
    TU_CHECK(fin_double == 0 && fin_damaged == 0, "finalizers: %llu ran twice, %llu saw a "
             "damaged object", (unsigned long long)fin_double, (unsigned long long)fin_damaged);
}

/* The bags left in the mailbox are the main thread's to check, then drop. */
static void check_and_empty_mailbox(void)
{
    walker w = {0};
    for (int j = 0; j < MAIL_N; j++)
        if (mailbox[j]) {
            verify_from(&w, mailbox[j], mail_ids[j], "mailbox", -1);
            mailbox[j] = NULL;
        }
    free(w.stack);
    free(w.set);
}

static tc_stats st;

static void report(double seconds)
{
    uint64_t ops = 0, marking = 0, rounds = 0, checked = 0, exchanges = 0, big = 0;
    for (int i = 0; i < NMUT; i++) {
        ops += muts[i].ops;
        marking += muts[i].ops_marking;
        rounds += muts[i].rounds;
        checked += muts[i].checked;
        exchanges += muts[i].exchanges;
        big += muts[i].big_vecs;
    }
    pthread_mutex_lock(&cb_lock);
    printf("stress: %.1f s, %llu cycles (%llu by the trigger), %d mark worker(s), %llu pauses "
           "(max %.2f ms), max %llu mark-termination attempts, stw1 swept %llu spans\n"
           "stress: %llu ops (%llu while marking), %llu rounds, %llu objects checked, %llu bags traded, "
           "%llu large vectors, %llu tc_collect calls from the fifth thread\n",
           seconds, (unsigned long long)st.cycles,
           (unsigned long long)(cb_cycles - cb_forced), cb_workers,
           (unsigned long long)st.num_pauses, (double)cb_pause_max / 1e6,
           (unsigned long long)cb_max_attempts,
           (unsigned long long)collector_test_stw1_swept(),
           (unsigned long long)ops, (unsigned long long)marking, (unsigned long long)rounds, (unsigned long long)checked,
           (unsigned long long)exchanges, (unsigned long long)big,
           (unsigned long long)collects);
    uint64_t weak_checked = 0, cleared_seen = 0;
    for (int i = 0; i < NMUT; i++) {
        weak_checked += muts[i].weak_checked;
        cleared_seen += muts[i].weak_cleared_seen;
    }
    printf("stress: %llu reachable weak targets and ephemerons checked, %llu weak slots seen "
           "cleared; %llu slots cleared, %llu ephemerons processed, %llu finalizers queued\n",
           (unsigned long long)weak_checked, (unsigned long long)cleared_seen,
           (unsigned long long)st.weak_cleared, (unsigned long long)st.ephemerons,
           (unsigned long long)st.finalizers_queued);
    pthread_mutex_unlock(&cb_lock);
}

/* Soak mode's RSS record (MiB).  Single samples jump with each cycle and
 * scavenge, so the means over the second tenth of the run and over the
 * last tenth are kept too. */
typedef struct rss_record {
    double at_tenth, tenth_s, last, max;
    double early_sum, late_sum;
    unsigned early_n, late_n;
} rss_record;

/* Run the mutators for the budget, then until MIN_CYCLES cycles (or the
 * hard maximum); in soak mode print progress and sample RSS.  Returns the
 * seconds elapsed. */
static double run_mutators(int seconds, int max_s, int soak, rss_record *rss)
{
    const uint64_t t0 = tu_now_ns();
    double elapsed = 0, next_progress = 60;
    *rss = (rss_record){.at_tenth = -1};
    for (;;) {
        tu_sleep_blocking(100);
        elapsed = (double)(tu_now_ns() - t0) / 1e9;
        if (soak) {
            rss->last = rss_mib();
            if (rss->last > rss->max)
                rss->max = rss->last;
            if (rss->at_tenth < 0 && elapsed >= seconds / 10.0) {
                rss->at_tenth = rss->last;
                rss->tenth_s = elapsed;
            }
            if (elapsed >= seconds / 10.0 && elapsed < seconds / 5.0) {
                rss->early_sum += rss->last;
                rss->early_n++;
            }
            if (elapsed >= seconds * 0.9 && elapsed <= seconds) {
                rss->late_sum += rss->last;
                rss->late_n++;
            }
            if (elapsed >= next_progress) {
                printf("soak: %.0f s, %llu cycles, %llu objects checked, RSS %.1f MiB\n", elapsed,
                       (unsigned long long)cycles_so_far(),
                       (unsigned long long)objects_checked(), rss->last);
                fflush(stdout);
                next_progress += 60;
            }
        }
        if (elapsed >= seconds && (cycles_so_far() >= MIN_CYCLES || elapsed >= max_s))
            return elapsed;
    }
}

static void sc_stress(void)
{
    int seconds = budget_seconds(), max_s = max_seconds(), soak = soak_mode();
    uint64_t base = base_seed();
    const char *defer = getenv("TC_STRESS_DEFER");
    unsigned defer_every = defer ? (unsigned)strtoul(defer, NULL, 10) : 0;
    weak_test_fail_trylock(defer_every);
    const char *small = getenv("TC_STRESS_SMALL_CHUNKS");
    mark_test_small_chunks(small && *small == '1');
    tc_set_cycle_callback(on_cycle, NULL);
    TU_REQUIRE_EQ(tc_root_add(mailbox, MAIL_N), TC_OK);
    TU_REQUIRE_EQ(tc_root_add(resurrect, 4), TC_OK);
    pthread_barrier_init(&start_barrier, NULL, NMUT);
    printf("stress: TC_STRESS_SEED=%llu (mutator seeds", (unsigned long long)base);
    for (int i = 0; i < NMUT; i++)
        printf(" %#llx", (unsigned long long)mutator_seed(base, i));
    printf("), %d s budget, hard maximum %d s%s\n", seconds, max_s, soak ? ", soak mode" : "");
    fflush(stdout);
    pthread_t th[NMUT + 1];
    for (int i = 0; i < NMUT; i++) {
        muts[i] = (mut){.id = i + 1, .rng = mutator_seed(base, i)};
        TU_REQUIRE_EQ(pthread_create(&th[i], NULL, mutator_main, &muts[i]), 0);
    }
    TU_REQUIRE_EQ(pthread_create(&th[NMUT], NULL, collect_loop, NULL), 0);
    rss_record rss;
    double elapsed = run_mutators(seconds, max_s, soak, &rss);
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
    tc_blocking_enter();
    for (int i = 0; i <= NMUT; i++)
        pthread_join(th[i], NULL);
    tc_blocking_leave();
    pthread_barrier_destroy(&start_barrier);
    check_and_empty_mailbox();
    drain_finalizers();
    tc_read_stats(&st);
    report(elapsed);
    if (defer_every) {
        uint64_t failed = weak_test_trylocks_failed();
        printf("stress: %llu stripe locks refused to program threads (every %u-th try)\n",
               (unsigned long long)failed, defer_every);
        TU_CHECK(failed > 0, "TC_STRESS_DEFER=%u: no filing or take was deferred", defer_every);
    }
    if (soak) {
        printf("soak: %.0f s, %llu cycles, %llu objects checked; RSS %.1f MiB after the first "
               "10%% (at %.0f s), %.1f MiB at the end: drift %+.1f MiB (%+.1f%%), max %.1f MiB\n",
               elapsed, (unsigned long long)st.cycles, (unsigned long long)objects_checked(),
               rss.at_tenth, rss.tenth_s, rss.last, rss.last - rss.at_tenth,
               rss.at_tenth > 0 ? 100.0 * (rss.last - rss.at_tenth) / rss.at_tenth : 0.0,
               rss.max);
        if (rss.early_n && rss.late_n) {
            double early = rss.early_sum / rss.early_n, late = rss.late_sum / rss.late_n;
            printf("soak: mean RSS %.1f MiB over the second tenth of the run, %.1f MiB over the "
                   "last tenth: drift %+.1f MiB (%+.1f%%)\n",
                   early, late, late - early, early > 0 ? 100.0 * (late - early) / early : 0.0);
        }
        fflush(stdout);
    }
    /* Every thread detached and the mailbox is empty: nothing is live. */
    TU_REQUIRE_EQ(st.objects_live, 0);
    TU_REQUIRE(st.cycles >= MIN_CYCLES, "only %llu cycles in %.1f s (budget %d s, hard maximum %d s)",
               (unsigned long long)st.cycles, elapsed, seconds, max_s);
    pthread_mutex_lock(&cb_lock);
    TU_REQUIRE_EQ(cb_cycles, st.cycles);
    TU_REQUIRE_EQ(cb_out_of_order, 0);
    pthread_mutex_unlock(&cb_lock);
}

static void stress(void **state)
{
    (void)state;
    tc_config c = TC_CONFIG_INIT;
    c.gc_percent = 5;
    c.debug_checkmark = 1;
    c.debug_poison = 1;
    const char *cm = getenv("TC_STRESS_CHECKMARK");
    if (cm && strcmp(cm, "0") == 0)
        c.debug_checkmark = 0;
    /* mark_workers stays unset: the ctest variants set TRICOLOR_MARK_WORKERS. */
    tu_run_isolated("stress", sc_stress, &c, max_seconds() + 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
