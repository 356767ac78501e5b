/* test_roots.c — every kind of root keeps its objects alive, intact, across
 * many cycles, and stops doing so once removed; root registration errors;
 * freed objects are really freed (poison mode). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roots.h" /* roots_test_delay_owed_scan */
#include "test_util.h"

#define CYCLES 50
#define PAT_BYTES 200 /* payload of a patterned leaf */

/* ------------------------------------------------------------- helpers */

/* A leaf whose bytes are a function of seed (test_util.h). */
static void *make_patterned(uint32_t seed)
{
    void *p = tu_patterned(&tu_leaf_type, PAT_BYTES, seed);
    assert_non_null(p);
    return p;
}

static void check_patterned(const void *obj, uint32_t seed)
{
    if (!tu_patterned_ok(obj, &tu_leaf_type, PAT_BYTES, seed))
        print_error("object %p (seed %u) is not a patterned leaf any more\n", obj, seed);
    assert_true(tu_patterned_ok(obj, &tu_leaf_type, PAT_BYTES, seed));
}

/* A list of n pairs whose cars are patterned leaves seed, seed+1, ...
 * 2n objects. */
static tu_pair *make_list(size_t n, uint32_t seed)
{
    tu_pair *head = NULL, *leaf = NULL;
    TC_ROOTS(head, leaf);
    for (size_t i = n; i-- > 0;) {
        leaf = make_patterned(seed + (uint32_t)i);
        tu_pair *p = tc_alloc(&tu_pair_type, sizeof *p);
        assert_non_null(p);
        TC_WRITE(p, car, leaf);
        TC_WRITE(p, cdr, head);
        head = p;
    }
    return head;
}

static void check_list(const tu_pair *list, size_t n, uint32_t seed)
{
    size_t i = 0;
    for (const tu_pair *p = list; p; p = p->cdr, i++) {
        assert_true(i < n);
        assert_ptr_equal(tc_type_of(p), &tu_pair_type);
        check_patterned(p->car, seed + (uint32_t)i);
    }
    assert_int_equal(i, n);
}

/* Unrooted garbage filled with a pattern different from every list's, so a
 * wrongly freed object gets overwritten and its check fails. */
static void churn(void)
{
    for (int i = 0; i < 400; i++) {
        tu_pair *p = tc_alloc(&tu_pair_type, sizeof *p);
        assert_non_null(p);
        p->car = (void *)(uintptr_t)0x5a5a5a5b;
        p->cdr = (void *)(uintptr_t)0xa5a5a5a5;
        if (i % 4 == 0) {
            unsigned char *l = tc_alloc(&tu_leaf_type, PAT_BYTES);
            assert_non_null(l);
            memset(l, 0x5a, PAT_BYTES);
        }
    }
}

/* ------------------------------------------------------- global slots */

static void *g_slots[4];

static void global_slots(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++)
        g_slots[i] = make_list(25, 1000u * (unsigned)i);
    assert_int_equal(tc_root_add(g_slots, 4), TC_OK);
    for (int c = 0; c < CYCLES; c++) {
        churn();
        assert_int_equal(tu_live_after_collect(), 4 * 50);
        for (int i = 0; i < 4; i++)
            check_list(g_slots[i], 25, 1000u * (unsigned)i);
    }
    /* A slot set to a non-heap word stops holding its list. */
    g_slots[1] = (void *)(uintptr_t)0x11;
    assert_int_equal(tu_live_after_collect(), 3 * 50);
    g_slots[3] = NULL;
    assert_int_equal(tu_live_after_collect(), 2 * 50);
    check_list(g_slots[0], 25, 0);
    check_list(g_slots[2], 25, 2000);
    /* Removed: the remaining lists die even though g_slots still names them. */
    assert_int_equal(tc_root_remove(g_slots), TC_OK);
    assert_int_equal(tu_live_after_collect(), 0);
    assert_int_equal(tc_root_remove(g_slots), TC_ENOTFOUND);
    memset(g_slots, 0, sizeof g_slots);
}

/* Only the registered range counts: slots past n are not roots. */
static void *g_range[3];

static void global_slots_range_is_exact(void **state)
{
    (void)state;
    g_range[0] = make_list(3, 1);
    g_range[1] = make_list(4, 2);
    g_range[2] = make_list(5, 3); /* not registered */
    assert_int_equal(tc_root_add(g_range, 2), TC_OK);
    assert_int_equal(tu_live_after_collect(), 2 * (3 + 4));
    check_list(g_range[0], 3, 1);
    check_list(g_range[1], 4, 2);
    assert_int_equal(tc_root_remove(g_range), TC_OK);
    assert_int_equal(tu_live_after_collect(), 0);
    memset(g_range, 0, sizeof g_range);
}

/* ------------------------------------------------------ global scanner */

typedef struct scan_ctx {
    void *refs[3];
    int calls; /* atomic */
} scan_ctx;

static void scan_refs(tc_visitor *v, void *ctx)
{
    scan_ctx *s = ctx;
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
    tc_visit_slots(v, s->refs, 3);
}

static void scan_one_by_one(tc_visitor *v, void *ctx)
{
    scan_ctx *s = ctx;
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 3; i++)
        tc_visit(v, s->refs[i]);
}

static int calls_of(scan_ctx *s) { return __atomic_load_n(&s->calls, __ATOMIC_RELAXED); }

static void global_scanner(void **state)
{
    (void)state;
    static scan_ctx a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.refs[0] = make_list(10, 100);
    a.refs[1] = (void *)(uintptr_t)0x7; /* a tagged integer */
    a.refs[2] = make_list(10, 200);
    b.refs[0] = make_list(7, 300);
    assert_int_equal(tc_root_scanner_add(scan_refs, &a), TC_OK);
    /* Same function, another context: a second scanner. */
    assert_int_equal(tc_root_scanner_add(scan_refs, &b), TC_OK);
    for (int c = 0; c < CYCLES; c++) {
        churn();
        assert_int_equal(tu_live_after_collect(), 20 + 20 + 14);
        check_list(a.refs[0], 10, 100);
        check_list(a.refs[2], 10, 200);
        check_list(b.refs[0], 7, 300);
    }
    assert_true(calls_of(&a) >= CYCLES);
    assert_true(calls_of(&b) >= CYCLES);

    assert_int_equal(tc_root_scanner_remove(scan_refs, &b), TC_OK);
    assert_int_equal(tu_live_after_collect(), 40);
    int b_calls = calls_of(&b);
    a.refs[0] = NULL;
    assert_int_equal(tu_live_after_collect(), 20);
    check_list(a.refs[2], 10, 200);
    assert_int_equal(tc_root_scanner_remove(scan_refs, &a), TC_OK);
    int a_calls = calls_of(&a);
    assert_int_equal(tu_live_after_collect(), 0);
    /* Removed scanners are not called any more. */
    assert_int_equal(calls_of(&a), a_calls);
    assert_int_equal(calls_of(&b), b_calls);
}

/* ------------------------------------------------------ thread scanner */

static void thread_scanner(void **state)
{
    (void)state;
    static scan_ctx a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.refs[0] = make_list(12, 400);
    a.refs[1] = make_list(3, 500);
    b.refs[2] = make_list(6, 600);
    assert_int_equal(tc_thread_root_scanner_add(scan_refs, &a), TC_OK);
    assert_int_equal(tc_thread_root_scanner_add(scan_one_by_one, &b), TC_OK);
    for (int c = 0; c < CYCLES; c++) {
        churn();
        assert_int_equal(tu_live_after_collect(), 24 + 6 + 12);
        check_list(a.refs[0], 12, 400);
        check_list(a.refs[1], 3, 500);
        check_list(b.refs[2], 6, 600);
    }
    assert_true(calls_of(&a) >= CYCLES);
    assert_true(calls_of(&b) >= CYCLES);
    assert_int_equal(tc_thread_root_scanner_remove(scan_one_by_one, &b), TC_OK);
    assert_int_equal(tu_live_after_collect(), 30);
    assert_int_equal(tc_thread_root_scanner_remove(scan_refs, &a), TC_OK);
    assert_int_equal(tu_live_after_collect(), 0);
}

/* -------------------------------------------------------------- frames */

static void frames_several_per_scope(void **state)
{
    (void)state;
    {
        tu_pair *a = NULL, *b = NULL, *c = NULL;
        void *d = NULL;
        TC_ROOTS(a);
        TC_ROOTS(b, c);
        a = make_list(5, 10);
        b = make_list(6, 20);
        {
            TC_ROOTS(d);
            d = make_list(7, 30);
            c = make_list(8, 40);
            for (int k = 0; k < CYCLES; k++) {
                churn();
                assert_int_equal(tu_live_after_collect(), 2 * (5 + 6 + 7 + 8));
                check_list(a, 5, 10);
                check_list(b, 6, 20);
                check_list(c, 8, 40);
                check_list(d, 7, 30);
            }
        }
        /* d's frame is gone; d still names its list but is no root. */
        assert_int_equal(tu_live_after_collect(), 2 * (5 + 6 + 8));
        b = NULL;
        assert_int_equal(tu_live_after_collect(), 2 * (5 + 8));
        check_list(a, 5, 10);
        check_list(c, 8, 40);
    }
    assert_int_equal(tu_live_after_collect(), 0);
}

static void frame_of_sixteen(void **state)
{
    (void)state;
    void *v0 = NULL, *v1 = NULL, *v2 = NULL, *v3 = NULL, *v4 = NULL, *v5 = NULL, *v6 = NULL,
         *v7 = NULL, *v8 = NULL, *v9 = NULL, *v10 = NULL, *v11 = NULL, *v12 = NULL,
         *v13 = NULL, *v14 = NULL, *v15 = NULL;
    {
        TC_ROOTS(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15);
        void **all[16] = {&v0, &v1, &v2,  &v3,  &v4,  &v5,  &v6,  &v7,
                          &v8, &v9, &v10, &v11, &v12, &v13, &v14, &v15};
        for (int i = 0; i < 16; i++)
            *all[i] = make_patterned(7000u + (unsigned)i);
        for (int k = 0; k < 10; k++) {
            churn();
            assert_int_equal(tu_live_after_collect(), 16);
            for (int i = 0; i < 16; i++)
                check_patterned(*all[i], 7000u + (unsigned)i);
        }
        /* The first and the last variable are both covered. */
        v0 = NULL;
        assert_int_equal(tu_live_after_collect(), 15);
        v15 = NULL;
        assert_int_equal(tu_live_after_collect(), 14);
        check_patterned(v7, 7007);
    }
    assert_int_equal(tu_live_after_collect(), 0);
}

#define DEPTH 30

static void nested(int depth)
{
    tu_pair *mine = NULL;
    void *extra = NULL;
    TC_ROOTS(mine);
    mine = make_list(3, 10000u + 10u * (unsigned)depth);
    if (depth % 3 == 0) {
        /* a second frame in some levels */
        TC_ROOTS(extra);
        extra = make_patterned(20000u + (unsigned)depth);
        if (depth + 1 < DEPTH)
            nested(depth + 1);
        check_patterned(extra, 20000u + (unsigned)depth);
    } else if (depth + 1 < DEPTH) {
        nested(depth + 1);
    }
    if (depth + 1 == DEPTH) {
        /* Deepest level: every level's frame is live. */
        for (int k = 0; k < CYCLES; k++) {
            churn();
            assert_int_equal(tu_live_after_collect(), DEPTH * 6 + DEPTH / 3);
        }
    }
    check_list(mine, 3, 10000u + 10u * (unsigned)depth);
    if (depth == DEPTH / 2) {
        /* The levels below have returned: only levels 0..depth hold lists,
         * and the extra frames of the levels above (this level's has
         * ended). */
        uint64_t extras = 0;
        for (int d = 0; d < depth; d++)
            extras += d % 3 == 0;
        assert_int_equal(tu_live_after_collect(), (uint64_t)(depth + 1) * 6 + extras);
    }
}

static void frames_nested_functions(void **state)
{
    (void)state;
    nested(0);
    assert_int_equal(tu_live_after_collect(), 0);
}

/* Pause 1 leaves the TC_ROOTS frames to be scanned after the restart:
 * by each thread as it leaves the pause, before it runs on, or by the
 * collector for a thread that is blocking or not yet back (roots.h; the
 * collector waits 200 us first here, so that both happen).
 * A thread 300 frames deep (1,200 slots, each the only reference to its
 * object) allocates garbage, polls, and now and then sleeps in a blocking
 * region, while another thread runs cycle after cycle: both ways of
 * scanning, and their race on frames_lock, run under checkmark (which
 * aborts the child if a frame's object was not marked) and poison (which
 * spoils a freed one). */
#define OWED_DEPTH 300
#define OWED_CYCLES 400

static const tc_type owed_leaf = {.name = "owed_leaf", .layout = TC_LAYOUT_LEAF};
static int owed_done;

static void *owed_collector(void *arg)
{
    (void)arg;
    int attached = tc_thread_attach();
    TU_CHECK(attached == TC_OK, "tc_thread_attach: %d", attached);
    for (int i = 0; i < OWED_CYCLES; i++)
        tc_collect();
    __atomic_store_n(&owed_done, 1, __ATOMIC_RELEASE);
    tc_thread_detach();
    return NULL;
}

static void owed_bottom(void)
{
    for (unsigned n = 0; !__atomic_load_n(&owed_done, __ATOMIC_ACQUIRE); n++) {
        for (int i = 0; i < 64; i++)
            TU_REQUIRE(tc_alloc(&owed_leaf, 48) != NULL, "tc_alloc failed");
        tc_safepoint();
        if (n % 256 == 0)
            tu_sleep_blocking(1);
    }
}

static void owed_level(int depth)
{
    uint32_t seed = 4u * (uint32_t)depth;
    void *a = tu_seeded_leaf(&owed_leaf, seed), *b = NULL, *c = NULL, *d = NULL;
    TC_ROOTS(a, b, c, d);
    b = tu_seeded_leaf(&owed_leaf, seed + 1);
    c = tu_seeded_leaf(&owed_leaf, seed + 2);
    d = tu_seeded_leaf(&owed_leaf, seed + 3);
    if (depth + 1 < OWED_DEPTH)
        owed_level(depth + 1);
    else
        owed_bottom();
    void *objs[4] = {a, b, c, d};
    for (uint32_t i = 0; i < 4; i++)
        TU_CHECK(tu_seeded_leaf_ok(objs[i], &owed_leaf, seed + i),
                 "level %d: the object of frame slot %u was freed or changed", depth, i);
}

static void sc_frames_scanned_after_pause(void)
{
    /* The collector would usually get to a thread the restart woke
     * before the OS runs it: give the thread the time to pay itself. */
    roots_test_delay_owed_scan(200000);
    pthread_t th;
    TU_REQUIRE_EQ(pthread_create(&th, NULL, owed_collector, NULL), 0);
    owed_level(0);
    tc_blocking_enter();
    pthread_join(th, NULL);
    tc_blocking_leave();
}

static void frames_scanned_after_pause(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("frames_scanned_after_pause", sc_frames_scanned_after_pause, &c, 120);
}

/* TC_ROOTS_POP ends the innermost frame early; the scope's cleanup then
 * leaves it alone and pops the outer one without complaint. */
typedef struct pop_result {
    uint64_t live[4];
    int a_ok;
} pop_result;

static int list_ok(const tu_pair *list, size_t n, uint32_t seed)
{
    size_t i = 0;
    for (const tu_pair *p = list; p; p = p->cdr, i++) {
        if (i >= n || tc_type_of(p) != &tu_pair_type)
            return 0;
        const unsigned char *b = p->car;
        for (size_t j = 0; j < PAT_BYTES; j++)
            if (b[j] != tu_pattern_byte(seed + (uint32_t)i, j))
                return 0;
    }
    return i == n;
}

static void pop_scenario(void *arg)
{
    pop_result *r = arg;
    {
        tu_pair *a = NULL, *b = NULL;
        TC_ROOTS(a);
        TC_ROOTS(b);
        a = make_list(10, 50);
        b = make_list(10, 60);
        r->live[0] = tu_live_after_collect(); /* 40 */
        TC_ROOTS_POP();                     /* b's frame */
        r->live[1] = tu_live_after_collect(); /* 20 */
        r->a_ok = list_ok(a, 10, 50);
        {
            b = NULL;    /* its list is freed: rooted again, it must hold a value */
            TC_ROOTS(b); /* a new frame may follow a popped one */
            b = make_list(2, 70);
            r->live[2] = tu_live_after_collect(); /* 24 */
        }
    }
    r->live[3] = tu_live_after_collect(); /* 0 */
}

static void frames_pop(void **state)
{
    (void)state;
    pop_result r = {{0}, 0};
    char *err = tu_capture_stderr(pop_scenario, &r);
    assert_non_null(err);
    if (*err)
        print_error("unexpected diagnostics: %s", err);
    assert_string_equal(err, "");
    free(err);
    assert_int_equal(r.live[0], 40);
    assert_int_equal(r.live[1], 20);
    assert_true(r.a_ok);
    assert_int_equal(r.live[2], 24);
    assert_int_equal(r.live[3], 0);
}

/* Every kind of root at once, each holding its own list. */
/* ------------------------------------------------ longjmp over frames */

static jmp_buf jump_back;

/* n nested frames, each rooting a 3-pair list; the innermost jumps out. */
static void deep_then_jump(int n)
{
    if (n < 0) /* never: a path that returns, for -Winfinite-recursion */
        return;
    tu_pair *x = NULL;
    TC_ROOTS(x);
    x = tu_make_list(3);
    if (n > 0)
        deep_then_jump(n - 1);
    else
        longjmp(jump_back, 1);
    tu_check_list(x, 3);
}

/* Overwrite the stack the jumped-over frames lived in: a frame left on
 * the list now points at this (and a scan that follows it crashes). */
static __attribute__((noinline)) void scribble(void)
{
    volatile unsigned char junk[16384];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = 0xdb;
}

static void longjmp_with_restore(void **state)
{
    (void)state;
    tu_pair *keep = NULL;
    TC_ROOTS(keep);
    keep = tu_make_list(7);
    for (int round = 0; round < 20; round++) {
        tc_roots_mark mark = tc_roots_save();
        if (setjmp(jump_back) == 0)
            deep_then_jump(30);
        else
            tc_roots_restore(mark);
        scribble();
        /* Only `keep` is rooted: the 31 jumped-over lists are garbage. */
        assert_int_equal(tu_live_after_collect(), 7);
        tu_check_list(keep, 7);
    }
}

/* No restore: the frame whose scope the jump lands in drops the dead
 * frames above it when it pops, with a diagnostic, without reading them. */
static void jump_into_scope(void *arg)
{
    (void)arg;
    for (int round = 0; round < 5; round++) {
        tu_pair *outer = NULL;
        TC_ROOTS(outer);
        outer = tu_make_list(5);
        if (setjmp(jump_back) == 0)
            deep_then_jump(10);
        /* The ten dead frames sit above `outer`'s until it pops. */
    }
}

static void longjmp_without_restore(void **state)
{
    (void)state;
    char *err = tu_capture_stderr(jump_into_scope, NULL);
    assert_non_null(strstr(err, "TC_ROOTS: a frame popped while frames pushed after it"));
    free(err);
    scribble();
    assert_int_equal(tu_live_after_collect(), 0);
    /* The shadow stack is whole: a new frame works. */
    tu_pair *x = NULL;
    TC_ROOTS(x);
    x = tu_make_list(4);
    assert_int_equal(tu_live_after_collect(), 4);
}

/* -------------------------------------------- typed forms, no casts */

static tu_pair *g_typed;           /* a typed global: TC_ROOT_ADD, no cast */
static tu_pair *g_typed_array[3];  /* TC_ROOT_ADD_ARRAY */

static void typed_scanner(tc_visitor *v, void *ctx)
{
    tu_pair **pairs = ctx;
    TC_VISIT_SLOTS(v, pairs, 2); /* tu_pair *[]: no cast either */
}

static void typed_root_forms(void **state)
{
    (void)state;
    static tu_pair *scanned[2];
    assert_int_equal(TC_ROOT_ADD(g_typed), TC_OK);
    assert_int_equal(TC_ROOT_ADD(g_typed), TC_EEXIST);
    assert_int_equal(TC_ROOT_ADD_ARRAY(g_typed_array), TC_OK);
    assert_int_equal(tc_root_scanner_add(typed_scanner, scanned), TC_OK);
    g_typed = tu_make_list(2);
    for (int i = 0; i < 3; i++)
        g_typed_array[i] = tu_make_list(3);
    scanned[0] = tu_make_list(4);
    scanned[1] = tu_make_list(5);
    /* A volatile local (kept across setjmp, say): TC_ROOTS takes it
     * without a qualifier-dropping warning (this file builds with
     * -Wcast-qual). */
    tu_pair *volatile vol = NULL;
    TC_ROOTS(vol);
    vol = tu_make_list(6);
    assert_int_equal(tu_live_after_collect(), 2 + 9 + 4 + 5 + 6);
    tu_check_list(g_typed, 2);
    tu_check_list(g_typed_array[2], 3);
    tu_check_list(scanned[1], 5);
    tu_check_list(vol, 6);
    assert_int_equal(TC_ROOT_REMOVE(g_typed), TC_OK);
    assert_int_equal(tc_root_remove((void **)g_typed_array), TC_OK);
    assert_int_equal(tc_root_scanner_remove(typed_scanner, scanned), TC_OK);
    assert_int_equal(tu_live_after_collect(), 6);
}

static void *g_mixed[1];
static void all_kinds_together(void **state)
{
    (void)state;
    static scan_ctx gs, ts;
    memset(&gs, 0, sizeof gs);
    memset(&ts, 0, sizeof ts);
    tu_pair *local = NULL;
    TC_ROOTS(local);
    g_mixed[0] = make_list(4, 1);
    gs.refs[1] = make_list(5, 2);
    ts.refs[2] = make_list(6, 3);
    local = make_list(7, 4);
    assert_int_equal(tc_root_add(g_mixed, 1), TC_OK);
    assert_int_equal(tc_root_scanner_add(scan_refs, &gs), TC_OK);
    assert_int_equal(tc_thread_root_scanner_add(scan_refs, &ts), TC_OK);
    /* Two roots naming the same list count its objects once. */
    gs.refs[0] = local;
    for (int c = 0; c < CYCLES; c++) {
        churn();
        assert_int_equal(tu_live_after_collect(), 2 * (4 + 5 + 6 + 7));
        check_list(g_mixed[0], 4, 1);
        check_list(gs.refs[1], 5, 2);
        check_list(ts.refs[2], 6, 3);
        check_list(local, 7, 4);
    }
    assert_int_equal(tc_root_remove(g_mixed), TC_OK);
    assert_int_equal(tu_live_after_collect(), 2 * (5 + 6 + 7));
    assert_int_equal(tc_root_scanner_remove(scan_refs, &gs), TC_OK);
    assert_int_equal(tu_live_after_collect(), 2 * (6 + 7));
    assert_int_equal(tc_thread_root_scanner_remove(scan_refs, &ts), TC_OK);
    assert_int_equal(tu_live_after_collect(), 2 * 7);
    local = NULL;
    assert_int_equal(tu_live_after_collect(), 0);
}

/* -------------------------------------------------------------- errors */

typedef struct err_results {
    int r[32];
} err_results;

static void dummy_scan(tc_visitor *v, void *ctx)
{
    (void)v;
    (void)ctx;
}

static void *g_err[2];

static void errors_scenario(void *arg)
{
    err_results *e = arg;
    int i = 0;
    e->r[i++] = tc_root_add(NULL, 1);
    e->r[i++] = tc_root_add(g_err, 0);
    e->r[i++] = tc_root_add(g_err, 2);
    e->r[i++] = tc_root_add(g_err, 2);
    e->r[i++] = tc_root_add(g_err, 1); /* same slots, another length */
    e->r[i++] = tc_root_remove(g_err + 1);
    e->r[i++] = tc_root_remove(NULL);
    e->r[i++] = tc_root_remove(g_err);
    e->r[i++] = tc_root_remove(g_err);
    int ctx1, ctx2;
    e->r[i++] = tc_root_scanner_add(NULL, &ctx1);
    e->r[i++] = tc_root_scanner_add(dummy_scan, &ctx1);
    e->r[i++] = tc_root_scanner_add(dummy_scan, &ctx1);
    e->r[i++] = tc_root_scanner_add(dummy_scan, &ctx2);
    e->r[i++] = tc_root_scanner_remove(dummy_scan, NULL);
    e->r[i++] = tc_root_scanner_remove(scan_refs, &ctx1);
    e->r[i++] = tc_root_scanner_remove(dummy_scan, &ctx1);
    e->r[i++] = tc_root_scanner_remove(dummy_scan, &ctx1);
    e->r[i++] = tc_root_scanner_remove(dummy_scan, &ctx2);
    e->r[i++] = tc_thread_root_scanner_add(NULL, &ctx1);
    e->r[i++] = tc_thread_root_scanner_add(dummy_scan, &ctx1);
    e->r[i++] = tc_thread_root_scanner_add(dummy_scan, &ctx1);
    /* a global scanner with the same pair is a different table */
    e->r[i++] = tc_root_scanner_add(dummy_scan, &ctx1);
    e->r[i++] = tc_thread_root_scanner_remove(dummy_scan, &ctx2);
    e->r[i++] = tc_thread_root_scanner_remove(dummy_scan, &ctx1);
    e->r[i++] = tc_thread_root_scanner_remove(dummy_scan, &ctx1);
    e->r[i++] = tc_root_scanner_remove(dummy_scan, &ctx1);
}

static void root_errors(void **state)
{
    (void)state;
    err_results e;
    memset(&e, 0x7f, sizeof e);
    char *err = tu_capture_stderr(errors_scenario, &e);
    free(err);
    static const int expect[] = {
        TC_EINVAL,   TC_EINVAL,    TC_OK,       TC_EEXIST, TC_EEXIST, TC_ENOTFOUND,
        TC_ENOTFOUND, TC_OK,       TC_ENOTFOUND,
        TC_EINVAL,   TC_OK,        TC_EEXIST,   TC_OK,     TC_ENOTFOUND, TC_ENOTFOUND,
        TC_OK,       TC_ENOTFOUND, TC_OK,
        TC_EINVAL,   TC_OK,        TC_EEXIST,   TC_OK,     TC_ENOTFOUND, TC_OK,
        TC_ENOTFOUND, TC_OK,
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        if (e.r[i] != expect[i])
            print_error("call #%zu returned %d, expected %d\n", i, e.r[i], expect[i]);
        assert_int_equal(e.r[i], expect[i]);
    }
    /* The collector still works after all that. */
    tu_pair *l = NULL;
    TC_ROOTS(l);
    l = make_list(3, 9);
    assert_int_equal(tu_live_after_collect(), 6);
    check_list(l, 3, 9);
}

/* --------------------------------------------------------------- poison */

static char *saved_debug;

/* Add item to TRICOLOR_DEBUG (keeping what the environment already asks). */
static void debug_env_push(const char *item)
{
    const char *old = getenv("TRICOLOR_DEBUG");
    saved_debug = old ? strdup(old) : NULL;
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s%s", old ? old : "", old && *old ? "," : "", item);
    setenv("TRICOLOR_DEBUG", buf, 1);
}

static void debug_env_pop(void)
{
    if (saved_debug) {
        setenv("TRICOLOR_DEBUG", saved_debug, 1);
        free(saved_debug);
        saved_debug = NULL;
    } else {
        unsetenv("TRICOLOR_DEBUG");
    }
}

static int poison_setup(void **state)
{
    (void)state;
    debug_env_push("poison=1");
    int err = tc_init(NULL);
    debug_env_pop();
    return err;
}

/* Three objects of one size in a row; the middle one dies.  Its slot sits
 * between two live ones, so its span stays in use and mapped. */
static void poison_freed_objects(void **state)
{
    (void)state;
    static const size_t sizes[] = {8, 16, 40, 200, 1000, 4000, 20000};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    void *keep = NULL;
    TC_ROOTS(keep);
    keep = tc_alloc(&tu_pair_type, NS * 2 * sizeof(void *));
    void **ks = keep;
    uintptr_t dead[NS];
    size_t dead_size[NS];
    for (size_t k = 0; k < NS; k++) {
        unsigned char *o[3];
        for (int j = 0; j < 3; j++) {
            o[j] = tc_alloc(&tu_leaf_type, sizes[k]);
            assert_non_null(o[j]);
            memset(o[j], 0x30 + j, tc_size(o[j]));
        }
        /* The three are adjacent slots of one span. */
        size_t slot = (size_t)(o[1] - o[0]);
        assert_int_equal((size_t)(o[2] - o[1]), slot);
        assert_true(slot >= tc_size(o[0]));
        tc_write(keep, &ks[2 * k], o[0]);
        tc_write(keep, &ks[2 * k + 1], o[2]);
        dead[k] = (uintptr_t)o[1];
        dead_size[k] = tc_size(o[1]);
    }
    assert_int_equal(tu_live_after_collect(), 1 + 2 * NS);
    for (size_t k = 0; k < NS; k++) {
        const volatile unsigned char *d = (const volatile unsigned char *)dead[k];
        assert_false(tc_is_heap_object((const void *)dead[k]));
        size_t bad = SIZE_MAX;
        for (size_t i = 0; i < dead_size[k] && bad == SIZE_MAX; i++)
            if (d[i] != 0xdb)
                bad = i;
        if (bad != SIZE_MAX)
            print_error("freed object of %zu bytes at %p: byte %zu is %#x, not 0xdb\n",
                        sizes[k], (void *)dead[k], bad, d[bad]);
        assert_int_equal(bad, SIZE_MAX);
        /* Its live neighbours are untouched. */
        const unsigned char *l0 = ks[2 * k], *l2 = ks[2 * k + 1];
        for (size_t i = 0; i < tc_size(l0); i++)
            assert_int_equal(l0[i], 0x30);
        for (size_t i = 0; i < tc_size(l2); i++)
            assert_int_equal(l2[i], 0x32);
    }
}

/* An object that loses its last root (a frame, a global slot, a scanner)
 * is poisoned by the next collection. */
static void *g_poison[1];
static void poison_after_root_removal(void **state)
{
    (void)state;
    static scan_ctx sc;
    memset(&sc, 0, sizeof sc);
    void *anchor = NULL, *victim = NULL;
    TC_ROOTS(anchor);
    anchor = make_patterned(1); /* keeps the leaf span in use */
    uintptr_t addr[3];
    for (int kind = 0; kind < 3; kind++) {
        {
            TC_ROOTS(victim);
            victim = make_patterned(2);
            addr[kind] = (uintptr_t)victim;
            if (kind == 1) {
                g_poison[0] = victim;
                assert_int_equal(tc_root_add(g_poison, 1), TC_OK);
            } else if (kind == 2) {
                sc.refs[0] = victim;
                assert_int_equal(tc_root_scanner_add(scan_refs, &sc), TC_OK);
            }
            victim = NULL;
        }
        /* kind 0: only the (now gone) frame held it. */
        assert_int_equal(tu_live_after_collect(), kind == 0 ? 1 : 2);
        if (kind == 1)
            assert_int_equal(tc_root_remove(g_poison), TC_OK);
        if (kind == 2)
            assert_int_equal(tc_root_scanner_remove(scan_refs, &sc), TC_OK);
        if (kind != 0) {
            check_patterned((void *)addr[kind], 2);
            assert_int_equal(tu_live_after_collect(), 1);
        }
        const volatile unsigned char *d = (const volatile unsigned char *)addr[kind];
        for (size_t i = 0; i < PAT_BYTES; i++)
            assert_int_equal(d[i], 0xdb);
        check_patterned(anchor, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(global_slots, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(global_slots_range_is_exact, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(global_scanner, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(thread_scanner, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(frames_several_per_scope, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(frame_of_sixteen, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(frames_nested_functions, tu_setup, tu_teardown),
        cmocka_unit_test(frames_scanned_after_pause),
        cmocka_unit_test_setup_teardown(frames_pop, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(longjmp_with_restore, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(typed_root_forms, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(longjmp_without_restore, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(all_kinds_together, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(root_errors, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(poison_freed_objects, poison_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(poison_after_root_removal, poison_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
