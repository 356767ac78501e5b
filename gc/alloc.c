/* alloc.c — allocation; see alloc.h. */
#include "alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central.h"
#include "check.h"
#include "collector.h"
#include "mark.h"
#include "options.h"
#include "pacer.h"
#include "platform.h"
#include "stall.h"
#include "weak.h"

/* The OOM handler's calls under way (oom_lock).  A handler may run on
 * several threads at once; oom_running counts the calls under way so that
 * replacing the handler can wait for them (a caller may free the old
 * handler's ctx right after), except for calls made by the replacing
 * thread itself, from inside its own handler (in_oom_handler).  The count
 * is not reset: a call under way at tc_shutdown still ends. */
static pthread_mutex_t oom_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(oom_lock, RANK_OOM);
static pthread_cond_t oom_done = PTHREAD_COND_INITIALIZER;
static int oom_running;
static TC_TLS int in_oom_handler;

/* The module's state, set in alloc_init and zeroed in alloc_reset. */
static struct alloc_state {
    tc_oom_fn oom_fn; /* the handler and its ctx (oom_lock) */
    void *oom_ctx;
    /* The largest request that could ever be met (plat_memory_bound),
     * read at tc_init. */
    uint64_t max_request;
} al;

void tc_set_oom_handler(tc_oom_fn fn, void *ctx)
{
    /* A handler may call tc_collect, which stops the world: wait for it
     * in a blocking region. */
    int blocked = threads_block_if_running();
    pthread_mutex_lock(&oom_lock);
    al.oom_fn = fn;
    al.oom_ctx = ctx;
    while (oom_running > in_oom_handler)
        pthread_cond_wait(&oom_done, &oom_lock);
    pthread_mutex_unlock(&oom_lock);
    threads_unblock(blocked);
}

void alloc_init(void)
{
    uint64_t bound = plat_memory_bound();
    al.max_request = bound < TC_MAX_ALLOC ? bound : TC_MAX_ALLOC;
}

void alloc_reset(void)
{
    tc_set_oom_handler(NULL, NULL); /* waits for the handlers under way */
    pthread_mutex_lock(&oom_lock);
    al = (struct alloc_state){0};
    pthread_mutex_unlock(&oom_lock);
}

void alloc_fork(int stage) { plat_fork_mutex(&oom_lock, stage); }

int tc_last_error(void)
{
    tc_thread *t = thread_self();
    return t ? t->last_error : TC_ENOTATTACHED;
}

static void *fail(tc_thread *t, int err)
{
    if (t)
        t->last_error = err;
    return NULL;
}

static void call_oom_handler(tc_oom_fn fn, void *ctx, size_t requested)
{
    in_oom_handler++;
    fn(ctx, requested);
    in_oom_handler--;
    pthread_mutex_lock(&oom_lock);
    oom_running--;
    pthread_cond_broadcast(&oom_done);
    pthread_mutex_unlock(&oom_lock);
}

static void *out_of_memory(tc_thread *t, size_t requested)
{
    pthread_mutex_lock(&oom_lock);
    tc_oom_fn fn = al.oom_fn;
    void *ctx = al.oom_ctx;
    oom_running += fn != NULL;
    pthread_mutex_unlock(&oom_lock);
    if (!fn) {
        int64_t limit = pacer_memory_limit();
        char lim[32] = "none";
        if (limit != INT64_MAX)
            snprintf(lim, sizeof lim, "%" PRId64 " bytes", limit);
        plat_fatal("out of memory: tc_alloc(%zu bytes) failed; heap %" PRIu64
                   " bytes mapped, %" PRIu64 " in use; memory limit %s",
                   requested, heap_mapped_bytes(), heap_inuse_bytes(), lim);
    }
    call_oom_handler(fn, ctx, requested);
    return fail(t, TC_ENOMEM);
}

/* Fresh span state: nothing allocated, bits past nelems "in use". */
static void span_init_alloc(tc_span *s)
{
    for (unsigned w = 0; w < TC_BITWORDS; w++) {
        unsigned first = w * 64;
        s->allocbits[w] = first >= s->nelems ? ~(uint64_t)0
                          : first + 64 <= s->nelems ? 0
                          : ~(((uint64_t)1 << (s->nelems - first)) - 1);
        at_store(&s->markbits[w], 0);
        at_store(&s->checkbits[w], 0);
    }
    s->cache_word = 0;
    s->alloc_cache = ~s->allocbits[0];
    s->alloc_count = 0;
    s->has_weak = 0;
    /* Born swept: for central.c's checks, and for weak references'
     * liveness test (weak.h). */
    s->on_list = NULL;
    s->sweep_gen = central_sweep_gen();
    at_store(&s->sweep_epoch, weak_epoch());
}

static int is_weak_layout(int layout)
{
    return layout == TC_LAYOUT_WEAK || layout == TC_LAYOUT_EPHEMERON;
}

/* A span from the page heap (stalls: refill). */
static tc_span *reserve_span(size_t npages)
{
    int prev = stall_begin(TC_STALL_REFILL);
    tc_span *s = heap_reserve_span(npages);
    stall_end(prev);
    return s;
}

static tc_span *new_small_span(unsigned c)
{
    const sc_info *ci = &sc_table[c];
    tc_span *s = reserve_span(ci->npages);
    if (!s)
        return NULL;
    /* Old bytes could sit where this class puts slot headers, and a free
     * slot must read as header 0: clear the whole span once, up front. */
    int prev = stall_begin(TC_STALL_FRESH);
    if (s->needzero) {
        memset((void *)s->base, 0, s->npages * TC_PAGE_SIZE);
        s->needzero = 0;
    }
    stall_end(prev);
    s->sizeclass = (uint8_t)c;
    s->slot_size = ci->slot_size;
    s->nelems = ci->nelems;
    s->divmul = ci->divmul;
    span_init_alloc(s);
    heap_publish_span(s, SPAN_SMALL);
    return s;
}

/* Index of the next free slot of s, or -1 if it has none. */
static inline long span_take_slot(tc_span *s)
{
    uint64_t bits = s->alloc_cache;
    while (!bits) {
        if ((size_t)(s->cache_word + 1) * 64 >= s->nelems)
            return -1;
        s->cache_word++;
        bits = ~s->allocbits[s->cache_word];
    }
    s->alloc_cache = bits & (bits - 1);
    s->alloc_count++;
    return (long)s->cache_word * 64 + __builtin_ctzll(bits);
}

static void uncache(tc_thread *t, unsigned c)
{
    tc_span *s = t->cache[c];
    if (!s)
        return;
    t->cache[c] = NULL;
    pacer_note_unused((uint64_t)(s->nelems - s->alloc_count) * s->slot_size);
    central_put(s);
}

void alloc_flush_cache(tc_thread *t)
{
    for (unsigned c = 1; c < TC_NUM_CLASSES; c++)
        uncache(t, c);
}

static void collect_before_giving_up(void)
{
    int prev = stall_begin(TC_STALL_COLLECT);
    collector_collect(1);
    stall_end(prev);
}

/* A span of class c with a free slot for t's cache, or NULL if the OS
 * refused memory even after a collection. */
static tc_span *refill(tc_thread *t, unsigned c)
{
    uncache(t, c);
    /* Help the background sweeper: the next cycle cannot start before
     * every span is swept, and the heap grows while it waits. */
    if (collector_phase() == PHASE_SWEEP)
        central_sweep_one();
    collector_maybe_trigger();
    tc_span *s = central_take(c);
    if (!s)
        s = new_small_span(c);
    if (!s) {
        collect_before_giving_up();
        s = central_take(c);
        if (!s)
            s = new_small_span(c);
    }
    if (s) {
        TC_ASSERT(s->on_list == NULL && s->sweep_gen == central_sweep_gen());
        t->cache[c] = s;
        uint64_t bytes = (uint64_t)(s->nelems - s->alloc_count) * s->slot_size;
        pacer_note_allocated(bytes);
        pacer_assist(t, bytes);
    }
    return s;
}

static inline void count_alloc(tc_thread *t, size_t bytes)
{
    /* Only t writes these; others read them for tc_read_stats. */
    at_store(&t->bytes_allocated, at_load(&t->bytes_allocated) + bytes);
    at_store(&t->objects_allocated, at_load(&t->objects_allocated) + 1);
}

static inline void *init_object(tc_thread *t, tc_span *s, size_t idx, const tc_type *type)
{
    uintptr_t slot = span_slot_addr(s, idx);
    void *payload = (void *)(slot + TC_HEADER_SIZE);
    if (__builtin_expect(s->needzero, 0))
        memset(payload, 0, s->slot_size - TC_HEADER_SIZE);
    at_store_ptr((tc_aword *)slot, type);
    /* Invariant: an object allocated between pause 1 and pause 2 is born
     * black.  It is in no root snapshot, so no marker need ever reach it,
     * and the sweep that follows that marking must still find its mark
     * bit set (design.md §2).  The flag is turned on in pause 1 and off in
     * pause 2, with the world stopped, so no allocation straddles it. */
    if (__builtin_expect(mark_allocating_black(), 0))
        mark_set_allocated(s, idx);
    count_alloc(t, s->slot_size);
    return payload;
}

/* A large object: reserve its span, shape it, write the object (zeroed
 * payload, header, black mark bit), and only then publish the span.  A
 * marker or tc_is_heap_object that finds the span through the page map
 * (acquire load of its state) then sees all of that too: the same order
 * as new_small_span's (design.md §8). */
static void *alloc_large(tc_thread *t, const tc_type *type, size_t size)
{
    /* Bigger than the machine could ever back: fail before committing
     * anything (the page table alone would take size/1024 bytes). */
    if (size > al.max_request || al.max_request - size < TC_SPAN_SLOT0 + TC_HEADER_SIZE + TC_PAGE_SIZE)
        return out_of_memory(t, size);
    size_t npages = (size + TC_SPAN_SLOT0 + TC_HEADER_SIZE + TC_PAGE_SIZE - 1) >> TC_PAGE_SHIFT;
    collector_maybe_trigger();
    tc_span *s = reserve_span(npages);
    if (!s) {
        collect_before_giving_up();
        s = reserve_span(npages);
        if (!s)
            return out_of_memory(t, size);
    }
    s->sizeclass = 0;
    s->nelems = 1;
    s->slot_size = npages * TC_PAGE_SIZE - TC_SPAN_SLOT0;
    span_init_alloc(s);
    s->alloc_count = 1;
    s->has_weak = (uint8_t)is_weak_layout(type->layout);
    /* Reused pages are zeroed here; fresh ones are left untouched (the
     * program may never touch them all). */
    int prev = stall_begin(TC_STALL_FRESH);
    void *payload = init_object(t, s, 0, type);
    stall_end(prev);
    heap_publish_span(s, SPAN_LARGE);
    pacer_note_allocated(npages * TC_PAGE_SIZE);
    pacer_assist(t, npages * TC_PAGE_SIZE);
    central_put(s);
    return payload;
}

static int bad_request(const tc_type *type, size_t size)
{
    if (!type) {
        plat_diag("tc_alloc: type is NULL (size %zu)", size);
        return 1;
    }
    if (type->layout < TC_LAYOUT_LEAF || type->layout > TC_LAYOUT_EPHEMERON ||
        (type->layout == TC_LAYOUT_TRACE && !type->trace)) {
        plat_diag("tc_alloc: type \"%s\" has layout %d%s", type->name ? type->name : "?",
                  type->layout,
                  type->layout == TC_LAYOUT_TRACE
                      ? " without a trace function"
                      : ", not LEAF, SLOTS, TRACE, WEAK or EPHEMERON");
        return 1;
    }
    if ((uintptr_t)type & HEADER_FLAGS) {
        /* The header keeps flags in the low bits of the type's address. */
        plat_diag("tc_alloc: type \"%s\" at %p is not 8-byte aligned",
                  type->name ? type->name : "?", (const void *)type);
        return 1;
    }
    if (type->layout == TC_LAYOUT_EPHEMERON && size < 2 * sizeof(void *)) {
        plat_diag("tc_alloc: size %zu for ephemeron type \"%s\" (at least a key and a value: "
                  "%zu bytes)", size, type->name ? type->name : "?", 2 * sizeof(void *));
        return 1;
    }
    if (size == 0) {
        plat_diag("tc_alloc: size 0 for type \"%s\" (allocate at least 1 byte)",
                  type->name ? type->name : "?");
        return 1;
    }
    return 0;
}

/* Everything but the fast path: errors, refills, large objects. */
static void *alloc_slow_untraced(tc_thread *t, const tc_type *type, size_t size)
{
    if (!t)
        return thread_self_or_diag("tc_alloc");
    if (at_load(&t->state) != TS_RUNNING) {
        plat_diag("tc_alloc: called inside a blocking region (call tc_blocking_leave first)");
        return fail(t, TC_ESTATE);
    }
    if (bad_request(type, size))
        return fail(t, TC_EINVAL);
    if (opt.stress && ++t->stress_count >= (unsigned)opt.stress) {
        t->stress_count = 0;
        collector_request_if_idle(); /* TRICOLOR_DEBUG=stress=N */
    }
    tc_safepoint();
    if (size > TC_MAX_SMALL_SLOT - TC_HEADER_SIZE)
        return alloc_large(t, type, size);
    unsigned c = sc_class_of(size + TC_HEADER_SIZE);
    tc_span *s = t->cache[c];
    long idx = s ? span_take_slot(s) : -1;
    if (idx < 0) {
        s = refill(t, c);
        if (!s)
            return out_of_memory(t, size);
        idx = span_take_slot(s);
    }
    if (is_weak_layout(type->layout))
        s->has_weak = 1; /* its sweep clears dead weak slots (weak.h) */
    return init_object(t, s, (size_t)idx, type);
}

static void *alloc_slow(tc_thread *t, const tc_type *type, size_t size)
{
    if (!stall_on())
        return alloc_slow_untraced(t, type, size);
    stall_enter_slow();
    void *p = alloc_slow_untraced(t, type, size);
    stall_leave_slow("tc_alloc");
    return p;
}

/* The fast path applies: attached, not in a blocking region and not in the
 * stress mode (t->alloc_fast), a valid, aligned type of a layout without
 * weak slots, a small nonzero size, and no stop of the world pending. */
static inline int fast_path_ok(const tc_thread *t, const tc_type *type, size_t size)
{
    return t && t->alloc_fast && type && !((uintptr_t)type & HEADER_FLAGS) &&
           size - 1 < TC_MAX_SMALL_SLOT - TC_HEADER_SIZE &&
           ((unsigned)type->layout <= TC_LAYOUT_SLOTS ||
            (type->layout == TC_LAYOUT_TRACE && type->trace)) &&
           !at_int_load(&tc__safepoint_requested);
}

void *tc_alloc(const tc_type *type, size_t size)
{
    tc_thread *t = thread_self();
    if (__builtin_expect(!fast_path_ok(t, type, size), 0))
        return alloc_slow(t, type, size);
    unsigned c = sc_class_of(size + TC_HEADER_SIZE);
    tc_span *s = t->cache[c];
    long idx = s ? span_take_slot(s) : -1;
    if (__builtin_expect(idx < 0, 0))
        return alloc_slow(t, type, size);
    return init_object(t, s, (size_t)idx, type);
}

/* "<what>(p): <what p is>" for a p that is not a live object's start. */
static void diag_not_object(const char *what, const void *p)
{
    char buf[160];
    plat_diag("%s(%p): %s", what, p, heap_describe_address((uintptr_t)p, buf, sizeof buf));
}

size_t tc_size(const void *obj)
{
    tc_span *s = heap_object_span(obj);
    if (!s) {
        diag_not_object("tc_size", obj);
        return 0;
    }
    return s->slot_size - TC_HEADER_SIZE;
}

const tc_type *tc_type_of(const void *obj)
{
    if (!heap_object_span(obj)) {
        diag_not_object("tc_type_of", obj);
        return NULL;
    }
    return header_type((uintptr_t)obj);
}

int tc_is_heap_object(const void *p) { return heap_object_span(p) != NULL; }
