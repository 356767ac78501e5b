/*
 * read.c — the reader: text to values, one line of input at a time.
 *
 * Lines are read with getline inside a blocking region: waiting for the
 * user at the REPL must not hold up a collection that another thread needs.
 * Parsing then runs on the line buffer (C memory).  A list being read keeps
 * its elements on the value stack until the closing parenthesis, where the
 * list is built: a collection can happen at any allocation in between.
 *
 * The reader recurses once per level of nesting (a list, a vector or a
 * quote inside another), and so does the printer: READ_MAX_DEPTH levels at
 * most, deeper input is a read error ("read: nesting too deep"), not a C
 * stack overflow.  A token may not contain a NUL byte (symbol names are C
 * strings); a string may.  A lone "." outside a list's dotted tail is an
 * error, not a symbol: the printer could not write it back unambiguously.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lisp.h"

/* How deeply lists, vectors and quotes may nest in one datum.  Each level
 * takes two C frames here (read_datum, read_list) and two in the printer:
 * well inside the interpreter's stack (VM_C_STACK), and under the 65,536
 * frames ThreadSanitizer can record. */
#define READ_MAX_DEPTH 10000

void reader_init(reader *r, FILE *in, int interactive)
{
    *r = (reader){.in = in, .interactive = interactive};
}

void reader_free(reader *r)
{
    free(r->line);
    r->line = NULL;
}

void reader_skip_line(reader *r) { r->pos = r->len; }

/* Fetch the next line; 0 at end of input. */
static int next_line(reader *r)
{
    if (r->eof)
        return 0;
    tc_blocking_enter();
    if (r->interactive) {
        fputs(r->depth ? "... " : "> ", stdout);
        fflush(stdout);
    }
    ssize_t n = getline(&r->line, &r->line_cap, r->in);
    if (n <= 0 && r->interactive)
        putchar('\n'); /* end the prompt's line after ^D */
    tc_blocking_leave();
    if (n <= 0) {
        r->eof = 1;
        r->len = r->pos = 0;
        return 0;
    }
    r->len = (size_t)n;
    r->pos = 0;
    return 1;
}

/* The next character without consuming it; EOF at end of input. */
static int peek(reader *r)
{
    while (r->pos >= r->len)
        if (!next_line(r))
            return EOF;
    return (unsigned char)r->line[r->pos];
}

static int next(reader *r)
{
    int c = peek(r);
    if (c != EOF)
        r->pos++;
    return c;
}

/* Skip whitespace and ; comments.  Returns the next character (peeked). */
static int skip_space(reader *r)
{
    for (;;) {
        int c = peek(r);
        if (c == ';') {
            r->pos = r->len;
        } else if (c != EOF && isspace(c)) {
            r->pos++;
        } else {
            return c;
        }
    }
}

static int is_delimiter(int c)
{
    return c == EOF || isspace(c) || c == '(' || c == ')' || c == '"' || c == ';' || c == '\'';
}

static _Noreturn void unexpected_eof(const char *what)
{
    lisp_error("read: unexpected end of input: %s", what);
}

static value read_datum(reader *r, int depth);

/* Before reading inside a new level: a list, a vector or a quoted datum.
 * The C stack check is a safety net behind the count, as in vm_enter. */
static void enter_level(int depth)
{
    if (depth >= READ_MAX_DEPTH ||
        (char *)__builtin_frame_address(0) < vm_current->c_stack_limit)
        lisp_error("read: nesting too deep (more than %d levels of lists, vectors and quotes)",
                   READ_MAX_DEPTH);
}

/* After '(' (or "#("): elements until ')', with an optional ". tail".
 * depth: the levels around the list's elements. */
static value read_list(reader *r, int allow_dot, int depth)
{
    vm *m = vm_current;
    size_t first = m->sp;
    value tail = NIL;
    r->depth++;
    for (;;) {
        int c = skip_space(r);
        if (c == EOF)
            unexpected_eof("a list is not closed (missing ')')");
        if (c == ')') {
            r->pos++;
            break;
        }
        if (c == '.' && allow_dot && m->sp > first && r->pos + 1 < r->len &&
            is_delimiter((unsigned char)r->line[r->pos + 1])) {
            r->pos++;
            vpush(read_datum(r, depth));
            if (skip_space(r) != ')')
                lisp_error("read: expected ')' after the datum following '.'");
            r->pos++;
            tail = m->stack[--m->sp];
            break;
        }
        vpush(read_datum(r, depth));
    }
    r->depth--;
    size_t n = m->sp - first;
    size_t acc = vpush(tail);
    for (size_t i = n; i-- > 0;)
        m->stack[acc] = cons(m->stack[first + i], m->stack[acc]);
    value list = m->stack[acc];
    m->sp = first;
    return list;
}

static value read_vector(reader *r, int depth)
{
    vm *m = vm_current;
    size_t at = vpush(read_list(r, 0, depth));
    size_t n = 0;
    for (value p = m->stack[at]; p != NIL; p = cdr(p))
        n++;
    value v = make_vector(n, FALSE_V);
    size_t i = 0;
    for (value p = m->stack[at]; p != NIL; p = cdr(p))
        tc_write(v, &as_vector(v)->items[i++], car(p));
    vpop(1);
    return v;
}

static value read_string(reader *r)
{
    strbuf b = {0};
    for (;;) {
        int c = next(r);
        if (c == EOF) {
            sb_free(&b);
            unexpected_eof("a string is not closed (missing '\"')");
        }
        if (c == '"')
            break;
        if (c == '\\') {
            c = next(r);
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
            if (c == EOF) {
                sb_free(&b);
                unexpected_eof("a string is not closed (missing '\"')");
            }
        }
        sb_putc(&b, (char)c);
    }
    value s = make_string(b.data ? b.data : "", b.len);
    sb_free(&b);
    return s;
}

/* A token that is all digits (with an optional sign) is a number. */
static int parse_number(const char *tok, size_t len, value *out)
{
    size_t i = tok[0] == '-' || tok[0] == '+';
    if (i == len)
        return 0;
    for (size_t j = i; j < len; j++)
        if (!isdigit((unsigned char)tok[j]))
            return 0;
    errno = 0;
    long long n = strtoll(tok, NULL, 10);
    if (errno || n > FIXNUM_MAX || n < FIXNUM_MIN)
        lisp_error("read: integer too large: %s", tok);
    *out = make_fixnum((intptr_t)n);
    return 1;
}

static value read_atom(reader *r)
{
    char tok[256];
    size_t len = 0;
    while (!is_delimiter(peek(r))) {
        if (len == sizeof tok - 1)
            lisp_error("read: token too long");
        tok[len] = (char)next(r);
        if (!tok[len++])
            lisp_error("read: NUL byte in a token");
    }
    tok[len] = 0;
    /* A lone dot is no symbol: written back it would read as a dotted
     * tail ((a . (. b)) would come back as (a . b)). */
    if (len == 1 && tok[0] == '.')
        lisp_error("read: unexpected '.' (a dot belongs before the last datum of a list)");
    value v;
    if (parse_number(tok, len, &v))
        return v;
    if (tok[0] == '#') {
        if (strcmp(tok, "#t") == 0 || strcmp(tok, "#true") == 0)
            return TRUE_V;
        if (strcmp(tok, "#f") == 0 || strcmp(tok, "#false") == 0)
            return FALSE_V;
        lisp_error("read: unknown syntax: %s", tok);
    }
    return intern(tok, len);
}

/* depth: the lists, vectors and quotes around this datum. */
static value read_datum(reader *r, int depth)
{
    int c = skip_space(r);
    if (c == EOF)
        unexpected_eof("a datum is missing after ' or .");
    if (c == ')')
        lisp_error("read: unexpected ')'");
    if (c == '(') {
        enter_level(depth);
        r->pos++;
        return read_list(r, 1, depth + 1);
    }
    if (c == '#' && r->pos + 1 < r->len && r->line[r->pos + 1] == '(') {
        enter_level(depth);
        r->pos += 2;
        return read_vector(r, depth + 1);
    }
    if (c == '"') {
        r->pos++;
        return read_string(r);
    }
    if (c == '\'') { /* 'x is (quote x) */
        enter_level(depth);
        r->pos++;
        vm *m = vm_current;
        size_t at = vpush(read_datum(r, depth + 1));
        m->stack[at] = cons(m->stack[at], NIL);
        value quote = intern_cstr("quote"); /* rooted by the symbol table */
        value form = cons(quote, m->stack[at]);
        vpop(1);
        return form;
    }
    return read_atom(r);
}

value read_form(reader *r)
{
    r->reading = 1;
    r->depth = 0;
    value v = END_OF_INPUT;
    int c = skip_space(r);
    if (c != EOF) {
        if (c == ')') {
            r->pos++;
            lisp_error("read: unexpected ')'");
        }
        v = read_datum(r, 0);
    }
    r->reading = 0;
    return v;
}
