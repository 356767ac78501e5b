/*
 * threads.c — (spawn thunk), (join thread) and channels.
 *
 * Every spawned thread is a tricolor mutator of its own: it attaches,
 * creates its value stack, runs the thunk, and detaches.  They share the
 * heap and the global environment.
 *
 * Channels are unbounded FIFO queues: (channel-send! ch v) never blocks,
 * (channel-receive ch) waits until a value is there.  All channels share
 * one mutex and one condition variable: simple, and enough for an example.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "lisp.h"

/* A spawned thread's C side.  roots[0] is the thunk, roots[1] its result.
 * They are registered with tc_root_add from spawn to join: before the new
 * thread has pushed the thunk on its own value stack, and after it has
 * detached until join takes the result, no value stack holds them. */
struct spawn_rec {
    value roots[2];
    pthread_t tid;
    int failed;
};

static atomic_int running; /* spawned threads still attached */
static pthread_mutex_t join_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t chan_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t chan_cond = PTHREAD_COND_INITIALIZER;

int threads_running(void) { return atomic_load(&running); }

/* ------------------------------------------------------------------ threads */

static void *thread_main(void *arg)
{
    struct spawn_rec *rec = arg;
    tc_thread_attach(); /* before anything touches the heap */
    vm_create(VM_C_STACK);
    tc_roots_mark mark = tc_roots_save(); /* an error longjmps back here */
    jmp_buf on_error;
    if (setjmp(on_error) == 0) {
        vm_current->on_error = &on_error;
        rec->roots[1] = apply_proc(rec->roots[0], 0); /* a root: no barrier */
    } else {
        tc_roots_restore(mark); /* drop any TC_ROOTS frame the jump left */
        vm_report_error("error in thread");
        rec->failed = 1;
    }
    vm_destroy();
    tc_thread_detach();
    atomic_fetch_sub(&running, 1);
    return NULL;
}

static value prim_spawn(value *args, int argc)
{
    (void)argc;
    if (!is_procedure(args[0]))
        type_error("spawn", "a procedure", args[0]);
    struct spawn_rec *rec = calloc(1, sizeof *rec);
    if (!rec)
        lisp_error("spawn: out of memory");
    rec->roots[0] = args[0];
    rec->roots[1] = UNSPECIFIED;
    tc_root_add(rec->roots, 2);
    atomic_fetch_add(&running, 1);
    if (vm_start_thread(&rec->tid, thread_main, rec) != 0) {
        atomic_fetch_sub(&running, 1);
        tc_root_remove(rec->roots);
        free(rec);
        lisp_error("spawn: cannot create a thread");
    }
    return make_thread(rec);
}

static value prim_join(value *args, int argc)
{
    (void)argc;
    if (kind_of(args[0]) != K_THREAD)
        type_error("join", "a thread", args[0]);
    thread_obj *t = args[0];
    vm_lock(&join_lock);
    struct spawn_rec *rec = t->rec;
    t->rec = NULL;
    pthread_mutex_unlock(&join_lock);
    if (!rec)
        lisp_error("join: the thread was already joined");
    tc_blocking_enter(); /* the thread may run for long: no collection waits for us */
    pthread_join(rec->tid, NULL);
    tc_blocking_leave();
    value result = rec->roots[1];
    int failed = rec->failed;
    tc_root_remove(rec->roots); /* result is only in a C local from here: no allocation */
    free(rec);
    if (failed)
        lisp_error("join: the thread ended with an error");
    return result;
}

/* ----------------------------------------------------------------- channels */

static channel_obj *channel_arg(const char *who, value v)
{
    if (kind_of(v) != K_CHANNEL)
        type_error(who, "a channel", v);
    return as_channel(v);
}

static value prim_make_channel(value *args, int argc)
{
    (void)args;
    (void)argc;
    return make_channel();
}

static value prim_channel_send(value *args, int argc)
{
    (void)argc;
    channel_obj *c = channel_arg("channel-send!", args[0]);
    size_t cell = vpush(cons(args[1], NIL)); /* vm_lock may let a collection run */
    vm_lock(&chan_lock);
    value node = vm_current->stack[cell];
    if (c->tail == NIL)
        TC_WRITE(c, head, node);
    else
        set_cdr(c->tail, node);
    TC_WRITE(c, tail, node);
    TC_WRITE(c, count, make_fixnum(fixnum_of(c->count) + 1));
    pthread_cond_broadcast(&chan_cond);
    pthread_mutex_unlock(&chan_lock);
    vpop(1);
    return UNSPECIFIED;
}

static value prim_channel_receive(value *args, int argc)
{
    (void)argc;
    channel_obj *c = channel_arg("channel-receive", args[0]);
    vm_lock(&chan_lock);
    /* The test runs outside the blocking region (it reads the heap), the
     * wait inside it. */
    while (fixnum_of(c->count) == 0) {
        tc_blocking_enter();
        pthread_cond_wait(&chan_cond, &chan_lock);
        tc_blocking_leave(); /* may wait for a collection, holding chan_lock: fine,
                                other threads wait for it in blocking regions */
    }
    value node = c->head;
    TC_WRITE(c, head, cdr(node));
    if (c->head == NIL)
        TC_WRITE(c, tail, NIL);
    TC_WRITE(c, count, make_fixnum(fixnum_of(c->count) - 1));
    pthread_mutex_unlock(&chan_lock);
    return car(node);
}

void threads_init(void)
{
    define_primitive("spawn", prim_spawn, 1, 1);
    define_primitive("join", prim_join, 1, 1);
    define_primitive("make-channel", prim_make_channel, 0, 0);
    define_primitive("channel-send!", prim_channel_send, 2, 2);
    define_primitive("channel-receive", prim_channel_receive, 1, 1);
}
