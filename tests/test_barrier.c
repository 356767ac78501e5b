/* test_barrier.c — the write barrier and what depends on it, tested with
 * marking frozen right after pause 1 (collector_test_hold_marking): every
 * grey object still waits unscanned, so a store can be placed exactly
 * where a Yuasa deletion barrier must act.
 *
 *   move_into_black       a reference moved from a grey, unscanned object
 *                         into a black one (allocated while marking)
 *   write_slots           tc_write_slots overlapping both ways, marking or
 *                         not: memmove's result, overwritten values shaded
 *   buffer                no buffering outside marking or over NULL; a full
 *                         buffer flushes and marks what it held
 *   checkmark_catches     with the barrier broken, checkmark aborts and
 *                         names the lost object's type and its referrer's
 *   pauses_*              one pause per cycle under stoptheworld=1, two or
 *                         more concurrently; per-cycle timings add up and
 *                         match the stats' pause count and total
 *   oblets                a large SLOTS object with references at every
 *                         oblet boundary, with 0, 1 and 2 mark workers
 *   small_oblets          the same for small SLOTS objects of more than
 *                         one oblet, several to a span: each oblet must be
 *                         scanned as part of its own object, not slot 0's
 *
 * Each scenario runs in a forked child (tu_run_isolated) with its own
 * collector: checkmark and poison on, no automatic cycles (gc off). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "alloc.h"
#include "barrier.h"
#include "collector.h"
#include "heap.h" /* TC_PAGE_SIZE */
#include "mark.h"
#include "options.h" /* opt.mark_workers */
#include "test_util.h"
#include "threads.h"

#define TIME_LIMIT 60 /* seconds per scenario; a normal run takes < 1 */

/* Distinct type names: the checkmark message must name them. */
static const tc_type holder_type = {.name = "grey_holder", .layout = TC_LAYOUT_SLOTS};
static const tc_type black_type = {.name = "black_holder", .layout = TC_LAYOUT_SLOTS};
static const tc_type moved_type = {.name = "moved_leaf", .layout = TC_LAYOUT_LEAF};
static const tc_type vec_type = {.name = "barrier_vec", .layout = TC_LAYOUT_SLOTS};
static const tc_type item_type = {.name = "barrier_item", .layout = TC_LAYOUT_LEAF};

/* A list of n pairs, returned unrooted (tu_make_list asserts with cmocka,
 * which a forked child must not). */
static tu_pair *make_list(size_t n)
{
    tu_pair *head = NULL;
    TC_ROOTS(head);
    for (size_t i = 0; i < n; i++) {
        tu_pair *p = tc_alloc(&tu_pair_type, sizeof *p);
        TC_WRITE(p, car, TU_TAG(i));
        TC_WRITE(p, cdr, head);
        head = p;
    }
    return head;
}

static void finish_held_cycle(uint64_t n)
{
    collector_test_hold_marking(0);
    collector_wait(n); /* blocking: the barrier buffer is flushed first */
}

/* ------------------------------------------------- (a) move into black */

static int break_barrier; /* set by the parent before forking (d) */

/* B (grey, unscanned) holds X; A is allocated during marking (black,
 * never scanned); X moves from B to A.  Only the barrier's shading of the
 * old value B.car can keep X alive. */
static void sc_move_into_black(void)
{
    tu_pair *b = NULL, *a = NULL;
    TC_ROOTS(b, a);
    b = tc_alloc(&holder_type, sizeof *b);
    TC_WRITE(b, car, tu_seeded_leaf(&moved_type, 7));
    TU_REQUIRE_EQ(tu_live_after_collect(), 2); /* and the mark bits are clear again */
    barrier_test_break(break_barrier);
    uint64_t n = tu_start_held_cycle();
    void *x = b->car;
    TU_REQUIRE(mark_is_marked(b) && !mark_is_marked(x), "B grey and X white after pause 1");
    a = tc_alloc(&black_type, sizeof *a);
    TU_REQUIRE(mark_is_marked(a), "an object allocated while marking is black");
    TC_WRITE(a, car, b->car);
    TC_WRITE(b, car, NULL);
    b = NULL; /* from here on only A.car holds X (x is no root) */
    finish_held_cycle(n);
    TU_REQUIRE(tu_seeded_leaf_ok(a->car, &moved_type, 7), "the moved object was freed by cycle %llu",
               (unsigned long long)n);
    TU_REQUIRE_EQ(tu_live_after_collect(), 2); /* A and X; B is gone */
    TU_REQUIRE(tu_seeded_leaf_ok(a->car, &moved_type, 7), "the moved object died a cycle later");
}

static void move_into_black(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    break_barrier = 0;
    tu_run_isolated("move_into_black", sc_move_into_black, &c, TIME_LIMIT);
}

/* ------------------------------------------- (d) checkmark catches it */

static void checkmark_catches_broken_barrier(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    /* Without the break: the same child succeeds (exit 0). */
    break_barrier = 0;
    char *err = NULL;
    int status = tu_fork_scenario(sc_move_into_black, &c, TIME_LIMIT, &err);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        print_error("intact barrier: status %#x, stderr:\n%s\n", status, err ? err : "");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(err);
    /* With the barrier skipping its shading: checkmark aborts at mark
     * termination, naming X's type and its referrer A's. */
    break_barrier = 1;
    status = tu_fork_scenario(sc_move_into_black, &c, TIME_LIMIT, &err);
    break_barrier = 0;
    assert_non_null(err);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
        print_error("broken barrier: status %#x, stderr:\n%s\n", status, err);
    assert_true(status != -1 && WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    const char *line = strstr(err, "tricolor: checkmark: object ");
    if (!line || !strstr(line, "of type moved_leaf is reachable (from a black_holder object at"))
        print_error("unexpected checkmark message:\n%s\n", err);
    assert_non_null(line);
    assert_non_null(strstr(line, "of type moved_leaf is reachable (from a black_holder object at"));
    free(err);
}

/* --------------------------------------------------- (b) tc_write_slots */

#define WS_N 16
#define WS_LEN 8

/* v[0..WS_N) = items 0..WS_N-1; move WS_LEN words by 2 (forward: dst =
 * src + 2, so the copy must run backwards) or back by 2.  Returns how
 * many items lost their last reference (their seeds in lost[]). */
static size_t overlap_move(void **v, int forward, uint32_t *lost)
{
    void *want[WS_N];
    memcpy(want, v, sizeof want);
    size_t dst = forward ? 2 : 0, src = forward ? 0 : 2;
    memmove(want + dst, want + src, WS_LEN * sizeof(void *));
    tc_write_slots(v, &v[dst], &v[src], WS_LEN);
    for (size_t i = 0; i < WS_N; i++)
        TU_CHECK(v[i] == want[i], "%s move: v[%zu] = %p, memmove gives %p",
                 forward ? "forward" : "backward", i, v[i], want[i]);
    /* forward: items 8 and 9 are gone; backward: items 0 and 1. */
    lost[0] = forward ? 8 : 0;
    lost[1] = forward ? 9 : 1;
    return 2;
}

static void write_slots_case(int marking, int forward)
{
    void **v = NULL;
    TC_ROOTS(v);
    v = tc_alloc(&vec_type, WS_N * sizeof(void *));
    for (uint32_t i = 0; i < WS_N; i++)
        tc_write(v, &v[i], tu_seeded_leaf(&item_type, i));
    TU_REQUIRE_EQ(tu_live_after_collect(), 1 + WS_N);
    uint32_t lost[2];
    void *lost_at[2];
    uint64_t n = marking ? tu_start_held_cycle() : 0;
    lost_at[0] = v[forward ? 8 : 0];
    lost_at[1] = v[forward ? 9 : 1];
    size_t nlost = overlap_move(v, forward, lost);
    if (marking) {
        finish_held_cycle(n);
        /* Shaded: they survive the cycle that was marking... */
        for (size_t i = 0; i < nlost; i++)
            TU_CHECK(tu_seeded_leaf_ok(lost_at[i], &item_type, lost[i]),
                     "%s move while marking: item %u lost its last reference and was freed",
                     forward ? "forward" : "backward", lost[i]);
    }
    /* ...and no later one. */
    TU_REQUIRE_EQ(tu_live_after_collect(), 1 + WS_N - nlost);
    for (size_t i = 0; i < nlost; i++)
        TU_CHECK(!tc_is_heap_object(lost_at[i]), "item %u outlived its last reference",
                 lost[i]);
    for (size_t i = 0; i < WS_N; i++)
        TU_CHECK(tc_is_heap_object(v[i]) && tc_type_of(v[i]) == &item_type,
                 "v[%zu] is not a live item", i);
}

/* A C array into a grey object while marking: every overwritten value is
 * shaded, the source words land unchanged. */
static void write_slots_from_c_array(void)
{
    void **v = NULL, *fresh[WS_LEN] = {0};
    TC_ROOTS(v);
    v = tc_alloc(&vec_type, WS_N * sizeof(void *));
    for (uint32_t i = 0; i < WS_N; i++)
        tc_write(v, &v[i], tu_seeded_leaf(&item_type, i));
    TU_REQUIRE_EQ(tu_live_after_collect(), 1 + WS_N);
    void *old[WS_N];
    memcpy(old, v, sizeof old);
    uint64_t n = tu_start_held_cycle();
    for (size_t i = 0; i < WS_LEN; i++)
        fresh[i] = TU_TAG(i); /* tagged integers: nothing of the new words is a reference */
    tc_write_slots(v, &v[4], fresh, WS_LEN);
    for (size_t i = 0; i < WS_LEN; i++)
        TU_CHECK(v[4 + i] == fresh[i], "v[%zu] = %p, expected %p", 4 + i, v[4 + i], fresh[i]);
    finish_held_cycle(n);
    for (uint32_t i = 4; i < 4 + WS_LEN; i++)
        TU_CHECK(tu_seeded_leaf_ok(old[i], &item_type, i), "overwritten item %u was freed while shaded", i);
    TU_REQUIRE_EQ(tu_live_after_collect(), 1 + WS_N - WS_LEN);
}

/* tc_fill_slots over references while marking: every overwritten value
 * is shaded (it survives the cycle under way, then goes), every word gets
 * the fill value; and a TC_WRITE whose object expression has a side
 * effect evaluates it once. */
static void fill_slots_case(int marking)
{
    void **v = NULL;
    TC_ROOTS(v);
    v = tc_alloc(&vec_type, WS_N * sizeof(void *));
    for (uint32_t i = 0; i < WS_N; i++)
        tc_write(v, &v[i], tu_seeded_leaf(&item_type, i));
    TU_REQUIRE_EQ(tu_live_after_collect(), 1 + WS_N);
    void *old[WS_N];
    memcpy(old, v, sizeof old);
    uint64_t n = marking ? tu_start_held_cycle() : 0;
    tc_fill_slots(v, &v[2], TU_TAG(7), WS_LEN);
    for (size_t i = 0; i < WS_N; i++)
        TU_CHECK(v[i] == (i >= 2 && i < 2 + WS_LEN ? TU_TAG(7) : old[i]), "v[%zu] = %p", i, v[i]);
    if (marking) {
        finish_held_cycle(n);
        for (uint32_t i = 2; i < 2 + WS_LEN; i++)
            TU_CHECK(tu_seeded_leaf_ok(old[i], &item_type, i),
                     "item %u, overwritten by tc_fill_slots while marking, was freed", i);
    }
    TU_REQUIRE_EQ(tu_live_after_collect(), 1 + WS_N - WS_LEN);
}

typedef struct pair2 {
    void *car, *cdr;
} pair2;

static void write_once(void)
{
    pair2 *pairs[3] = {NULL, NULL, NULL};
    TC_ROOTS(pairs[0], pairs[1], pairs[2]);
    for (int i = 0; i < 3; i++)
        pairs[i] = tc_alloc(&vec_type, sizeof(pair2));
    int k = 0;
    TC_WRITE(pairs[k++], cdr, TU_TAG(5));
    TU_CHECK(k == 1, "TC_WRITE evaluated its object %d times", k);
    TU_CHECK(pairs[0]->cdr == TU_TAG(5) && pairs[1]->cdr == NULL, "wrote the wrong object");
}

static void sc_write_slots(void)
{
    for (int marking = 0; marking <= 1; marking++)
        for (int forward = 0; forward <= 1; forward++)
            write_slots_case(marking, forward);
    write_slots_from_c_array();
    fill_slots_case(0);
    fill_slots_case(1);
    write_once();
}

static void write_slots(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("write_slots", sc_write_slots, &c, TIME_LIMIT);
}

/* ------------------------------------------------- (c) the buffer */

#define BUF_ITEMS 300 /* more than TC_BARRIER_BUF: one flush, then more */

static void stores_outside_marking(tc_thread *self, tu_pair *w, void **v)
{
    TU_REQUIRE_EQ(collector_phase(), PHASE_OFF);
    for (int i = 0; i < 10000; i++) {
        TC_WRITE(w, car, v[i % BUF_ITEMS]); /* over a reference */
        TU_REQUIRE_EQ(self->barrier_n, 0);
    }
    TC_WRITE(w, car, NULL);
}

static void sc_buffer(void)
{
    tc_thread *self = thread_self();
    void **v = NULL;
    tu_pair *w = NULL;
    TC_ROOTS(v, w);
    v = tc_alloc(&vec_type, BUF_ITEMS * sizeof(void *));
    w = tc_alloc(&vec_type, sizeof *w);
    for (uint32_t i = 0; i < BUF_ITEMS; i++)
        tc_write(v, &v[i], tu_seeded_leaf(&item_type, i));
    stores_outside_marking(self, w, v);
    TU_REQUIRE_EQ(tu_live_after_collect(), 2 + BUF_ITEMS);
    void *item[BUF_ITEMS];
    memcpy(item, v, sizeof item);

    uint64_t n = tu_start_held_cycle();
    TU_REQUIRE_EQ(self->barrier_n, 0);
    TC_WRITE(w, car, item[0]); /* over NULL: inline, nothing buffered */
    TU_REQUIRE_EQ(self->barrier_n, 0);
    TC_WRITE(w, car, item[1]); /* over item 0: buffered */
    TU_REQUIRE_EQ(self->barrier_n, 1);
    TU_REQUIRE(!mark_is_marked(item[0]), "a buffered value is not marked before the flush");
    /* Overwrite every item of v: the buffer fills at 256 entries (item 0
     * and v's items 0..254), flushes, and fills again. */
    size_t flushed_upto = 0;
    for (size_t i = 0; i < BUF_ITEMS; i++) {
        size_t before = self->barrier_n;
        tc_write(v, &v[i], NULL);
        size_t want = before + 1 == TC_BARRIER_BUF ? 0 : before + 1;
        TU_REQUIRE(self->barrier_n == want, "store %zu: barrier_n %zu -> %zu, expected %zu", i,
                   before, self->barrier_n, want);
        if (want == 0)
            flushed_upto = i + 1;
    }
    TU_REQUIRE_EQ(flushed_upto, TC_BARRIER_BUF - 1);
    for (size_t i = 0; i < BUF_ITEMS; i++)
        TU_CHECK(mark_is_marked(item[i]) == (i < flushed_upto),
                 "item %zu: marked %d after the flush of items 0..%zu", i,
                 mark_is_marked(item[i]), flushed_upto - 1);
    finish_held_cycle(n);
    /* Every overwritten item was shaded, flushed by the buffer or at mark
     * termination: all survive this cycle. */
    for (uint32_t i = 0; i < BUF_ITEMS; i++)
        TU_CHECK(tu_seeded_leaf_ok(item[i], &item_type, i), "item %u was freed", i);
    /* Only v, w and w's item 1 are reachable now. */
    TU_REQUIRE_EQ(tu_live_after_collect(), 3);
}

static void buffer(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    tu_run_isolated("buffer", sc_buffer, &c, TIME_LIMIT);
}

/* ----------------------------------------------------- (e) pauses */

#define PAUSE_CYCLES 10

static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cb_cycles, cb_pauses, cb_pause_ns;

/* On the collector thread: each cycle's timings must add up. */
static void check_cycle(const tc_cycle_info *c, void *ctx)
{
    int stw = *(const int *)ctx;
    TU_CHECK(c->stw1_ns + c->stw2_ns == c->pause_ns, "cycle %llu: stw1 %llu + stw2 %llu != %llu",
             (unsigned long long)c->cycle, (unsigned long long)c->stw1_ns,
             (unsigned long long)c->stw2_ns, (unsigned long long)c->pause_ns);
    TU_CHECK(c->tts1_ns <= c->stw1_ns, "cycle %llu: tts1 %llu > stw1 %llu",
             (unsigned long long)c->cycle, (unsigned long long)c->tts1_ns,
             (unsigned long long)c->stw1_ns);
    TU_CHECK(c->tts2_ns <= c->stw2_ns, "cycle %llu: tts2 > stw2", (unsigned long long)c->cycle);
    TU_CHECK(c->tts1_ns + c->tts2_ns == c->tts_ns, "cycle %llu: tts1 + tts2 != tts",
             (unsigned long long)c->cycle);
    TU_CHECK(c->mark_term_attempts >= 1, "cycle %llu (stoptheworld=%d): mark_term_attempts %d",
             (unsigned long long)c->cycle, stw, c->mark_term_attempts);
    TU_CHECK(stw ? c->stw2_ns == 0 : c->stw2_ns > 0, "cycle %llu (stoptheworld=%d): stw2 %llu",
             (unsigned long long)c->cycle, stw, (unsigned long long)c->stw2_ns);
    pthread_mutex_lock(&cb_lock);
    cb_cycles++;
    cb_pauses += stw ? 1 : 1 + (uint64_t)c->mark_term_attempts;
    cb_pause_ns += c->pause_ns;
    pthread_mutex_unlock(&cb_lock);
}

static int stw_mode;

static void sc_pauses(void)
{
    tc_set_cycle_callback(check_cycle, &stw_mode);
    tu_pair *keep = NULL;
    TC_ROOTS(keep);
    keep = make_list(2000);
    static tc_stats before, after;
    tc_read_stats(&before);
    for (int i = 0; i < PAUSE_CYCLES; i++) {
        make_list(3000); /* garbage */
        tc_collect();
    }
    tc_read_stats(&after);
    tc_set_cycle_callback(NULL, NULL);
    uint64_t pauses = after.num_pauses - before.num_pauses;
    printf("stoptheworld=%d: %d cycles, %llu pauses\n", stw_mode, PAUSE_CYCLES,
           (unsigned long long)pauses);
    TU_REQUIRE_EQ(after.cycles - before.cycles, PAUSE_CYCLES);
    pthread_mutex_lock(&cb_lock);
    TU_REQUIRE_EQ(cb_cycles, PAUSE_CYCLES);
    if (stw_mode)
        TU_REQUIRE_EQ(pauses, PAUSE_CYCLES);
    else
        TU_REQUIRE(pauses >= 2 * PAUSE_CYCLES, "%llu pauses for %d cycles",
                   (unsigned long long)pauses, PAUSE_CYCLES);
    /* The stats' pause count and total agree with the cycles' reports. */
    TU_REQUIRE_EQ(pauses, cb_pauses);
    TU_REQUIRE_EQ(after.pause_total_ns - before.pause_total_ns, cb_pause_ns);
    pthread_mutex_unlock(&cb_lock);
    TU_REQUIRE_EQ(tu_live_after_collect(), 2000);
}

static void pauses_stoptheworld(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    stw_mode = c.debug_stoptheworld = 1;
    tu_run_isolated("pauses_stoptheworld", sc_pauses, &c, TIME_LIMIT);
}

static void pauses_concurrent(void **state)
{
    (void)state;
    tc_config c = tu_debug_config();
    stw_mode = c.debug_stoptheworld = 0;
    tu_run_isolated("pauses_concurrent", sc_pauses, &c, TIME_LIMIT);
}

/* ------------------------------------------------------- (f) oblets */

#define OBLET_WORDS (OBLET_BYTES / sizeof(void *))
#define BIG_BYTES ((size_t)5 * 1024 * 1024 + 3 * TC_PAGE_SIZE + 1000) /* 1,200+ oblets, a partial last */

static size_t nbig_refs;
static size_t big_at[4096]; /* word indices holding references */

/* The first and last word of every OBLET_BYTES piece, and the very last word
 * of the payload (tc_size may round the request up). */
static void boundary_words(size_t nwords)
{
    nbig_refs = 0;
    for (size_t w = 0; w < nwords; w += OBLET_WORDS) {
        big_at[nbig_refs++] = w;
        size_t last = w + OBLET_WORDS - 1 < nwords ? w + OBLET_WORDS - 1 : nwords - 1;
        if (last != w)
            big_at[nbig_refs++] = last;
    }
}

static void sc_oblets(void)
{
    void **big = NULL;
    TC_ROOTS(big);
    big = tc_alloc(&vec_type, BIG_BYTES);
    TU_REQUIRE(big != NULL, "allocating %zu bytes", BIG_BYTES);
    size_t nwords = tc_size(big) / sizeof(void *);
    boundary_words(nwords);
    TU_REQUIRE(nbig_refs >= 80, "%zu boundary words", nbig_refs);
    TU_REQUIRE_EQ(big_at[nbig_refs - 1], nwords - 1);
    for (size_t i = 0; i < nbig_refs; i++)
        tc_write(big, &big[big_at[i]], tu_seeded_leaf(&item_type, (uint32_t)i));
    for (int k = 0; k < 3; k++) {
        /* Garbage in between, so a freed item's slot gets reused. */
        make_list(20000);
        TU_REQUIRE_EQ(tu_live_after_collect(), 1 + nbig_refs);
        for (size_t i = 0; i < nbig_refs; i++)
            TU_REQUIRE(tu_seeded_leaf_ok(big[big_at[i]], &item_type, (uint32_t)i),
                       "the item at word %zu (oblet %zu) was freed", big_at[i],
                       big_at[i] / OBLET_WORDS);
    }
    /* A moved reference at the very last word, while marking. */
    uint64_t n = tu_start_held_cycle();
    void *first = big[0];
    tc_write(big, &big[0], NULL);
    tc_write(big, &big[nwords - 1], first);
    finish_held_cycle(n);
    TU_REQUIRE(tu_seeded_leaf_ok(big[nwords - 1], &item_type, 0), "the moved item was freed");
    TU_REQUIRE_EQ(tu_live_after_collect(), nbig_refs); /* the old last item is garbage now */
    printf("oblets: %zu-byte object, %zu references at oblet boundaries, %d mark worker(s)\n",
           tc_size(big), nbig_refs, opt.mark_workers);
}

/* Small objects of 2 oblets and a part, several to a span: the later
 * ones' oblets lie far from the span's first slot. */
#define SMALL_BIG_BYTES (2 * OBLET_BYTES + 200)
#define NSMALL_BIG 6

static void sc_small_oblets(void)
{
    void **objs[NSMALL_BIG] = {0};
    TC_ROOTS(objs[0], objs[1], objs[2], objs[3], objs[4], objs[5]);
    size_t nrefs = 0, nwords = 0;
    for (int k = 0; k < NSMALL_BIG; k++) {
        objs[k] = tc_alloc(&vec_type, SMALL_BIG_BYTES);
        TU_REQUIRE(objs[k] != NULL, "allocating %zu bytes", SMALL_BIG_BYTES);
        tc_span *s = heap_object_span(objs[k]);
        TU_REQUIRE(s && s->sizeclass && s->nelems >= 3, "%zu bytes: not a small object "
                   "that shares its span", tc_size(objs[k]));
        nwords = tc_size(objs[k]) / sizeof(void *);
        boundary_words(nwords);
        for (size_t i = 0; i < nbig_refs; i++)
            tc_write(objs[k], &objs[k][big_at[i]],
                     tu_seeded_leaf(&item_type, (uint32_t)(k * 1000 + i)));
        nrefs += nbig_refs;
    }
    for (int round = 0; round < 3; round++) {
        make_list(20000); /* garbage whose slots a freed item would take */
        TU_REQUIRE_EQ(tu_live_after_collect(), NSMALL_BIG + nrefs);
        for (int k = 0; k < NSMALL_BIG; k++)
            for (size_t i = 0; i < nbig_refs; i++)
                TU_REQUIRE(tu_seeded_leaf_ok(objs[k][big_at[i]], &item_type,
                                             (uint32_t)(k * 1000 + i)),
                           "object %d: the item at word %zu (oblet %zu) was freed", k,
                           big_at[i], big_at[i] / OBLET_WORDS);
    }
    printf("small oblets: %d objects of %zu bytes, %zu references at oblet boundaries\n",
           NSMALL_BIG, nwords * sizeof(void *), nrefs);
}

static void small_oblets(void **state)
{
    (void)state;
    for (int workers = 0; workers <= 1; workers++) {
        tc_config c = tu_debug_config();
        c.mark_workers = workers;
        char name[40];
        snprintf(name, sizeof name, "small oblets, %d workers", workers);
        tu_run_isolated(name, sc_small_oblets, &c, TIME_LIMIT);
    }
}

static void oblets(void **state)
{
    (void)state;
    for (int workers = 0; workers <= 2; workers++) {
        tc_config c = tu_debug_config();
        c.mark_workers = workers;
        char name[32];
        snprintf(name, sizeof name, "oblets, %d workers", workers);
        tu_run_isolated(name, sc_oblets, &c, TIME_LIMIT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(move_into_black),
        cmocka_unit_test(write_slots),
        cmocka_unit_test(buffer),
        cmocka_unit_test(checkmark_catches_broken_barrier),
        cmocka_unit_test(pauses_stoptheworld),
        cmocka_unit_test(pauses_concurrent),
        cmocka_unit_test(oblets),
        cmocka_unit_test(small_oblets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
