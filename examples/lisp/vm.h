/*
 * vm.h — per-thread interpreter state: the value stack (the interpreter's
 * roots), error unwinding, the C stack limit, and small helpers for code
 * that blocks.
 *
 * The rule every function follows: a value held across anything that can
 * allocate (and so run a collection) must be in a root.  The roots are the
 * value stack of each thread (scanned by a tc_thread_root_scanner_add
 * callback), the symbol table (a tc_root_add slot) and each spawned
 * thread's record (threads.c).  Pointers into a rooted object stay valid:
 * tricolor never moves objects.
 *
 * Errors longjmp back to the REPL (or a thread's entry), which resets the
 * value stack to where it was and restores the shadow stack saved before
 * its setjmp (tc_roots_save / tc_roots_restore), dropping any TC_ROOTS
 * frame the jump left.  The interpreter keeps its temporaries on the value
 * stack all the same: an index is cheaper to push and reset than a frame.
 */
#ifndef LISP_VM_H
#define LISP_VM_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>

#include "value.h"

/* A growable C string buffer (malloc memory, not the GC heap). */
typedef struct strbuf {
    char *data;
    size_t len, cap;
} strbuf;

void sb_putc(strbuf *b, char c);
void sb_puts(strbuf *b, const char *s, size_t n);
void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(strbuf *b, const char *fmt, va_list ap);
void sb_free(strbuf *b);

typedef struct vm {
    value *stack;       /* malloc'd, never moves: pointers into it stay valid */
    size_t sp, cap;
    jmp_buf *on_error;  /* where lisp_error jumps */
    unsigned depth;      /* nested evaluations (vm_enter) */
    char *c_stack_limit; /* vm_enter reports "recursion too deep" below this */
    strbuf err;         /* the last error message */
    strbuf out;         /* output being formatted before it is written */
} vm;

extern _Thread_local vm *vm_current;

/* Every thread that runs Lisp code: attached to tricolor first, then this.
 * c_stack_size is the size of the thread's stack (see vm_start_thread). */
void vm_create(size_t c_stack_size);
void vm_destroy(void);

/* Start fn(arg) on a new thread with a stack of VM_C_STACK bytes. */
#define VM_C_STACK ((size_t)64 << 20)
int vm_start_thread(pthread_t *tid, void *(*fn)(void *), void *arg);

/* Print "prefix: message" for the last error on stderr (after flushing
 * stdout, so that the two streams interleave in order). */
void vm_report_error(const char *prefix);
/* Unwind to the current error handler with the message in vm_current->err. */
_Noreturn void vm_raise(void);
_Noreturn void lisp_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The formatted message followed by v as `write` shows it (cut short). */
_Noreturn void value_error(value v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "car: expected a pair, got 5" */
_Noreturn void type_error(const char *who, const char *expected, value got);
_Noreturn void vm_stack_overflow(void);

static inline size_t vpush(value v)
{
    vm *m = vm_current;
    if (m->sp == m->cap)
        vm_stack_overflow();
    m->stack[m->sp] = v; /* a root: no barrier */
    return m->sp++;
}

static inline void vpop(size_t n) { vm_current->sp -= n; }

/* How many evaluations may nest (non-tail calls, arguments being
 * evaluated...).  ThreadSanitizer cannot record a stack trace deeper than
 * 65,536 frames (it aborts), and one level can take up to five C frames. */
#if defined(__SANITIZE_THREAD__)
#define LISP_MAX_DEPTH 10000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LISP_MAX_DEPTH 10000
#endif
#endif
#ifndef LISP_MAX_DEPTH
#define LISP_MAX_DEPTH 100000
#endif

/* Around each nested evaluation (eval, equal?): deep non-tail recursion
 * becomes an error, not a segfault.  The C stack check is a safety net
 * behind the count (the stack grows down on every platform tricolor
 * supports).  An error unwinds past vm_leave: the handler restores depth. */
static inline void vm_enter(void)
{
    vm *m = vm_current;
    if (++m->depth > LISP_MAX_DEPTH ||
        (char *)__builtin_frame_address(0) < m->c_stack_limit)
        vm_stack_overflow();
}

static inline void vm_leave(void) { vm_current->depth--; }

/* Lock a mutex that other mutator threads may hold while they allocate.
 * Waiting for it is blocking: without tc_blocking_enter, a collection that
 * stops the world would wait for this thread, which waits for the holder,
 * which is parked at the collection's safepoint.  The holder may allocate,
 * but must not raise a Lisp error (longjmp) before unlocking. */
void vm_lock(pthread_mutex_t *mu);

/* Write the formatted output (vm_current->out) to f, inside a blocking
 * region: a full pipe must not hold up every other thread's collection. */
void vm_flush_out(FILE *f);

#endif
