/*
 * lispbench.c — the interpreter workload (bench/run's case "lisp"): the
 * Lisp of examples/lisp running examples/lisp/programs/churn.scm, once
 * with the collector off (TRICOLOR_GC_PERCENT=off: the mutator alone,
 * the heap only grows) and once at the defaults (GC percent 100), back to
 * back, so that both runs see the same machine.
 *
 *   lispbench_tricolor [ROUNDS]      (default 4000)
 *
 * The GC's overhead is the collected run's time over the mutator's alone,
 * less one.  CPU time is the figure to read: on 2 cores the collector's
 * threads mark beside the program, so wall time hides their work.  The
 * run without collection is no free lunch either: its heap grows to
 * everything ever allocated (2 GB at 4000 rounds), and the kernel's page
 * faults show in its system time, so user time is reported apart.
 *
 * Checksum: what churn.scm prints, the same in both runs (else exit 1):
 * ROUNDS x (2047 + 249500) + 32767 + min(ROUNDS, 1000) x 190.
 *
 * tricolor only: the interpreter is built on tricolor.  LISP_EXE and
 * LISP_PROGRAM come from the build (bench/CMakeLists.txt).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct lisp_run {
    double wall_s, user_s, sys_s;
    long max_rss_kib;
    long long checksum, cycles;
} lisp_run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + tv.tv_usec / 1e6; }

static void die(const char *what)
{
    fprintf(stderr, "lispbench: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

/* The environment for the child: ours, with TRICOLOR_GC_PERCENT=off added
 * (replacing any setting) if gc_off. */
static char **child_env(int gc_off)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env)
        die("calloc");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!gc_off || strncmp(environ[i], "TRICOLOR_GC_PERCENT=", 20) != 0)
            env[k++] = environ[i];
    if (gc_off)
        env[k++] = "TRICOLOR_GC_PERCENT=off";
    env[k] = NULL;
    return env;
}

/* Read all of fd into a buffer (NUL-terminated). */
static char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf)
        die("malloc");
    for (;;) {
        if (len + 1 == cap && !(buf = realloc(buf, cap *= 2)))
            die("realloc");
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read");
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return buf;
}

static long long field_after(const char *out, const char *name)
{
    const char *p = strstr(out, name);
    if (!p)
        return -1;
    return strtoll(p + strlen(name), NULL, 10);
}

static lisp_run run_lisp(const char *rounds, int gc_off)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    posix_spawn_file_actions_addclose(&fa, pipefd[1]);
    char *argv[] = {LISP_EXE, LISP_PROGRAM, (char *)rounds, NULL};
    char **env = child_env(gc_off);
    pid_t pid;
    double t0 = now_s();
    int err = posix_spawn(&pid, LISP_EXE, &fa, NULL, argv, env);
    if (err) {
        errno = err;
        die(LISP_EXE);
    }
    close(pipefd[1]);
    char *out = read_all(pipefd[0]);
    close(pipefd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        die("wait4");
    lisp_run r = {.wall_s = now_s() - t0};
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = 0;
        fprintf(stderr, "lispbench: %s %s %s%s exited abnormally (status %#x); it printed:\n%s",
                LISP_EXE, LISP_PROGRAM, rounds, gc_off ? " (GC off)" : "", status, out);
        exit(1);
    }
    r.user_s = tv_s(ru.ru_utime);
    r.sys_s = tv_s(ru.ru_stime);
    r.max_rss_kib = ru.ru_maxrss;
    r.checksum = field_after(out, "checksum ");
    r.cycles = field_after(out, "cycles ");
    if (r.checksum < 0 || r.cycles < 0) {
        fprintf(stderr, "lispbench: no checksum or cycles line in:\n%s", out);
        exit(1);
    }
    free(out);
    return r;
}

int main(int argc, char **argv)
{
    const char *rounds = argc > 1 ? argv[1] : "4000";
    if (argc > 2 || strspn(rounds, "0123456789") != strlen(rounds) || !*rounds) {
        fprintf(stderr, "usage: lispbench_tricolor [ROUNDS]\n");
        return 2;
    }
    lisp_run off = run_lisp(rounds, 1);
    lisp_run on = run_lisp(rounds, 0);
    if (off.checksum != on.checksum) {
        fprintf(stderr, "lispbench: checksum %lld with GC off, %lld with it on\n", off.checksum,
                on.checksum);
        return 1;
    }
    double cpu_on = on.user_s + on.sys_s, cpu_off = off.user_s + off.sys_s;
    printf("{\"bench\":\"lispbench\",\"backend\":\"tricolor\",\"rounds\":%s,\"checksum\":%lld,"
           "\"wall_s\":%.3f,\"cpu_s\":%.3f,\"user_s\":%.3f,\"max_rss_kib\":%ld,\"gc_cycles\":%lld,"
           "\"mutator_wall_s\":%.3f,\"mutator_cpu_s\":%.3f,\"mutator_user_s\":%.3f,"
           "\"mutator_max_rss_kib\":%ld,\"gc_overhead_cpu_pct\":%.1f,"
           "\"gc_overhead_user_pct\":%.1f,\"gc_overhead_wall_pct\":%.1f}\n",
           rounds, on.checksum, on.wall_s, cpu_on, on.user_s, on.max_rss_kib, on.cycles,
           off.wall_s, cpu_off, off.user_s, off.max_rss_kib,
           100 * (cpu_on / cpu_off - 1), 100 * (on.user_s / off.user_s - 1),
           100 * (on.wall_s / off.wall_s - 1));
    return 0;
}
