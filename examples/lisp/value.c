/*
 * value.c — object types, constructors, the symbol table and global
 * variables.
 */
#include "value.h"

#include <stdlib.h>
#include <string.h>

#include "lisp.h"
#include "vm.h"

/* ------------------------------------------------------------------ types */

/* Runs on mark workers, concurrently with mutators that tc_write the
 * fields: each reference field is read once with tc_read.  `count` never
 * changes after make_env, which wrote it before the frame could be reached
 * (before the pause that lets markers see it), so a plain read is safe. */
static void env_trace(tc_visitor *v, void *obj)
{
    env_obj *e = obj;
    tc_visit(v, TC_READ(e, parent));
    tc_visit(v, TC_READ(e, names));
    tc_visit(v, TC_READ(e, ext));
    tc_visit_slots(v, (void *const *)e->slots, e->count);
}

const tc_type pair_type = {.name = "pair", .layout = TC_LAYOUT_SLOTS};
const tc_type symbol_type = {.name = "symbol", .layout = TC_LAYOUT_SLOTS};
const tc_type string_type = {.name = "string", .layout = TC_LAYOUT_LEAF};
const tc_type vector_type = {.name = "vector", .layout = TC_LAYOUT_SLOTS};
const tc_type closure_type = {.name = "closure", .layout = TC_LAYOUT_SLOTS};
const tc_type prim_type = {.name = "primitive", .layout = TC_LAYOUT_LEAF};
const tc_type env_type = {.name = "env", .layout = TC_LAYOUT_TRACE, .trace = env_trace};
const tc_type channel_type = {.name = "channel", .layout = TC_LAYOUT_SLOTS};
const tc_type thread_type = {.name = "thread", .layout = TC_LAYOUT_LEAF};

/* Allocate and stamp the header.  The object is zeroed and nothing else
 * can see it yet, so the header (an odd word, never a reference) is a
 * plain store; every later store into it goes through the barrier. */
void *alloc_object(const tc_type *type, size_t size, enum kind k)
{
    object *o = tc_alloc(type, size);
    o->header = HEADER(k);
    return o;
}

/* ----------------------------------------------------------- constructors */

value cons(value a, value d)
{
    vpush(a);
    vpush(d);
    pair_obj *p = alloc_object(&pair_type, sizeof *p, K_PAIR);
    vpop(2);
    TC_WRITE(p, car, a);
    TC_WRITE(p, cdr, d);
    return p;
}

value alloc_string(size_t len)
{
    string_obj *s = alloc_object(&string_type, sizeof *s + len + 1, K_STRING);
    s->len = len; /* LEAF: never read by the collector, plain stores */
    return s;
}

value make_string(const char *chars, size_t len)
{
    string_obj *s = alloc_string(len);
    memcpy(s->chars, chars, len);
    return s;
}

value make_vector(size_t n, value fill)
{
    vpush(fill);
    vector_obj *v = alloc_object(&vector_type, sizeof *v + n * sizeof(value), K_VECTOR);
    vpop(1);
    TC_WRITE(v, len, make_fixnum((intptr_t)n));
    tc_fill_slots(v, v->items, fill, n); /* one barrier call for the lot */
    return v;
}

value make_closure(value params, value body, value env, value name)
{
    vpush(params);
    vpush(body);
    vpush(env);
    vpush(name);
    closure_obj *c = alloc_object(&closure_type, sizeof *c, K_CLOSURE);
    vpop(4);
    TC_WRITE(c, params, params);
    TC_WRITE(c, body, body);
    TC_WRITE(c, env, env);
    TC_WRITE(c, name, name);
    return c;
}

value make_env(value parent, value names, size_t count)
{
    vpush(parent);
    vpush(names);
    env_obj *e = alloc_object(&env_type, sizeof *e + count * sizeof(value), K_ENV);
    vpop(2);
    e->count = count; /* before anything can reach the frame: see env_trace */
    TC_WRITE(e, parent, parent);
    TC_WRITE(e, names, names);
    TC_WRITE(e, ext, NIL);
    return e;
}

value make_primitive(const char *name, prim_fn fn, int min_args, int max_args)
{
    prim_obj *p = alloc_object(&prim_type, sizeof *p, K_PRIMITIVE);
    p->name = name;
    p->fn = fn;
    p->min_args = min_args;
    p->max_args = max_args;
    return p;
}

value make_channel(void)
{
    channel_obj *c = alloc_object(&channel_type, sizeof *c, K_CHANNEL);
    TC_WRITE(c, head, NIL);
    TC_WRITE(c, tail, NIL);
    TC_WRITE(c, count, make_fixnum(0));
    return c;
}

value make_thread(struct spawn_rec *rec)
{
    thread_obj *t = alloc_object(&thread_type, sizeof *t, K_THREAD);
    t->rec = rec; /* LEAF: a C pointer the collector never reads */
    return t;
}

value list_from_stack(size_t n)
{
    vm *m = vm_current;
    size_t first = m->sp - n;
    size_t acc = vpush(NIL); /* the list built so far: rooted */
    for (size_t i = n; i-- > 0;)
        m->stack[acc] = cons(m->stack[first + i], m->stack[acc]);
    value list = m->stack[acc];
    m->sp = first;
    return list;
}

/* ------------------------------------------------------------------ symbols */

/* The symbol table is a heap vector of bucket chains, kept alive by one
 * global root slot.  Symbols are never removed, so a C variable holding a
 * symbol (eval.c's special-form names) needs no root of its own. */
#define NBUCKETS 1024
static value symtab;
static pthread_mutex_t symtab_lock = PTHREAD_MUTEX_INITIALIZER;
/* define and set! of globals: the test for "bound" and the store together. */
static pthread_mutex_t globals_lock = PTHREAD_MUTEX_INITIALIZER;

void symbols_init(void)
{
    symtab = make_vector(NBUCKETS, NIL);
    tc_root_add(&symtab, 1);
}

static size_t hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h % NBUCKETS;
}

static value find_symbol(value chain, const char *name, size_t len)
{
    for (; chain != NIL; chain = as_symbol(chain)->next) {
        string_obj *s = as_string(as_symbol(chain)->name);
        if (s->len == len && memcmp(s->chars, name, len) == 0)
            return chain;
    }
    return NULL;
}

/* name may point into a heap string: its owner is rooted by the caller. */
value intern(const char *name, size_t len)
{
    value *bucket = &as_vector(symtab)->items[hash(name, len)];
    vm_lock(&symtab_lock); /* we allocate while holding it */
    value sym = find_symbol(*bucket, name, len);
    if (!sym) {
        size_t str = vpush(make_string(name, len));
        symbol_obj *s = alloc_object(&symbol_type, sizeof *s, K_SYMBOL);
        TC_WRITE(s, name, vm_current->stack[str]);
        TC_WRITE(s, global, UNBOUND);
        TC_WRITE(s, next, *bucket);
        TC_WRITE(s, form, make_fixnum(F_NONE));
        tc_write(symtab, bucket, s); /* publish: now reachable */
        vpop(1);
        sym = s;
    }
    pthread_mutex_unlock(&symtab_lock);
    return sym;
}

value intern_cstr(const char *name) { return intern(name, strlen(name)); }

const char *symbol_name(value sym) { return as_string(as_symbol(sym)->name)->chars; }

/* ------------------------------------------------------------------ globals */

value global_ref(value sym)
{
    /* Another thread may be storing this word (tc_write is an atomic
     * store): read it atomically too. */
    value v = tc_read(&as_symbol(sym)->global);
    if (v == UNBOUND)
        lisp_error("unbound variable: %s", symbol_name(sym));
    return v;
}

void global_define(value sym, value v)
{
    vm_lock(&globals_lock);
    TC_WRITE(as_symbol(sym), global, v);
    pthread_mutex_unlock(&globals_lock);
}

void global_set(value sym, value v)
{
    vm_lock(&globals_lock);
    int bound = as_symbol(sym)->global != UNBOUND;
    if (bound)
        TC_WRITE(as_symbol(sym), global, v);
    pthread_mutex_unlock(&globals_lock);
    if (!bound) /* raised after unlocking: an error longjmps */
        lisp_error("set!: unbound variable: %s", symbol_name(sym));
}
