/* weak.c — weak references and ephemerons; see weak.h. */
#include "weak.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "barrier.h"
#include "final.h"
#include "mark.h"
#include "options.h"
#include "platform.h"
#include "threads.h"

int tc__weak_mode; /* WEAK_*: read inline by tc_weak_read */
static tc_aword epoch;
static TC_OWN_LINE tc_aword cleared_total, ephemerons_total;
static TC_OWN_LINE tc_aword cleared_cycle, ephemerons_cycle;

void weak_start_marking(void) { at_int_store_seq(&tc__weak_mode, WEAK_MARKING); }

void weak_end_marking(void)
{
    at_add(&epoch, 1);
    at_int_store_seq(&tc__weak_mode, WEAK_AFTER_MARK);
}

void weak_sweeping_done(void) { at_int_store_seq(&tc__weak_mode, WEAK_IDLE); }

uintptr_t weak_epoch(void) { return at_load(&epoch); }

static int is_marked(const tc_span *s, long idx)
{
    return (int)(at_load_acquire(&s->markbits[idx / 64]) >> (idx & 63) & 1);
}

int weak_target_dead(uintptr_t x)
{
    if (!x || (x & 15))
        return 0; /* NULL or a tagged value */
    tc_span *s = heap_span_of(x);
    if (!s)
        return heap_contains(x); /* freed memory: only a bug puts it here */
    long idx = span_slot_index(s, x);
    if (idx < 0)
        return 0; /* an interior word is a value, not a reference */
    for (;;) {
        /* The span's epoch and the mode before the header: once its sweep
         * has begun, or every sweep is done, the header says it all.
         * (The mode was read after the header once: a sweep that made the
         * object a zombie and ended sweeping between the two loads left it
         * "alive", and tc_ephemeron_value handed out its freed value.) */
        uintptr_t e1 = at_load_acquire(&s->sweep_epoch);
        int mode = (int)at_int_load_acquire(&tc__weak_mode);
        uintptr_t h = at_load_acquire((const tc_aword *)(x - TC_HEADER_SIZE));
        if (h == 0 || (h & HEADER_DEAD))
            return 1; /* a zombie (or a free slot: a bug) */
        if (mode != WEAK_AFTER_MARK || e1 == at_load(&epoch))
            return 0; /* its span's sweep began: it would be a zombie */
        int marked = is_marked(s, idx);
        /* Unmarked with a finalizer: the sweep will keep it, so it lives.
         * The sweeper marks such an object before it takes the finalizer
         * off the table (under the table's lock, final.c): no finalizer
         * found means look at the mark again. */
        if (!marked && (h & HEADER_SPECIAL))
            marked = final_has_finalizer((void *)x) || is_marked(s, idx);
        if (at_load_acquire(&s->sweep_epoch) != e1)
            continue; /* the sweep began meanwhile: look again */
        return !marked;
    }
}

/* mode: what the reader loaded before the slot (not loaded again: the
 * collector may have finished its sweep since, but the target was read
 * under the mode before). */
void *tc__weak_read_slow(void *target, int mode)
{
    switch (mode) {
    case WEAK_MARKING:
        barrier_shade(target);
        return target;
    case WEAK_AFTER_MARK:
        return weak_target_dead((uintptr_t)target) ? NULL : target;
    default:
        return target;
    }
}

/* Mark val as weakly referenced, so that it is never freed while a weak
 * slot may lead to it (weak.h). */
static void note_weak_target(void *val)
{
    uintptr_t p = (uintptr_t)val;
    if (p && !(p & 15) && alloc_object_span(val))
        at_or((tc_aword *)(p - TC_HEADER_SIZE), HEADER_WEAKREF);
}

/* verify=1: obj is a live object of `layout`, slot a word inside it. */
static void verify_weak_store(const char *what, void *obj, void **slot, int layout)
{
    char buf[160];
    tc_span *s = alloc_object_span(obj);
    if (!s) {
        plat_diag("verify: %s(%p, %p): obj is %s", what, obj, (void *)slot,
                  heap_describe_address((uintptr_t)obj, buf, sizeof buf));
        return;
    }
    const tc_type *t = header_type((uintptr_t)obj);
    uintptr_t start = (uintptr_t)obj, end = start + s->slot_size - TC_HEADER_SIZE;
    if (t->layout != layout)
        plat_diag("verify: %s(%p): obj is a %s object, whose layout is %d, not %s", what, obj,
                  t->name ? t->name : "?", t->layout,
                  layout == TC_LAYOUT_WEAK ? "TC_LAYOUT_WEAK" : "TC_LAYOUT_EPHEMERON");
    else if ((uintptr_t)slot < start || (uintptr_t)slot + sizeof(void *) > end ||
             ((uintptr_t)slot & (sizeof(void *) - 1)))
        plat_diag("verify: %s(%p, %p): the slot is not an aligned word inside the %s object",
                  what, obj, (void *)slot, t->name ? t->name : "?");
}

void tc_weak_write(void *obj, void **slot, void *val)
{
    if (opt.verify)
        verify_weak_store("tc_weak_write", obj, slot, TC_LAYOUT_WEAK);
    note_weak_target(val);
    at_store_ptr(slot, val);
}

void tc_ephemeron_set(void *eph, void *key, void *value)
{
    void **w = eph;
    if (opt.verify)
        verify_weak_store("tc_ephemeron_set", eph, &w[0], TC_LAYOUT_EPHEMERON);
    note_weak_target(key);
    at_store_ptr(&w[0], key);
    barrier_shade(at_load_ptr(&w[1])); /* the deletion barrier, while marking */
    at_store_ptr(&w[1], value);
    /* While marking, the pair is judged afresh: a marker may have filed
     * the ephemeron under its old key. */
    barrier_rescan(eph);
}

void *tc_ephemeron_key(const void *eph) { return tc_weak_read((void *const *)eph); }

void *tc_ephemeron_value(const void *eph)
{
    void *const *w = eph;
    int mode = (int)at_int_load_acquire(&tc__weak_mode); /* before the slots */
    /* The key before the value, with acquire: the sweeper clears the
     * value before the key (weak_clear_object). */
    void *key = at_load_ptr_acquire(&w[0]);
    void *value = at_load_ptr(&w[1]);
    if (mode == WEAK_MARKING && value)
        barrier_shade(value);
    if (mode == WEAK_AFTER_MARK && weak_target_dead((uintptr_t)key))
        return NULL;
    return value;
}

/* ------------------------------------------------------------- sweeping */

void weak_span_sweep_begins(tc_span *s)
{
    /* Zombies made before, mark bits cleared after (weak.h). */
    at_fence();
    at_store_release(&s->sweep_epoch, at_load(&epoch));
    at_fence();
}

static int clear_if_dead(tc_aword *slot)
{
    uintptr_t v = at_load(slot);
    return v && weak_target_dead(v) && at_cas(slot, v, 0);
}

void weak_clear_object(uintptr_t obj, const tc_type *t, size_t bytes)
{
    tc_aword *w = (tc_aword *)obj;
    uint64_t n = 0;
    if (t->layout == TC_LAYOUT_WEAK) {
        for (size_t i = 0; i < bytes / sizeof(tc_aword); i++)
            n += (uint64_t)clear_if_dead(&w[i]);
    } else {
        /* The key is gone: so is the entry.  The value goes first, then
         * the key, so that a reader never sees a cleared key (NULL: "no
         * key, a strong value") beside the old value, which may be freed
         * already.  Each is cleared only if unchanged: a racing
         * tc_ephemeron_set (with a live key) wins. */
        uintptr_t key = at_load(&w[0]), value = at_load(&w[1]);
        if (key && weak_target_dead(key) && at_cas(&w[1], value, 0) && at_cas(&w[0], key, 0))
            n = 1;
    }
    if (n) {
        at_add(&cleared_total, n);
        at_add(&cleared_cycle, n);
    }
}

/* ----------------------------------------------- the pending ephemerons */

/* The table is split into stripes by the key's hash, each with its own
 * lock and hash table: markers filing ephemerons and markers taking them
 * for keys they marked rarely meet on one lock, and a stripe grows by
 * rehashing only its share.  Each stripe is an open-addressing table with
 * linear probing: the entries sit in the slot array itself, so a lookup
 * costs one cache miss where a chained table cost two (the bucket, then
 * the entry: 35% of all the ephemeron benchmark's samples were those two
 * loads).  Taking an entry shifts the ones after it back (no tombstones).
 * A stripe's `count` mirrors its number of entries for lock-free polling
 * by markers (weak_key_has_pending). */
#define EPH_STRIPES 64
#define EPH_MIN_SLOTS 64

typedef struct pending {
    uintptr_t key, eph; /* key 0: an empty slot */
} pending;

typedef struct TC_OWN_LINE stripe {
    pthread_mutex_t lock;
    pending *slots;         /* lock; nslots of them, a power of two */
    size_t nslots, npending; /* lock; at most 3/4 of the slots are used */
    size_t peak;            /* lock; most entries at once this cycle */
    tc_aword count;         /* npending, for polling */
} stripe;

static stripe stripes[EPH_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void init_stripes(void)
{
    for (int i = 0; i < EPH_STRIPES; i++)
        pthread_mutex_init(&stripes[i].lock, NULL);
}

void weak_init(void) { pthread_once(&stripes_once, init_stripes); }

static uint64_t key_hash(uintptr_t key) { return (uint64_t)key * 0x9e3779b97f4a7c15ull; }
static stripe *stripe_of(uintptr_t key) { return &stripes[key_hash(key) >> 58]; }
/* The home slot; bits below the stripe's, so a stripe uses all its slots. */
static size_t home_of(uintptr_t key, size_t n) { return (size_t)(key_hash(key) >> 20) & (n - 1); }

/* s->lock held, room in s: put (key, eph) in the first free slot from
 * key's home. */
static void put_locked(stripe *s, uintptr_t key, uintptr_t eph)
{
    size_t mask = s->nslots - 1, i = home_of(key, s->nslots);
    while (s->slots[i].key)
        i = (i + 1) & mask;
    s->slots[i] = (pending){key, eph};
    if (++s->npending > s->peak)
        s->peak = s->npending;
}

/* s->lock held: room for one more entry at a load of at most 3/4. */
static int grow_locked(stripe *s)
{
    if (4 * (s->npending + 1) <= 3 * s->nslots)
        return 0;
    size_t n = s->nslots ? s->nslots * 2 : EPH_MIN_SLOTS;
    pending *old = s->slots, *fresh = calloc(n, sizeof *fresh);
    if (!fresh)
        return -1;
    size_t nold = s->nslots;
    s->slots = fresh;
    s->nslots = n;
    s->npending = 0;
    for (size_t i = 0; i < nold; i++)
        if (old[i].key)
            put_locked(s, old[i].key, old[i].eph);
    free(old);
    return 0;
}

/* s->lock held: empty slot i, moving back the entries after it that
 * could not sit in their home (or nearer) because i was taken. */
static void remove_at_locked(stripe *s, size_t i)
{
    size_t mask = s->nslots - 1;
    for (size_t j = (i + 1) & mask; s->slots[j].key; j = (j + 1) & mask) {
        size_t home = home_of(s->slots[j].key, s->nslots);
        if (((j - home) & mask) >= ((j - i) & mask)) { /* home not in (i, j] */
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i] = (pending){0, 0};
    s->npending--;
}

int weak_ephemeron_pending(uintptr_t key, uintptr_t eph)
{
    stripe *s = stripe_of(key);
    pthread_mutex_lock(&s->lock);
    int filed = grow_locked(s) == 0;
    if (filed) {
        put_locked(s, key, eph);
        at_store(&s->count, s->npending);
    }
    pthread_mutex_unlock(&s->lock);
    if (!filed)
        return 0; /* no memory to wait: treat the value as reachable */
    /* A marker that marked the key before seeing the entry has left it to
     * us (weak.h): look at the key again, after the fence. */
    at_fence();
    tc_span *sp = heap_span_of(key);
    long idx = sp ? span_slot_index(sp, key) : -1;
    return !(idx >= 0 && is_marked(sp, idx));
}

int weak_key_has_pending(uintptr_t key)
{
    at_fence(); /* the caller's mark bit before the count (weak.h) */
    return at_load(&stripe_of(key)->count) != 0;
}

size_t weak_take_pending(uintptr_t key, uintptr_t *out, size_t max)
{
    stripe *s = stripe_of(key);
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    if (s->nslots) {
        size_t mask = s->nslots - 1, i = home_of(key, s->nslots);
        while (s->slots[i].key && n < max) {
            if (s->slots[i].key == key) {
                out[n++] = s->slots[i].eph;
                remove_at_locked(s, i); /* slot i now holds the next, or nothing */
            } else {
                i = (i + 1) & mask;
            }
        }
        at_store(&s->count, s->npending);
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

void weak_fork(int stage)
{
    for (int i = 0; i < EPH_STRIPES; i++)
        plat_fork_mutex(&stripes[i].lock, stage);
}

/* Entries left at the end of a cycle had dead keys: dropped.  A stripe
 * keeps its slots for the next cycle, unless this one used less than an
 * eighth of them: growing means rehashing under the stripe's lock while
 * markers wait for it (1.0-1.3 ms for one ephemeron on the ephemeron
 * benchmark, when every cycle grew its tables again from nothing), and a
 * program's ephemerons pend in about the same numbers cycle after cycle. */
static void forget_pending(int keep_slots)
{
    for (int i = 0; i < EPH_STRIPES; i++) {
        stripe *s = &stripes[i];
        pthread_mutex_lock(&s->lock);
        if (!keep_slots || 8 * s->peak < s->nslots) {
            free(s->slots);
            s->slots = NULL;
            s->nslots = 0;
        } else if (s->peak) {
            memset(s->slots, 0, s->nslots * sizeof *s->slots);
        }
        s->npending = s->peak = 0;
        at_store(&s->count, 0);
        pthread_mutex_unlock(&s->lock);
    }
}

void weak_forget_pending(void) { forget_pending(1); }

/* ------------------------------------------------------------- counters */

void weak_note_ephemeron_scanned(void)
{
    at_add(&ephemerons_total, 1);
    at_add(&ephemerons_cycle, 1);
}

uint64_t weak_total_cleared(void) { return at_load(&cleared_total); }
uint64_t weak_total_ephemerons(void) { return at_load(&ephemerons_total); }

void weak_take_cycle_counts(uint64_t *cleared, uint64_t *ephemerons)
{
    *cleared = at_load(&cleared_cycle);
    *ephemerons = at_load(&ephemerons_cycle);
    at_sub(&cleared_cycle, *cleared);
    at_sub(&ephemerons_cycle, *ephemerons);
}

void weak_reset(void)
{
    forget_pending(0);
    at_int_store_seq(&tc__weak_mode, WEAK_IDLE);
    at_store(&cleared_total, 0);
    at_store(&ephemerons_total, 0);
    at_store(&cleared_cycle, 0);
    at_store(&ephemerons_cycle, 0);
}
