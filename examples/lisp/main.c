/*
 * main.c — the lisp command.
 *
 *   lisp          a REPL on stdin (prompts only when stdin is a terminal)
 *   lisp FILE [ARG...]   run FILE: evaluate each form; an error ends the
 *                 run with status 1.  (command-line) returns FILE and the
 *                 ARGs, as strings.
 *
 * The interpreter runs on a thread of its own, started with a 64 MiB stack
 * (VM_C_STACK), because eval recurses on the C stack for non-tail calls
 * and its depth check needs to know how much stack there is: the main
 * thread's stack is whatever `ulimit -s` says.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lisp.h"

typedef struct options {
    FILE *in;
    int script; /* 0: REPL */
    int status; /* the exit status */
} options;

/* Read, evaluate and (in the REPL) print one form.  Returns 1 after a
 * form, 0 at the end of input, -1 after an error. */
static int rep_once(reader *r, int print_result)
{
    vm *m = vm_current;
    size_t sp0 = m->sp;
    unsigned depth0 = m->depth;
    tc_roots_mark mark = tc_roots_save();
    jmp_buf on_error;
    if (setjmp(on_error)) {
        m->sp = sp0; /* drop whatever the failed evaluation had pushed */
        m->depth = depth0;
        tc_roots_restore(mark); /* and any TC_ROOTS frame the jump left */
        m->on_error = NULL;
        vm_report_error("error");
        if (r->reading)
            reader_skip_line(r);
        return -1;
    }
    m->on_error = &on_error;
    value form = read_form(r);
    if (form == END_OF_INPUT) {
        m->on_error = NULL;
        return 0;
    }
    vpush(form);
    value v = eval(form, NIL);
    m->sp = sp0;
    if (print_result && v != UNSPECIFIED) {
        print_value(&m->out, v, 1, SIZE_MAX);
        sb_putc(&m->out, '\n');
        vm_flush_out(stdout);
    }
    m->on_error = NULL;
    return 1;
}

static int run(FILE *in, int script)
{
    reader r;
    reader_init(&r, in, !script && isatty(fileno(in)));
    int status = 0, k;
    while ((k = rep_once(&r, !script)) != 0)
        if (k < 0 && script) {
            status = 1;
            break;
        }
    reader_free(&r);
    return status;
}

static void *interp_main(void *arg)
{
    options *o = arg;
    /* Finalizers (guardians) run at the interpreter's safe points, not on
     * a thread of tricolor's (lisp.h): so (g) sees what (gc) found, and a
     * finalizer never runs beside the code it may race with.  Everything
     * else, and TRICOLOR_FINALIZERS if set, is the environment's. */
    tc_config cfg = TC_CONFIG_INIT;
    if (!getenv("TRICOLOR_FINALIZERS"))
        cfg.finalizers = TC_FINALIZE_QUEUE;
    int err = tc_init(&cfg); /* this thread is now an attached mutator */
    if (err != TC_OK) {
        fprintf(stderr, "lisp: tc_init: %s\n", tc_strerror(err));
        o->status = 1;
        return NULL;
    }
    vm_create(VM_C_STACK); /* before the first allocation: constructors push */
    symbols_init();
    eval_init();
    prims_init();
    threads_init();
    weak_init();
    guardians_init();
    o->status = run(o->in, o->script);
    if (threads_running()) {
        /* Threads still attached would lose the heap under them in
         * tc_shutdown: end the process with them instead. */
        fflush(stdout);
        exit(o->status);
    }
    vm_destroy();
    tc_shutdown(); /* runs the finalizers still queued */
    guardians_free();
    return NULL;
}

int main(int argc, char **argv)
{
    options o = {.in = stdin};
    if (argc >= 2 && argv[1][0] == '-') {
        fprintf(stderr, "usage: lisp [FILE [ARG...]]\n  without FILE: a REPL on standard input\n"
                        "  (command-line) returns FILE and the ARGs\n");
        return 2;
    }
    lisp_argc = argc - 1;
    lisp_argv = argv + 1;
    if (argc >= 2) {
        o.in = fopen(argv[1], "r");
        if (!o.in) {
            fprintf(stderr, "lisp: %s: %s\n", argv[1], strerror(errno));
            return 1;
        }
        o.script = 1;
    }
    pthread_t tid;
    if (vm_start_thread(&tid, interp_main, &o) != 0) {
        fprintf(stderr, "lisp: cannot start the interpreter thread\n");
        return 1;
    }
    pthread_join(tid, NULL);
    if (o.in != stdin)
        fclose(o.in);
    return o.status;
}
