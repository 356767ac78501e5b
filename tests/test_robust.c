/* test_robust.c — what an outside audit broke (issue 12), one regression
 * test per item, each in a forked child with a time limit so that a hang
 * fails one test instead of the suite:
 *
 *   init_failure_*        a failed tc_init leaves the library as it was
 *   mark_stack_overflow*  marking goes on without mark-stack memory
 *   *_removal_waits       replacing a callback waits for a running call
 *   thread_exit_*         a thread that exits attached is detached
 *   blocking_*            what a blocking region allows and diagnoses
 *   huge_request          a request no machine could back fails at once
 *   many_global_roots     tc_root_add/remove at scale, in any order
 *   diagnostics_*         verify's words for bad addresses
 *   large_object_*        a large object is whole before it is published
 *
 * fork() has its own file (test_fork.c).  Bounds here are never on time
 * or rate, except generous deadlines against hangs. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "heap.h"
#include "mark.h"
#include "platform.h"
#include "test_util.h"

#define TIME_LIMIT 60 /* seconds per child; each takes well under one */

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void nap_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* A list of n pairs, collected three times, still whole: the collector
 * works (a hang here is what a broken restart looked like). */
static void collector_works(uintptr_t n)
{
    tu_pair *l = NULL;
    TC_ROOTS(l);
    l = tu_make_list(n);
    for (int i = 0; i < 3; i++)
        tc_collect();
    tu_check_list(l, n);
    tc_stats st;
    tc_read_stats(&st);
    TU_CHECK(st.cycles >= 3, "%llu cycles", (unsigned long long)st.cycles);
}

/* -------------------------------------------- 1. a failed tc_init */

static tc_config two_worker_config(void)
{
    tc_config c = TC_CONFIG_INIT;
    c.mark_workers = 1;
    c.idle_workers = 1;
    c.scavenge = TC_SCAVENGE_DONTNEED;
    return c;
}

/* The kth thread tc_init starts (mark worker, idle worker, collector,
 * scavenger, finalizer thread) cannot be created: tc_init fails, starts no thread and
 * leaves nothing behind, and the next tc_init works. */
static void *no_op(void *arg) { return arg; }

static void sc_thread_failure(int k)
{
    /* A first thread, so that a sanitizer's own helper thread (started
     * with it) is in the base count. */
    pthread_t first;
    TU_REQUIRE_EQ(pthread_create(&first, NULL, no_op, NULL), 0);
    pthread_join(first, NULL);
    int base = count_threads();
    tc_config c = two_worker_config();
    plat_test_fault(PLAT_FAULT_THREAD, k, 0);
    TU_REQUIRE_EQ(tc_init(&c), TC_ENOMEM);
    plat_test_fault(PLAT_FAULT_THREAD, 0, 0);
    TU_CHECK(count_threads() == base, "%d threads left running", count_threads() - base);
    TU_CHECK(!collector_running(), "the collector says it runs");
    /* The heap was set up before the threads: it is gone again. */
    TU_CHECK(heap_arena_map == NULL, "the heap's page map is still mapped");
    TU_CHECK(tc_thread_attach() == TC_ESTATE, "attach after a failed tc_init");
    TU_REQUIRE_EQ(tc_init(&c), TC_OK);
    TU_CHECK(count_threads() == base + 5, "%d threads, expected %d", count_threads(), base + 5);
    collector_works(10000);
    tc_shutdown();
    TU_CHECK(count_threads() == base, "%d threads after tc_shutdown", count_threads() - base);
}

static void sc_thread_failure_1(void) { sc_thread_failure(1); }
static void sc_thread_failure_2(void) { sc_thread_failure(2); }
static void sc_thread_failure_3(void) { sc_thread_failure(3); }
static void sc_thread_failure_4(void) { sc_thread_failure(4); }
static void sc_thread_failure_5(void) { sc_thread_failure(5); }

static void init_failure_thread_create(void **state)
{
    (void)state;
    tu_run_isolated("mark worker", sc_thread_failure_1, TU_NO_INIT, TIME_LIMIT);
    tu_run_isolated("idle worker", sc_thread_failure_2, TU_NO_INIT, TIME_LIMIT);
    tu_run_isolated("collector thread", sc_thread_failure_3, TU_NO_INIT, TIME_LIMIT);
    tu_run_isolated("scavenger", sc_thread_failure_4, TU_NO_INIT, TIME_LIMIT);
    tu_run_isolated("finalizer thread", sc_thread_failure_5, TU_NO_INIT, TIME_LIMIT);
}

/* The heap's first mapping fails. */
static void sc_map_failure(void)
{
    plat_test_fault(PLAT_FAULT_MAP, 1, 0);
    TU_REQUIRE_EQ(tc_init(NULL), TC_ENOMEM);
    TU_REQUIRE_EQ(tc_init(NULL), TC_OK);
    collector_works(10000);
    tc_shutdown();
}

/* The real thing: an address-space limit too low for the heap's page
 * map.  Raised again, the next tc_init works. */
static void sc_address_space_limit(void)
{
    struct rlimit old;
    TU_REQUIRE(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit");
    /* Room for what is mapped now plus a little, not for the 32 MiB map. */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    TU_REQUIRE(f && fscanf(f, "%llu", &pages) == 1, "statm");
    fclose(f);
    struct rlimit low = {pages * (rlim_t)sysconf(_SC_PAGESIZE) + (8u << 20), old.rlim_max};
    TU_REQUIRE(setrlimit(RLIMIT_AS, &low) == 0, "setrlimit");
    int err = tc_init(NULL);
    TU_REQUIRE(setrlimit(RLIMIT_AS, &old) == 0, "setrlimit back");
    TU_REQUIRE(err == TC_ENOMEM, "tc_init under the limit: %s", tc_strerror(err));
    TU_REQUIRE_EQ(tc_init(NULL), TC_OK);
    collector_works(10000);
    tc_shutdown();
}

static void init_failure_memory(void **state)
{
    (void)state;
    tu_run_isolated("map failure", sc_map_failure, TU_NO_INIT, TIME_LIMIT);
    if (getenv("TC_SANITIZED")) /* the sanitizers reserve terabytes of shadow */
        return;
    tu_run_isolated("address-space limit", sc_address_space_limit, TU_NO_INIT, TIME_LIMIT);
}

/* --------------------------------------- 2. mark-stack overflow */

#define WIDE 20000 /* grey objects at once: about 40 chunks of 510 */

/* A TRACE object, scanned whole (a SLOTS one is scanned in 4 KiB oblets,
 * which push at most 512 objects each: no overflow). */
static void trace_wide(tc_visitor *v, void *obj) { tc_visit_slots(v, obj, WIDE); }

static const tc_type array_type = {.name = "array", .layout = TC_LAYOUT_TRACE,
                                   .trace = trace_wide};

/* A rooted array of WIDE short lists: marking it pushes WIDE objects at
 * once.  Returns the array. */
static void **make_wide(void)
{
    void **arr = tc_alloc(&array_type, WIDE * sizeof(void *));
    TU_REQUIRE(arr != NULL, "tc_alloc");
    TC_ROOTS(arr);
    for (uintptr_t i = 0; i < WIDE; i++) {
        tu_pair *l = tu_make_list(3);
        tc_write(arr, &arr[i], l);
    }
    return arr;
}

static void check_wide(void **arr)
{
    for (uintptr_t i = 0; i < WIDE; i++)
        tu_check_list(arr[i], 3);
}

static uint64_t live_objects(void)
{
    tc_stats st;
    tc_read_stats(&st);
    return st.objects_live;
}

/* No chunk can be malloc'd from the first cycle on: only the two reserve
 * chunks exist, so the first mark overflows.  Nothing is lost (poison
 * and checkmark are on), and tc_alloc goes on working. */
static void sc_overflow_from_start(void)
{
    plat_test_fault(PLAT_FAULT_MARK_CHUNK, 1, 1);
    void **arr = NULL;
    TC_ROOTS(arr);
    arr = make_wide();
    for (int i = 0; i < 3; i++) {
        tc_collect();
        check_wide(arr);
        TU_CHECK(live_objects() == 1 + 3 * WIDE, "%llu live objects, expected %d",
                 (unsigned long long)live_objects(), 1 + 3 * WIDE);
    }
    plat_test_fault(PLAT_FAULT_MARK_CHUNK, 0, 0);
}

/* The same while mutators run: cycles triggered by allocation, concurrent
 * marking, barrier flushes that cannot get chunks either. */
static void *churner(void *arg)
{
    void **arr = arg;
    TU_REQUIRE_EQ(tc_thread_attach(), TC_OK);
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 200000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t i = x % WIDE;
        tu_pair *l = tu_make_list(3); /* replaces a list: the barrier shades the old one */
        tc_write(arr, &arr[i], l);
        if (round % 50000 == 0)
            tc_safepoint();
    }
    tc_thread_detach();
    return NULL;
}

static void sc_overflow_while_running(void)
{
    void **arr = NULL;
    TC_ROOTS(arr);
    arr = make_wide();
    tc_set_gc_percent(10);
    plat_test_fault(PLAT_FAULT_MARK_CHUNK, 1, 1);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        TU_REQUIRE_EQ(pthread_create(&th[i], NULL, churner, arr), 0);
    tc_blocking_enter();
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    tc_blocking_leave();
    tc_collect();
    check_wide(arr);
    TU_CHECK(live_objects() == 1 + 3 * WIDE, "%llu live objects", (unsigned long long)live_objects());
    plat_test_fault(PLAT_FAULT_MARK_CHUNK, 0, 0);
}

static void mark_stack_overflow(void **state)
{
    (void)state;
    tc_config c = tu_debug_config(); /* checkmark, poison, no automatic cycles */
    char *err = NULL;
    int status = tu_fork_scenario(sc_overflow_from_start, &c, TIME_LIMIT, &err);
    if (status != 0)
        print_error("child status %d, stderr:\n%s\n", status, err ? err : "");
    assert_int_equal(status, 0);
    assert_non_null(strstr(err, "out of memory for the mark stack: marking goes on"));
    free(err);
    c.gc_percent = TC_UNSET;
    tu_run_isolated("overflow while running", sc_overflow_while_running, &c, TIME_LIMIT);
    c.debug_stoptheworld = 1;
    tu_run_isolated("overflow, stoptheworld", sc_overflow_from_start, &c, TIME_LIMIT);
}

/* The header's promise: with an OOM handler that returns, tc_alloc
 * returns NULL when memory runs out, under a real address-space limit,
 * while a wide structure is marked.  No abort on the collector thread. */
static size_t oom_calls;
static void count_oom(void *ctx, size_t requested)
{
    (void)ctx;
    (void)requested;
    __atomic_add_fetch(&oom_calls, 1, __ATOMIC_RELAXED);
}

static void sc_runs_out_of_memory(void)
{
    tc_set_oom_handler(count_oom, NULL);
    void **arr = NULL, **keep = NULL;
    TC_ROOTS(arr, keep);
    arr = make_wide();
    keep = tc_alloc(&array_type, 4096 * sizeof(void *));
    TU_REQUIRE(keep != NULL, "tc_alloc");
    struct rlimit old, low;
    TU_REQUIRE(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit");
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    TU_REQUIRE(f && fscanf(f, "%llu", &pages) == 1, "statm");
    fclose(f);
    low = (struct rlimit){pages * (rlim_t)sysconf(_SC_PAGESIZE) + (256u << 20), old.rlim_max};
    TU_REQUIRE(setrlimit(RLIMIT_AS, &low) == 0, "setrlimit");
    size_t got = 0;
    for (size_t i = 0; i < 4096; i++) {
        void *o = tc_alloc(&tu_leaf_type, 1 << 20);
        if (!o) {
            TU_CHECK(tc_last_error() == TC_ENOMEM, "last error %d", tc_last_error());
            break;
        }
        tc_write(keep, &keep[i], o);
        got++;
    }
    TU_CHECK(oom_calls > 0, "the OOM handler never ran (%zu MiB allocated)", got);
    keep = NULL;
    tc_collect();
    TU_REQUIRE(setrlimit(RLIMIT_AS, &old) == 0, "setrlimit back");
    check_wide(arr);
    TU_CHECK(tc_alloc(&tu_leaf_type, 1 << 20) != NULL, "tc_alloc after the limit was lifted");
}

static void out_of_memory_returns_null(void **state)
{
    (void)state;
    if (getenv("TC_SANITIZED"))
        skip();
    tc_config c = tu_debug_config();
    tu_run_isolated("out of memory", sc_runs_out_of_memory, &c, TIME_LIMIT);
}

/* ------------------------------------ 3. replacing a running callback */

typedef struct call_probe {
    int entered, finished, calls;
} call_probe;

static int probe_get(int *field) { return __atomic_load_n(field, __ATOMIC_ACQUIRE); }
static void probe_set(int *field, int v) { __atomic_store_n(field, v, __ATOMIC_RELEASE); }

/* Wait (attached, in blocking regions) until *field is set. */
static void wait_for(int *field)
{
    uint64_t deadline = tu_now_ns() + 20000000000ull;
    while (!probe_get(field)) {
        TU_REQUIRE(tu_now_ns() < deadline, "waited 20 s");
        tu_sleep_blocking(1);
    }
}

static void slow_cycle_fn(const tc_cycle_info *info, void *ctx)
{
    (void)info;
    call_probe *p = ctx;
    probe_set(&p->entered, 1);
    nap_ms(200);
    p->calls++; /* a write ASan catches after a free */
    probe_set(&p->finished, 1);
}

static void sc_cycle_callback_removal(void)
{
    call_probe *p = calloc(1, sizeof *p);
    tc_set_cycle_callback(slow_cycle_fn, p);
    collector_request(1); /* a cycle this thread does not wait for */
    wait_for(&p->entered);
    tc_set_cycle_callback(NULL, NULL);
    TU_CHECK(probe_get(&p->finished), "tc_set_cycle_callback returned while the old "
             "callback was running");
    free(p); /* what an embedder does next */
    tc_collect();
}

/* A callback that removes itself must not wait for itself. */
static void self_removing_fn(const tc_cycle_info *info, void *ctx)
{
    (void)info;
    tc_set_cycle_callback(NULL, NULL);
    probe_set(&((call_probe *)ctx)->finished, 1);
}

static void sc_cycle_callback_self_removal(void)
{
    call_probe p = {0};
    tc_set_cycle_callback(self_removing_fn, &p);
    tc_collect();
    tc_collect();
    TU_CHECK(probe_get(&p.finished), "the callback did not run");
}

static void cycle_callback_removal_waits(void **state)
{
    (void)state;
    tu_run_isolated("cycle callback", sc_cycle_callback_removal, NULL, TIME_LIMIT);
    tu_run_isolated("self-removal", sc_cycle_callback_self_removal, NULL, TIME_LIMIT);
}

static void slow_oom_fn(void *ctx, size_t requested)
{
    (void)requested;
    call_probe *p = ctx;
    probe_set(&p->entered, 1);
    nap_ms(200);
    p->calls++;
    probe_set(&p->finished, 1);
}

static void *huge_allocator(void *arg)
{
    (void)arg;
    TU_REQUIRE_EQ(tc_thread_attach(), TC_OK);
    /* Beyond TC_MAX_ALLOC: never mapped, whatever the machine. */
    TU_CHECK(tc_alloc(&tu_leaf_type, SIZE_MAX / 2) == NULL, "a SIZE_MAX / 2 object");
    tc_thread_detach();
    return NULL;
}

static void sc_oom_handler_removal(void)
{
    call_probe *p = calloc(1, sizeof *p);
    tc_set_oom_handler(slow_oom_fn, p);
    pthread_t th;
    TU_REQUIRE_EQ(pthread_create(&th, NULL, huge_allocator, NULL), 0);
    wait_for(&p->entered);
    tc_set_oom_handler(NULL, NULL);
    TU_CHECK(probe_get(&p->finished), "tc_set_oom_handler returned while the old handler "
             "was running");
    free(p);
    tc_blocking_enter();
    pthread_join(th, NULL);
    tc_blocking_leave();
}

static void self_replacing_oom(void *ctx, size_t requested)
{
    (void)requested;
    tc_set_oom_handler(NULL, NULL);
    probe_set(&((call_probe *)ctx)->finished, 1);
}

static void sc_oom_handler_self_removal(void)
{
    call_probe p = {0};
    tc_set_oom_handler(self_replacing_oom, &p);
    /* Beyond TC_MAX_ALLOC: never mapped, whatever the machine. */
    TU_CHECK(tc_alloc(&tu_leaf_type, SIZE_MAX / 2) == NULL, "a SIZE_MAX / 2 object");
    TU_CHECK(probe_get(&p.finished), "the handler did not run");
}

static void oom_handler_removal_waits(void **state)
{
    (void)state;
    tu_run_isolated("oom handler", sc_oom_handler_removal, NULL, TIME_LIMIT);
    tu_run_isolated("oom self-removal", sc_oom_handler_self_removal, NULL, TIME_LIMIT);
}

/* ---------------------------------- 5. a thread that exits attached */

/* Attach, root a list, and leave with pthread_exit from inside the
 * frame's scope: C code compiled without -fexceptions runs no cleanup on
 * the way out, so the frame stays linked, pointing into a stack that is
 * about to be freed, and the thread stays attached. */
static void *exit_attached(void *arg)
{
    int in_blocking = (int)(intptr_t)arg;
    TU_REQUIRE_EQ(tc_thread_attach(), TC_OK);
    tu_pair *mine = NULL;
    TC_ROOTS(mine);
    mine = tu_make_list(1000);
    if (in_blocking)
        tc_blocking_enter();
    pthread_exit(NULL);
}

static void sc_thread_exit(int in_blocking)
{
    pthread_t th;
    TU_REQUIRE_EQ(pthread_create(&th, NULL, exit_attached, (void *)(intptr_t)in_blocking), 0);
    tc_blocking_enter();
    pthread_join(th, NULL);
    tc_blocking_leave();
    /* Before the fix: the next stop of the world waited for ever for the
     * RUNNING thread, or scanned the dead stack of the BLOCKING one. */
    for (int i = 0; i < 3; i++)
        tc_collect();
    TU_CHECK(live_objects() == 0, "%llu objects live: the dead thread's roots were kept",
             (unsigned long long)live_objects());
    collector_works(1000);
}

static void sc_thread_exit_running(void) { sc_thread_exit(0); }
static void sc_thread_exit_blocking(void) { sc_thread_exit(1); }

static void thread_exit_detaches(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    void (*cases[])(void) = {sc_thread_exit_running, sc_thread_exit_blocking};
    for (int i = 0; i < 2; i++) {
        char *err = NULL;
        int status = tu_fork_scenario(cases[i], &c, TIME_LIMIT, &err);
        if (status != 0)
            print_error("case %d: status %d, stderr:\n%s\n", i, status, err ? err : "");
        assert_int_equal(status, 0);
        assert_non_null(strstr(err, "a thread exited without calling tc_thread_detach"));
        free(err);
    }
}

/* ------------------------------------------------ 6. blocking regions */

static char *captured;

static void alloc_in_blocking(void *arg)
{
    (void)arg;
    /* One object of that size first, while running: the thread now has a
     * span with free slots for the size class, so the fast path, not only
     * alloc_slow, would serve the request. */
    TU_REQUIRE(tc_alloc(&tu_leaf_type, 16) != NULL, "tc_alloc while running");
    tc_blocking_enter();
    void *p = tc_alloc(&tu_leaf_type, 16);
    int err = tc_last_error();
    void *big = tc_alloc(&tu_leaf_type, 100000); /* a large object: alloc_slow only */
    int big_err = tc_last_error();
    tc_blocking_leave();
    TU_CHECK(p == NULL && err == TC_ESTATE, "tc_alloc in a blocking region gave %p, error %d",
             p, err);
    TU_CHECK(big == NULL && big_err == TC_ESTATE,
             "a large tc_alloc in a blocking region gave %p, error %d", big, big_err);
}

static void collect_in_blocking(void *arg)
{
    (void)arg;
    tc_stats st;
    tc_read_stats(&st);
    uint64_t before = st.cycles;
    tc_blocking_enter();
    tc_collect();
    tc_blocking_leave();
    tc_read_stats(&st);
    TU_CHECK(st.cycles > before, "tc_collect in a blocking region did not collect");
}

static void write_in_blocking(void *arg)
{
    (void)arg;
    tu_pair *p = NULL;
    TC_ROOTS(p);
    p = tc_alloc(&tu_pair_type, sizeof *p);
    tc_blocking_enter();
    TC_WRITE(p, car, TU_TAG(1));
    tc_blocking_leave();
}

static void sc_blocking_misuse(void)
{
    captured = tu_capture_stderr(alloc_in_blocking, NULL);
    TU_CHECK(strstr(captured, "tc_alloc: called inside a blocking region"), "said: %s", captured);
    free(captured);
    captured = tu_capture_stderr(collect_in_blocking, NULL);
    TU_CHECK(strstr(captured, "tc_collect: called inside a blocking region"), "said: %s",
             captured);
    free(captured);
    captured = tu_capture_stderr(write_in_blocking, NULL);
    TU_CHECK(strstr(captured, "verify: tc_write inside a blocking region"), "said: %s",
             captured);
    free(captured);
}

static void blocking_misuse_diagnosed(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    c.debug_verify = 1;
    tu_run_isolated("blocking misuse", sc_blocking_misuse, &c, TIME_LIMIT);
}

/* TC_ROOTS frames pushed and popped inside blocking regions while other
 * threads force cycles: the object only such a frame holds survives
 * (poison would show it freed; TSan checks the frame list's accesses). */
static int stop_collecting;

static void *collect_loop(void *arg)
{
    (void)arg;
    TU_REQUIRE_EQ(tc_thread_attach(), TC_OK);
    while (!__atomic_load_n(&stop_collecting, __ATOMIC_ACQUIRE))
        tc_collect();
    tc_thread_detach();
    return NULL;
}

static void sc_frames_in_blocking(void)
{
    pthread_t th;
    TU_REQUIRE_EQ(pthread_create(&th, NULL, collect_loop, NULL), 0);
    for (uint32_t i = 0; i < 2000; i++) {
        void *obj = tu_seeded_leaf(&tu_leaf_type, i), *hold = obj;
        TC_ROOTS(hold); /* pushed while running */
        tc_blocking_enter();
        {
            TC_ROOTS(obj); /* pushed inside the blocking region */
            tc_blocking_leave();
            hold = NULL; /* now only that frame holds the object */
            tc_blocking_enter();
            nap_ms(i % 4 == 0); /* a cycle may scan the frame meanwhile */
            tc_blocking_leave();
            TU_REQUIRE(tu_seeded_leaf_ok(obj, &tu_leaf_type, i), "object %u lost", i);
            tc_blocking_enter();
        } /* popped inside the blocking region */
        tc_blocking_leave();
    }
    __atomic_store_n(&stop_collecting, 1, __ATOMIC_RELEASE);
    tc_blocking_enter();
    pthread_join(th, NULL);
    tc_blocking_leave();
}

static void frames_in_blocking_regions(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("frames in blocking regions", sc_frames_in_blocking, &c, TIME_LIMIT);
}

/* ------------------------------------------------- 7. huge requests */

static size_t oom_requested;
static void note_oom(void *ctx, size_t requested)
{
    (void)ctx;
    oom_requested = requested;
    oom_calls++;
}

static void sc_huge_request(void)
{
    tc_set_oom_handler(note_oom, NULL);
    tc_stats before, after;
    tc_read_stats(&before);
    size_t sizes[] = {(size_t)256 << 30, (size_t)1 << 46, SIZE_MAX / 2, SIZE_MAX - 64};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        oom_calls = 0;
        void *p = tc_alloc(&tu_leaf_type, sizes[i]);
        /* Stop at once if one was mapped: the next is bigger, and without
         * the bound its page table alone (size / 1024 bytes) is written. */
        TU_REQUIRE(p == NULL, "tc_alloc(%zu) succeeded", sizes[i]);
        TU_CHECK(tc_last_error() == TC_ENOMEM, "error %d", tc_last_error());
        TU_CHECK(oom_calls == 1 && oom_requested == sizes[i], "handler calls %zu, requested %zu",
                 oom_calls, oom_requested);
    }
    tc_read_stats(&after);
    /* Nothing was mapped or committed for them. */
    TU_CHECK(after.heap_mapped == before.heap_mapped, "heap mapped %llu -> %llu",
             (unsigned long long)before.heap_mapped, (unsigned long long)after.heap_mapped);
    TU_CHECK(after.sys_bytes <= before.sys_bytes + (1u << 20), "sys_bytes %llu -> %llu",
             (unsigned long long)before.sys_bytes, (unsigned long long)after.sys_bytes);
    TU_CHECK(tc_alloc(&tu_leaf_type, 1 << 20) != NULL, "a 1 MiB object after them");
}

static void huge_request(void **state)
{
    (void)state;
    tu_run_isolated("huge request", sc_huge_request, NULL, TIME_LIMIT);
}

/* --------------------------------------------- 8. many global roots */

#define NROOTS 300000
#define SPREAD 4 /* array slots per root */

/* Root i's slot: one of SPREAD neighbours, picked by a hash of i.  Evenly
 * spaced slots (&slots[i]) are spread so evenly by the index's
 * multiplicative hash that no two share a home cell: no probe run is
 * longer than one cell, and removal's shifting is never exercised.
 * Irregular addresses collide (some 17,000 times at this size). */
static void **root_slot(void **slots, size_t i)
{
    uint64_t x = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    return &slots[i * SPREAD + (size_t)(x % SPREAD)];
}

static void sc_many_roots(void)
{
    /* NROOTS distinct one-slot ranges inside a malloc'd array. */
    void **slots = calloc((size_t)NROOTS * SPREAD, sizeof *slots);
    TU_REQUIRE(slots != NULL, "calloc");
    for (size_t i = 0; i < NROOTS; i++) {
        *root_slot(slots, i) = tc_alloc(&tu_leaf_type, 8);
        TU_REQUIRE_EQ(tc_root_add(root_slot(slots, i), 1), TC_OK);
    }
    TU_REQUIRE_EQ(tc_root_add(root_slot(slots, 7), 1), TC_EEXIST);
    tc_collect();
    TU_CHECK(live_objects() == NROOTS, "%llu live", (unsigned long long)live_objects());
    /* Remove a pseudo-random half, in a scrambled order. */
    size_t removed = 0;
    for (size_t k = 0; k < NROOTS; k++) {
        size_t i = (k * 7919) % NROOTS;
        if (i % 2 == 0) {
            TU_REQUIRE_EQ(tc_root_remove(root_slot(slots, i)), TC_OK);
            removed++;
        }
    }
    /* Every root is still found, every removed one is gone. */
    for (size_t i = 0; i < NROOTS; i++)
        TU_REQUIRE_EQ(tc_root_add(root_slot(slots, i), 1), i % 2 ? TC_EEXIST : TC_OK);
    for (size_t i = 0; i < NROOTS; i += 2)
        TU_REQUIRE_EQ(tc_root_remove(root_slot(slots, i)), TC_OK);
    TU_REQUIRE_EQ(tc_root_remove(root_slot(slots, 0)), TC_ENOTFOUND);
    tc_collect();
    TU_CHECK(live_objects() == NROOTS - removed, "%llu live, expected %zu",
             (unsigned long long)live_objects(), NROOTS - removed);
    for (size_t i = 1; i < NROOTS; i += 2)
        TU_REQUIRE(tc_is_heap_object(*root_slot(slots, i)), "slot %zu's object was freed", i);
    /* Add the removed ones back with fresh objects, then remove all. */
    for (size_t i = 0; i < NROOTS; i += 2) {
        *root_slot(slots, i) = tc_alloc(&tu_leaf_type, 8);
        TU_REQUIRE_EQ(tc_root_add(root_slot(slots, i), 1), TC_OK);
    }
    tc_collect();
    TU_CHECK(live_objects() == NROOTS, "%llu live", (unsigned long long)live_objects());
    for (size_t i = NROOTS; i-- > 0;)
        TU_REQUIRE_EQ(tc_root_remove(root_slot(slots, i)), TC_OK);
    TU_REQUIRE_EQ(tc_root_remove(root_slot(slots, 1)), TC_ENOTFOUND);
    tc_collect();
    TU_CHECK(live_objects() == 0, "%llu live", (unsigned long long)live_objects());
    free(slots);
}

/* Random adds and removes with at most 7 roots registered, so that the
 * index stays at 16 cells: probe runs collide and wrap around its end all
 * the time.  Each call's result is checked against a model. */
#define POOL 64

static void sc_root_index_churn(void)
{
    static void *pool[POOL];
    int in[POOL] = {0}, live = 0;
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int op = 0; op < 200000; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t i = x % POOL;
        if (in[i] || live == 7) {
            size_t j = in[i] ? i : (size_t)(x >> 32) % POOL;
            TU_REQUIRE_EQ(tc_root_remove(&pool[j]), in[j] ? TC_OK : TC_ENOTFOUND);
            live -= in[j];
            in[j] = 0;
        } else {
            TU_REQUIRE_EQ(tc_root_add(&pool[i], 1), TC_OK);
            in[i] = 1;
            live++;
        }
        for (size_t k = 0; k < POOL; k++) /* everything registered is still found */
            if (in[k])
                TU_REQUIRE_EQ(tc_root_add(&pool[k], 1), TC_EEXIST);
    }
    for (size_t k = 0; k < POOL; k++)
        TU_REQUIRE_EQ(tc_root_remove(&pool[k]), in[k] ? TC_OK : TC_ENOTFOUND);
}

static void many_global_roots(void **state)
{
    (void)state;
    tc_config c = TC_CONFIG_INIT;
    c.gc_percent = TC_GC_OFF;
    /* 300,000 adds and removes took 50 s when each was a linear search:
     * the deadline catches that and is 100 times what they take now. */
    tu_run_isolated("many roots", sc_many_roots, &c, TIME_LIMIT);
    tu_run_isolated("root index churn", sc_root_index_churn, &c, TIME_LIMIT);
}

/* ------------------------------------------------ 9. diagnostics */

static void write_interior(void *arg)
{
    (void)arg;
    tu_pair *p = NULL;
    TC_ROOTS(p);
    p = tc_alloc(&tu_pair_type, sizeof *p);
    tc_write((char *)p + 8, &p->cdr, NULL);
}

static void sc_diagnostics(void)
{
    captured = tu_capture_stderr(write_interior, NULL);
    TU_CHECK(strstr(captured, "obj is 8 bytes into a pair object"), "said: %s", captured);
    free(captured);
}

static void diagnostics_name_interior(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    c.debug_verify = 1;
    tu_run_isolated("diagnostics", sc_diagnostics, &c, TIME_LIMIT);
}

/* ------------------------------ 10. large objects published whole */

static const tc_type big_type = {.name = "big", .layout = TC_LAYOUT_SLOTS};
static int published_large, published_bad;

static void on_publish(tc_span *s, int state)
{
    if (state != SPAN_LARGE)
        return;
    published_large++;
    uintptr_t obj = span_slot_addr(s, 0) + TC_HEADER_SIZE;
    const tc_type *t = at_load_ptr((const tc_aword *)(obj - TC_HEADER_SIZE));
    int black = mark_allocating_black();
    int marked = (int)(at_load(&s->markbits[0]) & 1);
    if (t != &big_type || black != marked)
        published_bad++;
}

static void sc_large_published_whole(void)
{
    heap_test_on_publish(on_publish);
    void *keep = NULL;
    TC_ROOTS(keep);
    keep = tc_alloc(&big_type, 100000);
    uint64_t cycle = tu_start_held_cycle(); /* allocating black now */
    void *during = tc_alloc(&big_type, 200000);
    collector_test_hold_marking(0);
    collector_wait(cycle);
    heap_test_on_publish(NULL);
    TU_CHECK(during != NULL && published_large == 2, "%d large spans published",
             published_large);
    TU_CHECK(published_bad == 0, "%d large spans published before their object was whole",
             published_bad);
}

static void large_object_published_whole(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("large publish", sc_large_published_whole, &c, TIME_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_failure_thread_create),
        cmocka_unit_test(init_failure_memory),
        cmocka_unit_test(mark_stack_overflow),
        cmocka_unit_test(out_of_memory_returns_null),
        cmocka_unit_test(cycle_callback_removal_waits),
        cmocka_unit_test(oom_handler_removal_waits),
        cmocka_unit_test(thread_exit_detaches),
        cmocka_unit_test(blocking_misuse_diagnosed),
        cmocka_unit_test(frames_in_blocking_regions),
        cmocka_unit_test(huge_request),
        cmocka_unit_test(many_global_roots),
        cmocka_unit_test(diagnostics_name_interior),
        cmocka_unit_test(large_object_published_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
