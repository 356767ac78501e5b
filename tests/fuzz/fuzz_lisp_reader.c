/*
 * fuzz_lisp_reader.c — libFuzzer target for examples/lisp's reader
 * (read.c) and printer (print.c).
 *
 * The input is a program text.  Every form is read from an fmemopen()ed
 * copy until END_OF_INPUT; a read error (a Lisp error, longjmp'd to the
 * handler here as main.c's rep_once catches it) resets the value stack and
 * depth as rep_once does, drops the rest of the line, and reading goes on
 * (the REPL's behaviour).  For each form read:
 *
 *   - the value stack is back where it was (read_form pushes nothing);
 *   - the value is well formed: fixnums, #t/#f, (), symbols, strings,
 *     pairs and vectors of those, every reference a live heap object;
 *   - it is printed with print_value, as `write` and as `display` (and
 *     cut short at a small limit), and the `write` text read back gives
 *     exactly one form, equal to the first (print/read round trip);
 *   - every error raised while reading is a reader error ("read: ...").
 *
 * The interpreter is started as main.c starts it (tc_init, vm_create,
 * symbols_init, eval_init, prims_init, threads_init) on a thread of its
 * own with the interpreter's 64 MiB stack (vm_start_thread), as in the
 * real program; LLVMFuzzerTestOneInput hands each input to that thread and
 * waits.  Every RESTART_EVERY inputs the interpreter is shut down
 * (vm_destroy, tc_shutdown) and started afresh, because symbols are never
 * freed and random input interns many.
 *
 * Collector settings: TRICOLOR_DEBUG=checkmark=1,poison=1,stress=256
 * unless the environment sets TRICOLOR_DEBUG: a cycle starts every 256
 * allocations, its root snapshot taken at whatever allocation comes next
 * and its marking slow, so a value the reader forgets to root is freed
 * while still in use, poisoned (0xdb), and fails the checks above.
 *
 * At start-up, before any input, a self-test reads a million nested '(',
 * quotes and "#(" (the reader once overflowed the C stack on those: it
 * must now raise "read: nesting too deep (more than N levels ...)"), then
 * lists exactly N deep (which must read, print and round-trip) and N + 1
 * deep (an error).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lisp.h"

#define RESTART_EVERY 20000
#define PRINT_LIMIT 64 /* the cut-short print */

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_lisp_reader: property failed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond))                                                          \
            fail(__VA_ARGS__);                                                \
    } while (0)

/* -------------------------------------------------------- value checks */

/* A datum the reader can produce, recursively; lists are walked along
 * their cdrs iteratively (the reader bounds nesting, not length). */
static void check_datum(value v, unsigned depth)
{
    CHECK(depth <= 100000, "a datum nested %u deep", depth);
    for (;;) {
        if (is_fixnum(v) || v == TRUE_V || v == FALSE_V || v == NIL)
            return;
        CHECK(is_heap(v) && tc_is_heap_object(v), "not a live heap object: %p", v);
        switch (kind_of(v)) {
        case K_SYMBOL:
            CHECK(is_string(as_symbol(v)->name), "a symbol without a name string");
            return;
        case K_STRING:
            CHECK(tc_size(v) >= sizeof(string_obj) + as_string(v)->len + 1,
                  "a string longer than its object");
            CHECK(as_string(v)->chars[as_string(v)->len] == 0, "a string without its NUL");
            return;
        case K_VECTOR: {
            value len = as_vector(v)->len;
            CHECK(is_fixnum(len) && fixnum_of(len) >= 0, "a vector length");
            CHECK(tc_size(v) >= sizeof(vector_obj) + (size_t)fixnum_of(len) * sizeof(value),
                  "a vector longer than its object");
            for (intptr_t i = 0; i < fixnum_of(len); i++)
                check_datum(as_vector(v)->items[i], depth + 1);
            return;
        }
        case K_PAIR:
            check_datum(car(v), depth + 1);
            v = cdr(v);
            continue;
        default:
            fail("the reader made an object of kind %d", kind_of(v));
        }
    }
}

/* equal? on read data.  Symbols are interned: the same name is the same
 * object. */
static int same(value a, value b)
{
    for (;;) {
        if (a == b)
            return 1;
        if (!is_heap(a) || !is_heap(b) || kind_of(a) != kind_of(b))
            return 0;
        switch (kind_of(a)) {
        case K_STRING:
            return as_string(a)->len == as_string(b)->len &&
                   memcmp(as_string(a)->chars, as_string(b)->chars, as_string(a)->len) == 0;
        case K_VECTOR: {
            if (as_vector(a)->len != as_vector(b)->len)
                return 0;
            for (intptr_t i = 0; i < fixnum_of(as_vector(a)->len); i++)
                if (!same(as_vector(a)->items[i], as_vector(b)->items[i]))
                    return 0;
            return 1;
        }
        case K_PAIR:
            if (!same(car(a), car(b)))
                return 0;
            a = cdr(a);
            b = cdr(b);
            continue;
        default:
            return 0;
        }
    }
}

/* ------------------------------------------------------------ one input */

static void interp_start(void)
{
    int err = tc_init(NULL);
    if (err != TC_OK)
        fail("tc_init: %s", tc_strerror(err));
    vm_create(VM_C_STACK); /* before the first allocation: constructors push */
    symbols_init();
    eval_init();
    prims_init();
    threads_init();
}

static void interp_stop(void)
{
    vm_destroy();
    tc_shutdown();
}

/* What reading one input did (for the self-test). */
typedef struct outcome {
    unsigned forms, errors;
    char first_error[128];
} outcome;

static void run_input(const uint8_t *data, size_t size, outcome *out)
{
    vm *m = vm_current;
    *out = (outcome){0};
    if (size == 0)
        return; /* nothing to read (and fmemopen may refuse a size of 0) */
    FILE *in = fmemopen((void *)data, size, "r");
    CHECK(in, "fmemopen failed");
    const size_t sp0 = m->sp;
    const unsigned depth0 = m->depth;
    reader r;
    reader_init(&r, in, 0);
    strbuf text = {0}, shown = {0};
    FILE *volatile again_in = NULL;
    volatile int checking_round_trip = 0;
    jmp_buf on_error;
    for (;;) {
        if (setjmp(on_error)) {
            /* As rep_once: drop what the failed read pushed. */
            m->sp = sp0;
            m->depth = depth0;
            m->on_error = NULL;
            const char *msg = m->err.data ? m->err.data : "?";
            CHECK(!checking_round_trip, "the printed form \"%.200s\" does not read back: %s",
                  text.data ? text.data : "", msg);
            CHECK(strncmp(msg, "read: ", 6) == 0, "a read raised a non-read error: %s", msg);
            if (out->errors++ == 0)
                snprintf(out->first_error, sizeof out->first_error, "%s", msg);
            reader_skip_line(&r);
            continue;
        }
        m->on_error = &on_error;
        value v = read_form(&r);
        if (v == END_OF_INPUT)
            break;
        CHECK(m->sp == sp0, "read_form left %zu values on the stack", m->sp - sp0);
        out->forms++;
        size_t at = vpush(v); /* printing polls safepoints; reading again allocates */
        check_datum(m->stack[at], 0);

        text.len = 0;
        print_value(&text, m->stack[at], 1, SIZE_MAX);
        shown.len = 0;
        print_value(&shown, m->stack[at], 0, SIZE_MAX);
        shown.len = 0;
        print_value(&shown, m->stack[at], 1, PRINT_LIMIT);
        CHECK(shown.len <= PRINT_LIMIT + 3, "print_value went past its limit: %zu bytes",
              shown.len);

        /* The round trip: `write` output reads back as one equal form. */
        checking_round_trip = 1;
        again_in = fmemopen(text.data, text.len, "r");
        CHECK(again_in, "fmemopen of the printed form failed");
        reader again;
        reader_init(&again, again_in, 0);
        value w = read_form(&again);
        CHECK(w != END_OF_INPUT, "the printed form \"%.200s\" reads as nothing", text.data);
        vpush(w);
        CHECK(same(m->stack[at], w), "print/read round trip: \"%.200s\" reads back different",
              text.data);
        CHECK(read_form(&again) == END_OF_INPUT,
              "the printed form \"%.200s\" reads as more than one form", text.data);
        reader_free(&again);
        fclose(again_in);
        again_in = NULL;
        checking_round_trip = 0;
        m->sp = sp0;
    }
    m->on_error = NULL;
    CHECK(m->sp == sp0 && m->depth == depth0, "the value stack or depth moved");
    sb_free(&text);
    sb_free(&shown);
    reader_free(&r);
    fclose(in);
}

/* n copies of `unit`, then `tail`. */
static uint8_t *repeat(const char *unit, size_t n, const char *tail, size_t *size)
{
    size_t u = strlen(unit), t = strlen(tail);
    uint8_t *buf = malloc(u * n + t);
    CHECK(buf, "out of memory");
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * u, unit, u);
    memcpy(buf + u * n, tail, t);
    *size = u * n + t;
    return buf;
}

/* A list n deep: "(a (a (a ... )))" and a newline. */
static void read_nested_list(size_t n, outcome *o)
{
    size_t size;
    uint8_t *buf = repeat("(a ", n, "", &size);
    uint8_t *closed = malloc(size + n + 1);
    CHECK(closed, "out of memory");
    memcpy(closed, buf, size);
    memset(closed + size, ')', n);
    closed[size + n] = '\n';
    run_input(closed, size + n + 1, o);
    free(closed);
    free(buf);
}

static void self_test(void)
{
    static const char *const deep[] = {"(", "'", "#("};
    long limit = -1;
    for (size_t i = 0; i < 3; i++) {
        size_t size;
        uint8_t *buf = repeat(deep[i], 1000000, "x\n(ok)\n", &size);
        outcome o;
        run_input(buf, size, &o);
        CHECK(o.errors == 1 && o.forms == 1 &&
                  sscanf(o.first_error, "read: nesting too deep (more than %ld levels", &limit) == 1,
              "a million nested \"%s\": %u errors (first: %s), %u forms", deep[i], o.errors,
              o.first_error, o.forms);
        free(buf);
    }
    CHECK(limit >= 100 && limit <= 1000000, "the reader's nesting limit: %ld", limit);
    outcome o;
    read_nested_list((size_t)limit, &o);
    CHECK(o.errors == 0 && o.forms == 1, "a list %ld deep (the limit): %u errors (%s)", limit,
          o.errors, o.first_error);
    read_nested_list((size_t)limit + 1, &o);
    CHECK(o.errors == 1 && o.forms == 0, "a list %ld deep (past the limit): %u errors, %u forms",
          limit + 1, o.errors, o.forms);
}

/* ------------------------------------------- the interpreter's thread */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static const uint8_t *job_data;
static size_t job_size;
static int job_pending, job_done, ready;

static void *interp_main(void *arg)
{
    (void)arg;
    unsigned long inputs = 0;
    interp_start();
    self_test();
    pthread_mutex_lock(&mu);
    ready = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (;;) {
        /* Waiting for the next input is blocking: never hold up a pause. */
        tc_blocking_enter();
        pthread_mutex_lock(&mu);
        while (!job_pending)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        tc_blocking_leave();

        if (++inputs % RESTART_EVERY == 0) {
            interp_stop();
            interp_start();
        }
        outcome o;
        run_input(job_data, job_size, &o);

        pthread_mutex_lock(&mu);
        job_pending = 0;
        job_done = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("TRICOLOR_DEBUG", "checkmark=1,poison=1,stress=256", 0);
    pthread_t tid;
    if (vm_start_thread(&tid, interp_main, NULL) != 0)
        fail("cannot start the interpreter thread");
    pthread_detach(tid);
    pthread_mutex_lock(&mu); /* the self-test first */
    while (!ready)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pthread_mutex_lock(&mu);
    job_data = data;
    job_size = size;
    job_done = 0;
    job_pending = 1;
    pthread_cond_broadcast(&cv);
    while (!job_done)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return 0;
}
