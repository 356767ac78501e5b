/*
 * print.c — values as text, into a C buffer.  The printer never allocates
 * in the GC heap, so it needs no roots; it polls safepoints on long lists
 * so that printing a big structure does not hold up a collection.
 */
#include <inttypes.h>

#include "lisp.h"

static void print_string(strbuf *b, const string_obj *s, int write)
{
    if (!write) {
        sb_puts(b, s->chars, s->len);
        return;
    }
    sb_putc(b, '"');
    for (size_t i = 0; i < s->len; i++) {
        char c = s->chars[i];
        switch (c) {
        case '"': sb_puts(b, "\\\"", 2); break;
        case '\\': sb_puts(b, "\\\\", 2); break;
        case '\n': sb_puts(b, "\\n", 2); break;
        case '\t': sb_puts(b, "\\t", 2); break;
        default: sb_putc(b, c);
        }
    }
    sb_putc(b, '"');
}

static void print_rec(strbuf *b, value v, int write, size_t limit, unsigned depth);

static void print_list(strbuf *b, value v, int write, size_t limit, unsigned depth)
{
    sb_putc(b, '(');
    for (;;) {
        tc_safepoint();
        print_rec(b, car(v), write, limit, depth + 1);
        v = cdr(v);
        if (b->len > limit)
            return;
        if (!is_pair(v))
            break;
        sb_putc(b, ' ');
    }
    if (v != NIL) {
        sb_puts(b, " . ", 3);
        print_rec(b, v, write, limit, depth + 1);
    }
    sb_putc(b, ')');
}

static void print_vector(strbuf *b, const vector_obj *v, int write, size_t limit,
                         unsigned depth)
{
    sb_puts(b, "#(", 2);
    intptr_t n = fixnum_of(v->len);
    for (intptr_t i = 0; i < n && b->len <= limit; i++) {
        tc_safepoint();
        if (i)
            sb_putc(b, ' ');
        print_rec(b, v->items[i], write, limit, depth + 1);
    }
    sb_putc(b, ')');
}

static void print_procedure(strbuf *b, value v)
{
    if (kind_of(v) == K_PRIMITIVE) {
        sb_printf(b, "#<primitive %s>", as_prim(v)->name);
    } else if (kind_of(v) == K_GUARDIAN) {
        sb_puts(b, "#<guardian>", 11);
    } else if (is_symbol(as_closure(v)->name)) {
        sb_printf(b, "#<procedure %s>", symbol_name(as_closure(v)->name));
    } else {
        sb_puts(b, "#<procedure>", 12);
    }
}

static void print_immediate(strbuf *b, value v)
{
    const char *s = v == TRUE_V        ? "#t"
                    : v == FALSE_V     ? "#f"
                    : v == NIL         ? "()"
                    : v == UNSPECIFIED ? "#<unspecified>"
                    : v == UNASSIGNED  ? "#<unassigned>"
                    : v == END_OF_INPUT ? "#<eof>"
                                       : "#<unknown>";
    sb_printf(b, "%s", s);
}

/* Nesting deeper than LISP_MAX_DEPTH prints as "...": printing (error
 * messages too) must never fail itself. */
static void print_rec(strbuf *b, value v, int write, size_t limit, unsigned depth)
{
    if (b->len > limit)
        return;
    if (depth > LISP_MAX_DEPTH) {
        sb_puts(b, "...", 3);
        return;
    }
    if (is_fixnum(v)) {
        sb_printf(b, "%" PRIdPTR, fixnum_of(v));
        return;
    }
    switch (kind_of(v)) {
    case K_PAIR: print_list(b, v, write, limit, depth); break;
    case K_SYMBOL: sb_printf(b, "%s", symbol_name(v)); break;
    case K_STRING: print_string(b, as_string(v), write); break;
    case K_VECTOR: print_vector(b, as_vector(v), write, limit, depth); break;
    case K_CLOSURE:
    case K_PRIMITIVE:
    case K_GUARDIAN: print_procedure(b, v); break;
    case K_CHANNEL: sb_puts(b, "#<channel>", 10); break;
    case K_THREAD: sb_puts(b, "#<thread>", 9); break;
    case K_WEAK_TABLE: sb_puts(b, "#<weak-table>", 13); break;
    case K_ENV: sb_puts(b, "#<environment>", 14); break;
    default: print_immediate(b, v);
    }
}

void print_value(strbuf *b, value v, int write, size_t limit)
{
    print_rec(b, v, write, limit, 0);
    if (b->len > limit) { /* cut long output (error messages) */
        b->len = limit;
        sb_puts(b, "...", 3);
    }
}
