/* roots.c — root registration and scanning; see roots.h. */
#include "roots.h"
#include "check.h"

#include <pthread.h>
#include <stdlib.h>

#include "alloc.h"
#include "heap.h"
#include "mark.h"
#include "options.h"
#include "platform.h"
#include "stall.h"

typedef struct slot_range {
    void **slots;
    size_t n;
} slot_range;

static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(roots_lock, RANK_ROOTS);
/* The module's state, zeroed in one place (roots_reset).  All of it is
 * roots_lock's but own_frame_roots, an atomic word. */
static struct roots_state {
    /* Frame slots that threads scanned themselves this cycle (for the
     * trace: roots_scan_owed_frames). */
    tc_aword own_frame_roots;
    root_fn_entry *scanners;
    size_t nscanners, scanners_cap;
    /* Global slot ranges: a dense array (what the root scan walks) and an
     * open-addressing index from a range's address to its place in the
     * array (so add and remove are O(1), not a search: interpreters
     * register one range per global or per module, 100,000 of them in
     * one port).  range_index holds place + 1, 0 for an empty cell; its
     * size is a power of two at least twice the number of ranges; removal
     * shifts the cells after the hole back (no tombstones). */
    slot_range *ranges;
    size_t nranges, ranges_cap;
    size_t *range_index;
    size_t index_size; /* 0 or a power of two */
} roots;

/* Grow *arr (of elem-sized entries) so one more fits. */
static int reserve(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return TC_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static size_t hash_slots(void **slots)
{
    uint64_t h = (uint64_t)(uintptr_t)slots * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 17);
}

/* The index cell holding `slots`, or the empty cell where it would go. */
static size_t index_find(void **slots)
{
    size_t mask = roots.index_size - 1;
    size_t i = hash_slots(slots) & mask;
    while (roots.range_index[i] && roots.ranges[roots.range_index[i] - 1].slots != slots)
        i = (i + 1) & mask;
    return i;
}

/* Rebuild the index at twice the size needed for n ranges. */
static int index_rebuild(size_t n)
{
    size_t size = 16;
    while (size < 2 * n)
        size *= 2;
    size_t *cells = calloc(size, sizeof *cells);
    if (!cells)
        return TC_ENOMEM;
    free(roots.range_index);
    roots.range_index = cells;
    roots.index_size = size;
    for (size_t k = 0; k < roots.nranges; k++)
        roots.range_index[index_find(roots.ranges[k].slots)] = k + 1;
    return 0;
}

/* Empty cell i and shift back the cells of its probe run that would no
 * longer be found past the hole (linear probing's deletion). */
static void index_delete(size_t i)
{
    size_t mask = roots.index_size - 1;
    roots.range_index[i] = 0;
    for (size_t j = (i + 1) & mask; roots.range_index[j]; j = (j + 1) & mask) {
        size_t home = hash_slots(roots.ranges[roots.range_index[j] - 1].slots) & mask;
        /* Cell j stays if its home lies cyclically in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            roots.range_index[i] = roots.range_index[j];
            roots.range_index[j] = 0;
            i = j;
        }
    }
}

int tc_root_add(void **slots, size_t n)
{
    if (!slots || n == 0) {
        plat_diag("tc_root_add(%p, %zu): %s", (void *)slots, n,
                  slots ? "n must be > 0" : "slots is NULL");
        return TC_EINVAL;
    }
    pthread_mutex_lock(&roots_lock);
    int err = 0;
    if (2 * (roots.nranges + 1) > roots.index_size)
        err = index_rebuild(roots.nranges + 1);
    if (!err && roots.range_index[index_find(slots)])
        err = TC_EEXIST;
    if (!err)
        err = reserve((void **)&roots.ranges, &roots.ranges_cap, roots.nranges, sizeof *roots.ranges);
    if (!err) {
        roots.ranges[roots.nranges++] = (slot_range){slots, n};
        roots.range_index[index_find(slots)] = roots.nranges;
    }
    pthread_mutex_unlock(&roots_lock);
    return err;
}

int tc_root_remove(void **slots)
{
    pthread_mutex_lock(&roots_lock);
    int err = TC_ENOTFOUND;
    size_t cell = roots.index_size ? index_find(slots) : 0;
    if (roots.index_size && roots.range_index[cell]) {
        size_t k = roots.range_index[cell] - 1;
        index_delete(cell);
        /* The last range moves into the hole. */
        if (k != --roots.nranges) {
            roots.ranges[k] = roots.ranges[roots.nranges];
            roots.range_index[index_find(roots.ranges[k].slots)] = k + 1;
        }
        err = 0;
    }
    pthread_mutex_unlock(&roots_lock);
    return err;
}

/* Add or remove (fn, ctx) in a scanner table; they take roots_lock. */
static int table_add(root_fn_entry **tab, size_t *n, size_t *cap, tc_root_fn fn, void *ctx)
{
    int err = 0;
    pthread_mutex_lock(&roots_lock);
    for (size_t i = 0; i < *n && !err; i++)
        if ((*tab)[i].fn == fn && (*tab)[i].ctx == ctx)
            err = TC_EEXIST;
    if (!err && !(err = reserve((void **)tab, cap, *n, sizeof **tab)))
        (*tab)[(*n)++] = (root_fn_entry){fn, ctx};
    pthread_mutex_unlock(&roots_lock);
    return err;
}

static int table_remove(root_fn_entry *tab, size_t *n, tc_root_fn fn, void *ctx)
{
    int err = TC_ENOTFOUND;
    pthread_mutex_lock(&roots_lock);
    for (size_t i = 0; i < *n && err; i++)
        if (tab[i].fn == fn && tab[i].ctx == ctx) {
            tab[i] = tab[--*n];
            err = 0;
        }
    pthread_mutex_unlock(&roots_lock);
    return err;
}

int tc_root_scanner_add(tc_root_fn fn, void *ctx)
{
    if (!fn) {
        plat_diag("tc_root_scanner_add: fn is NULL");
        return TC_EINVAL;
    }
    return table_add(&roots.scanners, &roots.nscanners, &roots.scanners_cap, fn, ctx);
}

int tc_root_scanner_remove(tc_root_fn fn, void *ctx)
{
    return table_remove(roots.scanners, &roots.nscanners, fn, ctx);
}

int tc_thread_root_scanner_add(tc_root_fn fn, void *ctx)
{
    tc_thread *t = thread_self_or_diag("tc_thread_root_scanner_add");
    if (!t)
        return TC_ENOTATTACHED;
    if (!fn) {
        plat_diag("tc_thread_root_scanner_add: fn is NULL");
        return TC_EINVAL;
    }
    return table_add(&t->scanners, &t->nscanners, &t->scanners_cap, fn, ctx);
}

int tc_thread_root_scanner_remove(tc_root_fn fn, void *ctx)
{
    tc_thread *t = thread_self_or_diag("tc_thread_root_scanner_remove");
    if (!t)
        return TC_ENOTATTACHED;
    return table_remove(t->scanners, &t->nscanners, fn, ctx);
}

void roots_thread_gone(tc_thread *t)
{
    pthread_mutex_lock(&roots_lock);
    free(t->scanners);
    t->scanners = NULL;
    t->nscanners = t->scanners_cap = 0;
    pthread_mutex_unlock(&roots_lock);
}

void roots_fork(int stage) { plat_fork_mutex(&roots_lock, stage); }

void roots_reset(void)
{
    pthread_mutex_lock(&roots_lock);
    free(roots.ranges);
    free(roots.range_index);
    free(roots.scanners);
    roots = (struct roots_state){0};
    pthread_mutex_unlock(&roots_lock);
}

/* ---------------------------------------------------------------- frames
 *
 * A thread's frames form a list whose head is in its thread-local
 * tc__stack; TC_ROOTS pushes and pops inline (tricolor.h) while `fast` is
 * set, which threads.c keeps true exactly while the thread is attached,
 * RUNNING and verify=1 is off.  Otherwise the inline code calls the
 * functions below.
 *
 * The root scan reads a thread's list while the thread is parked or in a
 * blocking region, or the thread reads its own on its way out of pause 1
 * (roots.h).  A RUNNING thread changes its list freely: the state change
 * that lets a scan in (park, enter_blocking) orders its stores before the
 * scan, and it runs on only once its frames are no longer owed.  Inside a blocking region the scan may run at any
 * moment, so a push or pop there holds frames_lock, as the scan does:
 * TC_ROOTS is safe in blocking regions (design.md §7).
 *
 * Each frame records its depth (1 = outermost).  That is what lets a pop
 * or tc_roots_restore drop frames whose scope a longjmp left without ever
 * reading them: the top becomes a frame known to be alive (the one being
 * popped, below which every frame is alive, or the saved mark), and the
 * depth comes from it. */

TC_TLS_API tc__shadow_stack tc__stack;

/* Call fn(t, arg) on t's frame list, under frames_lock if t is in a
 * blocking region (only t changes its own state, so the test is stable).
 * Waiting for that lock, held by a root scan, is the one way a TC_ROOTS
 * slow path can stall: a traced call. */
static void change_frames(tc_thread *t, void (*fn)(tc__shadow_stack *, const tc_frame *),
                          const tc_frame *arg)
{
    int blocking = at_load(&t->state) == TS_BLOCKING;
    if (blocking) {
        stall_enter();
        stall_lock(&t->frames_lock, STALL_LOCK_FRAMES);
    }
    fn(t->stack, arg);
    if (blocking) {
        pthread_mutex_unlock(&t->frames_lock);
        stall_leave("TC_ROOTS");
    }
}

static void link_frame(tc__shadow_stack *s, const tc_frame *f)
{
    tc_frame *fw = (tc_frame *)f;
    fw->prev = s->top;
    fw->depth = ++s->depth;
    s->top = fw;
}

/* Make `top` (alive, or NULL) the innermost frame. */
static void set_top(tc__shadow_stack *s, const tc_frame *top)
{
    s->top = (tc_frame *)top;
    s->depth = top ? top->depth : 0;
}

/* f's scope ends.  If frames pushed after it are still linked, a longjmp
 * left their scopes: drop them with it.  A frame no longer in the list
 * (dropped by tc_roots_restore) changes nothing. */
static void unlink_frame(tc__shadow_stack *s, const tc_frame *f)
{
    if (s->top != f) {
        if (f->depth > s->depth)
            return;
        plat_diag("TC_ROOTS: a frame popped while frames pushed after it were still linked "
                  "(a longjmp over TC_ROOTS scopes?): they are dropped; save and restore "
                  "the shadow stack around setjmp (tc_roots_save)");
    }
    set_top(s, f->prev);
}

static void unlink_top(tc__shadow_stack *s, const tc_frame *f)
{
    (void)f;
    s->top->popped = 1;
    set_top(s, s->top->prev);
}

/* verify=1: a rooted variable must hold a value (design.md §9). */
static void verify_frame(const tc_frame *f)
{
    for (unsigned i = 0; i < f->n; i++) {
        uintptr_t p = (uintptr_t)*f->slots[i];
        char buf[160];
        /* Words with tag bits in the low three are values whatever they are. */
        if (p && !(p & 7) && heap_span_of(p) != NULL && !heap_object_span((void *)p))
            plat_diag("verify: TC_ROOTS: variable %u of %u holds %p, %s: a variable that is "
                      "not initialised before TC_ROOTS?", i + 1, f->n, (void *)p,
                      heap_describe_address(p, buf, sizeof buf));
    }
}

void tc__frame_push(tc_frame *f)
{
    tc_thread *t = thread_self_or_diag("TC_ROOTS");
    if (!t) {
        f->popped = 1;
        return;
    }
    if (opt.verify)
        verify_frame(f);
    change_frames(t, link_frame, f);
}

void tc__frame_pop(tc_frame *f)
{
    tc_thread *t = thread_self();
    if (f->popped || !t)
        return;
    f->popped = 1;
    change_frames(t, unlink_frame, f);
}

void tc__frame_pop_top(void)
{
    tc_thread *t = thread_self_or_diag("TC_ROOTS_POP");
    if (!t)
        return;
    if (!t->stack->top) {
        plat_diag("TC_ROOTS_POP: no frame to pop");
        return;
    }
    change_frames(t, unlink_top, NULL);
}

tc_roots_mark tc_roots_save(void)
{
    tc_thread *t = thread_self_or_diag("tc_roots_save");
    return t ? t->stack->top : NULL;
}

void tc_roots_restore(tc_roots_mark mark)
{
    tc_thread *t = thread_self_or_diag("tc_roots_restore");
    if (!t)
        return;
    if (mark && mark->depth > t->stack->depth) {
        plat_diag("tc_roots_restore: the mark is deeper than the shadow stack (restored twice, "
                  "or saved in a scope that has ended?)");
        return;
    }
    change_frames(t, set_top, mark);
}

/* --------------------------------------------------------------- scanning */

/* t's frames_lock held. */
static void scan_frames(tc_thread *t, tc_visitor *v)
{
    v->root_kind = "a TC_ROOTS frame";
    for (tc_frame *f = t->stack->top; f; f = f->prev)
        for (unsigned i = 0; i < f->n; i++)
            tc_visit(v, *f->slots[i]);
}

static void scan_thread_scanners(tc_thread *t, tc_visitor *v)
{
    v->root_kind = "a thread root scanner";
    for (size_t i = 0; i < t->nscanners; i++)
        t->scanners[i].fn(v, t->scanners[i].ctx);
}

static void scan_thread(tc_thread *t, void *ctx)
{
    tc_visitor *v = ctx;
    pthread_mutex_lock(&t->frames_lock);
    scan_frames(t, v);
    pthread_mutex_unlock(&t->frames_lock);
    scan_thread_scanners(t, v);
}

/* World stopped: the frames are scanned later, the snapshot's all the
 * same (roots.h). */
static void owe_frames(tc_thread *t, void *ctx)
{
    at_store(&t->frames_owed, 1);
    scan_thread_scanners(t, ctx);
}

static void scan_globals(tc_visitor *v)
{
    v->root_kind = "a global root slot";
    for (size_t i = 0; i < roots.nranges; i++)
        tc_visit_slots(v, (void *const *)roots.ranges[i].slots, roots.ranges[i].n);
    v->root_kind = "a global root scanner";
    for (size_t i = 0; i < roots.nscanners; i++)
        roots.scanners[i].fn(v, roots.scanners[i].ctx);
}

/* World stopped: the global roots, then per_thread on each thread. */
static void scan_roots_with(tc_visitor *v, void (*per_thread)(tc_thread *t, void *ctx))
{
    pthread_mutex_lock(&roots_lock);
    scan_globals(v);
    threads_for_each(per_thread, v);
    pthread_mutex_unlock(&roots_lock);
    v->root_kind = "roots";
}

void roots_scan(tc_visitor *v) { scan_roots_with(v, scan_thread); }
void roots_scan_snapshot(tc_visitor *v) { scan_roots_with(v, owe_frames); }

/* How often the collector looks whether a running thread has scanned
 * its frames. */
#define OWED_POLL_NS 20000

/* t's frames, if still owed: by whichever of t and the collector takes
 * frames_lock first.  The release store of the cleared debt orders the
 * scan before whatever t does once its acquire load sees it cleared
 * (roots_pay_own_frames' fast path takes no lock). */
static void pay_frames(tc_thread *t, tc_visitor *v)
{
    pthread_mutex_lock(&t->frames_lock);
    if (at_load(&t->frames_owed)) {
        scan_frames(t, v);
        at_store_release(&t->frames_owed, 0);
    }
    pthread_mutex_unlock(&t->frames_lock);
}

/* A thread that is not RUNNING (blocking, or still parked: the OS has
 * not run it since the restart) cannot pay for itself now: pay for it. */
static void pay_frames_of_stopped(tc_thread *t, void *ctx)
{
    if (at_load(&t->state) != TS_RUNNING)
        pay_frames(t, ctx);
}

/* A RUNNING thread with frames owed is on its way out of park, where it
 * pays before anything else (it needs no lock this thread holds): wait.
 * Letting each thread scan its own frames spreads the work over the
 * cores instead of queueing it here. */
static void wait_for_frames_paid(tc_thread *t, void *ctx)
{
    (void)ctx;
    while (at_load_acquire(&t->frames_owed))
        plat_sleep_ns(OWED_POLL_NS);
}

#ifdef TC_TESTING
static tc_aword owed_scan_delay_ns;
void roots_test_delay_owed_scan(uint64_t ns) { at_store(&owed_scan_delay_ns, ns); }
#endif

uint64_t roots_scan_owed_frames(tc_visitor *v)
{
#ifdef TC_TESTING
    uint64_t delay = at_load(&owed_scan_delay_ns);
    if (delay) /* the threads let go by the restart get there first */
        plat_sleep_ns(delay);
#endif
    uint64_t before = v->roots;
    threads_lock_list();
    threads_for_each(pay_frames_of_stopped, v);
    threads_for_each(wait_for_frames_paid, NULL);
    threads_unlock_list();
    v->root_kind = "roots";
    uint64_t own = at_load(&roots.own_frame_roots);
    at_sub(&roots.own_frame_roots, own);
    return v->roots - before + own;
}

void roots_pay_own_frames_slow(tc_thread *t)
{
    int prev = stall_begin(TC_STALL_PAUSE);
    tc_visitor v;
    mark_visitor_init(&v, VISIT_MARK);
    v.nowait = 1; /* a program thread */
    pay_frames(t, &v);
    at_add(&roots.own_frame_roots, v.roots);
    mark_visitor_done(&v);
    stall_end(prev);
}
