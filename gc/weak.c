/* weak.c — weak references and ephemerons; see weak.h. */
#include "weak.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "barrier.h"
#include "check.h"
#include "final.h"
#include "mark.h"
#include "options.h"
#include "platform.h"
#include "stall.h"
#include "threads.h"

int tc__weak_mode; /* WEAK_*: read inline by tc_weak_read */
/* The epoch of the last mark termination.  It only grows, across
 * tc_shutdown too: a reader's seqlock (weak_target_dead) must never see it
 * come back to a value it saw before. */
static tc_aword epoch;

/* The module's counters, zeroed in one place (weak_reset); atomic words,
 * no lock.  The pending ephemerons live in the stripes (below), which
 * weak_reset empties. */
static struct weak_state {
    TC_OWN_LINE tc_aword cleared_total, ephemerons_total;
    TC_OWN_LINE tc_aword cleared_cycle, ephemerons_cycle;
} wk;

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
    if (p && !(p & 15) && heap_object_span(val))
        at_or((tc_aword *)(p - TC_HEADER_SIZE), HEADER_WEAKREF);
}

/* verify=1: obj is a live object of `layout`, slot a word inside it. */
static void verify_weak_store(const char *what, void *obj, void **slot, int layout)
{
    char buf[160];
    tc_span *s = heap_object_span(obj);
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
        at_add(&wk.cleared_total, n);
        at_add(&wk.cleared_cycle, n);
    }
}

/* ----------------------------------------------- the pending ephemerons */

/* The table is split into stripes by the key's hash, each with its own
 * lock and hash table: markers filing ephemerons and markers taking them
 * for keys they marked rarely meet on one lock.  Each stripe is an
 * open-addressing table with linear probing: the entries sit in the slot
 * array itself, so a lookup costs one cache miss where a chained table
 * cost two (the bucket, then the entry: 35% of all the ephemeron
 * benchmark's samples were those two loads).  Taking an entry shifts the
 * ones after it back (no tombstones).
 *
 * A stripe grows without stopping anyone: it allocates a table twice the
 * size and keeps the old one beside it; every filing then moves
 * MIGRATE_STEP entries from the old table to the new, and lookups search
 * both until the old one is empty.  (Rehashing a whole stripe at once
 * held its lock 2.5-3.4 ms for 12,000 entries on the ephemeron
 * benchmark, in whichever marker or assisting mutator filed the entry
 * that crossed the load limit.)  The new table takes filings at a load of
 * 3/8 and grows again at 3/4, after 3/4 of its old size more filings; the
 * old table is empty long before that (grow_locked).
 *
 * A stripe's `count` mirrors its number of entries, in both tables, for
 * lock-free polling by markers (weak_key_has_pending). */
#define EPH_STRIPES 64
#define EPH_MIN_SLOTS 64
#define MIGRATE_STEP 8

typedef struct pending {
    uintptr_t key, eph; /* key 0: an empty slot */
} pending;

typedef struct table {
    pending *slots; /* nslots of them, a power of two */
    size_t nslots, n;
} table;

typedef struct TC_OWN_LINE stripe {
    pthread_mutex_t lock;
    table cur;      /* lock; takes every filing; at most 3/4 full */
    table old;      /* lock; entries still to move to cur, or none */
    size_t migrate; /* lock; old's next slot to move from */
    size_t peak;    /* lock; most entries at once this cycle */
    tc_aword count; /* cur.n + old.n, for polling */
} stripe;

static stripe stripes[EPH_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void init_stripes(void)
{
    for (int i = 0; i < EPH_STRIPES; i++)
        plat_mutex_init_short(&stripes[i].lock);
    lock_rank_set_array(&stripes[0].lock, EPH_STRIPES, sizeof stripes[0], RANK_STRIPE);
}

void weak_init(void) { pthread_once(&stripes_once, init_stripes); }

static uint64_t key_hash(uintptr_t key) { return (uint64_t)key * 0x9e3779b97f4a7c15ull; }
static stripe *stripe_of(uintptr_t key) { return &stripes[key_hash(key) >> 58]; }
/* The home slot; bits below the stripe's, so a stripe uses all its slots. */
static size_t home_of(uintptr_t key, size_t n) { return (size_t)(key_hash(key) >> 20) & (n - 1); }

/* t has a free slot: put (key, eph) in the first one from key's home. */
static void table_put(table *t, uintptr_t key, uintptr_t eph)
{
    size_t mask = t->nslots - 1, i = home_of(key, t->nslots);
    while (t->slots[i].key)
        i = (i + 1) & mask;
    t->slots[i] = (pending){key, eph};
    t->n++;
}

/* Empty slot i of t, moving back the entries after it that could not sit
 * in their home (or nearer) because i was taken.  Every entry stays
 * reachable from its home by probing, whatever slot is emptied. */
static void table_remove_at(table *t, size_t i)
{
    size_t mask = t->nslots - 1;
    for (size_t j = (i + 1) & mask; t->slots[j].key; j = (j + 1) & mask) {
        size_t home = home_of(t->slots[j].key, t->nslots);
        if (((j - home) & mask) >= ((j - i) & mask)) { /* home not in (i, j] */
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = (pending){0, 0};
    t->n--;
}

/* Take up to max of the ephemerons filed under key in t into out. */
static size_t table_take(table *t, uintptr_t key, uintptr_t *out, size_t max)
{
    size_t n = 0;
    if (!t->n)
        return 0;
    size_t mask = t->nslots - 1, i = home_of(key, t->nslots);
    while (t->slots[i].key && n < max) {
        if (t->slots[i].key == key) {
            out[n++] = t->slots[i].eph;
            table_remove_at(t, i); /* slot i now holds the next, or nothing */
        } else {
            i = (i + 1) & mask;
        }
    }
    return n;
}

/* s->lock held: move up to `step` entries from the old table to cur (it
 * has room: see above), freeing the old table once it is empty.  Slots
 * before `migrate` may refill, by the shifts of a removal, only from a
 * cluster that wraps round the end: the scan starts again from 0 then. */
static void migrate_locked(stripe *s, size_t step)
{
    table *o = &s->old;
    while (o->n && step) {
        if (s->migrate == o->nslots)
            s->migrate = 0;
        pending *e = &o->slots[s->migrate];
        if (!e->key) {
            s->migrate++;
            continue;
        }
        table_put(&s->cur, e->key, e->eph);
        table_remove_at(o, s->migrate); /* the slot may take the next entry */
        step--;
    }
    if (!o->n && o->slots) {
        free(o->slots);
        *o = (table){0};
        s->migrate = 0;
    }
}

/* s->lock held: room in cur for one more entry at a load of at most 3/4.
 * A full cur becomes the old table of a new one twice its size. */
static int grow_locked(stripe *s)
{
    if (4 * (s->cur.n + 1) <= 3 * s->cur.nslots)
        return 0;
    /* After a grow to 2N slots from at most 3N/4 entries, cur holds at
     * most 3N/4 + k entries after k filings; the old table is empty after
     * 3N/(4 MIGRATE_STEP) filings, long before cur's 3N/2.  Two tables to
     * move would overfill the new one. */
    TC_REQUIRE(s->old.n == 0);
    size_t n = s->cur.nslots ? s->cur.nslots * 2 : EPH_MIN_SLOTS;
    pending *fresh = calloc(n, sizeof *fresh);
    if (!fresh)
        return -1;
    free(s->old.slots); /* empty */
    s->old = s->cur;
    s->migrate = 0;
    s->cur = (table){fresh, n, 0};
    return 0;
}

#ifdef TC_TESTING
/* Every `fail_every`-th try fails as if the stripe were locked, so that
 * tests (test_stress under checkmark) exercise the deferred paths. */
static tc_aword fail_every, fail_tries, fail_total;
void weak_test_fail_trylock(unsigned every) { at_store(&fail_every, every); }
uint64_t weak_test_trylocks_failed(void) { return at_load(&fail_total); }
static int forced_busy(void)
{
    uintptr_t every = at_load(&fail_every);
    if (!every || at_add(&fail_tries, 1) % every != every - 1)
        return 0;
    at_add(&fail_total, 1);
    return 1;
}
#else
static int forced_busy(void) { return 0; }
#endif

/* Take the key's stripe lock: wait for it, or (wait = 0) only if it is
 * free.  NULL when it was not. */
static stripe *lock_stripe(uintptr_t key, int wait)
{
    stripe *s = stripe_of(key);
    if (wait) {
        /* (a holder off the CPU at idle priority is lifted first) */
        if (!plat_idle_trylock(&s->lock))
            stall_lock(&s->lock, STALL_LOCK_PENDING);
    } else if (forced_busy() || pthread_mutex_trylock(&s->lock) != 0)
        return NULL;
    return s;
}

static int file_pending(uintptr_t key, uintptr_t eph, int wait)
{
    stripe *s = lock_stripe(key, wait);
    if (!s)
        return -1;
    int filed = grow_locked(s) == 0;
    if (filed) {
        table_put(&s->cur, key, eph);
        migrate_locked(s, MIGRATE_STEP);
        size_t n = s->cur.n + s->old.n;
        if (n > s->peak)
            s->peak = n;
        at_store(&s->count, n);
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

int weak_ephemeron_pending(uintptr_t key, uintptr_t eph) { return file_pending(key, eph, 1); }
int weak_ephemeron_try_pending(uintptr_t key, uintptr_t eph) { return file_pending(key, eph, 0); }

int weak_key_has_pending(uintptr_t key)
{
    at_fence(); /* the caller's mark bit before the count (weak.h) */
    return at_load(&stripe_of(key)->count) != 0;
}

static long take_pending(uintptr_t key, uintptr_t *out, size_t max, int wait)
{
    stripe *s = lock_stripe(key, wait);
    if (!s)
        return -1;
    size_t n = table_take(&s->cur, key, out, max);
    n += table_take(&s->old, key, out + n, max - n);
    at_store(&s->count, s->cur.n + s->old.n);
    pthread_mutex_unlock(&s->lock);
    return (long)n;
}

size_t weak_take_pending(uintptr_t key, uintptr_t *out, size_t max)
{
    return (size_t)take_pending(key, out, max, 1);
}

long weak_try_take_pending(uintptr_t key, uintptr_t *out, size_t max)
{
    return take_pending(key, out, max, 0);
}

void weak_fork(int stage)
{
    for (int i = 0; i < EPH_STRIPES; i++)
        plat_fork_mutex(&stripes[i].lock, stage);
}

/* Entries left at the end of a cycle had dead keys: dropped.  A stripe
 * keeps its slots for the next cycle, unless this one used less than an
 * eighth of them: a program's ephemerons pend in about the same numbers
 * cycle after cycle, and growing from nothing every cycle cost each
 * stripe ten allocations and as many migrations. */
static void forget_pending(int keep_slots)
{
    for (int i = 0; i < EPH_STRIPES; i++) {
        stripe *s = &stripes[i];
        pthread_mutex_lock(&s->lock);
        free(s->old.slots);
        s->old = (table){0};
        s->migrate = 0;
        if (!keep_slots || 8 * s->peak < s->cur.nslots) {
            free(s->cur.slots);
            s->cur = (table){0};
        } else if (s->peak) {
            memset(s->cur.slots, 0, s->cur.nslots * sizeof *s->cur.slots);
            s->cur.n = 0;
        }
        s->peak = 0;
        at_store(&s->count, 0);
        pthread_mutex_unlock(&s->lock);
    }
}

void weak_forget_pending(void) { forget_pending(1); }

/* ------------------------------------------------------------- counters */

void weak_note_ephemeron_scanned(void)
{
    at_add(&wk.ephemerons_total, 1);
    at_add(&wk.ephemerons_cycle, 1);
}

uint64_t weak_total_cleared(void) { return at_load(&wk.cleared_total); }
uint64_t weak_total_ephemerons(void) { return at_load(&wk.ephemerons_total); }

void weak_take_cycle_counts(uint64_t *cleared, uint64_t *ephemerons)
{
    *cleared = at_load(&wk.cleared_cycle);
    *ephemerons = at_load(&wk.ephemerons_cycle);
    at_sub(&wk.cleared_cycle, *cleared);
    at_sub(&wk.ephemerons_cycle, *ephemerons);
}

void weak_reset(void)
{
    forget_pending(0);
    at_int_store_seq(&tc__weak_mode, WEAK_IDLE);
    wk = (struct weak_state){0}; /* the collector is down */
}
