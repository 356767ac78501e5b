/*
 * weak.c — weak tables: hash tables keyed by identity (eq?) whose entries
 * hold their keys, their values, or both, weakly.
 *
 *   (make-weak-table 'key)    weak keys, with ephemeron semantics: an
 *                             entry's value is kept only while its key is
 *                             reachable from elsewhere; a value that
 *                             refers to its own key (or to the key of
 *                             another entry that refers back) does not
 *                             keep it alive.  Lua's __mode "k".
 *   (make-weak-table 'value)  weak values, strong keys: an entry goes when
 *                             its value dies.  Lua's "v".
 *   (make-weak-table 'both)   both weak: an entry goes when either dies.
 *                             Lua's "kv".
 *
 * Only heap objects die: a fixnum, a boolean or () never does, and neither
 * does a symbol (the symbol table keeps every symbol).  An entry whose key
 * or value was found unreachable is dead: lookups skip it, and it is
 * unlinked lazily, when an insertion passes its chain, and by
 * weak-table-count, weak-table-keys and weak-table->alist (which prune the
 * whole table) and by growing.
 *
 * Layout.  A table (K_WEAK_TABLE, SLOTS) holds its mode, its number of
 * entries (dead ones not yet pruned included) and a vector of bucket
 * chains, indexed by a hash of the key's word: its address for an object
 * (tricolor never moves objects), its bits for a fixnum.  Entries are
 * internal objects, never Lisp values, so they have no header word; word 2
 * of every kind of entry links the chain (strong):
 *
 *   'key    an EPHEMERON {key, value, next}: the collector visits the value
 *           only once the key is reachable, and clears both when the key
 *           dies.  Read with tc_ephemeron_key / tc_ephemeron_value, set
 *           with tc_ephemeron_set.
 *   'value  a SLOTS {key, cell, next}, cell a WEAK {value, -}.
 *   'both   a SLOTS {#f, cell, next}, cell a WEAK {key, value}.
 *
 * Weak words are read with tc_weak_read (or the ephemeron readers): a read
 * while the collector marks keeps the target alive for that cycle, and
 * after mark termination a dead target reads NULL at once, even before
 * the sweep clears its slot.  Lisp values are never NULL, so NULL means
 * "dead".
 *
 * One mutex (weak_lock, taken with vm_lock) guards every table's chains:
 * tables may be shared between threads.  Nothing allocates while holding
 * it, and no error is raised with it held: new entries and bigger bucket
 * vectors are allocated first, then linked under the lock.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "lisp.h"

enum { WT_KEY = 1, WT_VALUE = 2, WT_BOTH = 3 };

typedef struct weak_table_obj {
    uintptr_t header;
    value mode;    /* a fixnum: WT_* */
    value count;   /* a fixnum: entries in the chains, dead or alive */
    value buckets; /* a vector of NIL-terminated chains; a power-of-two length */
} weak_table_obj;

/* 'key entries. */
typedef struct eph_entry {
    value key, val; /* words 0 and 1 of an ephemeron */
    value next;
} eph_entry;

/* 'value and 'both entries. */
typedef struct strong_entry {
    value key;  /* 'value: the key; 'both: #f (the key is in the cell) */
    value cell; /* a weak_cell */
    value next;
} strong_entry;

typedef struct weak_cell {
    value w[2]; /* 'value: {value, NULL}; 'both: {key, value} */
} weak_cell;

static const tc_type weak_table_type = {.name = "weak-table", .layout = TC_LAYOUT_SLOTS};
static const tc_type eph_entry_type = {.name = "weak-table ephemeron", .layout = TC_LAYOUT_EPHEMERON};
static const tc_type strong_entry_type = {.name = "weak-table entry", .layout = TC_LAYOUT_SLOTS};
static const tc_type weak_cell_type = {.name = "weak-table cell", .layout = TC_LAYOUT_WEAK};

#define INITIAL_BUCKETS 8
#define MAX_BUCKETS ((size_t)1 << 24)

static pthread_mutex_t weak_lock = PTHREAD_MUTEX_INITIALIZER;
static value S_key, S_value, S_both; /* rooted by the symbol table */

/* ------------------------------------------------------------ entries */

static inline int mode_of(const weak_table_obj *t) { return (int)fixnum_of(t->mode); }
static inline vector_obj *buckets_of(const weak_table_obj *t) { return as_vector(t->buckets); }
static inline size_t nbuckets_of(const weak_table_obj *t)
{
    return (size_t)fixnum_of(buckets_of(t)->len);
}

/* Word 2 of every entry: the chain. */
static inline value *next_slot(value e) { return &((value *)e)[2]; }

static size_t hash_of(value key, size_t nbuckets)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ull; /* Fibonacci hashing */
    return (size_t)(h >> 32) & (nbuckets - 1);
}

/* The entry's key, or NULL once it is dead ('key and 'both). */
static value entry_key(int mode, value e)
{
    if (mode == WT_KEY)
        return tc_ephemeron_key(e);
    strong_entry *s = e;
    return mode == WT_VALUE ? s->key : tc_weak_read(&((weak_cell *)s->cell)->w[0]);
}

/* The entry's value, or NULL once the entry is dead. */
static value entry_value(int mode, value e)
{
    if (mode == WT_KEY)
        return tc_ephemeron_value(e); /* NULL once the key is dead */
    weak_cell *c = ((strong_entry *)e)->cell;
    return tc_weak_read(&c->w[mode == WT_VALUE ? 0 : 1]);
}

static int entry_live(int mode, value e)
{
    if (mode == WT_KEY)
        return tc_ephemeron_key(e) != NULL; /* its value goes with it */
    return entry_key(mode, e) != NULL && entry_value(mode, e) != NULL;
}

/* A new entry, not linked yet (next is NIL).  key and val are rooted by
 * the caller.  Allocates: no lock held. */
static value new_entry(int mode, value key, value val)
{
    if (mode == WT_KEY) {
        eph_entry *e = tc_alloc(&eph_entry_type, sizeof *e);
        tc_ephemeron_set(e, key, val);
        TC_WRITE(e, next, NIL);
        return e;
    }
    weak_cell *c = tc_alloc(&weak_cell_type, sizeof *c);
    if (mode == WT_VALUE) {
        tc_weak_write(c, &c->w[0], val);
    } else {
        tc_weak_write(c, &c->w[0], key);
        tc_weak_write(c, &c->w[1], val);
    }
    size_t at = vpush(c);
    strong_entry *e = tc_alloc(&strong_entry_type, sizeof *e);
    TC_WRITE(e, key, mode == WT_VALUE ? key : FALSE_V);
    TC_WRITE(e, cell, vm_current->stack[at]);
    TC_WRITE(e, next, NIL);
    vpop(1);
    return e;
}

/* Give the live entry e of a table the value val. */
static void entry_set_value(int mode, value e, value key, value val)
{
    if (mode == WT_KEY) {
        tc_ephemeron_set(e, key, val);
    } else {
        weak_cell *c = ((strong_entry *)e)->cell;
        tc_weak_write(c, &c->w[mode == WT_VALUE ? 0 : 1], val);
    }
}

/* ------------------------------------------------- chains (weak_lock held) */

/* The live entry for key, or NULL. */
static value find_entry(weak_table_obj *t, value key)
{
    int mode = mode_of(t);
    vector_obj *b = buckets_of(t);
    for (value e = b->items[hash_of(key, nbuckets_of(t))]; e != NIL; e = *next_slot(e))
        if (entry_key(mode, e) == key && entry_live(mode, e))
            return e;
    return NULL;
}

static void set_count(weak_table_obj *t, size_t n) { TC_WRITE(t, count, make_fixnum((intptr_t)n)); }

/* Unlink the dead entries of chain i; returns how many went. */
static size_t prune_chain(weak_table_obj *t, size_t i)
{
    int mode = mode_of(t);
    value owner = t->buckets; /* the object holding *slot, for the barrier */
    value *slot = &buckets_of(t)->items[i];
    size_t removed = 0;
    for (value e = *slot; e != NIL; e = *slot) {
        if (entry_live(mode, e)) {
            owner = e;
            slot = next_slot(e);
        } else {
            tc_write(owner, slot, *next_slot(e));
            removed++;
        }
    }
    return removed;
}

/* Prune every chain; returns the number of entries left. */
static size_t prune_all(weak_table_obj *t)
{
    size_t n = (size_t)fixnum_of(t->count), removed = 0;
    for (size_t i = 0; i < nbuckets_of(t); i++) {
        if ((i & 1023) == 1023)
            tc_safepoint(); /* a big table must not hold up a collection */
        removed += prune_chain(t, i);
    }
    set_count(t, n - removed);
    return n - removed;
}

/* Link the new entry e (for key) at the head of its chain, pruning the
 * chain on the way. */
static void link_entry(weak_table_obj *t, value e, value key)
{
    size_t i = hash_of(key, nbuckets_of(t));
    size_t removed = prune_chain(t, i);
    vector_obj *b = buckets_of(t);
    tc_write(e, next_slot(e), b->items[i]);
    tc_write(b, &b->items[i], e);
    set_count(t, (size_t)fixnum_of(t->count) - removed + 1);
}

/* Move the live entries into the bucket vector nb (fresh, all NIL), drop
 * the dead ones, and make nb the table's. */
static void rehash(weak_table_obj *t, vector_obj *nb)
{
    int mode = mode_of(t);
    vector_obj *ob = buckets_of(t);
    size_t on = nbuckets_of(t), nn = (size_t)fixnum_of(nb->len), live = 0;
    for (size_t i = 0; i < on; i++) {
        if ((i & 1023) == 1023)
            tc_safepoint();
        value e = ob->items[i];
        while (e != NIL) {
            value next = *next_slot(e);
            value key = entry_key(mode, e);
            if (key && entry_live(mode, e)) {
                size_t j = hash_of(key, nn);
                tc_write(e, next_slot(e), nb->items[j]);
                tc_write(nb, &nb->items[j], e);
                live++;
            }
            e = next;
        }
    }
    TC_WRITE(t, buckets, nb);
    set_count(t, live);
}

/* After an insertion (weak_lock held): are t's chains long even after
 * pruning?  Pruning runs when there are twice as many entries as buckets,
 * growing when more than half of them are alive. */
static int needs_growing(weak_table_obj *t)
{
    size_t n = nbuckets_of(t);
    return (size_t)fixnum_of(t->count) > 2 * n && prune_all(t) > n && 4 * n <= MAX_BUCKETS;
}

/* Give t 4n buckets, n being what it had.  The bigger vector is allocated
 * without the lock, then filled under it if nobody grew the table
 * meanwhile. */
static void grow(weak_table_obj *t, size_t n)
{
    size_t at = vpush(make_vector(4 * n, NIL));
    vm_lock(&weak_lock);
    if (nbuckets_of(t) == n) /* else another thread grew it */
        rehash(t, as_vector(vm_current->stack[at]));
    pthread_mutex_unlock(&weak_lock);
    vpop(1);
}

/* ------------------------------------------------------------ primitives */

static weak_table_obj *table_arg(const char *who, value v)
{
    if (kind_of(v) != K_WEAK_TABLE)
        type_error(who, "a weak table", v);
    return v;
}

/* (make-weak-table mode): mode is 'key, 'value or 'both. */
static value prim_make_weak_table(value *args, int argc)
{
    (void)argc;
    value m = args[0];
    int mode = m == S_key ? WT_KEY : m == S_value ? WT_VALUE : m == S_both ? WT_BOTH : 0;
    if (!mode)
        value_error(m, "make-weak-table: expected key, value or both, got ");
    size_t at = vpush(make_vector(INITIAL_BUCKETS, NIL));
    weak_table_obj *t = alloc_object(&weak_table_type, sizeof *t, K_WEAK_TABLE);
    TC_WRITE(t, mode, make_fixnum(mode));
    TC_WRITE(t, count, make_fixnum(0));
    TC_WRITE(t, buckets, vm_current->stack[at]);
    vpop(1);
    return t;
}

static value prim_weak_table_p(value *args, int argc)
{
    (void)argc;
    return boolean(kind_of(args[0]) == K_WEAK_TABLE);
}

/* (weak-table-set! t key value) */
static value prim_weak_table_set(value *args, int argc)
{
    (void)argc;
    weak_table_obj *t = table_arg("weak-table-set!", args[0]);
    value key = args[1], val = args[2];
    int mode = mode_of(t);
    vm_lock(&weak_lock);
    value e = find_entry(t, key);
    if (e)
        entry_set_value(mode, e, key, val);
    pthread_mutex_unlock(&weak_lock);
    if (e)
        return UNSPECIFIED;
    size_t at = vpush(new_entry(mode, key, val));
    vm_lock(&weak_lock);
    e = find_entry(t, key); /* another thread may have added it meanwhile */
    if (e)
        entry_set_value(mode, e, key, val);
    else
        link_entry(t, vm_current->stack[at], key);
    size_t n = nbuckets_of(t);
    int grow_it = !e && needs_growing(t);
    pthread_mutex_unlock(&weak_lock);
    vpop(1);
    if (grow_it)
        grow(t, n);
    return UNSPECIFIED;
}

/* (weak-table-ref t key [default]): default is #f if not given. */
static value prim_weak_table_ref(value *args, int argc)
{
    weak_table_obj *t = table_arg("weak-table-ref", args[0]);
    vm_lock(&weak_lock);
    value e = find_entry(t, args[1]);
    value v = e ? entry_value(mode_of(t), e) : NULL;
    pthread_mutex_unlock(&weak_lock);
    /* v is only in a local from here to the caller's push: no safepoint
     * in between, and a read while marking has shaded it. */
    return v ? v : argc > 2 ? args[2] : FALSE_V;
}

/* (weak-table-delete! t key) */
static value prim_weak_table_delete(value *args, int argc)
{
    (void)argc;
    weak_table_obj *t = table_arg("weak-table-delete!", args[0]);
    int mode = mode_of(t);
    vm_lock(&weak_lock);
    value owner = t->buckets; /* the object holding *slot */
    value *slot = &buckets_of(t)->items[hash_of(args[1], nbuckets_of(t))];
    size_t removed = 0;
    for (value e = *slot; e != NIL; e = *slot) {
        if (entry_key(mode, e) == args[1]) {
            tc_write(owner, slot, *next_slot(e));
            removed++;
        } else {
            owner = e;
            slot = next_slot(e);
        }
    }
    set_count(t, (size_t)fixnum_of(t->count) - removed);
    pthread_mutex_unlock(&weak_lock);
    return UNSPECIFIED;
}

/* (weak-table-count t): the live entries. */
static value prim_weak_table_count(value *args, int argc)
{
    (void)argc;
    weak_table_obj *t = table_arg("weak-table-count", args[0]);
    vm_lock(&weak_lock);
    size_t n = prune_all(t);
    pthread_mutex_unlock(&weak_lock);
    return make_fixnum((intptr_t)n);
}

/* Push the live entries' keys (and values, if with_values) on the value
 * stack; returns how many entries.  No error is raised under the lock:
 * the room is checked first. */
static size_t push_entries(const char *who, weak_table_obj *t, int with_values)
{
    vm *m = vm_current;
    int mode = mode_of(t);
    vm_lock(&weak_lock);
    size_t n = prune_all(t), pushed = 0;
    size_t room = (m->cap - m->sp) / (with_values ? 2 : 1);
    if (n <= room) {
        vector_obj *b = buckets_of(t);
        for (size_t i = 0; i < nbuckets_of(t); i++)
            for (value e = b->items[i]; e != NIL; e = *next_slot(e)) {
                /* Read both before pushing either: an entry may die
                 * between prune_all and here (mark termination). */
                value k = entry_key(mode, e), v = k ? entry_value(mode, e) : NULL;
                if (!k || !v || pushed == n)
                    continue;
                vpush(k);
                if (with_values)
                    vpush(v);
                pushed++;
            }
    }
    pthread_mutex_unlock(&weak_lock);
    if (n > room)
        lisp_error("%s: %zu entries do not fit on the value stack", who, n);
    return pushed;
}

/* (weak-table-keys t): the live keys, in no particular order. */
static value prim_weak_table_keys(value *args, int argc)
{
    (void)argc;
    size_t n = push_entries("weak-table-keys", table_arg("weak-table-keys", args[0]), 0);
    return list_from_stack(n);
}

/* (weak-table->alist t): ((key . value) ...) of the live entries, in no
 * particular order. */
static value prim_weak_table_to_alist(value *args, int argc)
{
    (void)argc;
    vm *m = vm_current;
    size_t n = push_entries("weak-table->alist",
                            table_arg("weak-table->alist", args[0]), 1);
    size_t first = m->sp - 2 * n;
    for (size_t i = 0; i < n; i++) /* each (key, value) becomes (key . value) in place */
        m->stack[first + i] = cons(m->stack[first + 2 * i], m->stack[first + 2 * i + 1]);
    m->sp = first + n;
    return list_from_stack(n);
}

void weak_init(void)
{
    S_key = intern_cstr("key");
    S_value = intern_cstr("value");
    S_both = intern_cstr("both");
    define_primitive("make-weak-table", prim_make_weak_table, 1, 1);
    define_primitive("weak-table?", prim_weak_table_p, 1, 1);
    define_primitive("weak-table-set!", prim_weak_table_set, 3, 3);
    define_primitive("weak-table-ref", prim_weak_table_ref, 2, 3);
    define_primitive("weak-table-delete!", prim_weak_table_delete, 2, 2);
    define_primitive("weak-table-count", prim_weak_table_count, 1, 1);
    define_primitive("weak-table-keys", prim_weak_table_keys, 1, 1);
    define_primitive("weak-table->alist", prim_weak_table_to_alist, 1, 1);
}
