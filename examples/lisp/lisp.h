/*
 * lisp.h — the interpreter's modules: reader, printer, evaluator,
 * primitives, threads.
 */
#ifndef LISP_LISP_H
#define LISP_LISP_H

#include <stdio.h>

#include "value.h"
#include "vm.h"

/* ---------------------------------------------------------------- read.c */

typedef struct reader {
    FILE *in;
    int interactive; /* print prompts */
    char *line;      /* the current input line (getline's buffer) */
    size_t line_cap;
    size_t len, pos;
    int depth;       /* open parentheses: chooses the prompt */
    int eof;
    int reading;     /* set while read_form runs: an error there was a read error */
} reader;

void reader_init(reader *r, FILE *in, int interactive);
void reader_free(reader *r);
/* The next form, or END_OF_INPUT.  Errors (unbalanced parentheses, bad
 * tokens) are Lisp errors. */
value read_form(reader *r);
/* After a read error: drop the rest of the current line. */
void reader_skip_line(reader *r);

/* --------------------------------------------------------------- print.c */

/* Append v to b.  write != 0: strings quoted, as `write` shows them.
 * The output stops with "..." past `limit` bytes.  Never allocates. */
void print_value(strbuf *b, value v, int write, size_t limit);

/* ---------------------------------------------------------------- eval.c */

enum special_form {
    F_NONE, F_QUOTE, F_IF, F_DEFINE, F_SET, F_LAMBDA, F_BEGIN, F_LET, F_LETSTAR, F_LETREC,
    F_COND, F_AND, F_OR, F_ELSE
};

void eval_init(void);
value eval(value x, value env);
/* Call the procedure f with the argc values on top of the value stack as
 * its arguments; pops them.  f must be rooted by the caller. */
value apply_proc(value f, int argc);

/* --------------------------------------------------------------- prims.c */

void prims_init(void);
/* The script's name and arguments, for (command-line); set by main. */
extern int lisp_argc;
extern char **lisp_argv;
void define_primitive(const char *name, prim_fn fn, int min_args, int max_args);

/* ---------------------------------------------------------------- weak.c */

void weak_init(void);

/* ------------------------------------------------------------ guardian.c */

void guardians_init(void);
/* After tc_shutdown: free the C records of guardians and registrations. */
void guardians_free(void);
/* (g) and (g obj) for guardian g; args on the value stack, as for a
 * primitive. */
value guardian_call(value g, value *args, int argc);

/* Finalizers run where the interpreter says: main.c asks tricolor for
 * TC_FINALIZE_QUEUE, so they wait for tc_run_finalizers, which the
 * interpreter calls at its safe points: each procedure application
 * (eval.c's ev_application, where everything eval holds is on the value
 * stack and no lock is held) and (gc).  When nothing is queued that costs
 * a call and a load (under 1% of the instructions of tak.scm, all calls).
 * The only finalizers are the guardians' (guardian.c), which never run
 * Lisp code. */
#define FINALIZERS_PER_SAFE_POINT 256
static inline void run_pending_finalizers(void)
{
    if (tc_finalizers_pending() > 0)
        tc_run_finalizers(FINALIZERS_PER_SAFE_POINT);
}

/* ------------------------------------------------------------- threads.c */

void threads_init(void);
/* Threads spawned and not yet finished (they must end before tc_shutdown). */
int threads_running(void);

#endif
