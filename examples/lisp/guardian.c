/*
 * guardian.c — guardians, the interpreter's finalizers (Chez Scheme's,
 * Guile's): (make-guardian) returns a guardian g, which is applied like a
 * procedure.  (g obj) registers obj with g; (g) returns an object
 * registered with g that has become unreachable, or #f if there is none.
 * The object comes back whole: it was resurrected, and lives on as long
 * as the program holds it (register it again to hear of it again).  An
 * object registered n times is returned n times.
 *
 * How.  (g obj) gives obj a tricolor finalizer (tc_finalizer_set).  Once a
 * cycle finds obj unreachable the collector keeps it, with everything it
 * reaches, and queues the finalizer; the interpreter runs queued
 * finalizers at its safe points (run_pending_finalizers, lisp.h).  The
 * finalizer appends obj to the queue of each guardian it was registered
 * with, a list in the guardian object: obj is reachable again, from the
 * guardian, until (g) takes it off.  Tricolor's finalizers run in
 * topological order: if a registered object refers to another, the second
 * is returned only once the first is gone.
 *
 * A dropped guardian.  The finalizer must not keep the guardian alive,
 * nor use it once freed, so it finds it through a WEAK object (the box)
 * whose one word is the guardian: a weak read returns NULL once the
 * guardian was found unreachable, and the objects registered with it are
 * then left to die (the next cycle frees them).  The box is rooted by the
 * guardian's C record, which the finalizers find through the registration
 * table; the record lives while the guardian lives (a cleanup,
 * tc_cleanup_add, tells us when it dies) and while registrations with it
 * wait for their objects' deaths: a reference count.
 *
 * Threads.  Finalizers run on whichever thread calls tc_run_finalizers
 * (any Lisp thread, or the thread running tc_shutdown), or on tricolor's
 * own finalizer thread if TRICOLOR_FINALIZERS=thread, which has no value
 * stack: the finalizer roots what it holds with TC_ROOTS.  One mutex,
 * guard_lock (taken with vm_lock), guards every guardian's queue, the
 * registration table and the records' counts; nothing allocates or
 * raises an error while holding it.
 */
#include <stdlib.h>

#include "lisp.h"

/* A guardian's C side. */
typedef struct guardian_rec {
    value box;   /* a WEAK object holding the guardian: a root (tc_root_add) */
    size_t refs; /* guard_lock: 1 while the guardian lives, + registrations waiting */
    struct guardian_rec *prev, *next; /* guard_lock: every record (guardians_free) */
} guardian_rec;

/* SLOTS: a FIFO of resurrected objects (a list and its last pair) and the
 * C record, as an odd word so that it is never taken for a reference. */
typedef struct guardian_obj {
    uintptr_t header;
    value head, tail;
    value rec;
} guardian_obj;

/* One (g obj): the registration table maps obj's address to these. */
typedef struct registration {
    uintptr_t obj;
    guardian_rec *guardian;
    struct registration *next; /* hash chain */
} registration;

static const tc_type guardian_type = {.name = "guardian", .layout = TC_LAYOUT_SLOTS};
static const tc_type guardian_box_type = {.name = "guardian box", .layout = TC_LAYOUT_WEAK};

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static registration **table; /* guard_lock; a power-of-two number of buckets */
static size_t nbuckets, nregistrations;
static guardian_rec *records;

static guardian_obj *as_guardian(value g) { return g; }
static guardian_rec *rec_of(value g)
{
    return (guardian_rec *)((uintptr_t)as_guardian(g)->rec & ~(uintptr_t)1);
}

/* -------------------------------------------- records (guard_lock held) */

/* Drop one reference; returns the record if that was the last (the
 * caller frees it once the lock is released), else NULL. */
static guardian_rec *release_locked(guardian_rec *r)
{
    if (--r->refs > 0)
        return NULL;
    if (r->prev)
        r->prev->next = r->next;
    else
        records = r->next;
    if (r->next)
        r->next->prev = r->prev;
    return r;
}

static void free_rec(guardian_rec *r)
{
    if (!r)
        return;
    tc_root_remove(&r->box);
    free(r);
}

/* The guardian died (a cleanup: it receives the record, never the guardian). */
static void guardian_died(void *ctx)
{
    vm_lock(&guard_lock);
    guardian_rec *dead = release_locked(ctx);
    pthread_mutex_unlock(&guard_lock);
    free_rec(dead);
}

static size_t bucket_of(uintptr_t obj, size_t n)
{
    return (size_t)(((uint64_t)obj * 0x9e3779b97f4a7c15ull) >> 32) & (n - 1);
}

/* Room for one more registration at a load factor of 1; 0 if no memory. */
static int grow_locked(void)
{
    if (nregistrations < nbuckets)
        return 1;
    size_t n = nbuckets ? 2 * nbuckets : 64;
    registration **nt = calloc(n, sizeof *nt);
    if (!nt)
        return 0;
    for (size_t i = 0; i < nbuckets; i++)
        for (registration *r = table[i], *next; r; r = next) {
            next = r->next;
            size_t b = bucket_of(r->obj, n);
            r->next = nt[b];
            nt[b] = r;
        }
    free(table);
    table = nt;
    nbuckets = n;
    return 1;
}

/* Take every registration of obj off the table, as a list. */
static registration *take_locked(uintptr_t obj)
{
    registration *taken = NULL;
    if (!nbuckets)
        return NULL;
    for (registration **pp = &table[bucket_of(obj, nbuckets)]; *pp;) {
        registration *r = *pp;
        if (r->obj != obj) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        r->next = taken;
        taken = r;
        nregistrations--;
    }
    return taken;
}

/* ------------------------------------------------------------ finalizer */

/* cons for a thread that may have no value stack: roots with TC_ROOTS. */
static value cons_rooted(value a, value d)
{
    TC_ROOTS(a, d);
    pair_obj *p = alloc_object(&pair_type, sizeof *p, K_PAIR);
    TC_WRITE(p, car, a);
    TC_WRITE(p, cdr, d);
    return p;
}

/* obj was found unreachable: hand it to each live guardian it was
 * registered with.  tricolor roots obj while this runs. */
static void guardian_finalizer(void *obj, void *ctx)
{
    (void)ctx;
    vm_lock(&guard_lock);
    registration *regs = take_locked((uintptr_t)obj);
    pthread_mutex_unlock(&guard_lock);
    value g = NULL, cell = NULL;
    TC_ROOTS(g, cell);
    while (regs) {
        registration *r = regs;
        regs = r->next;
        /* NULL if the guardian was found unreachable: obj is left to die. */
        g = tc_weak_read(&((value *)r->guardian->box)[0]);
        if (g)
            cell = cons_rooted(obj, NIL); /* allocates: before the lock */
        vm_lock(&guard_lock);
        if (g) {
            guardian_obj *q = g;
            if (q->tail == NIL)
                TC_WRITE(q, head, cell);
            else
                set_cdr(q->tail, cell);
            TC_WRITE(q, tail, cell);
        }
        guardian_rec *dead = release_locked(r->guardian);
        pthread_mutex_unlock(&guard_lock);
        free_rec(dead);
        free(r);
    }
}

/* ------------------------------------------------------------ primitives */

static value prim_make_guardian(value *args, int argc)
{
    (void)args;
    (void)argc;
    vm *m = vm_current;
    guardian_rec *rec = calloc(1, sizeof *rec);
    if (!rec)
        lisp_error("make-guardian: out of memory");
    size_t box = vpush(tc_alloc(&guardian_box_type, sizeof(value)));
    guardian_obj *g = alloc_object(&guardian_type, sizeof *g, K_GUARDIAN);
    TC_WRITE(g, head, NIL);
    TC_WRITE(g, tail, NIL);
    TC_WRITE(g, rec, (value)((uintptr_t)rec | 1));
    tc_weak_write(m->stack[box], &((value *)m->stack[box])[0], g);
    rec->box = m->stack[box];
    rec->refs = 1;
    tc_root_add(&rec->box, 1);
    vpop(1);
    if (tc_cleanup_add(g, guardian_died, rec) != TC_OK) {
        free_rec(rec);
        lisp_error("make-guardian: out of memory");
    }
    vm_lock(&guard_lock);
    rec->next = records;
    if (records)
        records->prev = rec;
    records = rec;
    pthread_mutex_unlock(&guard_lock);
    return g;
}

/* (g obj): register obj.  Values that are not heap objects (numbers,
 * booleans, ()) never become unreachable: they are accepted and never
 * returned; so are symbols, which the symbol table keeps. */
static value guardian_register(value g, value obj)
{
    if (!is_heap(obj))
        return UNSPECIFIED;
    registration *r = malloc(sizeof *r);
    /* Set (again) first: the finalizer may have run for an earlier
     * registration, which used it up. */
    if (!r || tc_finalizer_set(obj, guardian_finalizer, NULL) != TC_OK) {
        free(r);
        lisp_error("guardian: out of memory");
    }
    guardian_rec *rec = rec_of(g);
    vm_lock(&guard_lock);
    int ok = grow_locked();
    if (ok) {
        size_t b = bucket_of((uintptr_t)obj, nbuckets);
        *r = (registration){(uintptr_t)obj, rec, table[b]};
        table[b] = r;
        nregistrations++;
        rec->refs++;
    }
    pthread_mutex_unlock(&guard_lock);
    if (!ok) {
        free(r);
        lisp_error("guardian: out of memory");
    }
    return UNSPECIFIED;
}

/* (g): the oldest object resurrected for g, or #f. */
static value guardian_take(value g)
{
    guardian_obj *q = g;
    vm_lock(&guard_lock);
    value node = q->head;
    if (node != NIL) {
        TC_WRITE(q, head, cdr(node));
        if (q->head == NIL)
            TC_WRITE(q, tail, NIL);
    }
    pthread_mutex_unlock(&guard_lock);
    return node == NIL ? FALSE_V : car(node); /* no safepoint before the caller pushes it */
}

value guardian_call(value g, value *args, int argc)
{
    if (argc > 1)
        lisp_error("guardian: expected 0 or 1 arguments, got %d", argc);
    return argc == 0 ? guardian_take(g) : guardian_register(g, args[0]);
}

void guardians_init(void) { define_primitive("make-guardian", prim_make_guardian, 0, 0); }

void guardians_free(void)
{
    for (size_t i = 0; i < nbuckets; i++)
        for (registration *r = table[i], *next; r; r = next) {
            next = r->next;
            free(r);
        }
    free(table);
    table = NULL;
    nbuckets = nregistrations = 0;
    for (guardian_rec *r = records, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    records = NULL;
}
