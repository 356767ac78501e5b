/* test_badinput.c — bad arguments, out-of-memory, calls from unattached
 * threads and in the wrong lifecycle state: a diagnostic and an error,
 * never a crash or a corrupted heap.  Also the verify debug mode. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static tc_stats st;

/* Assert the captured text is exactly one line containing each needle. */
static void assert_one_line_with(const char *err, const char *n1, const char *n2)
{
    assert_non_null(err);
    if (tu_count_lines(err) != 1 || !strstr(err, n1) || (n2 && !strstr(err, n2)))
        print_error("diagnostic was: \"%s\" (expected one line with \"%s\"%s%s%s)\n", err,
                    n1, n2 ? " and \"" : "", n2 ? n2 : "", n2 ? "\"" : "");
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, n1));
    if (n2)
        assert_non_null(strstr(err, n2));
}

/* In a forked child: undo cmocka's handlers for crash signals, so that a
 * crash kills the child instead of resuming the test suite in it. */
static char *saved_env[3];
static const char *const env_names[3] = {"TRICOLOR_DEBUG", "TRICOLOR_GC_PERCENT",
                                         "TRICOLOR_MEMORY_LIMIT"};

static void env_save(void)
{
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(env_names[i]);
        saved_env[i] = v ? strdup(v) : NULL;
    }
}

static void env_restore(void)
{
    for (int i = 0; i < 3; i++) {
        if (saved_env[i])
            setenv(env_names[i], saved_env[i], 1);
        else
            unsetenv(env_names[i]);
        free(saved_env[i]);
        saved_env[i] = NULL;
    }
}

/* TRICOLOR_DEBUG plus item, keeping what the environment already asks. */
static void debug_env_add(const char *item)
{
    const char *old = getenv("TRICOLOR_DEBUG");
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s%s", old ? old : "", old && *old ? "," : "", item);
    setenv("TRICOLOR_DEBUG", buf, 1);
}

/* ------------------------------------------------------ bad tc_alloc */

static const tc_type bad_layout_type = {.name = "badlayout", .layout = 7};
static const tc_type neg_layout_type = {.name = "neglayout", .layout = -1};
static const tc_type no_trace_type = {.name = "notrace", .layout = TC_LAYOUT_TRACE};

typedef struct alloc_call {
    const tc_type *type;
    size_t size;
    void *result;
    int err;
} alloc_call;

static void do_alloc(void *arg)
{
    alloc_call *c = arg;
    c->result = tc_alloc(c->type, c->size);
    c->err = tc_last_error();
}

static void bad_alloc_arguments(void **state)
{
    (void)state;
    assert_int_equal(tc_last_error(), TC_OK);
    tu_pair *l = NULL;
    TC_ROOTS(l);
    l = tu_make_list(100);
    static const struct {
        const tc_type *type;
        size_t size;
        const char *n1, *n2;
    } cases[] = {
        {&tu_leaf_type, 0, "size 0", "leaf"},
        {&tu_pair_type, 0, "size 0", "pair"},
        {NULL, 16, "type is NULL", NULL},
        {NULL, 0, "tc_alloc", NULL},
        {&bad_layout_type, 16, "badlayout", "layout 7"},
        {&neg_layout_type, 16, "neglayout", "layout -1"},
        {&no_trace_type, 16, "notrace", "without a trace function"},
        {&bad_layout_type, SIZE_MAX, "badlayout", NULL}, /* EINVAL wins over size */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* A good allocation in between must not hide the next error. */
        assert_non_null(tc_alloc(&tu_leaf_type, 8));
        alloc_call c = {cases[i].type, cases[i].size, (void *)1, 0};
        char *err = tu_capture_stderr(do_alloc, &c);
        assert_null(c.result);
        assert_int_equal(c.err, TC_EINVAL);
        assert_one_line_with(err, cases[i].n1, cases[i].n2);
        free(err);
    }
    /* Nothing was corrupted. */
    assert_int_equal(tu_live_after_collect(), 100);
    tu_check_list(l, 100);
    tc_read_stats(&st);
    assert_int_equal(st.objects_allocated, 100 + 8); /* failures count nothing */
}

/* --------------------------------------------------------------- OOM */

typedef struct oom_record {
    int calls;
    size_t requested;
    void *ctx_seen;
} oom_record;

static void record_oom(void *ctx, size_t requested)
{
    oom_record *r = ctx;
    r->calls++;
    r->requested = requested;
    r->ctx_seen = ctx;
}

static void oom_handler_returns(void **state)
{
    (void)state;
    tu_pair *l = NULL;
    TC_ROOTS(l);
    l = tu_make_list(1000);
    static oom_record rec;
    memset(&rec, 0, sizeof rec);
    tc_set_oom_handler(record_oom, &rec);
    static const size_t sizes[] = {SIZE_MAX, (size_t)1 << 50, SIZE_MAX - 7, SIZE_MAX / 2,
                                   ((size_t)1 << 46) + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const tc_type *t = i % 2 ? &tu_pair_type : &tu_leaf_type;
        void *p = tc_alloc(t, sizes[i]);
        assert_null(p);
        assert_int_equal(rec.calls, (int)i + 1);
        assert_int_equal(rec.requested, sizes[i]);
        assert_ptr_equal(rec.ctx_seen, &rec);
        assert_int_equal(tc_last_error(), TC_ENOMEM);
    }
    /* The heap works afterwards. */
    tu_pair *m = NULL;
    TC_ROOTS(m);
    m = tu_make_list(500);
    for (int g = 0; g < 10000; g++)
        tc_alloc(&tu_leaf_type, 100);
    void *big = tc_alloc(&tu_leaf_type, 5 << 20);
    assert_non_null(big);
    assert_int_equal(tu_live_after_collect(), 1500);
    tu_check_list(l, 1000);
    tu_check_list(m, 500);
    assert_int_equal(rec.calls, 5); /* no spurious calls */
    tc_set_oom_handler(NULL, NULL);
}

/* The default handler: one line with the request, then abort. */
static void default_oom_in_child(size_t size, const tc_type *type)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tu_child_default_signals();
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        if (tc_init(NULL) != TC_OK)
            _exit(3);
        static oom_record rec;
        tc_set_oom_handler(record_oom, &rec);
        tc_set_oom_handler(NULL, NULL); /* back to the default */
        void *p = tc_alloc(type, size);
        (void)p;
        _exit(4); /* must not get here */
    }
    close(fds[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = 0;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        print_error("child exited with %d; stderr: %s\n", WEXITSTATUS(status), buf);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    char num[32];
    snprintf(num, sizeof num, "%zu", size);
    assert_one_line_with(buf, num, "out of memory");
}

static void default_oom_aborts(void **state)
{
    (void)state;
    default_oom_in_child(SIZE_MAX, &tu_leaf_type);
    default_oom_in_child((size_t)1 << 50, &tu_pair_type);
}

/* --------------------------------------------------- unattached thread */

static void *g_from_unattached[1];

typedef struct unattached_results {
    char *diag[12];
    void *alloc;
    int alloc_err;
    int scanner_add, scanner_remove;
    int root_add;
    int is_heap;
    size_t size;
    const tc_type *type;
    int prev_percent;
    uint64_t cycles_before, cycles_after;
    void *main_obj;
} unattached_results;

static void dummy_scan(tc_visitor *v, void *ctx)
{
    (void)v;
    (void)ctx;
}

static unattached_results ur;

static void u_alloc(void *a)
{
    (void)a;
    ur.alloc = tc_alloc(&tu_pair_type, 16);
    ur.alloc_err = tc_last_error();
}
static void u_collect(void *a)
{
    (void)a;
    static tc_stats s;
    tc_read_stats(&s);
    ur.cycles_before = s.cycles;
    tc_collect();
    tc_read_stats(&s);
    ur.cycles_after = s.cycles;
}
static void u_scanner(void *a)
{
    (void)a;
    ur.scanner_add = tc_thread_root_scanner_add(dummy_scan, NULL);
}
static void u_scanner_remove(void *a)
{
    (void)a;
    ur.scanner_remove = tc_thread_root_scanner_remove(dummy_scan, NULL);
}
static void u_frame(void *a)
{
    (void)a;
    void *x = ur.main_obj;
    TC_ROOTS(x);
    x = NULL;
}
static void u_frame_pop(void *a)
{
    (void)a;
    TC_ROOTS_POP();
}
static void u_enter(void *a)
{
    (void)a;
    tc_blocking_enter();
}
static void u_leave(void *a)
{
    (void)a;
    tc_blocking_leave();
}
static void u_detach(void *a)
{
    (void)a;
    tc_thread_detach();
}
static void u_any_thread(void *a)
{
    (void)a;
    tc_safepoint();
    ur.root_add = tc_root_add(g_from_unattached, 1);
    ur.is_heap = tc_is_heap_object(ur.main_obj);
    ur.size = tc_size(ur.main_obj);
    ur.type = tc_type_of(ur.main_obj);
    ur.prev_percent = tc_set_gc_percent(100);
}

static void *unattached_main(void *arg)
{
    (void)arg;
    void (*const fns[])(void *) = {u_alloc,  u_collect, u_scanner, u_scanner_remove,
                                   u_frame,  u_frame_pop, u_enter, u_leave,
                                   u_detach, u_any_thread};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        ur.diag[i] = tu_capture_stderr(fns[i], NULL);
    return NULL;
}

static void unattached_thread_calls(void **state)
{
    (void)state;
    memset(&ur, 0, sizeof ur);
    ur.alloc = (void *)1;
    tu_pair *mine = NULL;
    TC_ROOTS(mine);
    mine = tu_make_list(10);
    /* Only a global root registered by the unattached thread holds this. */
    ur.main_obj = g_from_unattached[0] = tu_make_list(7);
    tc_set_gc_percent(77);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, unattached_main, NULL), 0);
    tc_blocking_enter();
    pthread_join(th, NULL);
    tc_blocking_leave();

    assert_null(ur.alloc);
    assert_int_equal(ur.alloc_err, TC_ENOTATTACHED);
    assert_one_line_with(ur.diag[0], "tc_alloc", "not attached");
    assert_one_line_with(ur.diag[1], "tc_collect", "not attached");
    assert_int_equal(ur.cycles_after, ur.cycles_before);
    assert_int_equal(ur.scanner_add, TC_ENOTATTACHED);
    assert_one_line_with(ur.diag[2], "tc_thread_root_scanner_add", "not attached");
    assert_int_equal(ur.scanner_remove, TC_ENOTATTACHED);
    assert_one_line_with(ur.diag[3], "tc_thread_root_scanner_remove", "not attached");
    assert_one_line_with(ur.diag[4], "TC_ROOTS", "not attached");
    assert_one_line_with(ur.diag[5], "TC_ROOTS_POP", "not attached");
    assert_one_line_with(ur.diag[6], "tc_blocking_enter", "not attached");
    assert_one_line_with(ur.diag[7], "tc_blocking_leave", "not attached");
    assert_one_line_with(ur.diag[8], "tc_thread_detach", "not attached");
    /* "Any thread" calls work and say nothing. */
    assert_string_equal(ur.diag[9], "");
    assert_int_equal(ur.root_add, TC_OK);
    assert_true(ur.is_heap);
    assert_true(ur.size >= sizeof(tu_pair));
    assert_int_equal(ur.size, tc_size(ur.main_obj));
    assert_ptr_equal(ur.type, &tu_pair_type);
    assert_int_equal(ur.prev_percent, 77);
    for (int i = 0; i < 10; i++)
        free(ur.diag[i]);

    /* The heap is intact; the ignored frame holds nothing. */
    assert_int_equal(tu_live_after_collect(), 17);
    tu_check_list(mine, 10);
    tu_check_list(g_from_unattached[0], 7);
    assert_int_equal(tc_root_remove(g_from_unattached), TC_OK);
    assert_int_equal(tu_live_after_collect(), 10);
    /* The main thread is still attached and working. */
    assert_int_equal(tc_last_error(), TC_OK);
    assert_non_null(tc_alloc(&tu_leaf_type, 10));
}

/* ------------------------------------------------- attach in bad states */

static void attach_twice_call(void *arg)
{
    *(int *)arg = tc_thread_attach();
}

static void attach_when_attached(void **state)
{
    (void)state;
    int r = 1;
    char *err = tu_capture_stderr(attach_twice_call, &r);
    assert_int_equal(r, TC_EEXIST);
    assert_one_line_with(err, "already attached", NULL);
    free(err);
    /* Still attached and working. */
    tu_pair *l = NULL;
    TC_ROOTS(l);
    l = tu_make_list(5);
    assert_int_equal(tu_live_after_collect(), 5);
    tu_check_list(l, 5);
}

static void *attach_before_init_thread(void *arg)
{
    int *r = arg;
    *r = tc_thread_attach();
    return NULL;
}

static void before_init_calls(void *arg)
{
    int *r = arg;
    r[0] = tc_thread_attach();
    pthread_t th;
    pthread_create(&th, NULL, attach_before_init_thread, &r[1]);
    pthread_join(th, NULL);
    r[2] = tc_alloc(&tu_leaf_type, 16) == NULL;
    tc_collect();
    tc_shutdown();
}

static void attach_before_init(void **state)
{
    (void)state;
    int r[3] = {1, 1, 0};
    char *err = tu_capture_stderr(before_init_calls, r);
    assert_int_equal(r[0], TC_ESTATE);
    assert_int_equal(r[1], TC_ESTATE);
    assert_true(r[2]);
    assert_non_null(err);
    /* attach x2, tc_alloc, tc_collect: one line each; shutdown says nothing */
    assert_int_equal(tu_count_lines(err), 4);
    assert_non_null(strstr(err, "tc_thread_attach"));
    assert_non_null(strstr(err, "tc_collect"));
    free(err);
    /* Initialisation still works afterwards. */
    assert_int_equal(tc_init(NULL), TC_OK);
    assert_non_null(tc_alloc(&tu_leaf_type, 16));
    tc_shutdown();
}

/* ------------------------------------------------ non-object pointers */

/* tc_read_stats by size (tricolor.h): a caller whose header knows more
 * fields than the library reads them as 0, a smaller size or a NULL out
 * is refused with one line and nothing written, and the function itself
 * (not the macro) fills a whole tc_stats. */
typedef struct later_stats {
    tc_stats known;
    uint64_t added_later[3];
} later_stats;

typedef struct sized_call {
    void *out;
    size_t size;
} sized_call;

static void do_read_sized(void *arg)
{
    sized_call *c = arg;
    tc_read_stats_sized(c->out, c->size);
}

static void read_stats_by_size(void **state)
{
    (void)state;
    void **keep = NULL;
    TC_ROOTS(keep);
    keep = tc_alloc(&tu_pair_type, 2 * sizeof(void *));
    tc_collect();
    tc_stats whole;
    (tc_read_stats)(&whole);
    assert_true(whole.cycles >= 1 && whole.objects_allocated >= 1);

    later_stats later;
    memset(&later, 0xa5, sizeof later);
    tc_read_stats_sized(&later.known, sizeof later);
    assert_int_equal(later.known.cycles, whole.cycles);
    assert_int_equal(later.known.stall_cause_ns[TC_STALL_CAUSES - 1],
                     whole.stall_cause_ns[TC_STALL_CAUSES - 1]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(later.added_later[i], 0);

    tc_read_stats(&later.known); /* the macro: its own size, no further */
    later.added_later[0] = 7;
    tc_read_stats(&later.known);
    assert_int_equal(later.added_later[0], 7);

    memset(&later, 0xa5, sizeof later);
    sized_call bad[] = {{&later, sizeof(tc_stats) - 8}, {&later, 0}, {NULL, sizeof(tc_stats)}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *err = tu_capture_stderr(do_read_sized, &bad[i]);
        assert_one_line_with(err, "tc_read_stats_sized", "nothing read");
        free(err);
        unsigned char *b = (unsigned char *)&later;
        for (size_t k = 0; k < sizeof later; k++)
            assert_int_equal(b[k], 0xa5);
    }
}

static int a_static;

typedef struct size_call {
    const void *p;
    size_t size;
    const tc_type *type;
    int is_heap;
} size_call;

static void do_size(void *arg)
{
    size_call *c = arg;
    c->size = tc_size(c->p);
    c->type = tc_type_of(c->p);
    c->is_heap = tc_is_heap_object(c->p);
}

static void size_of_non_objects(void **state)
{
    (void)state;
    int on_stack = 0;
    void *heap = malloc(32);
    void **keep = NULL;
    TC_ROOTS(keep);
    keep = tc_alloc(&tu_pair_type, 2 * sizeof(void *));
    char *obj[3];
    for (int i = 0; i < 3; i++)
        obj[i] = tc_alloc(&tu_leaf_type, 48);
    tc_write(keep, &keep[0], obj[0]);
    tc_write(keep, &keep[1], obj[2]);
    assert_int_equal(tu_live_after_collect(), 3); /* obj[1] freed, its span in use */
    const void *bad[] = {
        &on_stack,          heap, &a_static, (const void *)&tu_pair_type, NULL,
        obj[0] + 16,        obj[0] + 1,      obj[0] - 8, obj[1], (void *)(uintptr_t)0x10,
        (void *)(uintptr_t)-16, (void *)(uintptr_t)0xdeadbeef0, (void *)size_of_non_objects,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_call c = {bad[i], 1, &tu_leaf_type, 1};
        char *err = tu_capture_stderr(do_size, &c);
        assert_int_equal(c.size, 0);
        assert_null(c.type);
        assert_false(c.is_heap);
        /* one line from tc_size, one from tc_type_of */
        assert_non_null(err);
        if (tu_count_lines(err) != 2)
            print_error("pointer #%zu %p: \"%s\"\n", i, bad[i], err);
        assert_int_equal(tu_count_lines(err), 2);
        assert_non_null(strstr(err, "tc_size"));
        assert_non_null(strstr(err, "tc_type_of"));
        free(err);
    }
    /* Real objects. */
    assert_true(tc_size(obj[0]) >= 48);
    assert_ptr_equal(tc_type_of(obj[2]), &tu_leaf_type);
    assert_true(tc_is_heap_object(keep));
    free(heap);
}

/* tc_size / tc_type_of / tc_is_heap_object ("any thread") when the
 * collector is not running, before tc_init and after tc_shutdown: 0/NULL,
 * no crash.  In a child, so a crash fails only this test. */
static int query_when_not_running(int after_shutdown)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        tu_child_default_signals();
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        if (after_shutdown) {
            if (tc_init(NULL) != TC_OK)
                _exit(3);
            tc_shutdown();
        }
        _Alignas(16) char local[32];
        void *m = malloc(64); /* 16-aligned */
        const void *ps[] = {local, m, &tu_pair_type};
        int bad = 0;
        for (int i = 0; i < 3; i++)
            bad |= tc_is_heap_object(ps[i]) != 0 || tc_size(ps[i]) != 0 ||
                   tc_type_of(ps[i]) != NULL;
        _exit(bad ? 1 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
        print_error("tc_is_heap_object/tc_size/tc_type_of %s crashed (signal %d)\n",
                    after_shutdown ? "after tc_shutdown" : "before tc_init", WTERMSIG(status));
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void queries_when_not_running(void **state)
{
    (void)state;
    int before = query_when_not_running(0);
    int after = query_when_not_running(1);
    assert_int_equal(before, 0);
    assert_int_equal(after, 0);
}

/* ------------------------------------------------ blocking misuse */

static void blocking_misuse_calls(void *arg)
{
    (void)arg;
    tc_blocking_leave(); /* not in a region */
    tc_blocking_enter();
    tc_blocking_enter(); /* nested */
    tc_blocking_leave();
}

static void blocking_misuse(void **state)
{
    (void)state;
    tu_pair *l = NULL;
    TC_ROOTS(l);
    l = tu_make_list(20);
    char *err = tu_capture_stderr(blocking_misuse_calls, NULL);
    assert_non_null(err);
    assert_int_equal(tu_count_lines(err), 2);
    assert_non_null(strstr(err, "not in a blocking region"));
    assert_non_null(strstr(err, "do not nest"));
    free(err);
    /* The thread is back to normal: its frame is a root, cycles run. */
    assert_int_equal(tu_live_after_collect(), 20);
    tu_check_list(l, 20);
}

static void pop_call(void *arg)
{
    (void)arg;
    TC_ROOTS_POP();
}

static void pop_without_frame(void **state)
{
    (void)state;
    char *err = tu_capture_stderr(pop_call, NULL);
    assert_one_line_with(err, "TC_ROOTS_POP", "no frame");
    free(err);
    tu_pair *l = NULL;
    {
        TC_ROOTS(l);
        l = tu_make_list(5);
        assert_int_equal(tu_live_after_collect(), 5);
        err = tu_capture_stderr(pop_call, NULL); /* pops l's frame: silent */
        assert_string_equal(err, "");
        free(err);
        assert_int_equal(tu_live_after_collect(), 0);
        err = tu_capture_stderr(pop_call, NULL); /* nothing left */
        assert_one_line_with(err, "TC_ROOTS_POP", "no frame");
        free(err);
    } /* the popped frame's cleanup is silent too (checked by teardown's
         stderr being empty is not possible here; see test_roots frames_pop) */
}

/* --------------------------------------------- odd words from scanners */

static void *odd_words[16];
static void scan_odd(tc_visitor *v, void *ctx)
{
    (void)ctx;
    tc_visit_slots(v, odd_words, 8);
    for (int i = 8; i < 16; i++)
        tc_visit(v, odd_words[i]);
}

static void scanner_visits_odd_words(void **state)
{
    (void)state;
    int on_stack;
    void *heap = malloc(64);
    tu_pair *keep = NULL;
    TC_ROOTS(keep);
    keep = tu_make_list(3);
    char *victim = tc_alloc(&tu_leaf_type, 64);
    char *neighbour = tc_alloc(&tu_leaf_type, 64);
    tc_write(keep, &keep->car, neighbour);
    assert_int_equal(tu_live_after_collect(), 4); /* victim freed */
    void *words[16] = {
        NULL,          TU_TAG(3),           &on_stack,  heap,
        (char *)heap + 8, (void *)(uintptr_t)-16, (void *)(uintptr_t)0x10, victim,
        neighbour + 16, neighbour + 8,   neighbour + 1, (char *)keep->cdr + 8,
        (void *)(uintptr_t)0xfff0000000000000u, (void *)&a_static, TU_TAG(-1), keep->cdr,
    };
    memcpy(odd_words, words, sizeof words);
    assert_int_equal(tc_root_scanner_add(scan_odd, NULL), TC_OK);
    /* Both roots: keep's 3 pairs and the neighbour. */
    assert_int_equal(tu_live_after_collect(), 4);
    /* The frame drops the list: only the scanner's real reference, the
     * second pair (and the third after it), stays.  Interior pointers to
     * the neighbour do not keep it. */
    keep = (tu_pair *)TU_TAG(1);
    for (int k = 0; k < 3; k++)
        assert_int_equal(tu_live_after_collect(), 2);
    assert_int_equal(tc_root_scanner_remove(scan_odd, NULL), TC_OK);
    assert_int_equal(tu_live_after_collect(), 0);
    free(heap);
}

/* ------------------------------------------------------- verify mode */

static const tc_type holder_type = {.name = "holder", .layout = TC_LAYOUT_SLOTS};
static const tc_type blob_type = {.name = "target_blob", .layout = TC_LAYOUT_LEAF};

static int verify_setup(void **state)
{
    (void)state;
    env_save();
    debug_env_add("verify=1");
    int err = tc_init(NULL);
    env_restore();
    return err;
}

static void collect_fn(void *arg)
{
    (void)arg;
    tc_collect();
}

typedef struct write_call {
    void *obj;
    void **slot;
    void *val;
} write_call;

static void do_write(void *arg)
{
    write_call *w = arg;
    tc_write(w->obj, w->slot, w->val);
}

static void verify_interior_reference(void **state)
{
    (void)state;
    void **holder = NULL;
    TC_ROOTS(holder);
    holder = tc_alloc(&holder_type, 4 * sizeof(void *));
    char *blob = tc_alloc(&blob_type, 64);
    memset(blob, 0x3c, 64);
    /* The store itself is reported under verify... */
    write_call w = {holder, &holder[0], blob + 16};
    char *err = tu_capture_stderr(do_write, &w);
    assert_non_null(err);
    assert_non_null(strstr(err, "verify:"));
    free(err);
    assert_ptr_equal(holder[0], blob + 16);
    /* ...and so is the reference, when the collector meets it. */
    err = tu_capture_stderr(collect_fn, NULL);
    assert_non_null(err);
    if (!strstr(err, "verify:") || !strstr(err, "holder") || !strstr(err, "target_blob"))
        print_error("collect printed: \"%s\"\n", err);
    assert_non_null(strstr(err, "verify:"));
    assert_non_null(strstr(err, "holder"));
    assert_non_null(strstr(err, "target_blob"));
    assert_non_null(strstr(err, "16 bytes into"));
    free(err);
    /* An interior reference keeps nothing alive. */
    tc_read_stats(&st);
    assert_int_equal(st.objects_live, 1);
    assert_false(tc_is_heap_object(blob));
    assert_ptr_equal(holder[0], blob + 16);
}

static void verify_freed_reference(void **state)
{
    (void)state;
    void **holder = NULL;
    TC_ROOTS(holder);
    holder = tc_alloc(&holder_type, 4 * sizeof(void *));
    char *b[3];
    for (int i = 0; i < 3; i++)
        b[i] = tc_alloc(&blob_type, 64);
    tc_write(holder, &holder[2], b[0]);
    tc_write(holder, &holder[3], b[2]);
    assert_int_equal(tu_live_after_collect(), 3);
    assert_false(tc_is_heap_object(b[1]));
    /* Storing the freed object's address is reported... */
    write_call w = {holder, &holder[1], b[1]};
    char *err = tu_capture_stderr(do_write, &w);
    assert_non_null(err);
    assert_non_null(strstr(err, "verify:"));
    /* ...naming both types: the holder's and the freed object's... */
    if (!strstr(err, "into a holder object: the value is a freed target_blob object"))
        print_error("tc_write printed: \"%s\"\n", err);
    assert_non_null(strstr(err, "into a holder object: the value is a freed target_blob object"));
    free(err);
    /* ...and so is meeting it while marking; it is not resurrected. */
    err = tu_capture_stderr(collect_fn, NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "verify:"));
    assert_non_null(strstr(err, "holder"));
    assert_non_null(strstr(err, "a freed target_blob object"));
    free(err);
    tc_read_stats(&st);
    assert_int_equal(st.objects_live, 3);
    assert_false(tc_is_heap_object(b[1]));
}

/* A freed object whose span went back to the page heap (a large one, or
 * the last of its span): tc_is_heap_object says no, and verify says so
 * too, at the store and when marking meets it. */
static void verify_released_span_reference(void **state)
{
    (void)state;
    void **holder = NULL;
    TC_ROOTS(holder);
    holder = tc_alloc(&holder_type, 2 * sizeof(void *));
    char *big = tc_alloc(&blob_type, 100000);
    assert_int_equal(tu_live_after_collect(), 1);
    assert_false(tc_is_heap_object(big));
    write_call w = {holder, &holder[0], big};
    char *err = tu_capture_stderr(do_write, &w);
    if (!strstr(err, "the value is in free heap memory"))
        print_error("tc_write printed: \"%s\"\n", err);
    assert_non_null(strstr(err, "verify: tc_write"));
    assert_non_null(strstr(err, "the value is in free heap memory"));
    free(err);
    err = tu_capture_stderr(collect_fn, NULL);
    assert_non_null(strstr(err, "verify: a holder object at"));
    assert_non_null(strstr(err, "in free heap memory"));
    free(err);
}

/* An interior pointer that is 8- but not 16-byte aligned is no tagged
 * value: reported, naming both types; an odd word (a tagged integer)
 * that happens to point into an object is not. */
static void verify_unaligned_interior(void **state)
{
    (void)state;
    void **holder = NULL;
    char *blob = NULL;
    TC_ROOTS(holder, blob);
    holder = tc_alloc(&holder_type, 2 * sizeof(void *));
    blob = tc_alloc(&blob_type, 64);
    write_call w = {holder, &holder[0], blob + 8};
    char *err = tu_capture_stderr(do_write, &w);
    assert_non_null(strstr(err, "the value is 8 bytes into a target_blob object"));
    free(err);
    tc_write(holder, &holder[1], (void *)((uintptr_t)blob + 17)); /* odd: a value */
    err = tu_capture_stderr(collect_fn, NULL);
    if (tu_count_lines(err) != 1 || !strstr(err, "verify: a holder object at") ||
        !strstr(err, "8 bytes into a target_blob object"))
        print_error("collect printed: \"%s\"\n", err);
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, "8 bytes into a target_blob object"));
    free(err);
}

static void verify_write_outside_heap(void **state)
{
    (void)state;
    struct {
        void *slot;
    } not_heap = {NULL};
    void *val = tc_alloc(&blob_type, 16);
    write_call w = {&not_heap, &not_heap.slot, val};
    char *err = tu_capture_stderr(do_write, &w);
    assert_one_line_with(err, "verify:", "tc_write");
    assert_non_null(strstr(err, "not the address of a GC heap object"));
    free(err);
    /* A slot outside the object written. */
    void **h1 = NULL, **h2 = NULL;
    TC_ROOTS(h1, h2);
    h1 = tc_alloc(&holder_type, 2 * sizeof(void *));
    h2 = tc_alloc(&holder_type, 2 * sizeof(void *));
    w = (write_call){h1, &h2[0], NULL};
    err = tu_capture_stderr(do_write, &w);
    assert_one_line_with(err, "verify:", "holder");
    free(err);
    /* A well-formed store prints nothing. */
    w = (write_call){h1, &h1[1], h2};
    err = tu_capture_stderr(do_write, &w);
    assert_string_equal(err, "");
    free(err);
    assert_int_equal(tu_live_after_collect(), 2);
}

/* --------------------------------------------- bad environment values */

static void init_fn(void *arg)
{
    *(int *)arg = tc_init(NULL);
}

static void bad_environment_values(void **state)
{
    (void)state;
    env_save();
    setenv("TRICOLOR_GC_PERCENT", "abc", 1);
    setenv("TRICOLOR_MEMORY_LIMIT", "-5MiB", 1);
    debug_env_add("bogus=1");
    int r = 1;
    char *err = tu_capture_stderr(init_fn, &r);
    env_restore();
    assert_int_equal(r, TC_OK);
    assert_non_null(err);
    if (tu_count_lines(err) != 3)
        print_error("tc_init printed: \"%s\"\n", err);
    assert_int_equal(tu_count_lines(err), 3);
    assert_non_null(strstr(err, "TRICOLOR_GC_PERCENT"));
    assert_non_null(strstr(err, "TRICOLOR_MEMORY_LIMIT"));
    assert_non_null(strstr(err, "bogus"));
    free(err);
    tc_read_stats(&st);
    assert_int_equal(st.gc_percent, 100);
    assert_int_equal(st.memory_limit, INT64_MAX);
    tu_pair *l = NULL;
    TC_ROOTS(l);
    l = tu_make_list(50);
    assert_int_equal(tu_live_after_collect(), 50);
    TC_ROOTS_POP();
    tc_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attach_before_init),
        cmocka_unit_test(default_oom_aborts),
        cmocka_unit_test(bad_environment_values),
        cmocka_unit_test(queries_when_not_running),
        cmocka_unit_test_setup_teardown(bad_alloc_arguments, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(oom_handler_returns, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(unattached_thread_calls, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(attach_when_attached, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(size_of_non_objects, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(read_stats_by_size, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(blocking_misuse, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(pop_without_frame, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(scanner_visits_odd_words, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(verify_interior_reference, verify_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(verify_freed_reference, verify_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(verify_write_outside_heap, verify_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(verify_released_span_reference, verify_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(verify_unaligned_interior, verify_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
