/* pacer.c — see pacer.h; the equations are in docs/design.md §10. */
#include "pacer.h"
#include "check.h"

#include <pthread.h>
#include <string.h>

#include "atomics.h"
#include "mark.h"
#include "options.h"
#include "platform.h"
#include "scavenge.h"
#include "stall.h"
#include "threads.h"
#include "tricolor.h"

/* =============================================================== the model */

static double clamp(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

void pacer_model_init(pacer_model *m, int gc_percent, int64_t memory_limit, double bg_utilization)
{
    memset(m, 0, sizeof *m);
    m->gc_percent = gc_percent < 0 ? TC_GC_OFF : gc_percent;
    m->memory_limit = memory_limit;
    m->bg_utilization = bg_utilization;
    pacer_model_update(m);
}

uint64_t pacer_model_min_goal(int pct)
{
    return TC_MIN_HEAP_GOAL * (uint64_t)(pct < 0 ? 0 : pct) / 100;
}

/* marked x (1 + pct/100) without overflow, at least the minimum goal. */
static uint64_t percent_goal(uint64_t marked, int pct)
{
    uint64_t factor = 100 + (uint64_t)pct, min = pacer_model_min_goal(pct);
    uint64_t g = marked > UINT64_MAX / factor ? UINT64_MAX : marked * factor / 100;
    return g < min ? min : g;
}

/* What the memory limit leaves for the heap: the limit less what the
 * collector holds outside the heap, less a little headroom.  Never below
 * the live heap plus a little: a limit the live heap does not fit in
 * means collecting often, not collecting forever (overshoot, not a death
 * spiral). */
static uint64_t limit_goal(uint64_t marked, int64_t limit, uint64_t overhead)
{
    uint64_t avail = (uint64_t)limit > overhead ? (uint64_t)limit - overhead : 0;
    uint64_t g = avail - avail / 100 * PACER_LIMIT_HEADROOM_PERCENT;
    uint64_t floor = marked + PACER_LIMIT_MIN_GROWTH;
    return g < floor ? floor : g;
}

uint64_t pacer_model_goal(const pacer_model *m)
{
    uint64_t g = UINT64_MAX;
    if (m->gc_percent >= 0)
        g = percent_goal(m->heap_marked, m->gc_percent);
    if (m->memory_limit != INT64_MAX) {
        uint64_t lg = limit_goal(m->heap_marked, m->memory_limit, m->overhead);
        if (lg < g)
            g = lg;
    }
    return g;
}

static double max_consmark(const pacer_model *m)
{
    double cm = 0;
    for (int i = 0; i < m->nconsmark; i++)
        if (m->consmark[i] > cm)
            cm = m->consmark[i];
    return cm;
}

/* trigger = goal - runway, the runway being what the mutators allocate
 * while the background workers, at their planned share of the CPU, scan
 * what the last cycle found live.  Without history: the earliest trigger. */
void pacer_model_update(pacer_model *m)
{
    uint64_t goal = pacer_model_goal(m);
    m->goal = goal;
    if (goal == UINT64_MAX) {
        m->trigger = UINT64_MAX;
        return;
    }
    uint64_t marked = m->heap_marked;
    if (goal <= marked) {
        m->trigger = goal;
        return;
    }
    double span = (double)(goal - marked);
    double lo = (double)marked + span * PACER_TRIGGER_MIN;
    double hi = (double)marked + span * PACER_TRIGGER_MAX;
    double trigger = lo;
    if (m->nconsmark > 0) {
        double u = clamp(m->bg_utilization, 0.01, 0.99);
        double runway = max_consmark(m) * (1 - u) / u * (double)marked;
        trigger = clamp((double)goal - runway, lo, hi);
    }
    m->trigger = (uint64_t)trigger;
}

double pacer_model_consmark(const pacer_cycle *c)
{
    if (c->scan_work < (64u << 10) || c->mark_wall_ns == 0 || c->ncpu <= 0)
        return 0;
    double avail = (double)c->mark_wall_ns * c->ncpu;
    double u = clamp((double)c->mark_cpu_ns / avail, 0.01, 0.95);
    double idle = clamp((double)c->idle_cpu_ns / avail, 0, 1);
    double grown = c->heap_end > c->heap_start ? (double)(c->heap_end - c->heap_start) : 0;
    return grown * (u + idle) / ((double)c->scan_work * (1 - u));
}

void pacer_model_end_cycle(pacer_model *m, const pacer_cycle *c)
{
    double cm = pacer_model_consmark(c);
    if (cm > 0) {
        memmove(m->consmark + 1, m->consmark, (PACER_HISTORY - 1) * sizeof m->consmark[0]);
        m->consmark[0] = cm;
        if (m->nconsmark < PACER_HISTORY)
            m->nconsmark++;
    }
    m->heap_marked = c->scan_work;
    pacer_model_update(m);
}

double pacer_model_assist_ratio(uint64_t goal, uint64_t heap_live, uint64_t scan_left)
{
    if (goal == UINT64_MAX)
        return 0;
    uint64_t overrun = (uint64_t)((double)goal * PACER_OVERRUN_FACTOR);
    uint64_t runway = heap_live < goal ? goal - heap_live
                      : heap_live < overrun ? overrun - heap_live : 0;
    if (runway < PACER_ASSIST_PREPAY)
        runway = PACER_ASSIST_PREPAY;
    return (double)scan_left / (double)runway;
}

uint64_t pacer_model_assist_cap_ns(uint64_t goal, uint64_t heap_live, uint64_t bytes)
{
    if (goal == UINT64_MAX || heap_live < goal)
        return bytes < PACER_ASSIST_LARGE ? PACER_ASSIST_SLICE_NS : PACER_ASSIST_MAX_NS;
    if (heap_live / PACER_CEILING_FACTOR >= goal)
        return UINT64_MAX;
    return PACER_ASSIST_MAX_NS;
}

double pacer_model_assist(uint64_t goal, uint64_t hard_goal, uint64_t heap_live,
                          uint64_t scan_expected, uint64_t scan_max, uint64_t scan_done)
{
    if (scan_done > scan_expected) {
        /* Push the goal back in proportion to the extra work (Go's
         * extrapolated goal), but never past the hard goal. */
        double ext = (double)hard_goal;
        if (scan_expected > 0 && goal > scan_max)
            ext = (double)scan_max + (double)(goal - scan_max) * ((double)scan_max /
                                                                  (double)scan_expected);
        goal = ext < (double)hard_goal ? (uint64_t)ext : hard_goal;
        scan_expected = scan_max;
    }
    if (heap_live > goal)
        scan_expected = scan_max;
    uint64_t left = scan_expected > scan_done ? scan_expected - scan_done : 0;
    /* Past the goal, allocation pays even when little is left to scan:
     * the last grey objects are in markers' hands, and an assist that
     * waits for them to finish is what stops the heap running away. */
    if (heap_live > goal && left < (uint64_t)PACER_ASSIST_PREPAY)
        left = PACER_ASSIST_PREPAY;
    return pacer_model_assist_ratio(goal, heap_live, left);
}

/* goal x (1 + GC percent / 100), as Go's, and at least goal x 1.1. */
uint64_t pacer_model_hard_goal(const pacer_model *m)
{
    if (m->goal == UINT64_MAX)
        return UINT64_MAX;
    double f = 1 + (m->gc_percent > 0 ? m->gc_percent / 100.0 : 0);
    if (f < PACER_OVERRUN_FACTOR)
        f = PACER_OVERRUN_FACTOR;
    double h = (double)m->goal * f;
    return h >= 1.8e19 ? UINT64_MAX : (uint64_t)h;
}

void pacer_limiter_init(pacer_limiter *l, int ncpu)
{
    l->fill_ns = 0;
    l->capacity_ns = (double)PACER_LIMITER_CAPACITY_NS * (ncpu > 0 ? ncpu : 1);
    l->full = 0;
}

/* GC CPU above PACER_LIMITER_MAX_FRACTION of the total fills the bucket,
 * below it drains it.  GC CPU spent while full (the pauses, the workers,
 * the assist that was running) is kept, up to a second capacity, and must
 * drain before assists resume: forgetting it would let GC run above the
 * limit at every flip. */
void pacer_limiter_feed(pacer_limiter *l, uint64_t total_cpu_ns, uint64_t gc_cpu_ns)
{
    double f = l->fill_ns + (double)gc_cpu_ns - PACER_LIMITER_MAX_FRACTION * (double)total_cpu_ns;
    l->fill_ns = clamp(f, 0, 2 * l->capacity_ns);
    l->full = l->fill_ns >= l->capacity_ns;
}

/* ============================================================= the runtime */

static pthread_mutex_t pacer_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(pacer_lock, RANK_PACER);
static pthread_mutex_t limiter_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(limiter_lock, RANK_LIMITER);

/* The module's state, set afresh in one place (pacer_init, before the
 * collector's threads start). */
static struct pacer_state {
    pacer_model model;                 /* pacer_lock */
    TC_OWN_LINE tc_aword heap_estimate; /* written on every refill */
    /* Published copies of the model's results and settings, read
     * lock-free (on a line of their own: heap_estimate's is written on
     * every refill). */
    TC_OWN_LINE tc_aword goal;
    tc_aword trigger, gc_percent, memory_limit;
    /* The cycle under way (set in pause 1, read lock-free by assists). */
    TC_OWN_LINE tc_aword marking;
    tc_aword cycle_number, cycle_goal, cycle_hard_goal, cycle_heap_start, scan_expected;
    TC_OWN_LINE tc_aword scan_done; /* bytes marked this cycle */
    TC_OWN_LINE tc_aword bg_credit; /* background scan work not yet taken */
    TC_OWN_LINE tc_aword cycle_assist_ns;
    tc_aword cycle_limited; /* an assist was skipped: limiter full */
    /* The CPU limiter (limiter_lock, taken with trylock: whoever polls). */
    pacer_limiter limiter;
    tc_aword limiter_last_ns; /* also polled without the lock */
    uint64_t limiter_last_gc;
    TC_OWN_LINE tc_aword gc_cpu_total;
    tc_aword limiter_full_flag;
    int ncpu;
} pc;
#define LIMITER_POLL_NS 1000000
#define ASSIST_WAIT_NS 20000 /* an assist with no work to take waits this long */

static void publish_locked(void)
{
    pacer_model_update(&pc.model);
    at_store(&pc.goal, pc.model.goal);
    at_store(&pc.trigger, pc.model.trigger);
    at_store(&pc.gc_percent, (uintptr_t)(intptr_t)pc.model.gc_percent);
    at_store(&pc.memory_limit, (uintptr_t)pc.model.memory_limit);
}

/* What one cycle accumulates, zeroed when the next one starts. */
static void reset_cycle_counters(void)
{
    at_store(&pc.scan_done, 0);
    at_store(&pc.bg_credit, 0);
    at_store(&pc.cycle_assist_ns, 0);
    at_store(&pc.cycle_limited, 0);
}

/* Before the collector's threads start: nothing else reads the state. */
void pacer_init(int pct, int64_t limit, double bg_utilization)
{
    pthread_mutex_lock(&pacer_lock);
    pthread_mutex_lock(&limiter_lock);
    pc = (struct pacer_state){.ncpu = plat_ncpu()};
    pacer_model_init(&pc.model, pct, limit, bg_utilization);
    publish_locked();
    pacer_limiter_init(&pc.limiter, pc.ncpu);
    at_store(&pc.limiter_last_ns, plat_now_ns());
    pthread_mutex_unlock(&limiter_lock);
    pthread_mutex_unlock(&pacer_lock);
}

void pacer_fork(int stage)
{
    plat_fork_mutex(&pacer_lock, stage);
    plat_fork_mutex(&limiter_lock, stage);
}

void pacer_note_allocated(uint64_t bytes) { at_add(&pc.heap_estimate, bytes); }
void pacer_note_unused(uint64_t bytes) { at_sub(&pc.heap_estimate, bytes); }
int pacer_should_trigger(void) { return at_load(&pc.heap_estimate) >= at_load(&pc.trigger); }

void pacer_start_cycle(void)
{
    uint64_t live = at_load(&pc.heap_estimate);
    pthread_mutex_lock(&pacer_lock);
    at_store(&pc.cycle_goal, pc.model.goal);
    at_store(&pc.cycle_hard_goal, pacer_model_hard_goal(&pc.model));
    /* The work to expect is what the last cycle found live; before any
     * cycle has, everything in use might be. */
    at_store(&pc.scan_expected, pc.model.heap_marked ? pc.model.heap_marked : live);
    pthread_mutex_unlock(&pacer_lock);
    at_store(&pc.cycle_heap_start, live);
    reset_cycle_counters();
    at_add(&pc.cycle_number, 1);
    at_store_seq(&pc.marking, 1);
}

void pacer_end_cycle(pacer_cycle *c)
{
    at_store_seq(&pc.marking, 0);
    c->heap_start = at_load(&pc.cycle_heap_start);
    c->scan_work = at_load(&pc.scan_done);
    c->ncpu = pc.ncpu;
    pthread_mutex_lock(&pacer_lock);
    pacer_model_end_cycle(&pc.model, c);
    publish_locked();
    pthread_mutex_unlock(&pacer_lock);
    at_store(&pc.heap_estimate, c->heap_marked);
}

void pacer_set_overhead(uint64_t bytes)
{
    pthread_mutex_lock(&pacer_lock);
    pc.model.overhead = bytes;
    publish_locked();
    pthread_mutex_unlock(&pacer_lock);
}

void pacer_note_scan(uint64_t bytes, int background)
{
    at_add(&pc.scan_done, bytes);
    if (background)
        at_add(&pc.bg_credit, bytes);
}

void pacer_note_gc_cpu(uint64_t ns) { at_add(&pc.gc_cpu_total, ns); }

/* Feed the limiter what happened since the last poll, at most once per
 * LIMITER_POLL_NS, by whichever thread gets the lock; then read it. */
int pacer_limiter_full(void)
{
    uint64_t now = plat_now_ns();
    if (now - at_load(&pc.limiter_last_ns) >= LIMITER_POLL_NS &&
        pthread_mutex_trylock(&limiter_lock) == 0) {
        now = plat_now_ns();
        uint64_t gc = at_load(&pc.gc_cpu_total), last = at_load(&pc.limiter_last_ns);
        if (now > last) {
            pacer_limiter_feed(&pc.limiter, (now - last) * (uint64_t)pc.ncpu, gc - pc.limiter_last_gc);
            at_store(&pc.limiter_last_ns, now);
            pc.limiter_last_gc = gc;
            at_store(&pc.limiter_full_flag, (uintptr_t)pc.limiter.full);
        }
        pthread_mutex_unlock(&limiter_lock);
    }
    return (int)at_load(&pc.limiter_full_flag);
}

/* Take up to `want` bytes of the background workers' credit. */
static uint64_t steal_credit(uint64_t want)
{
    for (;;) {
        uint64_t have = at_load(&pc.bg_credit);
        uint64_t take = have < want ? have : want;
        if (take == 0 || at_cas(&pc.bg_credit, have, have - take))
            return take;
    }
}

static void charge(tc_thread *t, uint64_t bytes)
{
    uint64_t n = at_load(&pc.cycle_number);
    if (t->assist_cycle != n) { /* credit and debt belong to one cycle */
        t->assist_cycle = n;
        t->assist_credit = 0;
    }
    double ratio = pacer_model_assist(at_load(&pc.cycle_goal), at_load(&pc.cycle_hard_goal),
                                      at_load(&pc.heap_estimate), at_load(&pc.scan_expected),
                                      at_load(&pc.cycle_heap_start), at_load(&pc.scan_done));
    t->assist_credit -= (int64_t)((double)bytes * ratio);
}

/* Mark until the thread's debt is paid (and PACER_ASSIST_PREPAY at least)
 * or the deadline passes.  When every grey object is in some marker's
 * hands (a long list is marked one object at a time), a heap still below
 * the overrun line may grow: the assist gives up.  Past it, the assist waits
 * for a marker to share work or earn credit, as Go parks such assists:
 * the markers may be the ones that need this CPU, and this is what keeps
 * the heap from running away.  Marking's end (the gate closing) ends the
 * wait too. */
static void assist_mark(tc_thread *t, uint64_t bytes)
{
    uint64_t live = at_load(&pc.heap_estimate), g = at_load(&pc.cycle_goal);
    int may_wait = g != UINT64_MAX && (double)live >= (double)g * PACER_OVERRUN_FACTOR;
    uint64_t start = plat_now_ns(), cpu0 = plat_thread_cpu_ns();
    uint64_t cap = pacer_model_assist_cap_ns(g, live, bytes), waited = 0;
    uint64_t deadline = cap == UINT64_MAX ? UINT64_MAX : start + cap;
    int prev = stall_begin(TC_STALL_ASSIST);
    /* A requested pause ends the assist: the thread parks at its next
     * safepoint (design.md section 10: time-to-safepoint). */
    while (t->assist_credit < 0 && plat_now_ns() < deadline &&
           !at_int_load(&tc__safepoint_requested)) {
        int64_t want = -t->assist_credit;
        uint64_t got = mark_assist((uint64_t)(want > PACER_ASSIST_PREPAY ? want
                                                                         : PACER_ASSIST_PREPAY),
                                   deadline);
        t->assist_credit += (int64_t)got;
        if (got == 0) {
            t->assist_credit += (int64_t)steal_credit((uint64_t)-t->assist_credit);
            /* Below the ceiling, a thread waits one slice at most, then
             * allocates with its debt. */
            if (t->assist_credit >= 0 || !may_wait || !mark_gate_is_open() ||
                (cap != UINT64_MAX && waited >= PACER_ASSIST_SLICE_NS))
                break;
            int waiting = stall_begin(TC_STALL_ASSIST_WAIT);
            plat_sleep_ns(ASSIST_WAIT_NS);
            waited += ASSIST_WAIT_NS;
            stall_end(waiting);
        }
    }
    stall_end(prev);
    uint64_t cpu = plat_thread_cpu_ns() - cpu0;
    at_store(&t->assist_ns, at_load(&t->assist_ns) + cpu);
    at_add(&pc.cycle_assist_ns, cpu);
    pacer_note_gc_cpu(cpu);
}

void pacer_assist(tc_thread *t, uint64_t bytes)
{
    /* The stress mode wants marking slow, overlapping the program's
     * stores: allocations do not mark. */
    if (!at_load(&pc.marking) || opt.stress)
        return;
    charge(t, bytes);
    if (t->assist_credit >= 0)
        return;
    t->assist_credit += (int64_t)steal_credit((uint64_t)-t->assist_credit);
    if (t->assist_credit >= 0)
        return;
    if (pacer_limiter_full()) {
        at_store(&pc.cycle_limited, 1);
        return;
    }
    assist_mark(t, bytes);
}

uint64_t pacer_take_cycle_assist_ns(void)
{
    uint64_t ns = at_load(&pc.cycle_assist_ns);
    at_sub(&pc.cycle_assist_ns, ns);
    return ns;
}

int pacer_take_cycle_limited(void) { return (int)at_load(&pc.cycle_limited); }

uint64_t tc_thread_assist_ns(void)
{
    tc_thread *t = thread_self_or_diag("tc_thread_assist_ns");
    return t ? at_load(&t->assist_ns) : 0;
}

uint64_t pacer_heap_estimate(void) { return at_load(&pc.heap_estimate); }
uint64_t pacer_goal(void) { return at_load(&pc.goal); }
uint64_t pacer_trigger(void) { return at_load(&pc.trigger); }
int pacer_gc_percent(void) { return (int)(intptr_t)at_load(&pc.gc_percent); }
int64_t pacer_memory_limit(void) { return (int64_t)at_load(&pc.memory_limit); }

int tc_set_gc_percent(int percent)
{
    pthread_mutex_lock(&pacer_lock);
    int prev = pc.model.gc_percent;
    pc.model.gc_percent = percent < 0 ? TC_GC_OFF : percent;
    publish_locked();
    pthread_mutex_unlock(&pacer_lock);
    scavenge_wake();
    return prev;
}

int64_t tc_set_memory_limit(int64_t bytes)
{
    pthread_mutex_lock(&pacer_lock);
    int64_t prev = pc.model.memory_limit;
    if (bytes > 0) {
        pc.model.memory_limit = bytes;
        publish_locked();
    }
    pthread_mutex_unlock(&pacer_lock);
    if (bytes > 0 && bytes < prev)
        scavenge_for_limit(0); /* over the new limit: free pages go back now */
    scavenge_wake();
    return prev;
}
