/*
 * vm.c — the per-thread value stack and its root scanner, errors, and
 * helpers for blocking.
 */
#include "vm.h"

#include <stdlib.h>
#include <string.h>

#include "lisp.h"

_Thread_local vm *vm_current;

/* 4M values (32 MiB of address space, touched only as deep as recursion
 * goes).  Eval pushes a handful of values per nested call. */
#define VALUE_STACK_CAP ((size_t)4 << 20)

/* Headroom kept below the stack limit for the calls eval makes after its
 * check (primitives, the printer, the allocator, a sanitizer's runtime). */
#define C_STACK_MARGIN ((size_t)4 << 20)

/* ---------------------------------------------------------------- strbuf */

static void sb_reserve(strbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) {
        fprintf(stderr, "lisp: out of memory\n");
        abort();
    }
    b->cap = cap;
}

void sb_puts(strbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void sb_putc(strbuf *b, char c) { sb_puts(b, &c, 1); }

void sb_vprintf(strbuf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n <= 0)
        return;
    sb_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

void sb_free(strbuf *b)
{
    free(b->data);
    *b = (strbuf){0};
}

/* ------------------------------------------------------------ value stack */

/* The thread's roots, visited at each root snapshot (and by checkmark).
 * It runs on the collector thread while this thread is stopped at a
 * safepoint or in a blocking region, so the stack is not changing. */
static void scan_value_stack(tc_visitor *v, void *ctx)
{
    vm *m = ctx;
    tc_visit_slots(v, (void *const *)m->stack, m->sp);
}

void vm_create(size_t c_stack_size)
{
    vm *m = calloc(1, sizeof *m);
    if (m)
        m->stack = malloc(VALUE_STACK_CAP * sizeof(value));
    if (!m || !m->stack) {
        fprintf(stderr, "lisp: cannot allocate the value stack\n");
        exit(1);
    }
    m->cap = VALUE_STACK_CAP;
    m->c_stack_limit = (char *)__builtin_frame_address(0) - (c_stack_size - C_STACK_MARGIN);
    vm_current = m;
    tc_thread_root_scanner_add(scan_value_stack, m);
}

void vm_destroy(void)
{
    vm *m = vm_current;
    /* No longer a root before the memory goes away. */
    tc_thread_root_scanner_remove(scan_value_stack, m);
    free(m->stack);
    sb_free(&m->err);
    sb_free(&m->out);
    free(m);
    vm_current = NULL;
}

int vm_start_thread(pthread_t *tid, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, VM_C_STACK);
    int err = pthread_create(tid, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return err;
}

/* ----------------------------------------------------------------- errors */

void vm_raise(void)
{
    vm *m = vm_current;
    if (!m->on_error) { /* only during start-up, which raises no errors */
        fprintf(stderr, "error: %s\n", m->err.data);
        abort();
    }
    longjmp(*m->on_error, 1);
}

/* The error message becomes the formatted text. */
static void set_error(const char *fmt, va_list ap)
{
    vm_current->err.len = 0;
    sb_vprintf(&vm_current->err, fmt, ap);
}

void lisp_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(fmt, ap);
    va_end(ap);
    vm_raise();
}

void value_error(value v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(fmt, ap);
    va_end(ap);
    strbuf *err = &vm_current->err;
    print_value(err, v, 1, err->len + 200);
    vm_raise();
}

void type_error(const char *who, const char *expected, value got)
{
    value_error(got, "%s: expected %s, got ", who, expected);
}

void vm_report_error(const char *prefix)
{
    vm *m = vm_current;
    tc_blocking_enter();
    fflush(stdout);
    fprintf(stderr, "%s: %s\n", prefix, m->err.data ? m->err.data : "?");
    tc_blocking_leave();
}

void vm_stack_overflow(void)
{
    lisp_error("recursion too deep");
}

/* --------------------------------------------------------------- blocking */

void vm_lock(pthread_mutex_t *mu)
{
    if (pthread_mutex_trylock(mu) == 0)
        return;
    tc_blocking_enter();
    pthread_mutex_lock(mu);
    tc_blocking_leave();
}

void vm_flush_out(FILE *f)
{
    vm *m = vm_current;
    if (m->out.len == 0)
        return;
    tc_blocking_enter();
    fwrite(m->out.data, 1, m->out.len, f);
    tc_blocking_leave();
    m->out.len = 0;
}
