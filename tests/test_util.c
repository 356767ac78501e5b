/* test_util.c — see test_util.h. */
#include "test_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void trace_traced(tc_visitor *v, void *obj)
{
    tu_traced *t = obj;
    tc_visit_slots(v, t->refs, t->n);
}

const tc_type tu_pair_type = {.name = "pair", .layout = TC_LAYOUT_SLOTS};
const tc_type tu_leaf_type = {.name = "leaf", .layout = TC_LAYOUT_LEAF};
const tc_type tu_traced_type = {.name = "traced", .layout = TC_LAYOUT_TRACE,
                                .trace = trace_traced};

int tu_setup(void **state)
{
    (void)state;
    return tc_init(NULL);
}

int tu_teardown(void **state)
{
    (void)state;
    tc_shutdown();
    return 0;
}

char *tu_capture_stderr(void (*fn)(void *), void *arg)
{
    fflush(stderr);
    char path[] = "/tmp/tricolor-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    if (buf && len > 0 && pread(fd, buf, (size_t)len, 0) != len)
        buf[0] = 0;
    close(fd);
    return buf;
}

tu_pair *tu_make_list(uintptr_t n)
{
    tu_pair *head = NULL;
    TC_ROOTS(head);
    for (uintptr_t i = 0; i < n; i++) {
        tu_pair *p = tc_alloc(&tu_pair_type, sizeof *p);
        assert_non_null(p);
        p->car = TU_TAG(i);
        TC_WRITE(p, cdr, head);
        head = p;
    }
    return head;
}

void tu_check_list(const tu_pair *l, uintptr_t n)
{
    for (; l; l = l->cdr)
        assert_int_equal(TU_UNTAG(l->car), --n);
    assert_int_equal(n, 0);
}

void tu_wait_cycles(uint64_t n)
{
    tc_stats st;
    for (int ms = 0; ms < 30000; ms++) {
        tc_read_stats(&st);
        if (st.cycles >= n)
            return;
        tc_blocking_enter();
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        tc_blocking_leave();
    }
    fail_msg("waited 30 s for %llu cycles; %llu completed", (unsigned long long)n,
             (unsigned long long)st.cycles);
}

void tu_child_default_signals(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
}
