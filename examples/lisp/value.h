/*
 * value.h — how the interpreter's values look in memory, and the
 * constructors that allocate them in the tricolor heap.
 *
 * A value is one machine word, told apart by its low bits:
 *
 *   ...xxx1   fixnum: a 63-bit signed integer n stored as (n << 1) | 1
 *   ...0110   immediate constant: #f, #t, (), and a few internal markers
 *   ...0000   reference to a heap object (tc_alloc payloads are 16-byte
 *             aligned), never 0
 *
 * The collector rejects any word whose low 4 bits are not zero before it
 * even looks the word up, so fixnums and immediates stored in SLOTS objects
 * are never taken for references: that is what makes the tagging choice
 * safe, not just compact.
 *
 * Every heap object starts with a header word holding its kind, itself
 * stored as an odd word ((kind << 1) | 1) so that it too is a harmless
 * value in a SLOTS object.  The interpreter reads the kind from there
 * rather than asking tc_type_of(), which would look the object up.
 */
#ifndef LISP_VALUE_H
#define LISP_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "tricolor.h"

typedef void *value;

/* ------------------------------------------------------------ immediates */

#define IMMEDIATE(n) ((value)(uintptr_t)(((uintptr_t)(n) << 4) | 6))
#define FALSE_V IMMEDIATE(0)
#define TRUE_V IMMEDIATE(1)
#define NIL IMMEDIATE(2)         /* the empty list */
#define UNSPECIFIED IMMEDIATE(3) /* what define, set!, display return */
#define UNBOUND IMMEDIATE(4)     /* a symbol's global slot before define */
#define UNASSIGNED IMMEDIATE(5)  /* a letrec variable before its init */
#define END_OF_INPUT IMMEDIATE(6) /* the reader's "no more forms" */

static inline int is_fixnum(value v) { return (uintptr_t)v & 1; }
static inline int is_heap(value v) { return v && ((uintptr_t)v & 15) == 0; }
static inline value boolean(int b) { return b ? TRUE_V : FALSE_V; }

/* 63-bit fixnums: (n << 1) | 1 must fit in a 64-bit word. */
#define FIXNUM_MAX ((intptr_t)(INTPTR_MAX >> 1))
#define FIXNUM_MIN (-FIXNUM_MAX - 1)

static inline value make_fixnum(intptr_t n) { return (value)(((uintptr_t)n << 1) | 1); }
/* An arithmetic right shift (GCC and Clang define >> on negative numbers so). */
static inline intptr_t fixnum_of(value v) { return (intptr_t)v >> 1; }

/* ------------------------------------------------------------ heap objects */

enum kind {
    K_PAIR, K_SYMBOL, K_STRING, K_VECTOR, K_CLOSURE, K_PRIMITIVE, K_ENV, K_CHANNEL, K_THREAD,
    K_WEAK_TABLE, /* weak.c */
    K_GUARDIAN    /* guardian.c; applicable, like a procedure */
};

#define HEADER(kind) (((uintptr_t)(kind) << 1) | 1)

typedef struct object { uintptr_t header; } object;

static inline int kind_of(value v)
{
    return is_heap(v) ? (int)(((object *)v)->header >> 1) : -1;
}

/* SLOTS: header, then two values. */
typedef struct pair_obj {
    uintptr_t header;
    value car, cdr;
} pair_obj;

/* SLOTS.  A symbol carries its global binding (UNBOUND until defined), so a
 * global variable reference is one word read.  `next` chains the symbol
 * table's bucket; `form` is a fixnum naming the special form the symbol
 * introduces (0: none). */
typedef struct symbol_obj {
    uintptr_t header;
    value name;   /* a string */
    value global; /* read with tc_read: other threads define/set! it */
    value next;
    value form;
} symbol_obj;

/* LEAF: no references, so the collector never reads the bytes, and the
 * length can be a plain size_t.  Strings are immutable. */
typedef struct string_obj {
    uintptr_t header;
    size_t len;
    char chars[]; /* len bytes and a NUL */
} string_obj;

/* SLOTS: the length is stored as a fixnum so that every word is a value. */
typedef struct vector_obj {
    uintptr_t header;
    value len;
    value items[];
} vector_obj;

/* SLOTS.  params is the lambda list as written ((a b . rest), or a symbol);
 * for a named let it is the binding list ((i 0) ...). */
typedef struct closure_obj {
    uintptr_t header;
    value params, body, env, name; /* name: a symbol, or #f */
} closure_obj;

typedef value (*prim_fn)(value *args, int argc);

/* LEAF: a C name and function pointer, no references. */
typedef struct prim_obj {
    uintptr_t header;
    const char *name;
    prim_fn fn;
    int min_args, max_args; /* max_args < 0: any number */
} prim_obj;

/* TRACE: an environment frame.  `count` is a raw size_t, which a SLOTS
 * layout could not hold safely (an even count is indistinguishable from a
 * reference), so env_trace (value.c) visits the reference fields only.
 * names is the list whose first `count` elements name the slots: a lambda
 * list, or a let binding list (an element may be (name init): its car is
 * the name); a dotted tail names the last slot (a rest parameter).
 * ext is an association list of bindings added by internal defines. */
typedef struct env_obj {
    uintptr_t header;
    value parent; /* an env, or NIL for the global environment */
    value names;
    value ext;
    size_t count;
    value slots[];
} env_obj;

/* SLOTS: a FIFO of values (a list with a tail pointer) and its length. */
typedef struct channel_obj {
    uintptr_t header;
    value head, tail, count;
} channel_obj;

/* LEAF: points to C memory (threads.c) that holds the thread's roots. */
typedef struct thread_obj {
    uintptr_t header;
    struct spawn_rec *rec; /* NULL once joined */
} thread_obj;

extern const tc_type pair_type, symbol_type, string_type, vector_type, closure_type,
    prim_type, env_type, channel_type, thread_type;

/* ------------------------------------------------------------- accessors */

static inline int is_pair(value v) { return kind_of(v) == K_PAIR; }
static inline int is_symbol(value v) { return kind_of(v) == K_SYMBOL; }
static inline int is_string(value v) { return kind_of(v) == K_STRING; }
static inline int is_vector(value v) { return kind_of(v) == K_VECTOR; }
static inline int is_procedure(value v)
{
    return kind_of(v) == K_CLOSURE || kind_of(v) == K_PRIMITIVE || kind_of(v) == K_GUARDIAN;
}

static inline value car(value p) { return ((pair_obj *)p)->car; }
static inline value cdr(value p) { return ((pair_obj *)p)->cdr; }
static inline value cadr(value p) { return car(cdr(p)); }
static inline value cddr(value p) { return cdr(cdr(p)); }
static inline value caddr(value p) { return car(cddr(p)); }
static inline value cdddr(value p) { return cdr(cddr(p)); }

/* Stores into reachable objects go through the write barrier, fixnums too:
 * mark workers read every word of a SLOTS object while we run. */
static inline void set_car(value p, value v) { TC_WRITE((pair_obj *)p, car, v); }
static inline void set_cdr(value p, value v) { TC_WRITE((pair_obj *)p, cdr, v); }

static inline string_obj *as_string(value v) { return v; }
static inline symbol_obj *as_symbol(value v) { return v; }
static inline vector_obj *as_vector(value v) { return v; }
static inline closure_obj *as_closure(value v) { return v; }
static inline prim_obj *as_prim(value v) { return v; }
static inline env_obj *as_env(value v) { return v; }
static inline channel_obj *as_channel(value v) { return v; }

/* ----------------------------------------------------------- constructors */

/* Allocate an object of `kind` and stamp its header (the rest is zero).
 * For constructors of other modules (weak.c, guardian.c). */
void *alloc_object(const tc_type *type, size_t size, enum kind k);

/* Each constructor keeps its own value arguments on the value stack while
 * it allocates (tc_alloc may run a collection), so callers only need to
 * root what they hold themselves across the call. */
value cons(value a, value d);
value make_string(const char *chars, size_t len); /* chars may be in a rooted string */
value alloc_string(size_t len);                   /* len zero bytes, to fill at once */
value make_vector(size_t n, value fill);
value make_closure(value params, value body, value env, value name);
value make_env(value parent, value names, size_t count); /* slots hold 0 */
value make_primitive(const char *name, prim_fn fn, int min_args, int max_args);
value make_channel(void);
value make_thread(struct spawn_rec *rec);

/* Build a list of the n values at the top of the value stack, pop them. */
value list_from_stack(size_t n);


/* ------------------------------------------------ symbols and globals */

void symbols_init(void);
value intern(const char *name, size_t len);
value intern_cstr(const char *name);
const char *symbol_name(value sym);

value global_ref(value sym);               /* an error if unbound */
void global_define(value sym, value v);
void global_set(value sym, value v);       /* an error if unbound */

#endif
