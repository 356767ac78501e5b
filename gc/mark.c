/* mark.c — marking and the checkmark verifier; see mark.h. */
#include "mark.h"
#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "options.h"
#include "pacer.h"
#include "platform.h"
#include "stall.h"
#include "final.h"
#include "weak.h"

/* The global grey list and the gate; see mark.h. */
static pthread_mutex_t grey_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(grey_lock, RANK_GREY);
static pthread_cond_t work_cond = PTHREAD_COND_INITIALIZER; /* workers wait here */
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER; /* mark_concurrent waits here */
static pthread_cond_t bench_cond = PTHREAD_COND_INITIALIZER; /* benched idle workers */
tc_aword mark_black_allocation; /* read inline (mark.h) */

/* The module's state, reset in one place (mark_reset).  Unless a field
 * says otherwise it is grey_lock's; the atomic words marked TC_OWN_LINE
 * mirror a locked field for lock-free polling by busy markers, each on
 * its own cache line because they are polled in the mark loop. */
static struct mark_state {
    grey_chunk *grey_full;  /* chunks holding grey objects */
    grey_chunk *eph_full;   /* chunks of postponed ephemerons (below) */
    grey_chunk *grey_empty; /* spare chunks */
    int gate_open;          /* workers may take grey work */
    uint64_t gate_opens;    /* times the gate opened: one per marking */
    int nbusy;              /* markers holding grey work taken from the list */
    int nwaiting;           /* workers waiting for work */
    /* mark_concurrent's thread waits on idle_cond (coordinator_waiting).
     * It is woken when marking may be over (nothing busy, nothing on the
     * list), and, if it marks too (coordinator_helps), when work is
     * published.  (It was woken on every chunk published and every marker
     * going idle: 6,000 wake-ups a second that found marking unfinished,
     * each taking a core from the program or the worker on the ephemeron
     * benchmark.) */
    int coordinator_waiting, coordinator_helps;
    int stop_workers;
    /* Dedicated workers waiting for work (the flag for lock-free reads):
     * an idle-priority worker gives all its work back when one waits
     * (drain_while_open). */
    int nwaiting_dedicated;
    TC_OWN_LINE tc_aword gate_open_flag; /* gate_open */
    TC_OWN_LINE tc_aword nfull, neph;    /* the lengths of grey_full and eph_full */
    TC_OWN_LINE tc_aword nwaiting_flag;  /* nwaiting != 0 */
    TC_OWN_LINE tc_aword dedicated_waiting_flag;
    TC_OWN_LINE tc_aword assist_hungry; /* an assist found no work to take */
    /* Atomic, no lock: what marking marked since the collector last took
     * the counts (mark_take_counts). */
    TC_OWN_LINE tc_aword marked_bytes, marked_objects;
    TC_OWN_LINE tc_aword overflowed; /* atomic: see "Mark-stack overflow" */
    tc_aword overflow_said;          /* atomic: the overflow was reported */
    /* Atomic: a forced cycle's markers mark flat out (mark_set_flat_out). */
    tc_aword flat_out;
    /* Checkmark's pending ephemerons (world stopped, no lock; see
     * check_pending_add). */
    uintptr_t *check_pending;
    size_t ncheck_pending, check_pending_cap;
} mk;

/* Mark-stack overflow.  Marking never needs memory it cannot get: when
 * no chunk is free and malloc fails, a marker drops the grey object it
 * could not push (its mark bit stays set: it is "grey in the heap") and
 * sets `overflowed`.  Mark termination then rescans every marked object
 * with the world stopped (mark_finish_overflow), as Boehm GC recovers
 * from a mark-stack overflow.  RESERVE_CHUNKS static chunks, never
 * freed, are on the empty list from tc_init on: with the world stopped and
 * nothing grey every chunk is free, so the rescan can always push. */
#define RESERVE_CHUNKS 2
static TC_OWN_LINE grey_chunk reserve_chunks[RESERVE_CHUNKS];

/* Take grey_lock.  Its holder may be an idle-priority worker that lost
 * its core (it takes grey_lock while it marks at idle priority, to publish
 * and take chunks), and would then keep it for as long as the program
 * keeps every core busy: a thread that has to wait lifts the idle workers
 * first (design.md §10).  Without idle workers this costs one load. */
static void lock_grey(void)
{
    if (!plat_idle_trylock(&grey_lock))
        stall_lock(&grey_lock, STALL_LOCK_GREY);
}

static int is_reserve(const grey_chunk *c)
{
    return c >= reserve_chunks && c < reserve_chunks + RESERVE_CHUNKS;
}

/* An empty chunk, or NULL if none is free and malloc fails. */
static grey_chunk *chunk_get_empty(void)
{
    lock_grey();
    grey_chunk *c = mk.grey_empty;
    if (c)
        mk.grey_empty = c->next;
    pthread_mutex_unlock(&grey_lock);
    if (!c && !PLAT_FAULT(PLAT_FAULT_MARK_CHUNK))
        c = malloc(sizeof *c);
    if (!c)
        return NULL;
    c->next = NULL;
    c->n = 0;
    return c;
}

static void note_overflow(void)
{
    at_store(&mk.overflowed, 1);
    if (!at_load(&mk.overflow_said) && at_cas(&mk.overflow_said, 0, 1))
        plat_diag("out of memory for the mark stack: marking goes on, and mark termination "
                  "rescans the marked heap (a longer pause)");
}

static void put_empty(grey_chunk *c)
{
    lock_grey();
    c->next = mk.grey_empty;
    mk.grey_empty = c;
    pthread_mutex_unlock(&grey_lock);
}

/* grey_lock held: publish a chunk of work on *list (counted in *count)
 * and wake whoever needs it. */
static void publish_locked(grey_chunk **list, tc_aword *count, grey_chunk *c)
{
    c->next = *list;
    *list = c;
    at_store(count, at_load(count) + 1);
    if (mk.gate_open && mk.nwaiting)
        pthread_cond_signal(&work_cond);
    if (mk.coordinator_waiting && mk.coordinator_helps)
        pthread_cond_signal(&idle_cond);
}

static void put_full(grey_chunk *c)
{
    lock_grey();
    publish_locked(&mk.grey_full, &mk.nfull, c);
    pthread_mutex_unlock(&grey_lock);
}

/* A chunk of postponed ephemerons: work for a marker that has no grey
 * work left (below), so it wakes whoever waits for work, as grey does. */
static void put_eph(grey_chunk *c)
{
    lock_grey();
    publish_locked(&mk.eph_full, &mk.neph, c);
    pthread_mutex_unlock(&grey_lock);
}

/* grey_lock held: is there work on the global lists for a marker that
 * may take postponed ephemerons (any but a program thread)? */
static int has_work_locked(void) { return mk.grey_full || mk.eph_full; }

/* grey_lock held: a chunk of grey work, or, if there is none and
 * `postponed` is set, one of postponed ephemerons. */
static grey_chunk *take_full_locked(int postponed)
{
    grey_chunk *c = mk.grey_full;
    if (c) {
        mk.grey_full = c->next;
        at_store(&mk.nfull, at_load(&mk.nfull) - 1);
    } else if (postponed && (c = mk.eph_full) != NULL) {
        mk.eph_full = c->next;
        at_store(&mk.neph, at_load(&mk.neph) - 1);
    }
    return c;
}

static grey_chunk *take_full(int postponed)
{
    lock_grey();
    grey_chunk *c = take_full_locked(postponed);
    pthread_mutex_unlock(&grey_lock);
    return c;
}

int mark_has_global_work(void) { return at_load(&mk.nfull) != 0 || at_load(&mk.neph) != 0; }
int mark_gate_is_open(void) { return at_load(&mk.gate_open_flag) != 0; }

void mark_visitor_init(tc_visitor *v, int mode)
{
    *v = (tc_visitor){.mode = mode, .root_kind = "roots"};
}

/* Publish what the visitor marked: the cycle's counts and the pacer's
 * scan work (markers do this as they go, so assists see progress). */
static void flush_counts(tc_visitor *v)
{
    if (v->mode == VISIT_MARK && (v->bytes || v->objects)) {
        mark_add_counts(v->bytes, v->objects);
        pacer_note_scan(v->bytes, v->background);
    }
    v->bytes = v->objects = 0;
}

static inline void push_grey(tc_visitor *v, void *item);

/* A visitor's chunk goes back: published with `put` if it holds work,
 * else to the spares. */
static void hand_back(grey_chunk **chunk, void (*put)(grey_chunk *))
{
    if (*chunk)
        ((*chunk)->n ? put : put_empty)(*chunk);
    *chunk = NULL;
}

void mark_visitor_done(tc_visitor *v)
{
    for (unsigned i = 0; i < v->ndeferred; i++)
        push_grey(v, (void *)v->deferred[i]);
    v->ndeferred = 0;
    hand_back(&v->eph_chunk, put_eph);
    hand_back(&v->chunk, put_full);
    flush_counts(v);
    v->span_bytes = 0; /* a visitor used again may be in another cycle */
}

/* push_grey with the visitor's chunk full or absent. */
static void push_grey_new_chunk(tc_visitor *v, void *item)
{
    grey_chunk *fresh = chunk_get_empty();
    if (!fresh) {
        note_overflow();
        return;
    }
    if (v->chunk)
        put_full(v->chunk);
    v->chunk = fresh;
    fresh->items[fresh->n++] = item;
}

/* item's mark bit is set: push it, or drop it as overflow. */
static inline void push_grey(tc_visitor *v, void *item)
{
    grey_chunk *c = v->chunk;
    TC_ASSERT(!c || c->n <= GREY_CHUNK_ITEMS);
    if (__builtin_expect(!c || c->n == GREY_CHUNK_ITEMS, 0))
        push_grey_new_chunk(v, item);
    else
        c->items[c->n++] = item;
}

/* The next grey item: from the visitor's chunk, else from the global
 * list; with no grey work left anywhere, a postponed ephemeron, the
 * visitor's own first.  Program threads (nowait) take no postponed
 * ones: they are postponed until the mark workers run out of grey work,
 * when most keys that will be reached have been. */
static void *pop_grey(tc_visitor *v)
{
    grey_chunk *c = v->chunk;
    if (c && c->n)
        return c->items[--c->n];
    grey_chunk *full = take_full(0);
    if (!full && !v->nowait) {
        if (v->eph_chunk && v->eph_chunk->n) {
            full = v->eph_chunk;
            v->eph_chunk = NULL;
        } else {
            full = take_full(1);
        }
    }
    if (!full)
        return NULL;
    if (c)
        put_empty(c);
    v->chunk = full;
    return full->items[--full->n];
}

/* Idle workers or assists wait while this marker has a chunk of work to
 * itself: give them half of it. */
static void share_work(tc_visitor *v)
{
    grey_chunk *c = v->chunk;
    if (!c || c->n < 8 || at_load(&mk.nfull) ||
        !(at_load(&mk.nwaiting_flag) || at_load(&mk.assist_hungry)))
        return;
    grey_chunk *half = chunk_get_empty();
    if (!half)
        return;
    at_store(&mk.assist_hungry, 0);
    size_t keep = c->n / 2;
    half->n = c->n - keep;
    memcpy(half->items, c->items + keep, half->n * sizeof(void *));
    c->n = keep;
    put_full(half);
}

static const char *type_name(const tc_type *t)
{
    return t && t->name ? t->name : "?";
}

static const tc_type *header_of(uintptr_t payload) { return header_type(payload); }

/* Who holds the reference being visited, for diagnostics. */
static void describe_referrer(const tc_visitor *v, char *buf, size_t len)
{
    if (v->current)
        snprintf(buf, len, "a %s object at %p", type_name(header_of((uintptr_t)v->current)),
                 v->current);
    else
        snprintf(buf, len, "%s", v->root_kind);
}

static void report_bad_reference(const tc_visitor *v, uintptr_t p)
{
    char who[128], what[160];
    describe_referrer(v, who, sizeof who);
    plat_diag("verify: %s holds %p, %s (ignored)", who, (void *)p,
              heap_describe_address(p, what, sizeof what));
}

static void checkmark_failed(const tc_visitor *v, uintptr_t p, const tc_type *t)
{
    char who[128];
    describe_referrer(v, who, sizeof who);
    plat_fatal("checkmark: object %p of type %s is reachable (from %s) but was not marked: "
               "a missing write barrier, a root that was not registered, or a type whose "
               "layout hides this reference (declared LEAF, or a trace function that does "
               "not visit it)", (void *)p, type_name(t), who);
}

/* verify=1, for a word the marker ignores: report it if it is not a
 * value.  A word with any of its low three bits set is a tagged value,
 * whatever it points to (so an odd fixnum is never reported); an 8-byte
 * aligned one that points into the heap but not at a live object's start
 * is an interior pointer or a dangling one, and keeps nothing alive. */
static void verify_ignored_word(const tc_visitor *v, uintptr_t p)
{
    if (!(p & 7) && heap_contains(p))
        report_bad_reference(v, p);
}

/* Grey items: an object, or a tagged word (payloads are 16-aligned):
 *   p | ITEM_OBLET        one OBLET_BYTES piece of a large object
 *   p | ITEM_KEY_PENDING  key p was marked: take the ephemerons pending
 *                         on it (deferred by a program thread: nowait)
 *   p | ITEM_EPH_VALUE    ephemeron p's key was reached: visit its value
 *   p | ITEM_EPH_FILE     ephemeron p's key was not marked: look at it
 *                         again, and file it if it still is not
 *                         (postponed, or deferred by a program thread) */
#define ITEM_OBLET ((uintptr_t)1)
#define ITEM_KEY_PENDING ((uintptr_t)2)
#define ITEM_EPH_VALUE ((uintptr_t)4)
#define ITEM_EPH_FILE ((uintptr_t)8)

#ifdef TC_TESTING
/* mark_test_small_chunks: tiny postponed chunks and deferred lists, so
 * that a stress run hands them over as often as it can. */
static unsigned postpone_cap = GREY_CHUNK_ITEMS, defer_cap = 16;
void mark_test_small_chunks(int on)
{
    postpone_cap = on ? 3 : GREY_CHUNK_ITEMS;
    defer_cap = on ? 2 : 16;
}
#else
enum { postpone_cap = GREY_CHUNK_ITEMS, defer_cap = 16 };
#endif

/* The deferred items, full: publish them as a chunk of their own, so
 * that a mark worker takes them now.  0 if no chunk can be had. */
static int spill_deferred(tc_visitor *v)
{
    grey_chunk *c = chunk_get_empty();
    if (!c)
        return 0;
    memcpy(c->items, v->deferred, v->ndeferred * sizeof v->deferred[0]);
    c->n = v->ndeferred;
    v->ndeferred = 0;
    put_full(c);
    return 1;
}

/* A nowait visitor could not take a stripe lock: keep the item for a
 * marker that may wait.  A stripe stays locked as long as its holder is
 * off its core, which on a busy machine is a scheduler tick or more: a
 * program thread that waited would stall that long (the ephemeron
 * benchmark's 2-3 ms "lock (pending)" stalls).  0 only if out of memory
 * for a chunk (the caller waits). */
static int defer(tc_visitor *v, uintptr_t item)
{
    if (v->ndeferred == defer_cap && !spill_deferred(v))
        return 0;
    v->deferred[v->ndeferred++] = item;
    return 1;
}

/* A marker marked key (HEADER_WEAKREF): the ephemerons pending on it get
 * their values visited, as grey items (weak.h). */
static void push_pending_values(tc_visitor *v, uintptr_t key)
{
    uintptr_t eph[64];
    for (;;) {
        long n = v->nowait ? weak_try_take_pending(key, eph, 64)
                           : (long)weak_take_pending(key, eph, 64);
        if (n < 0) {
            if (defer(v, key | ITEM_KEY_PENDING))
                return;
            n = (long)weak_take_pending(key, eph, 64);
        }
        if (n == 0)
            return;
        for (long i = 0; i < n; i++)
            push_grey(v, (void *)(eph[i] | ITEM_EPH_VALUE));
    }
}

/* The mark loop's steps, from scanning an item down to visiting one of
 * its words, are inlined into one function (scan_item): a call costs a
 * prologue and an epilogue, and a small object's scan took five of them,
 * a fifth of the marker's instructions (cachegrind, markrate). */
#define HOT_INLINE __attribute__((always_inline))

/* heap_span_of(p), through the visitor's one-span cache. */
static inline HOT_INLINE tc_span *span_of(tc_visitor *v, uintptr_t p)
{
    if (p - v->span_base < v->span_bytes)
        return v->span;
    tc_span *s = heap_span_of(p);
    if (s) {
        v->span = s;
        v->span_base = s->base;
        v->span_bytes = s->npages * TC_PAGE_SIZE;
    }
    return s;
}

static inline HOT_INLINE void visit_word(tc_visitor *v, uintptr_t p)
{
    v->visits++;
    if (!p)
        return;
    if (p & 15) {
        if (opt.verify)
            verify_ignored_word(v, p);
        return;
    }
    tc_span *s = span_of(v, p);
    if (!s) {
        if (opt.verify)
            verify_ignored_word(v, p);
        return;
    }
    long idx = span_slot_index(s, p);
    uintptr_t h = idx < 0 ? HEADER_DEAD : header_word(p);
    const tc_type *t = (h & HEADER_DEAD) ? NULL : (const tc_type *)(h & ~HEADER_FLAGS);
    if (!t) {
        if (opt.verify)
            report_bad_reference(v, p);
        return;
    }
    uint64_t bit = (uint64_t)1 << (idx & 63);
    tc_aword *word = (v->mode == VISIT_MARK ? s->markbits : s->checkbits) + idx / 64;
    if (!at_set_bits(word, bit))
        return;
    if (v->mode == VISIT_MARK) {
        v->bytes += span_object_bytes(s);
        v->objects++;
        if (__builtin_expect((h & HEADER_WEAKREF) != 0, 0) && weak_key_has_pending(p))
            push_pending_values(v, p);
    } else if (!(at_load(&s->markbits[idx / 64]) & bit)) {
        checkmark_failed(v, p, t);
    }
    if (t->layout != TC_LAYOUT_LEAF && t->layout != TC_LAYOUT_WEAK)
        push_grey(v, (void *)p);
}

void tc_visit(tc_visitor *v, void *ref)
{
    if (v->current == NULL)
        v->roots++;
    if (ref == v->skip && ref)
        return;
    visit_word(v, (uintptr_t)ref);
}

void tc_visit_slots(tc_visitor *v, void *const *slots, size_t n)
{
    if (v->current == NULL)
        v->roots += n;
    for (size_t i = 0; i < n; i++) {
        uintptr_t p = at_load((const tc_aword *)&slots[i]);
        if (!p || p != (uintptr_t)v->skip)
            visit_word(v, p);
    }
}

static inline HOT_INLINE void scan_words(tc_visitor *v, uintptr_t from, uintptr_t to)
{
    for (const tc_aword *w = (const tc_aword *)from; (uintptr_t)w < to; w++)
        visit_word(v, at_load(w));
}

/* The first oblet of a large SLOTS object: push the others, scan this. */
static void scan_large_slots(tc_visitor *v, uintptr_t obj, uintptr_t end)
{
    for (uintptr_t p = obj + OBLET_BYTES; p < end; p += OBLET_BYTES)
        push_grey(v, (void *)(p | 1));
    scan_words(v, obj, obj + OBLET_BYTES);
}

/* A later oblet: scan from p to the end of the piece or of the object
 * (a large one, or a small one of more than OBLET_BYTES). */
static void scan_oblet(tc_visitor *v, uintptr_t p)
{
    tc_span *s = heap_span_of(p);
    uintptr_t slot = span_slot_addr(s, span_slot_containing(s, p));
    uintptr_t obj = slot + TC_HEADER_SIZE, end = slot + s->slot_size;
    v->current = (void *)obj;
    scan_words(v, p, p + OBLET_BYTES < end ? p + OBLET_BYTES : end);
    v->current = NULL;
}

/* Is an ephemeron's key (a word) reachable for this visitor's kind of
 * marking?  A word that is no heap object never dies: the value is
 * strong then.  Nor does a key with a finalizer, while it has one: if it
 * is found unreachable it is kept for its finalizer, and weak references
 * to it stay valid (weak.h), so its ephemerons' values must stay too. */
static int key_reached(const tc_visitor *v, uintptr_t key)
{
    if (!key || (key & 15))
        return 1;
    tc_span *s = heap_span_of(key);
    long idx = s ? span_slot_index(s, key) : -1;
    if (idx < 0)
        return 1;
    const tc_aword *bits = v->mode == VISIT_MARK ? s->markbits : s->checkbits;
    if (at_load(&bits[idx / 64]) >> (idx & 63) & 1)
        return 1;
    return (header_word(key) & HEADER_SPECIAL) && final_has_finalizer((void *)key);
}

/* Checkmark's ephemerons whose key it has not reached yet: it resolves
 * them by iteration (world stopped), not through the pending table. */

static void check_pending_add(uintptr_t eph)
{
    if (mk.ncheck_pending == mk.check_pending_cap) {
        size_t cap = mk.check_pending_cap ? 2 * mk.check_pending_cap : 1024;
        uintptr_t *p = realloc(mk.check_pending, cap * sizeof *p);
        if (!p)
            plat_fatal("checkmark: out of memory for %zu ephemerons", cap);
        mk.check_pending = p;
        mk.check_pending_cap = cap;
    }
    mk.check_pending[mk.ncheck_pending++] = eph;
}

/* Word 0 the key, word 1 the value, the rest strong (tricolor.h). */
/* Work units (visits) beyond its words: an item costs a header read (a
 * likely cache miss); an ephemeron whose key is not marked yet costs an
 * entry in the pending table (a lock and a probe).  Without these, 1,024
 * two-word ephemerons ran 3-7 ms between two clock reads, and assists
 * ran ten times past their 500 us deadline. */
#define ITEM_VISITS 8
#define PENDING_VISITS 96

/* Put ephemeron obj, whose key is not marked yet, aside until the grey
 * work runs out.  0 if no chunk can be had: the caller files it now. */
static int postpone(tc_visitor *v, uintptr_t obj)
{
    grey_chunk *c = v->eph_chunk;
    if (!c || c->n == postpone_cap) {
        grey_chunk *fresh = chunk_get_empty();
        if (!fresh)
            return 0;
        if (c)
            put_eph(c);
        c = v->eph_chunk = fresh;
    }
    c->items[c->n++] = (void *)(obj | ITEM_EPH_FILE);
    return 1;
}

/* Ephemeron obj's key and value, its other words scanned: visit the
 * value if the key is reached.  Else, when first scanned, postpone it;
 * when postponed before, file it under the key (or, for a nowait visitor
 * facing a locked stripe, defer the filing). */
static void scan_ephemeron_pair(tc_visitor *v, uintptr_t obj, int first)
{
    const tc_aword *w = (const tc_aword *)obj;
    uintptr_t key = at_load(&w[0]);
    if (key_reached(v, key)) {
        visit_word(v, at_load(&w[1]));
        return;
    }
    if (v->mode == VISIT_CHECK) {
        check_pending_add(obj);
        return;
    }
    if (first && postpone(v, obj))
        return;
    v->visits += PENDING_VISITS;
    int r = v->nowait ? weak_ephemeron_try_pending(key, obj) : weak_ephemeron_pending(key, obj);
    if (r < 0 && defer(v, obj | ITEM_EPH_FILE))
        return;
    if (r < 0)
        r = weak_ephemeron_pending(key, obj);
    if (!r)
        visit_word(v, at_load(&w[1])); /* the key was marked meanwhile */
}

static void scan_ephemeron(tc_visitor *v, uintptr_t obj, size_t bytes)
{
    scan_words(v, obj + 2 * sizeof(tc_aword), obj + bytes);
    if (v->mode == VISIT_MARK)
        weak_note_ephemeron_scanned();
    scan_ephemeron_pair(v, obj, 1);
}

static inline HOT_INLINE size_t payload_bytes(tc_visitor *v, uintptr_t obj)
{
    return span_of(v, obj)->slot_size - TC_HEADER_SIZE;
}

static inline HOT_INLINE void scan_object(tc_visitor *v, void *obj)
{
    const tc_type *t = header_of((uintptr_t)obj);
    v->current = obj;
    switch (t->layout) {
    case TC_LAYOUT_SLOTS: {
        uintptr_t start = (uintptr_t)obj, end = start + payload_bytes(v, start);
        if (end - start > OBLET_BYTES)
            scan_large_slots(v, start, end);
        else
            scan_words(v, start, end);
        break;
    }
    case TC_LAYOUT_TRACE:
        t->trace(v, obj);
        break;
    case TC_LAYOUT_EPHEMERON:
        scan_ephemeron(v, (uintptr_t)obj, payload_bytes(v, (uintptr_t)obj));
        break;
    default: /* LEAF and WEAK hold nothing strong */
        break;
    }
    v->current = NULL;
}

/* An ephemeron postponed, or whose filing a program thread deferred. */
static void file_deferred_ephemeron(tc_visitor *v, uintptr_t eph)
{
    v->current = (void *)eph;
    scan_ephemeron_pair(v, eph, 0);
    v->current = NULL;
}

/* An ephemeron whose key a marker reached after filing it: its value. */
static void scan_ephemeron_value(tc_visitor *v, uintptr_t eph)
{
    v->current = (void *)eph;
    visit_word(v, at_load(&((const tc_aword *)eph)[1]));
    v->current = NULL;
}

static void scan_item(tc_visitor *v, void *item)
{
    uintptr_t p = (uintptr_t)item;
    v->visits += ITEM_VISITS;
    if (p & ITEM_OBLET)
        scan_oblet(v, p & ~ITEM_OBLET);
    else if (p & ITEM_EPH_VALUE)
        scan_ephemeron_value(v, p & ~ITEM_EPH_VALUE);
    else if (p & ITEM_KEY_PENDING)
        push_pending_values(v, p & ~ITEM_KEY_PENDING);
    else if (p & ITEM_EPH_FILE)
        file_deferred_ephemeron(v, p & ~ITEM_EPH_FILE);
    else
        scan_object(v, item);
}

void mark_scan_contents(tc_visitor *v, void *obj)
{
    const tc_type *t = header_of((uintptr_t)obj);
    if (!t)
        return;
    v->current = obj;
    v->skip = obj;
    if (t->layout == TC_LAYOUT_SLOTS) {
        const tc_aword *w = obj;
        size_t n = payload_bytes(v, (uintptr_t)obj) / sizeof(tc_aword);
        for (size_t i = 0; i < n; i++) {
            uintptr_t p = at_load(&w[i]);
            if (p != (uintptr_t)obj)
                visit_word(v, p);
        }
    } else {
        scan_object(v, obj);
    }
    v->skip = NULL;
    v->current = NULL;
}

void mark_set_bit_of(uintptr_t p)
{
    tc_span *s = heap_span_of(p);
    long idx = s ? span_slot_index(s, p) : -1;
    if (idx >= 0)
        at_or(&s->markbits[idx / 64], (uintptr_t)1 << (idx & 63));
}

/* Mark obj if it is not marked, and push it to be scanned again. */
static void rescan_into(tc_visitor *v, uintptr_t obj)
{
    tc_span *s = heap_span_of(obj);
    long idx = s ? span_slot_index(s, obj) : -1;
    if (idx < 0)
        return;
    if (at_set_bits(&s->markbits[idx / 64], (uintptr_t)1 << (idx & 63))) {
        v->bytes += span_object_bytes(s);
        v->objects++;
    }
    push_grey(v, (void *)obj);
}

void mark_shade_batch(void *const *vals, size_t n)
{
    tc_visitor v;
    mark_visitor_init(&v, VISIT_MARK);
    v.root_kind = "the write barrier";
    v.nowait = 1; /* on a program thread (or in a pause) */
    for (size_t i = 0; i < n; i++) {
        uintptr_t p = at_load((const tc_aword *)&vals[i]);
        if (p & MARK_RESCAN_TAG)
            rescan_into(&v, p & ~(uintptr_t)MARK_RESCAN_TAG);
        else
            tc_visit(&v, (void *)p);
    }
    /* Grey objects go to the global list for the markers to drain. */
    mark_visitor_done(&v);
}

void mark_drain(tc_visitor *v)
{
    void *item;
    while ((item = pop_grey(v)) != NULL)
        scan_item(v, item);
}

/* Scan a marked object whole, a large SLOTS one included: the rescan
 * must not depend on pushing oblets. */
static void rescan_object(tc_visitor *v, uintptr_t obj, const tc_span *s)
{
    const tc_type *t = header_of(obj);
    if (!t || t->layout == TC_LAYOUT_LEAF || t->layout == TC_LAYOUT_WEAK)
        return;
    v->current = (void *)obj;
    if (t->layout == TC_LAYOUT_SLOTS)
        scan_words(v, obj, obj + s->slot_size - TC_HEADER_SIZE);
    else if (t->layout == TC_LAYOUT_EPHEMERON)
        scan_ephemeron(v, obj, s->slot_size - TC_HEADER_SIZE);
    else
        t->trace(v, (void *)obj);
    v->current = NULL;
}

/* heap_for_each_span: rescan the objects of s that carry the visitor's
 * bit, draining after each so that the stack stays short. */
static void rescan_span(tc_span *s, void *ctx)
{
    tc_visitor *v = ctx;
    uintptr_t st = at_load(&s->state);
    if (st != SPAN_SMALL && st != SPAN_LARGE)
        return;
    const tc_aword *bits = v->mode == VISIT_MARK ? s->markbits : s->checkbits;
    for (size_t idx = 0; idx < s->nelems; idx++) {
        if (!(at_load(&bits[idx / 64]) >> (idx & 63) & 1))
            continue;
        rescan_object(v, span_slot_addr(s, idx) + TC_HEADER_SIZE, s);
        mark_drain(v);
    }
}

int mark_finish_overflow(tc_visitor *v)
{
    int passes = 0;
    while (at_load(&mk.overflowed)) {
        at_store(&mk.overflowed, 0);
        heap_for_each_span(rescan_span, v);
        passes++;
    }
    return passes;
}

/* A worker's drain looks at its deadline (a fractional or idle slice)
 * and the gate every this many units of work (tc_visitor.visits), not
 * items: one item could once be a 128 KiB oblet (16,384 words, a cache
 * miss each at worst), so 64 items could be 8 MiB of scanning. */
#define CHECK_VISITS 1024
/* Loops whose deadline is a short slice (an assist's 100 us, pause 2's
 * drain) look at the clock more often: 128 visits are at most ~13 us
 * when every word is a cache miss, and a clock read costs ~25 ns. */
#define SLICE_CHECK_VISITS 128

int mark_drain_until(tc_visitor *v, uint64_t deadline_ns)
{
    void *item;
    uint64_t next_check = v->visits + SLICE_CHECK_VISITS;
    while ((item = pop_grey(v)) != NULL) {
        scan_item(v, item);
        if (v->visits >= next_check) {
            next_check = v->visits + SLICE_CHECK_VISITS;
            if (plat_now_ns() >= deadline_ns) {
                mark_visitor_done(v);
                return !mark_has_global_work();
            }
        }
    }
    return 1;
}

/* The stress mode (TRICOLOR_DEBUG=stress=N) marks this many grey items,
 * then rests: marking crawls, so that the program's stores land while it
 * runs, where a missing write barrier loses objects (checkmark then says
 * which). */
#define STRESS_SLICE_ITEMS 4
#define STRESS_REST_NS 20000

/* An idle-priority worker holds grey work only while nobody else could
 * take it: it may be off the CPU for seconds once the program's threads
 * want every core, and its work waits with it (design.md §10). */
static int idle_should_give_back(void)
{
    return at_load(&mk.dedicated_waiting_flag) || at_load(&mk.assist_hungry);
}

/* An idle worker marks at idle priority, and only then: it takes and
 * gives back work at normal priority.  Whoever waits for what it holds
 * lifts it (lock_grey, note_waiting_locked, mark_assist), and so does
 * mark_concurrent's watchdog once it has been lowered too long; a waiter
 * that came before the lowering is seen here, after it (the lowered bit
 * and the waiters' flags are a Dekker pair: each side stores, fences,
 * then loads the other's). */
static void lower_idle_worker(void)
{
    plat_idle_lower();
    if (idle_should_give_back())
        plat_idle_lift_self();
}

/* A worker's drain: until no work is left, the gate closes or the
 * deadline passes (a fractional or idle worker's slice); an idle worker
 * also stops, giving all its work back, when another marker waits. */
static void drain_while_open(tc_visitor *v, uint64_t deadline_ns, int idle)
{
    void *item;
    uint64_t next_check = v->visits + CHECK_VISITS;
    for (unsigned n = 1; (item = pop_grey(v)) != NULL; n++) {
        scan_item(v, item);
        if (opt.stress && n % STRESS_SLICE_ITEMS == 0)
            plat_sleep_ns(STRESS_REST_NS);
        if (v->visits >= next_check) {
            next_check = v->visits + CHECK_VISITS;
            flush_counts(v);
            if (!at_load(&mk.gate_open_flag))
                break;
            if (deadline_ns != UINT64_MAX && plat_now_ns() >= deadline_ns)
                break;
            if (idle && idle_should_give_back()) {
                at_store(&mk.assist_hungry, 0); /* fed below */
                break;
            }
            share_work(v);
        }
    }
    mark_visitor_done(v);
}

/* grey_lock held: the caller stops holding grey work. */
static void leave_busy_locked(void)
{
    mk.nbusy--;
    if (!mk.nbusy && mk.coordinator_waiting && (mk.coordinator_helps || !has_work_locked()))
        pthread_cond_signal(&idle_cond);
}

/* grey_lock held, global work waiting: start v on a chunk of it, count
 * the caller busy, and drop the lock.  A mark worker (background) may
 * take postponed ephemerons and wait on stripe locks; a program thread
 * (an assist) does neither. */
static void start_on_work_locked(tc_visitor *v, int background)
{
    mark_visitor_init(v, VISIT_MARK);
    v->background = background;
    v->nowait = !background;
    v->chunk = take_full_locked(background);
    mk.nbusy++;
    pthread_mutex_unlock(&grey_lock);
}

/* grey_lock held: take a chunk and drain it (dropping the lock meanwhile)
 * as a background marker, adding the CPU used to *cpu_ns; returns it. */
static uint64_t drain_one_chunk_locked(tc_aword *cpu_ns, int idle, uint64_t deadline_ns)
{
    tc_visitor v;
    start_on_work_locked(&v, 1);
    if (idle)
        lower_idle_worker();
    uint64_t cpu0 = plat_thread_cpu_ns();
    drain_while_open(&v, deadline_ns, idle);
    uint64_t cpu = plat_thread_cpu_ns() - cpu0;
    at_add(cpu_ns, cpu);
    if (!idle)
        pacer_note_gc_cpu(cpu);
    else
        plat_idle_lift_self(); /* it holds nothing at idle priority */
    lock_grey();
    leave_busy_locked();
    return cpu;
}

/* Set while a cycle that a program thread waits for is marking: the
 * dedicated markers drop their duty and mark flat out.  The thread that
 * asked (tc_collect, or an allocation that found no memory) is stopped
 * until the cycle ends, so pacing the markers to leave it the cores only
 * made it wait longer: on 2 cores one worker marked half of the time, and
 * two workers marked no faster than one. */
void mark_set_flat_out(int on) { at_store(&mk.flat_out, (uintptr_t)(on != 0)); }

/* grey_lock held: one burst of background marking, then, for a
 * fractional marker, a rest long enough to keep its share at `duty`.  An
 * idle worker's bursts are slices too, so that it holds no work between
 * them (it goes straight back for more).  Returns 1 when an idle worker
 * was kept off the CPU for most of its burst: the cores are not spare. */
static int mark_burst_locked(tc_aword *cpu_ns, double duty, int idle)
{
    if (at_load(&mk.flat_out) && !idle)
        duty = 1;
    uint64_t t0 = plat_now_ns();
    int sliced = duty < 1 || idle;
    uint64_t cpu = drain_one_chunk_locked(cpu_ns, idle, sliced ? t0 + MARK_SLICE_NS : UINT64_MAX);
    uint64_t busy = plat_now_ns() - t0;
    if (duty >= 1)
        return idle && busy > 2 * cpu + MARK_SLICE_NS;
    pthread_mutex_unlock(&grey_lock);
    plat_sleep_ns((uint64_t)((double)busy * (1 - duty) / duty));
    lock_grey();
    return 0;
}

uint64_t mark_assist(uint64_t work, uint64_t deadline_ns)
{
    lock_grey();
    if (!mk.gate_open || !mk.grey_full) {
        int hungry = mk.gate_open;
        if (hungry)
            at_store(&mk.assist_hungry, 1);
        pthread_mutex_unlock(&grey_lock);
        if (hungry)
            plat_idle_lift_all();
        return 0;
    }
    tc_visitor v;
    start_on_work_locked(&v, 0);
    /* (Checking every 8 items once let an assist run 10 ms past its cap
     * on the latency benchmark's ring.) */
    uint64_t done = 0, next_check = SLICE_CHECK_VISITS;
    void *item;
    while ((item = pop_grey(&v)) != NULL) {
        scan_item(&v, item);
        if (v.visits >= next_check) {
            next_check = v.visits + SLICE_CHECK_VISITS;
            done += v.bytes;
            flush_counts(&v);
            /* A pause waits for this thread: stop, and let it park. */
            if (done >= work || plat_now_ns() >= deadline_ns ||
                at_int_load(&tc__safepoint_requested))
                break;
        }
    }
    done += v.bytes;
    mark_visitor_done(&v);
    lock_grey();
    leave_busy_locked();
    pthread_mutex_unlock(&grey_lock);
    return done;
}

static void set_gate_locked(int open)
{
    mk.gate_opens += open != 0;
    mk.gate_open = open;
    at_store(&mk.gate_open_flag, (uintptr_t)open);
    if (open) {
        pthread_cond_broadcast(&work_cond);
        pthread_cond_broadcast(&bench_cond);
    }
}

/* An idle worker lowers itself for one slice (MARK_SLICE_NS) at a time;
 * one still lowered this long after has lost its core. */
#define IDLE_OVERDUE_NS (2 * MARK_SLICE_NS)

/* grey_lock held: mark_concurrent's wait.  With idle workers it is also
 * their watchdog: marking cannot end while one holds work, and one that
 * lost its core holding some may wait for it for seconds, whether or not
 * anyone else waits for work yet; so it wakes every IDLE_OVERDUE_NS and
 * lifts any idle worker lowered longer than that. */
static void coordinator_wait_locked(void)
{
    if (!plat_idle_registered()) {
        pthread_cond_wait(&idle_cond, &grey_lock);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* idle_cond's clock */
    ts.tv_nsec += IDLE_OVERDUE_NS;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&idle_cond, &grey_lock, &ts);
    if (mk.nbusy)
        plat_idle_lift_overdue(IDLE_OVERDUE_NS);
}

void mark_concurrent(int help, double duty, tc_aword *cpu_ns)
{
    lock_grey();
    set_gate_locked(1);
    mk.coordinator_helps = help;
    for (;;) {
        if (help && has_work_locked()) {
            mark_burst_locked(cpu_ns, duty, 0);
            continue;
        }
        if (!mk.nbusy && !has_work_locked())
            break;
        mk.coordinator_waiting = 1;
        coordinator_wait_locked();
        mk.coordinator_waiting = 0;
    }
    set_gate_locked(0);
    pthread_mutex_unlock(&grey_lock);
}

/* grey_lock held: a worker starts (+1) or stops (-1) waiting for work. */
static void note_waiting_locked(int delta, int idle)
{
    mk.nwaiting += delta;
    at_store(&mk.nwaiting_flag, (uintptr_t)mk.nwaiting);
    if (!idle) {
        mk.nwaiting_dedicated += delta;
        at_store(&mk.dedicated_waiting_flag, (uintptr_t)mk.nwaiting_dedicated);
        if (delta > 0 && mk.nbusy)
            plat_idle_lift_all(); /* it may hold the only work */
    }
}

/* An idle worker that was kept off the CPU while it marked sits out the
 * rest of that cycle and, if it keeps being kept off, more: 1, 2, 4 ...
 * up to MAX_SIT_OUT cycles, back to none after a burst that ran.  The
 * program wants every core, and the dedicated workers and assists mark
 * as they would without it.  Lifting it (lower_idle_worker) bounds the
 * harm of one such burst; this stops it taking work again and again only
 * to be lifted each time, a scheduler wait for each.  Meanwhile it waits on
 * bench_cond, not counted as waiting: nobody splits work for it, and a
 * signal meant for a worker that may take work does not wake it. */
#define MAX_SIT_OUT 64

void mark_worker_loop(tc_aword *cpu_ns, double duty, int idle)
{
    uint64_t sit_out_until = 0, sit_out = 1; /* gate openings */
    lock_grey();
    for (;;) {
        for (;;) {
            int sits_out = mk.gate_open && mk.gate_opens < sit_out_until;
            if (mk.stop_workers || (mk.gate_open && has_work_locked() && !sits_out))
                break;
            if (sits_out) { /* (not on work_cond: it would eat a signal) */
                pthread_cond_wait(&bench_cond, &grey_lock);
                continue;
            }
            note_waiting_locked(+1, idle);
            pthread_cond_wait(&work_cond, &grey_lock);
            note_waiting_locked(-1, idle);
        }
        if (mk.stop_workers)
            break;
        if (mark_burst_locked(cpu_ns, duty, idle)) {
            sit_out_until = mk.gate_opens + sit_out;
            sit_out = sit_out < MAX_SIT_OUT ? 2 * sit_out : MAX_SIT_OUT;
        } else {
            sit_out = 1;
        }
    }
    pthread_mutex_unlock(&grey_lock);
}

void mark_allow_workers(void)
{
    lock_grey();
    mk.stop_workers = 0;
    pthread_mutex_unlock(&grey_lock);
}

void mark_fork(int stage)
{
    plat_fork_mutex(&grey_lock, stage);
    plat_fork_cond(&work_cond, stage);
    plat_fork_cond(&idle_cond, stage);
    plat_fork_cond(&bench_cond, stage);
}

void mark_stop_workers(void)
{
    lock_grey();
    mk.stop_workers = 1;
    pthread_cond_broadcast(&work_cond);
    pthread_cond_broadcast(&bench_cond);
    pthread_mutex_unlock(&grey_lock);
}

void mark_set_black_allocation(int on) { at_store_seq(&mark_black_allocation, (uintptr_t)on); }

#ifdef TC_TESTING
int mark_is_marked(const void *p)
{
    tc_span *s = heap_span_of((uintptr_t)p);
    long idx = s ? span_slot_index(s, (uintptr_t)p) : -1;
    return idx >= 0 && (at_load(&s->markbits[idx / 64]) >> (idx & 63) & 1);
}
#endif

static void clear_checkbits(tc_span *s, void *ctx)
{
    (void)ctx;
    for (unsigned w = 0; w < TC_BITWORDS; w++)
        at_store(&s->checkbits[w], 0);
}

/* Checkmark's ephemerons, to a fixpoint: visit the value of each whose
 * key is now reached, drain, and again, until a pass reaches nothing. */
static void check_resolve_ephemerons(tc_visitor *v)
{
    for (int progress = 1; progress;) {
        progress = 0;
        size_t kept = 0;
        for (size_t i = 0; i < mk.ncheck_pending; i++) {
            uintptr_t eph = mk.check_pending[i];
            if (key_reached(v, at_load(&((const tc_aword *)eph)[0]))) {
                scan_ephemeron_value(v, eph);
                progress = 1;
            } else {
                mk.check_pending[kept++] = eph;
            }
        }
        mk.ncheck_pending = kept;
        mark_drain(v);
        mark_finish_overflow(v);
    }
    mk.ncheck_pending = 0;
}

void mark_checkmark(void (*scan_roots)(tc_visitor *v))
{
    heap_for_each_span(clear_checkbits, NULL);
    tc_visitor v;
    mark_visitor_init(&v, VISIT_CHECK);
    scan_roots(&v);
    mark_drain(&v);
    mark_finish_overflow(&v);
    check_resolve_ephemerons(&v);
    mark_visitor_done(&v);
}

void mark_add_counts(uint64_t bytes, uint64_t objects)
{
    at_add(&mk.marked_bytes, bytes);
    at_add(&mk.marked_objects, objects);
}

void mark_take_counts(uint64_t *bytes, uint64_t *objects)
{
    *bytes = at_load(&mk.marked_bytes);
    *objects = at_load(&mk.marked_objects);
    at_store(&mk.marked_bytes, 0);
    at_store(&mk.marked_objects, 0);
}

/* No marker runs (the collector is down or not yet up): free the chunks
 * and zero the state, then put the reserve back on the empty list. */
void mark_reset(void)
{
    lock_grey();
    grey_chunk *lists[3] = {mk.grey_full, mk.eph_full, mk.grey_empty};
    free(mk.check_pending);
    mk = (struct mark_state){0};
    pthread_mutex_unlock(&grey_lock);
    for (int i = 0; i < 3; i++)
        while (lists[i]) {
            grey_chunk *c = lists[i];
            lists[i] = c->next;
            if (!is_reserve(c))
                free(c);
        }
    for (int i = 0; i < RESERVE_CHUNKS; i++)
        put_empty(&reserve_chunks[i]);
    at_store(&mark_black_allocation, 0);
}
