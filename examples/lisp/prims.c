/*
 * prims.c — the primitive procedures.
 *
 * A primitive receives its arguments in place on the value stack (args),
 * so they are roots for the whole call.  Anything else it holds across an
 * allocation it pushes; results built step by step live in a stack slot.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lisp.h"

/* -------------------------------------------------------------- arguments */

static intptr_t int_arg(const char *who, value v)
{
    if (!is_fixnum(v))
        type_error(who, "an integer", v);
    return fixnum_of(v);
}

static value pair_arg(const char *who, value v)
{
    if (!is_pair(v))
        type_error(who, "a pair", v);
    return v;
}

static string_obj *string_arg(const char *who, value v)
{
    if (!is_string(v))
        type_error(who, "a string", v);
    return as_string(v);
}

static vector_obj *vector_arg(const char *who, value v)
{
    if (!is_vector(v))
        type_error(who, "a vector", v);
    return as_vector(v);
}

/* The length of a proper list, or a type error naming who. */
static size_t list_arg(const char *who, value l)
{
    size_t n = 0;
    for (value p = l; p != NIL; p = cdr(p), n++) {
        if (!is_pair(p))
            type_error(who, "a proper list", l);
        if ((n & 1023) == 0)
            tc_safepoint();
    }
    return n;
}

/* ------------------------------------------------------------- arithmetic */

static value fixnum_result(const char *who, intptr_t r, int overflowed)
{
    if (overflowed || r > FIXNUM_MAX || r < FIXNUM_MIN)
        lisp_error("%s: integer overflow (results must fit in 63 bits)", who);
    return make_fixnum(r);
}

static value prim_add(value *args, int argc)
{
    intptr_t acc = 0;
    int over = 0;
    for (int i = 0; i < argc; i++)
        over |= __builtin_add_overflow(acc, int_arg("+", args[i]), &acc);
    return fixnum_result("+", acc, over);
}

static value prim_mul(value *args, int argc)
{
    intptr_t acc = 1;
    int over = 0;
    for (int i = 0; i < argc; i++) {
        over |= __builtin_mul_overflow(acc, int_arg("*", args[i]), &acc);
        if (acc > FIXNUM_MAX || acc < FIXNUM_MIN) /* do not wrap around twice */
            over = 1;
    }
    return fixnum_result("*", acc, over);
}

static value prim_sub(value *args, int argc)
{
    intptr_t acc = int_arg("-", args[0]);
    int over = 0;
    if (argc == 1)
        over |= __builtin_sub_overflow((intptr_t)0, acc, &acc);
    for (int i = 1; i < argc; i++)
        over |= __builtin_sub_overflow(acc, int_arg("-", args[i]), &acc);
    return fixnum_result("-", acc, over);
}

/* quotient, remainder and modulo: C's / and % truncate like quotient and
 * remainder; modulo takes the sign of the divisor. */
static value divide(const char *who, value *args, int op)
{
    intptr_t a = int_arg(who, args[0]), b = int_arg(who, args[1]);
    if (b == 0)
        lisp_error("%s: division by zero", who);
    if (op == 0)
        return fixnum_result(who, a / b, 0); /* FIXNUM_MIN / -1 overflows 63 bits */
    intptr_t r = a % b;
    if (op == 2 && r != 0 && (r < 0) != (b < 0))
        r += b;
    return make_fixnum(r);
}

static value prim_quotient(value *args, int argc) { (void)argc; return divide("quotient", args, 0); }
static value prim_remainder(value *args, int argc) { (void)argc; return divide("remainder", args, 1); }
static value prim_modulo(value *args, int argc) { (void)argc; return divide("modulo", args, 2); }

enum { LT, LE, EQ, GE, GT };

static value compare(const char *who, value *args, int argc, int op)
{
    for (int i = 0; i < argc; i++)
        int_arg(who, args[i]);
    for (int i = 0; i + 1 < argc; i++) {
        intptr_t a = fixnum_of(args[i]), b = fixnum_of(args[i + 1]);
        int ok = op == LT ? a < b : op == LE ? a <= b : op == EQ ? a == b : op == GE ? a >= b : a > b;
        if (!ok)
            return FALSE_V;
    }
    return TRUE_V;
}

static value prim_lt(value *args, int argc) { return compare("<", args, argc, LT); }
static value prim_le(value *args, int argc) { return compare("<=", args, argc, LE); }
static value prim_eq_num(value *args, int argc) { return compare("=", args, argc, EQ); }
static value prim_ge(value *args, int argc) { return compare(">=", args, argc, GE); }
static value prim_gt(value *args, int argc) { return compare(">", args, argc, GT); }

static value prim_abs(value *args, int argc)
{
    (void)argc;
    intptr_t n = int_arg("abs", args[0]);
    return fixnum_result("abs", n < 0 ? -n : n, 0);
}

static value prim_zero_p(value *args, int argc) { (void)argc; return boolean(int_arg("zero?", args[0]) == 0); }
static value prim_even_p(value *args, int argc) { (void)argc; return boolean(int_arg("even?", args[0]) % 2 == 0); }
static value prim_odd_p(value *args, int argc) { (void)argc; return boolean(int_arg("odd?", args[0]) % 2 != 0); }

/* ------------------------------------------------------------------ pairs */

static value prim_car(value *args, int argc) { (void)argc; return car(pair_arg("car", args[0])); }
static value prim_cdr(value *args, int argc) { (void)argc; return cdr(pair_arg("cdr", args[0])); }
static value prim_cadr(value *args, int argc)
{
    (void)argc;
    return car(pair_arg("cadr", cdr(pair_arg("cadr", args[0]))));
}
static value prim_cddr(value *args, int argc)
{
    (void)argc;
    return cdr(pair_arg("cddr", cdr(pair_arg("cddr", args[0]))));
}
static value prim_caddr(value *args, int argc)
{
    (void)argc;
    value p = cdr(pair_arg("caddr", args[0]));
    return car(pair_arg("caddr", cdr(pair_arg("caddr", p))));
}
static value prim_caar(value *args, int argc)
{
    (void)argc;
    return car(pair_arg("caar", car(pair_arg("caar", args[0]))));
}
static value prim_cdar(value *args, int argc)
{
    (void)argc;
    return cdr(pair_arg("cdar", car(pair_arg("cdar", args[0]))));
}
static value prim_cons(value *args, int argc) { (void)argc; return cons(args[0], args[1]); }

static value prim_set_car(value *args, int argc)
{
    (void)argc;
    set_car(pair_arg("set-car!", args[0]), args[1]);
    return UNSPECIFIED;
}

static value prim_set_cdr(value *args, int argc)
{
    (void)argc;
    set_cdr(pair_arg("set-cdr!", args[0]), args[1]);
    return UNSPECIFIED;
}

static value prim_list(value *args, int argc)
{
    vm *m = vm_current;
    size_t acc = vpush(NIL);
    for (int i = argc - 1; i >= 0; i--)
        m->stack[acc] = cons(args[i], m->stack[acc]);
    value l = m->stack[acc];
    vpop(1);
    return l;
}

static value prim_length(value *args, int argc)
{
    (void)argc;
    return make_fixnum((intptr_t)list_arg("length", args[0]));
}

static value prim_reverse(value *args, int argc)
{
    (void)argc;
    vm *m = vm_current;
    list_arg("reverse", args[0]);
    size_t acc = vpush(NIL);
    for (value p = args[0]; p != NIL; p = cdr(p)) /* p: inside args[0], rooted */
        m->stack[acc] = cons(car(p), m->stack[acc]);
    value l = m->stack[acc];
    vpop(1);
    return l;
}

/* Copies every list but the last, which the result shares. */
static value prim_append(value *args, int argc)
{
    vm *m = vm_current;
    if (argc == 0)
        return NIL;
    size_t acc = vpush(args[argc - 1]);
    for (int i = argc - 2; i >= 0; i--) {
        list_arg("append", args[i]);
        size_t first = m->sp;
        for (value p = args[i]; p != NIL; p = cdr(p))
            vpush(car(p));
        for (size_t j = m->sp; j-- > first;)
            m->stack[acc] = cons(m->stack[j], m->stack[acc]);
        m->sp = first;
    }
    value l = m->stack[acc];
    vpop(1);
    return l;
}

static value prim_list_tail(value *args, int argc)
{
    (void)argc;
    value l = args[0];
    for (intptr_t k = int_arg("list-tail", args[1]); k > 0; k--)
        l = cdr(pair_arg("list-tail", l));
    return l;
}

static value prim_list_ref(value *args, int argc)
{
    (void)argc;
    value l = args[0];
    for (intptr_t k = int_arg("list-ref", args[1]); k > 0; k--)
        l = cdr(pair_arg("list-ref", l));
    return car(pair_arg("list-ref", l));
}

/* memq, member, assq, assoc */
static int equal(value a, value b);

static value member_of(const char *who, value x, value l, int use_equal, int assoc)
{
    for (value p = l; p != NIL; p = cdr(p)) {
        value item = car(pair_arg(who, p));
        value key = assoc ? car(pair_arg(who, item)) : item;
        if (use_equal ? equal(x, key) : x == key)
            return assoc ? item : p;
    }
    return FALSE_V;
}

static value prim_memq(value *args, int argc) { (void)argc; return member_of("memq", args[0], args[1], 0, 0); }
static value prim_member(value *args, int argc) { (void)argc; return member_of("member", args[0], args[1], 1, 0); }
static value prim_assq(value *args, int argc) { (void)argc; return member_of("assq", args[0], args[1], 0, 1); }
static value prim_assoc(value *args, int argc) { (void)argc; return member_of("assoc", args[0], args[1], 1, 1); }

/* ------------------------------------------------------------- equality */

static int equal_rec(value a, value b);

static int equal(value a, value b)
{
    vm_enter(); /* it recurses on cars and vector items */
    int r = equal_rec(a, b);
    vm_leave();
    return r;
}

static int equal_rec(value a, value b)
{
    for (;;) {
        if (a == b)
            return 1;
        if (kind_of(a) != kind_of(b) || !is_heap(a))
            return 0;
        switch (kind_of(a)) {
        case K_PAIR:
            if (!equal(car(a), car(b)))
                return 0;
            a = cdr(a);
            b = cdr(b);
            continue;
        case K_STRING:
            return as_string(a)->len == as_string(b)->len &&
                   memcmp(as_string(a)->chars, as_string(b)->chars, as_string(a)->len) == 0;
        case K_VECTOR: {
            vector_obj *va = as_vector(a), *vb = as_vector(b);
            if (va->len != vb->len)
                return 0;
            for (intptr_t i = 0; i < fixnum_of(va->len); i++)
                if (!equal(va->items[i], vb->items[i]))
                    return 0;
            return 1;
        }
        default:
            return 0;
        }
    }
}

static value prim_eq(value *args, int argc) { (void)argc; return boolean(args[0] == args[1]); }
static value prim_equal(value *args, int argc) { (void)argc; return boolean(equal(args[0], args[1])); }
static value prim_not(value *args, int argc) { (void)argc; return boolean(args[0] == FALSE_V); }

/* ---------------------------------------------------------- predicates */

static value prim_null_p(value *args, int argc) { (void)argc; return boolean(args[0] == NIL); }
static value prim_pair_p(value *args, int argc) { (void)argc; return boolean(is_pair(args[0])); }
static value prim_symbol_p(value *args, int argc) { (void)argc; return boolean(is_symbol(args[0])); }
static value prim_string_p(value *args, int argc) { (void)argc; return boolean(is_string(args[0])); }
static value prim_number_p(value *args, int argc) { (void)argc; return boolean(is_fixnum(args[0])); }
static value prim_vector_p(value *args, int argc) { (void)argc; return boolean(is_vector(args[0])); }
static value prim_procedure_p(value *args, int argc) { (void)argc; return boolean(is_procedure(args[0])); }
static value prim_boolean_p(value *args, int argc)
{
    (void)argc;
    return boolean(args[0] == TRUE_V || args[0] == FALSE_V);
}

/* ---------------------------------------------------- higher-order */

/* map and for-each over one or more lists, stopping at the shortest.  The
 * list arguments are advanced in place: their slots are roots. */
static value map_or_for_each(const char *who, value *args, int argc, int collect)
{
    vm *m = vm_current;
    if (!is_procedure(args[0]))
        type_error(who, "a procedure", args[0]);
    for (int i = 1; i < argc; i++)
        list_arg(who, args[i]);
    size_t head = vpush(NIL), tail = vpush(NIL);
    for (;;) {
        tc_safepoint(); /* a primitive f never reaches eval's */
        for (int i = 1; i < argc; i++)
            if (!is_pair(args[i]))
                goto done;
        for (int i = 1; i < argc; i++) {
            vpush(car(args[i]));
            args[i] = cdr(args[i]);
        }
        value v = apply_proc(args[0], argc - 1);
        if (!collect)
            continue;
        value cell = cons(v, NIL);
        if (m->stack[head] == NIL)
            m->stack[head] = cell;
        else
            set_cdr(m->stack[tail], cell);
        m->stack[tail] = cell;
    }
done:;
    value r = collect ? m->stack[head] : UNSPECIFIED;
    m->sp = head;
    return r;
}

static value prim_map(value *args, int argc) { return map_or_for_each("map", args, argc, 1); }
static value prim_for_each(value *args, int argc) { return map_or_for_each("for-each", args, argc, 0); }

/* (apply f a ... list) */
static value prim_apply(value *args, int argc)
{
    if (!is_procedure(args[0]))
        type_error("apply", "a procedure", args[0]);
    size_t n = list_arg("apply", args[argc - 1]);
    for (int i = 1; i < argc - 1; i++)
        vpush(args[i]);
    for (value p = args[argc - 1]; p != NIL; p = cdr(p))
        vpush(car(p));
    return apply_proc(args[0], (int)(argc - 2 + n));
}

/* ------------------------------------------------------------------ strings */

static value prim_string_length(value *args, int argc)
{
    (void)argc;
    return make_fixnum((intptr_t)string_arg("string-length", args[0])->len);
}

static value prim_string_append(value *args, int argc)
{
    size_t len = 0;
    for (int i = 0; i < argc; i++)
        len += string_arg("string-append", args[i])->len;
    string_obj *s = alloc_string(len); /* args are rooted: their chars stay put */
    size_t at = 0;
    for (int i = 0; i < argc; i++) {
        memcpy(s->chars + at, as_string(args[i])->chars, as_string(args[i])->len);
        at += as_string(args[i])->len;
    }
    return s;
}

static value prim_substring(value *args, int argc)
{
    string_obj *s = string_arg("substring", args[0]);
    intptr_t start = int_arg("substring", args[1]);
    intptr_t end = argc > 2 ? int_arg("substring", args[2]) : (intptr_t)s->len;
    if (start < 0 || end < start || (size_t)end > s->len)
        lisp_error("substring: range [%" PRIdPTR ", %" PRIdPTR ") is not inside a string of "
                   "length %zu", start, end, s->len);
    return make_string(s->chars + start, (size_t)(end - start));
}

static value prim_string_eq(value *args, int argc)
{
    for (int i = 0; i < argc; i++)
        string_arg("string=?", args[i]);
    for (int i = 0; i + 1 < argc; i++)
        if (!equal(args[i], args[i + 1]))
            return FALSE_V;
    return TRUE_V;
}

static value prim_number_to_string(value *args, int argc)
{
    (void)argc;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRIdPTR, int_arg("number->string", args[0]));
    return make_string(buf, (size_t)n);
}

static value prim_string_to_number(value *args, int argc)
{
    (void)argc;
    string_obj *s = string_arg("string->number", args[0]);
    char *end;
    long long n = s->len ? strtoll(s->chars, &end, 10) : 0;
    if (!s->len || *end || n > FIXNUM_MAX || n < FIXNUM_MIN)
        return FALSE_V;
    return make_fixnum((intptr_t)n);
}

static value prim_symbol_to_string(value *args, int argc)
{
    (void)argc;
    if (!is_symbol(args[0]))
        type_error("symbol->string", "a symbol", args[0]);
    return as_symbol(args[0])->name; /* strings are immutable: share it */
}

static value prim_string_to_symbol(value *args, int argc)
{
    (void)argc;
    string_obj *s = string_arg("string->symbol", args[0]);
    return intern(s->chars, s->len);
}

/* ------------------------------------------------------------------ vectors */

#define VECTOR_MAX ((intptr_t)1 << 24)

static value prim_make_vector(value *args, int argc)
{
    intptr_t n = int_arg("make-vector", args[0]);
    if (n < 0 || n > VECTOR_MAX)
        lisp_error("make-vector: length %" PRIdPTR " is not in [0, %" PRIdPTR "]", n, VECTOR_MAX);
    return make_vector((size_t)n, argc > 1 ? args[1] : make_fixnum(0));
}

static value prim_vector(value *args, int argc)
{
    vector_obj *v = make_vector((size_t)argc, FALSE_V);
    for (int i = 0; i < argc; i++)
        tc_write(v, &v->items[i], args[i]);
    return v;
}

static intptr_t index_arg(const char *who, vector_obj *v, value i)
{
    intptr_t k = int_arg(who, i);
    if (k < 0 || k >= fixnum_of(v->len))
        lisp_error("%s: index %" PRIdPTR " out of range for a vector of length %" PRIdPTR, who, k,
                   fixnum_of(v->len));
    return k;
}

static value prim_vector_ref(value *args, int argc)
{
    (void)argc;
    vector_obj *v = vector_arg("vector-ref", args[0]);
    return v->items[index_arg("vector-ref", v, args[1])];
}

static value prim_vector_set(value *args, int argc)
{
    (void)argc;
    vector_obj *v = vector_arg("vector-set!", args[0]);
    tc_write(v, &v->items[index_arg("vector-set!", v, args[1])], args[2]);
    return UNSPECIFIED;
}

static value prim_vector_length(value *args, int argc)
{
    (void)argc;
    return vector_arg("vector-length", args[0])->len;
}

static value prim_vector_to_list(value *args, int argc)
{
    (void)argc;
    vm *m = vm_current;
    vector_obj *v = vector_arg("vector->list", args[0]);
    size_t acc = vpush(NIL);
    for (intptr_t i = fixnum_of(v->len); i-- > 0;)
        m->stack[acc] = cons(v->items[i], m->stack[acc]);
    value l = m->stack[acc];
    vpop(1);
    return l;
}

static value prim_list_to_vector(value *args, int argc)
{
    (void)argc;
    size_t n = list_arg("list->vector", args[0]);
    vector_obj *v = make_vector(n, FALSE_V);
    size_t i = 0;
    for (value p = args[0]; p != NIL; p = cdr(p))
        tc_write(v, &v->items[i++], car(p));
    return v;
}

/* ------------------------------------------------------------------- output */

static value output(value v, int write)
{
    print_value(&vm_current->out, v, write, SIZE_MAX);
    vm_flush_out(stdout);
    return UNSPECIFIED;
}

static value prim_display(value *args, int argc) { (void)argc; return output(args[0], 0); }
static value prim_write(value *args, int argc) { (void)argc; return output(args[0], 1); }

static value prim_newline(value *args, int argc)
{
    (void)args;
    (void)argc;
    sb_putc(&vm_current->out, '\n');
    vm_flush_out(stdout);
    return UNSPECIFIED;
}

/* (error "message" irritant ...): a Lisp error with that text. */
static value prim_error(value *args, int argc)
{
    vm *m = vm_current;
    m->err.len = 0;
    print_value(&m->err, args[0], 0, 500);
    for (int i = 1; i < argc; i++) {
        sb_putc(&m->err, ' ');
        print_value(&m->err, args[i], 1, m->err.len + 200);
    }
    vm_raise();
}

/* (exit [status]): end the process at once, spawned threads and all. */
static value prim_exit(value *args, int argc)
{
    int status = argc ? (int)int_arg("exit", args[0]) : 0;
    tc_blocking_enter(); /* flushing may block */
    fflush(stdout);
    exit(status);
}

/* ---------------------------------------------------------------- collector */

/* (gc): a full collection, then the finalizers it queued (lisp.h), so
 * that guardians hold what it found unreachable when (gc) returns. */
static value prim_gc(value *args, int argc)
{
    (void)args;
    (void)argc;
    tc_collect();
    tc_run_finalizers(SIZE_MAX);
    return UNSPECIFIED;
}

/* ((cycles . n) (heap-live . n) ...): the collector's figures, pauses in µs. */
static value prim_gc_stats(value *args, int argc)
{
    (void)args;
    (void)argc;
    tc_stats st;
    tc_read_stats(&st);
    const struct {
        const char *name;
        uint64_t n;
    } items[] = {
        {"cycles", st.cycles},
        {"heap-live", st.heap_live},
        {"heap-inuse", st.heap_inuse},
        {"heap-goal", st.heap_goal},
        {"objects-live", st.objects_live},
        {"bytes-allocated", st.bytes_allocated},
        {"objects-allocated", st.objects_allocated},
        {"pause-max-us", st.pause_max_ns / 1000},
        {"pause-total-us", st.pause_total_ns / 1000},
        {"gc-cpu-percent", (uint64_t)(st.gc_cpu_fraction * 100 + 0.5)},
    };
    size_t n = sizeof items / sizeof items[0];
    for (size_t i = 0; i < n; i++) {
        value name = intern_cstr(items[i].name); /* rooted by the symbol table */
        vpush(cons(name, make_fixnum((intptr_t)items[i].n)));
    }
    return list_from_stack(n);
}

int lisp_argc;
char **lisp_argv;

/* (command-line): the script's name and its arguments, as strings (R7RS
 * names it so); () in the REPL. */
static value prim_command_line(value *args, int argc)
{
    (void)args;
    (void)argc;
    for (int i = 0; i < lisp_argc; i++)
        vpush(make_string(lisp_argv[i], strlen(lisp_argv[i])));
    return list_from_stack((size_t)lisp_argc);
}

/* How deep evaluations may nest: tests use it to prove tail calls. */
static value prim_recursion_limit(value *args, int argc)
{
    (void)args;
    (void)argc;
    return make_fixnum(LISP_MAX_DEPTH);
}

/* ---------------------------------------------------------------- the table */

void define_primitive(const char *name, prim_fn fn, int min_args, int max_args)
{
    value sym = intern_cstr(name); /* rooted by the symbol table */
    size_t at = vpush(make_primitive(name, fn, min_args, max_args));
    global_define(sym, vm_current->stack[at]);
    vpop(1);
}

void prims_init(void)
{
    static const struct {
        const char *name;
        prim_fn fn;
        int min, max;
    } table[] = {
        {"+", prim_add, 0, -1}, {"-", prim_sub, 1, -1}, {"*", prim_mul, 0, -1},
        {"quotient", prim_quotient, 2, 2}, {"remainder", prim_remainder, 2, 2},
        {"modulo", prim_modulo, 2, 2}, {"=", prim_eq_num, 1, -1}, {"<", prim_lt, 1, -1},
        {">", prim_gt, 1, -1}, {"<=", prim_le, 1, -1}, {">=", prim_ge, 1, -1},
        {"abs", prim_abs, 1, 1}, {"zero?", prim_zero_p, 1, 1}, {"even?", prim_even_p, 1, 1},
        {"odd?", prim_odd_p, 1, 1},
        {"car", prim_car, 1, 1}, {"cdr", prim_cdr, 1, 1}, {"cadr", prim_cadr, 1, 1},
        {"cddr", prim_cddr, 1, 1}, {"caddr", prim_caddr, 1, 1}, {"caar", prim_caar, 1, 1},
        {"cdar", prim_cdar, 1, 1}, {"cons", prim_cons, 2, 2}, {"set-car!", prim_set_car, 2, 2},
        {"set-cdr!", prim_set_cdr, 2, 2}, {"list", prim_list, 0, -1},
        {"length", prim_length, 1, 1}, {"reverse", prim_reverse, 1, 1},
        {"append", prim_append, 0, -1}, {"list-tail", prim_list_tail, 2, 2},
        {"list-ref", prim_list_ref, 2, 2}, {"memq", prim_memq, 2, 2},
        {"member", prim_member, 2, 2}, {"assq", prim_assq, 2, 2}, {"assoc", prim_assoc, 2, 2},
        {"eq?", prim_eq, 2, 2}, {"eqv?", prim_eq, 2, 2}, {"equal?", prim_equal, 2, 2},
        {"not", prim_not, 1, 1}, {"null?", prim_null_p, 1, 1}, {"pair?", prim_pair_p, 1, 1},
        {"symbol?", prim_symbol_p, 1, 1}, {"string?", prim_string_p, 1, 1},
        {"number?", prim_number_p, 1, 1}, {"integer?", prim_number_p, 1, 1},
        {"vector?", prim_vector_p, 1, 1}, {"procedure?", prim_procedure_p, 1, 1},
        {"boolean?", prim_boolean_p, 1, 1},
        {"map", prim_map, 2, -1}, {"for-each", prim_for_each, 2, -1},
        {"apply", prim_apply, 2, -1},
        {"string-length", prim_string_length, 1, 1},
        {"string-append", prim_string_append, 0, -1}, {"substring", prim_substring, 2, 3},
        {"string=?", prim_string_eq, 1, -1}, {"number->string", prim_number_to_string, 1, 1},
        {"string->number", prim_string_to_number, 1, 1},
        {"symbol->string", prim_symbol_to_string, 1, 1},
        {"string->symbol", prim_string_to_symbol, 1, 1},
        {"make-vector", prim_make_vector, 1, 2}, {"vector", prim_vector, 0, -1},
        {"vector-ref", prim_vector_ref, 2, 2}, {"vector-set!", prim_vector_set, 3, 3},
        {"vector-length", prim_vector_length, 1, 1},
        {"vector->list", prim_vector_to_list, 1, 1},
        {"list->vector", prim_list_to_vector, 1, 1},
        {"display", prim_display, 1, 1}, {"write", prim_write, 1, 1},
        {"newline", prim_newline, 0, 0}, {"error", prim_error, 1, -1},
        {"exit", prim_exit, 0, 1}, {"command-line", prim_command_line, 0, 0},
        {"gc", prim_gc, 0, 0}, {"gc-stats", prim_gc_stats, 0, 0},
        {"recursion-limit", prim_recursion_limit, 0, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        define_primitive(table[i].name, table[i].fn, table[i].min, table[i].max);
}
