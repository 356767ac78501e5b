/* test_util.c — see test_util.h. */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"

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

/* ------------------------------------------ scenarios in a forked child */

static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;
static char check_msg[1024];
static int checks_failed;

void tu_check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
    pthread_mutex_lock(&check_lock);
    if (!checks_failed++) {
        int n = snprintf(check_msg, sizeof check_msg, "%s:%d: %s: ", file, line, cond);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(check_msg + n, sizeof check_msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&check_lock);
}

static int report_checks(void)
{
    pthread_mutex_lock(&check_lock);
    int f = checks_failed;
    if (f)
        fprintf(stderr, "%d failed check(s); first: %s\n", f, check_msg);
    pthread_mutex_unlock(&check_lock);
    fflush(stdout);
    fflush(stderr);
    return f;
}

void tu_child_exit(void)
{
    /* exit, not _exit: a sanitizer's report sets the exit status at exit. */
    exit(report_checks() ? 1 : 0);
}

void tu_fork_child_exit(void)
{
    _exit(report_checks() ? 1 : 0);
}

uint64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static _Noreturn void child_main(void (*scenario)(void), const tc_config *cfg, int err_fd)
{
    tu_child_default_signals();
    if (err_fd >= 0) {
        dup2(err_fd, 2);
        close(err_fd);
    }
    if (cfg == TU_NO_INIT) {
        scenario();
        tu_child_exit();
    }
    int err = tc_init(cfg);
    if (err != TC_OK) {
        fprintf(stderr, "tc_init failed: %s\n", tc_strerror(err));
        _exit(2);
    }
    scenario();
    tc_shutdown();
    tu_child_exit();
}

static char *read_all(int fd)
{
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, len > 0 ? (size_t)len + 1 : 1);
    if (buf && len > 0 && pread(fd, buf, (size_t)len, 0) != len)
        buf[0] = 0;
    return buf;
}

int tu_fork_scenario(void (*scenario)(void), const tc_config *cfg, int seconds,
                     char **err_out)
{
    int err_fd = -1;
    if (err_out) {
        char path[] = "/tmp/tricolor-child-stderr-XXXXXX";
        err_fd = mkstemp(path);
        assert_true(err_fd >= 0);
        unlink(path);
    }
    fflush(stdout);
    fflush(stderr);
    /* The parent runs no collector: it is single-threaded at the fork. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_main(scenario, cfg, err_fd);
    uint64_t deadline = tu_now_ns() + (uint64_t)seconds * 1000000000u;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (tu_now_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            status = -1;
            break;
        }
        usleep(5000);
    }
    if (err_out) {
        *err_out = read_all(err_fd);
        close(err_fd);
    }
    return status;
}

void tu_expect_abort(void (*scenario)(void), const tc_config *cfg, const char *needle)
{
    char *err = NULL;
    int status = tu_fork_scenario(scenario, cfg, 60, &err);
    assert_non_null(err);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) || !strstr(err, needle))
        print_error("status %#x, stderr:\n%s\n", status, err);
    assert_true(status != -1 && WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(err, needle));
    free(err);
}

void tu_run_isolated(const char *name, void (*scenario)(void), const tc_config *cfg,
                     int seconds)
{
    int status = tu_fork_scenario(scenario, cfg, seconds, NULL);
    if (status == -1)
        print_error("DEADLOCK? %s did not finish in %d s; killed\n", name, seconds);
    else if (WIFSIGNALED(status))
        print_error("%s: child killed by signal %d\n", name, WTERMSIG(status));
    assert_int_not_equal(status, -1);
    assert_false(WIFSIGNALED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

void tu_nap_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void tu_sleep_blocking(unsigned ms)
{
    tc_blocking_enter();
    tu_nap_ms(ms);
    tc_blocking_leave();
}

int tu_wait_phase(int phase, int seconds)
{
    uint64_t deadline = tu_now_ns() + (uint64_t)seconds * 1000000000u;
    while (collector_phase() != phase) {
        if (tu_now_ns() > deadline)
            return -1;
        tc_safepoint();
        /* A short sleep while RUNNING: a stop waits for it at most this long. */
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

#define SEEDED_BYTES 64

unsigned char tu_pattern_byte(uint32_t seed, size_t i)
{
    return (unsigned char)(seed * 29u + i * 5u + 1u);
}

void *tu_patterned(const tc_type *type, size_t bytes, uint32_t seed)
{
    unsigned char *p = tc_alloc(type, bytes);
    for (size_t i = 0; p && i < bytes; i++)
        p[i] = tu_pattern_byte(seed, i);
    return p;
}

int tu_patterned_ok(const void *p, const tc_type *type, size_t bytes, uint32_t seed)
{
    if (!p || !tc_is_heap_object(p) || tc_type_of(p) != type)
        return 0;
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++)
        if (b[i] != tu_pattern_byte(seed, i))
            return 0;
    return 1;
}

void *tu_seeded_leaf(const tc_type *type, uint32_t seed)
{
    return tu_patterned(type, SEEDED_BYTES, seed);
}

int tu_seeded_leaf_ok(const void *p, const tc_type *type, uint32_t seed)
{
    return tu_patterned_ok(p, type, SEEDED_BYTES, seed);
}

size_t tu_count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

tc_config tu_debug_config(void)
{
    tc_config c = TC_CONFIG_INIT;
    c.gc_percent = TC_GC_OFF;
    c.debug_checkmark = 1;
    c.debug_poison = 1;
    return c;
}

uint64_t tu_live_after_collect(void)
{
    tc_stats st;
    tc_collect();
    tc_read_stats(&st);
    return st.objects_live;
}

uint64_t tu_start_held_cycle(void)
{
    collector_test_hold_marking(1);
    uint64_t n = collector_request(1);
    TU_REQUIRE(tu_wait_phase(PHASE_MARK, 20) == 0, "cycle %llu never reached its mark phase",
               (unsigned long long)n);
    return n;
}
