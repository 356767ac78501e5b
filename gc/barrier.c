/* barrier.c — see barrier.h. */
#include "barrier.h"

#include "alloc.h"
#include "mark.h"
#include "options.h"
#include "platform.h"
#include "stall.h"

int tc__barrier_on; /* BARRIER_*: read inline by the store barrier */

/* The module's state: atomic words, no lock.  Nothing in it outlives a
 * cycle: tc_init and the two pauses set `marking`, and each cycle takes the
 * flush time as it begins (barrier_take_flush_cpu). */
static struct barrier_state {
    tc_aword marking;
    TC_OWN_LINE tc_aword flush_cpu_ns; /* mutators' own flushes, this cycle */
} bar;

void barrier_set_marking(int on)
{
    at_store_seq(&bar.marking, (uintptr_t)on);
    int mode = opt.verify ? BARRIER_SLOW_ALWAYS : on ? BARRIER_MARKING : BARRIER_OFF;
    at_int_store_seq(&tc__barrier_on, mode);
}

#ifdef TC_TESTING
static tc_aword broken_for_test;
void barrier_test_break(int broken) { at_store(&broken_for_test, (uintptr_t)broken); }
static int broken(void) { return at_load(&broken_for_test) != 0; }
#else
static int broken(void) { return 0; }
#endif

void barrier_flush(tc_thread *t)
{
    if (t->barrier_n) {
        mark_shade_batch(t->barrier_buf, t->barrier_n);
        t->barrier_n = 0;
    }
}

/* The owner flushes its own full buffer: that CPU is the barrier's cost,
 * and the one part of a store that can stall (a traced call). */
static void flush_own(tc_thread *t)
{
    stall_enter();
    uint64_t cpu0 = plat_thread_cpu_ns();
    /* A section, though of no named cause, so that the line tells time
     * off the CPU (a preemption) from marking work. */
    int section = stall_begin(TC_STALL_OTHER);
    barrier_flush(t);
    stall_end(section);
    at_add(&bar.flush_cpu_ns, plat_thread_cpu_ns() - cpu0);
    stall_leave("tc_write");
}

uint64_t barrier_take_flush_cpu(void)
{
    uintptr_t ns = at_load(&bar.flush_cpu_ns);
    at_sub(&bar.flush_cpu_ns, ns);
    return ns;
}

static void flush_one(tc_thread *t, void *ctx)
{
    (void)ctx;
    barrier_flush(t);
}

void barrier_flush_all(void) { threads_for_each(flush_one, NULL); }

static const char *type_name_at(uintptr_t payload)
{
    const tc_type *t = header_type(payload);
    return t && t->name ? t->name : "?";
}

static void verify_store(void *obj, void **slot, void *val)
{
    char buf[160];
    tc_span *s = heap_object_span(obj);
    if (!s) {
        plat_diag("verify: tc_write(%p, %p, %p): obj is %s", obj, (void *)slot, val,
                  heap_describe_address((uintptr_t)obj, buf, sizeof buf));
        return;
    }
    uintptr_t start = (uintptr_t)obj, end = start + s->slot_size - TC_HEADER_SIZE;
    if ((uintptr_t)slot < start || (uintptr_t)slot + sizeof(void *) > end ||
        ((uintptr_t)slot & (sizeof(void *) - 1)))
        plat_diag("verify: tc_write(%p, %p, %p): the slot is not an aligned word inside "
                  "the %s object", obj, (void *)slot, val, type_name_at(start));
    int layout = header_type(start)->layout;
    if (layout == TC_LAYOUT_WEAK ||
        (layout == TC_LAYOUT_EPHEMERON && (uintptr_t)slot < start + 2 * sizeof(void *)))
        plat_diag("verify: tc_write(%p, %p, %p): a weak slot of the %s object: store it with "
                  "%s", obj, (void *)slot, val, type_name_at(start),
                  layout == TC_LAYOUT_WEAK ? "tc_weak_write" : "tc_ephemeron_set");
    uintptr_t v = (uintptr_t)val;
    /* Words with any of the low three bits set are tagged values. */
    if (v && !(v & 7) && heap_contains(v) && !heap_object_span(val))
        plat_diag("verify: tc_write(%p, %p, %p) into a %s object: the value is %s", obj,
                  (void *)slot, val, type_name_at(start),
                  heap_describe_address(v, buf, sizeof buf));
}

/* Shade one overwritten value.  An unattached thread, or one in a
 * blocking region (whose buffer pause 2 may be flushing right now), marks
 * it at once instead of buffering it. */
static void shade(tc_thread *t, void *old)
{
    if (!old || broken())
        return;
    if (!t || at_load(&t->state) != TS_RUNNING) {
        mark_shade_batch(&old, 1);
        return;
    }
    t->barrier_buf[t->barrier_n++] = old;
    if (t->barrier_n == TC_BARRIER_BUF)
        flush_own(t);
}

/* Under verify: the calling thread may store into the heap. */
static tc_thread *verify_caller(const char *what)
{
    tc_thread *t = thread_self_or_diag(what);
    if (t && at_load(&t->state) != TS_RUNNING)
        plat_diag("verify: %s inside a blocking region (call tc_blocking_leave first)", what);
    return t;
}

void barrier_shade(void *v)
{
    if (at_load(&bar.marking))
        shade(thread_self(), v);
}

void barrier_rescan(void *obj)
{
    if (at_load(&bar.marking) && obj)
        shade(thread_self(), (void *)((uintptr_t)obj | MARK_RESCAN_TAG));
}

/* Invariant (snapshot at the beginning, design.md §2): while marking, a
 * reference that was in the heap at pause 1 is not overwritten before its
 * target is shaded.  The old value goes to this thread's buffer, which
 * reaches the grey set when it fills (flush_own), when the thread enters
 * a blocking region or detaches, or in pause 2 (barrier_flush_all takes
 * every attached thread's), before mark termination can finish.  The new value
 * needs no shading: it was reachable at the snapshot (and is marked
 * through the path it was read from, or shaded when that is overwritten),
 * or it was allocated black. */
void tc__write_slow(void *obj, void **slot, void *val)
{
    tc_thread *t = opt.verify ? verify_caller("tc_write") : thread_self();
    if (opt.verify)
        verify_store(obj, slot, val);
    if (at_load(&bar.marking))
        shade(t, at_load_ptr(slot));
    at_store_ptr(slot, val);
}

/* The barrier for a batch of n words at dst about to be overwritten:
 * under verify, check the range's ends (and val); while marking, shade
 * every old value. */
static void before_batch(const char *what, void *obj, void **dst, size_t n, void *val)
{
    if (!at_int_load(&tc__barrier_on))
        return;
    tc_thread *t = opt.verify ? verify_caller(what) : thread_self();
    if (opt.verify) {
        verify_store(obj, dst, val);
        verify_store(obj, dst + n - 1, val);
    }
    if (at_load(&bar.marking))
        for (size_t i = 0; i < n; i++)
            shade(t, at_load_ptr(&dst[i]));
}

void tc_write_slots(void *obj, void **dst, void *const *src, size_t n)
{
    if (n == 0 || dst == src)
        return;
    before_batch("tc_write_slots", obj, dst, n, NULL);
    tc_aword *d = (tc_aword *)dst;
    const tc_aword *s = (const tc_aword *)src;
    if (d < s || d >= s + n)
        for (size_t i = 0; i < n; i++)
            at_store(&d[i], at_load(&s[i]));
    else
        for (size_t i = n; i-- > 0;)
            at_store(&d[i], at_load(&s[i]));
}

void tc_fill_slots(void *obj, void **dst, void *val, size_t n)
{
    if (n == 0)
        return;
    before_batch("tc_fill_slots", obj, dst, n, val);
    tc_aword *d = (tc_aword *)dst;
    for (size_t i = 0; i < n; i++)
        at_store(&d[i], (uintptr_t)val);
}
