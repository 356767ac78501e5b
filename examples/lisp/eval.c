/*
 * eval.c — the evaluator: an interpreter over the s-expressions the reader
 * produces, with proper tail calls.
 *
 * eval(x, env) keeps the expression and environment it is working on in
 * two value-stack slots, X and ENV, and loops instead of recursing for
 * every expression in tail position (the branches of if and cond, the last
 * form of a body, a procedure call's body): a loop of any length runs in
 * constant C stack, and the frames it drops are garbage.  Non-tail
 * subexpressions (arguments, tests, all but the last form of a body) are
 * evaluated by a recursive eval.
 *
 * Everything eval holds across an allocation is on the value stack: X,
 * ENV, the evaluated operator and arguments.  Local C pointers into the
 * structure of X (the rest of a body, a binding list) are safe because X
 * keeps the whole form alive and objects never move.
 */
#include "lisp.h"

#define X (m->stack[base])
#define ENV (m->stack[base + 1])

enum { DONE, TAIL }; /* a special form produced a result, or updated X/ENV */

typedef int (*form_fn)(vm *m, size_t base, value *result);

static value S_lambda, S_else; /* rooted by the symbol table */

/* ------------------------------------------------------------ syntax checks */

/* The length of a proper list, or -1. */
static long list_length(value l)
{
    long n = 0;
    for (; is_pair(l); l = cdr(l))
        n++;
    return l == NIL ? n : -1;
}

static _Noreturn void syntax_error(value form)
{
    value_error(form, "%s: bad syntax: ", symbol_name(car(form)));
}

/* form is (keyword arg...) with min..max args (max < 0: no limit). */
static void check_syntax(value form, long min, long max)
{
    long n = list_length(cdr(form));
    if (n < min || (max >= 0 && n > max))
        syntax_error(form);
}

/* A lambda list: (a b), (a . rest) or args. */
static void check_params(value params, value form)
{
    for (; is_pair(params); params = cdr(params))
        if (!is_symbol(car(params)))
            syntax_error(form);
    if (params != NIL && !is_symbol(params))
        syntax_error(form);
}

/* A let binding list ((name init) ...); returns its length. */
static size_t check_bindings(value bindings, value form)
{
    long n = list_length(bindings);
    if (n < 0)
        syntax_error(form);
    for (value b = bindings; b != NIL; b = cdr(b))
        if (list_length(car(b)) != 2 || !is_symbol(car(car(b))))
            syntax_error(form);
    return (size_t)n;
}

/* ------------------------------------------------------------ environments */

/* The slot binding sym in frame e, or NULL; *owner is the object holding
 * the slot, for the write barrier. */
static value *frame_slot(env_obj *e, value sym, value *owner)
{
    value p = e->names;
    for (size_t i = 0; i < e->count; i++) {
        value name = p; /* a dotted tail: the rest parameter */
        if (is_pair(p)) {
            name = car(p);
            if (is_pair(name)) /* a let binding (name init) */
                name = car(name);
        }
        if (name == sym) {
            *owner = e;
            return &e->slots[i];
        }
        if (!is_pair(p))
            break;
        p = cdr(p);
    }
    for (value b = e->ext; b != NIL; b = cdr(b))
        if (car(car(b)) == sym) {
            *owner = car(b);
            return &((pair_obj *)car(b))->cdr;
        }
    return NULL;
}

static value *env_slot(value env, value sym, value *owner)
{
    for (; env != NIL; env = as_env(env)->parent) {
        value *slot = frame_slot(as_env(env), sym, owner);
        if (slot)
            return slot;
    }
    return NULL;
}

static value lookup(value sym, value env)
{
    value owner = NULL;
    value *slot = env_slot(env, sym, &owner);
    if (!slot)
        return global_ref(sym);
    if (*slot == UNASSIGNED)
        lisp_error("%s: used before its definition", symbol_name(sym));
    return *slot;
}

/* define in the innermost frame (or globally). */
static void define_var(value sym, value v, value env)
{
    vm *m = vm_current;
    size_t at = vpush(v); /* global_define may wait in a blocking region */
    vpush(env);
    value owner = NULL;
    value *slot = env == NIL ? NULL : frame_slot(as_env(env), sym, &owner);
    if (env == NIL) {
        global_define(sym, v);
    } else if (slot) {
        tc_write(owner, slot, v);
    } else {
        m->stack[at] = cons(sym, v);
        value ext = cons(m->stack[at], as_env(env)->ext);
        TC_WRITE(as_env(env), ext, ext);
    }
    m->sp = at;
}

static void set_var(value sym, value v, value env)
{
    value owner = NULL;
    value *slot = env_slot(env, sym, &owner);
    if (slot) {
        tc_write(owner, slot, v);
    } else {
        vpush(v);
        global_set(sym, v);
        vpop(1);
    }
}

/* ------------------------------------------------------------ procedures */

static const char *procedure_name(value f)
{
    if (kind_of(f) == K_PRIMITIVE)
        return as_prim(f)->name;
    if (kind_of(f) == K_GUARDIAN)
        return "guardian";
    value name = as_closure(f)->name;
    return is_symbol(name) ? symbol_name(name) : "#<procedure>";
}

static _Noreturn void arity_error(value f, long want, int at_least, int got)
{
    lisp_error("%s: expected %s%ld argument%s, got %d", procedure_name(f),
               at_least ? "at least " : "", want, want == 1 ? "" : "s", got);
}

static value call_primitive(value f, value *args, int argc)
{
    prim_obj *p = as_prim(f);
    if (argc < p->min_args)
        arity_error(f, p->min_args, p->max_args != p->min_args, argc);
    if (p->max_args >= 0 && argc > p->max_args)
        arity_error(f, p->max_args, 0, argc);
    return p->fn(args, argc);
}

/* The frame for calling closure f (rooted by the caller) with the argc
 * arguments at args (on the value stack). */
static value bind_args(value f, int argc, value *args)
{
    vm *m = vm_current;
    closure_obj *c = as_closure(f);
    long n = 0;
    value p = c->params;
    for (; is_pair(p); p = cdr(p))
        n++;
    int rest = p != NIL;
    if (argc < n || (!rest && argc > n))
        arity_error(f, n, rest, argc);
    size_t rest_at = vpush(NIL);
    for (long i = argc - 1; rest && i >= n; i--)
        m->stack[rest_at] = cons(args[i], m->stack[rest_at]);
    env_obj *e = make_env(c->env, c->params, (size_t)(n + rest));
    for (long i = 0; i < n; i++)
        tc_write(e, &e->slots[i], args[i]);
    if (rest)
        tc_write(e, &e->slots[n], m->stack[rest_at]);
    vpop(1);
    return e;
}

/* X is a non-empty body: evaluate all its forms but the last, and leave
 * the last in X for eval's loop to evaluate in tail position. */
static void eval_body_prefix(vm *m, size_t base)
{
    while (is_pair(cdr(X))) {
        eval(car(X), ENV);
        X = cdr(X);
    }
    X = car(X);
}

/* Evaluate a body outside eval's loop (for apply_proc). */
static value eval_sequence(value body, value env)
{
    vm *m = vm_current;
    size_t base = vpush(body);
    vpush(env);
    eval_body_prefix(m, base);
    value r = eval(X, ENV);
    m->sp = base;
    return r;
}

value apply_proc(value f, int argc)
{
    vm *m = vm_current;
    size_t first = m->sp - (size_t)argc;
    value r;
    switch (kind_of(f)) {
    case K_PRIMITIVE:
        r = call_primitive(f, &m->stack[first], argc);
        break;
    case K_CLOSURE: {
        value e = bind_args(f, argc, &m->stack[first]);
        m->sp = first;
        r = eval_sequence(as_closure(f)->body, e);
        break;
    }
    case K_GUARDIAN:
        r = guardian_call(f, &m->stack[first], argc);
        break;
    default:
        value_error(f, "not a procedure: ");
    }
    m->sp = first;
    return r;
}

/* ---------------------------------------------------------- special forms */

static int ev_quote(vm *m, size_t base, value *result)
{
    check_syntax(X, 1, 1);
    *result = cadr(X);
    return DONE;
}

static int ev_if(vm *m, size_t base, value *result)
{
    check_syntax(X, 2, 3);
    value test = eval(cadr(X), ENV);
    if (test != FALSE_V) {
        X = caddr(X);
    } else if (cdddr(X) != NIL) {
        X = car(cdddr(X));
    } else {
        *result = UNSPECIFIED;
        return DONE;
    }
    return TAIL;
}

static int ev_define(vm *m, size_t base, value *result)
{
    check_syntax(X, 1, -1);
    value target = cadr(X);
    if (is_pair(target)) { /* (define (name . params) body...) */
        value name = car(target);
        if (!is_symbol(name) || cddr(X) == NIL)
            syntax_error(X);
        check_params(cdr(target), X);
        value f = make_closure(cdr(target), cddr(X), ENV, name);
        define_var(name, f, ENV);
    } else {
        check_syntax(X, 2, 2);
        if (!is_symbol(target))
            syntax_error(X);
        value expr = caddr(X);
        value v = eval(expr, ENV);
        /* (define f (lambda ...)) names the fresh closure, for messages. */
        if (is_pair(expr) && car(expr) == S_lambda)
            TC_WRITE(as_closure(v), name, target);
        define_var(target, v, ENV);
    }
    *result = UNSPECIFIED;
    return DONE;
}

static int ev_set(vm *m, size_t base, value *result)
{
    check_syntax(X, 2, 2);
    if (!is_symbol(cadr(X)))
        syntax_error(X);
    value v = eval(caddr(X), ENV);
    set_var(cadr(X), v, ENV);
    *result = UNSPECIFIED;
    return DONE;
}

static int ev_lambda(vm *m, size_t base, value *result)
{
    check_syntax(X, 2, -1);
    check_params(cadr(X), X);
    *result = make_closure(cadr(X), cddr(X), ENV, FALSE_V);
    return DONE;
}

static int ev_begin(vm *m, size_t base, value *result)
{
    check_syntax(X, 0, -1);
    if (cdr(X) == NIL) {
        *result = UNSPECIFIED;
        return DONE;
    }
    X = cdr(X);
    eval_body_prefix(m, base);
    return TAIL;
}

/* Fill frame e's slots from the n values pushed at base + 2. */
static void fill_frame(vm *m, size_t base, value e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tc_write(e, &as_env(e)->slots[i], m->stack[base + 2 + i]);
}

/* (let name ((var init) ...) body...): name is bound, in a frame of its
 * own, to a procedure whose parameters are the binding list. */
static int ev_named_let(vm *m, size_t base)
{
    check_syntax(X, 3, -1);
    value bindings = caddr(X);
    size_t n = check_bindings(bindings, X);
    for (value b = bindings; b != NIL; b = cdr(b))
        vpush(eval(cadr(car(b)), ENV));
    /* cdr(X) is (name bindings body...): its first element names the slot. */
    size_t loop_at = vpush(make_env(ENV, cdr(X), 1));
    value f = make_closure(bindings, cdddr(X), m->stack[loop_at], cadr(X));
    tc_write(m->stack[loop_at], &as_env(m->stack[loop_at])->slots[0], f);
    value e = make_env(m->stack[loop_at], bindings, n);
    fill_frame(m, base, e, n);
    ENV = e;
    X = cdddr(X);
    eval_body_prefix(m, base);
    return TAIL;
}

static int ev_let(vm *m, size_t base, value *result)
{
    (void)result;
    check_syntax(X, 2, -1);
    if (is_symbol(cadr(X)))
        return ev_named_let(m, base);
    value bindings = cadr(X);
    size_t n = check_bindings(bindings, X);
    for (value b = bindings; b != NIL; b = cdr(b))
        vpush(eval(cadr(car(b)), ENV));
    value e = make_env(ENV, bindings, n);
    fill_frame(m, base, e, n);
    ENV = e;
    X = cddr(X);
    eval_body_prefix(m, base);
    return TAIL;
}

/* Each binding gets a frame of its own whose names list is the rest of the
 * binding list, with a count of 1. */
static int ev_letstar(vm *m, size_t base, value *result)
{
    (void)result;
    check_syntax(X, 2, -1);
    value bindings = cadr(X);
    check_bindings(bindings, X);
    if (bindings == NIL) /* still a frame: for internal defines */
        ENV = make_env(ENV, NIL, 0);
    for (value b = bindings; b != NIL; b = cdr(b)) {
        vpush(eval(cadr(car(b)), ENV));
        value e = make_env(ENV, b, 1);
        fill_frame(m, base, e, 1);
        vpop(1);
        ENV = e;
    }
    X = cddr(X);
    eval_body_prefix(m, base);
    return TAIL;
}

static int ev_letrec(vm *m, size_t base, value *result)
{
    (void)result;
    check_syntax(X, 2, -1);
    value bindings = cadr(X);
    size_t n = check_bindings(bindings, X);
    value e = make_env(ENV, bindings, n);
    for (size_t i = 0; i < n; i++)
        tc_write(e, &as_env(e)->slots[i], UNASSIGNED);
    ENV = e;
    size_t i = 0;
    for (value b = bindings; b != NIL; b = cdr(b)) {
        value v = eval(cadr(car(b)), ENV);
        tc_write(ENV, &as_env(ENV)->slots[i++], v);
    }
    X = cddr(X);
    eval_body_prefix(m, base);
    return TAIL;
}

static int ev_cond(vm *m, size_t base, value *result)
{
    check_syntax(X, 0, -1);
    for (value c = cdr(X); c != NIL; c = cdr(c)) {
        value clause = car(c);
        if (list_length(clause) < 1)
            syntax_error(X);
        if (car(clause) == S_else) {
            if (cdr(clause) == NIL)
                syntax_error(X);
            X = cdr(clause);
            eval_body_prefix(m, base);
            return TAIL;
        }
        value test = eval(car(clause), ENV);
        if (test != FALSE_V) {
            if (cdr(clause) == NIL) {
                *result = test;
                return DONE;
            }
            X = cdr(clause);
            eval_body_prefix(m, base);
            return TAIL;
        }
    }
    *result = UNSPECIFIED;
    return DONE;
}

/* and (stop_on = #f) and or (stop_on = anything true). */
static int ev_and_or(vm *m, size_t base, value *result, int is_and)
{
    check_syntax(X, 0, -1);
    value args = cdr(X);
    if (args == NIL) {
        *result = boolean(is_and);
        return DONE;
    }
    for (; cdr(args) != NIL; args = cdr(args)) {
        value v = eval(car(args), ENV);
        if ((v == FALSE_V) == is_and) {
            *result = v;
            return DONE;
        }
    }
    X = car(args);
    return TAIL;
}

static int ev_and(vm *m, size_t base, value *result) { return ev_and_or(m, base, result, 1); }
static int ev_or(vm *m, size_t base, value *result) { return ev_and_or(m, base, result, 0); }

static const form_fn special_forms[] = {
    [F_QUOTE] = ev_quote, [F_IF] = ev_if,         [F_DEFINE] = ev_define,
    [F_SET] = ev_set,     [F_LAMBDA] = ev_lambda, [F_BEGIN] = ev_begin,
    [F_LET] = ev_let,     [F_LETSTAR] = ev_letstar, [F_LETREC] = ev_letrec,
    [F_COND] = ev_cond,   [F_AND] = ev_and,       [F_OR] = ev_or,
};

/* -------------------------------------------------------------- application */

/* Most operators and arguments are variables or constants: evaluate those
 * without the cost of a nested eval. */
static value eval_operand(value x, value env)
{
    if (is_symbol(x))
        return lookup(x, env);
    if (is_pair(x) || x == NIL)
        return eval(x, env);
    return x;
}

static int ev_application(vm *m, size_t base, value *result)
{
    /* A safe point for finalizers (lisp.h): X and ENV are rooted, nothing
     * else is held, and every loop passes here (loops are calls). */
    run_pending_finalizers();
    size_t fpos = vpush(eval_operand(car(X), ENV));
    int argc = 0;
    value a = cdr(X);
    for (; is_pair(a); a = cdr(a), argc++)
        vpush(eval_operand(car(a), ENV));
    if (a != NIL)
        value_error(X, "bad procedure call: ");
    value f = m->stack[fpos];
    switch (kind_of(f)) {
    case K_PRIMITIVE:
        *result = call_primitive(f, &m->stack[fpos + 1], argc);
        return DONE;
    case K_CLOSURE:
        ENV = bind_args(f, argc, &m->stack[fpos + 1]);
        X = as_closure(f)->body; /* rooted from here on by X */
        eval_body_prefix(m, base);
        return TAIL; /* the call itself: no C recursion */
    case K_GUARDIAN:
        *result = guardian_call(f, &m->stack[fpos + 1], argc);
        return DONE;
    default:
        value_error(f, "not a procedure: ");
    }
}

/* ----------------------------------------------------------------- eval */

value eval(value x, value env)
{
    vm *m = vm_current;
    vm_enter();
    size_t base = vpush(x);
    vpush(env);
    value result;
    for (;;) {
        tc_safepoint(); /* every call and loop iteration passes here */
        m->sp = base + 2; /* drop the previous iteration's temporaries */
        x = X;
        if (is_symbol(x)) {
            result = lookup(x, ENV);
            break;
        }
        if (!is_pair(x)) {
            if (x == NIL)
                lisp_error("eval: () is not an expression");
            result = x; /* numbers, strings, booleans, vectors */
            break;
        }
        value op = car(x);
        enum special_form form = is_symbol(op) ? (enum special_form)fixnum_of(as_symbol(op)->form)
                                               : F_NONE;
        form_fn fn = form != F_NONE && form != F_ELSE ? special_forms[form] : ev_application;
        if (fn(m, base, &result) == DONE)
            break;
    }
    m->sp = base;
    vm_leave();
    return result;
}

void eval_init(void)
{
    static const struct {
        const char *name;
        enum special_form form;
    } forms[] = {
        {"quote", F_QUOTE}, {"if", F_IF},           {"define", F_DEFINE}, {"set!", F_SET},
        {"lambda", F_LAMBDA}, {"begin", F_BEGIN},   {"let", F_LET},       {"let*", F_LETSTAR},
        {"letrec", F_LETREC}, {"cond", F_COND},     {"and", F_AND},       {"or", F_OR},
        {"else", F_ELSE},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        value sym = intern_cstr(forms[i].name);
        TC_WRITE(as_symbol(sym), form, make_fixnum(forms[i].form));
    }
    S_lambda = intern_cstr("lambda");
    S_else = intern_cstr("else");
}
