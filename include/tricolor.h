/*
 * tricolor.h — the whole public API of tricolor, a precise tri-color
 * mark-sweep garbage collector for language runtimes.
 *
 * Model in one paragraph: every heap object has a type (tc_type) whose
 * layout or trace function names its references.  The collector finds live
 * objects from registered roots only (global slots, global and per-thread
 * root scanners, TC_ROOTS frames on each thread's shadow stack).  Every
 * thread that touches the heap is attached (tc_init attaches the first one,
 * tc_thread_attach the others).  Every store of a reference into a heap
 * object goes through tc_write / TC_WRITE / tc_write_slots; stores into
 * roots do not.  Threads poll tc_safepoint() on loops and calls; code that
 * may block is wrapped in tc_blocking_enter/leave.
 *
 * Thread rules, used in every comment below:
 *   "any attached thread"  the calling thread must be attached.
 *   "any thread"           attached or not.
 * A call that needs an attached thread, made from one that is not, prints
 * one diagnostic line on stderr and fails (returns TC_ENOTATTACHED or NULL);
 * it never crashes.
 *
 * Errors are negative TC_E... codes; tc_strerror() names them.
 */
#ifndef TRICOLOR_H
#define TRICOLOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported names: the shared library exports these
 * and nothing else (it is built with -fvisibility=hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define TC_API __attribute__((visibility("default")))
#else
#define TC_API
#endif

#define TRICOLOR_VERSION_MAJOR 0
#define TRICOLOR_VERSION_MINOR 2
#define TRICOLOR_VERSION_PATCH 0

/* ------------------------------------------------------------------ errors */

enum {
    TC_OK = 0,
    TC_EINVAL = -1,       /* a bad argument or configuration value */
    TC_ENOMEM = -2,       /* the operating system refused memory */
    TC_ESTATE = -3,       /* wrong lifecycle state (not initialised, twice) */
    TC_ENOTATTACHED = -4, /* the calling thread is not attached */
    TC_ENOTFOUND = -5,    /* removing something that was never added */
    TC_EEXIST = -6        /* adding something already there */
};

/* A static English description of an error code ("unknown error" if none). */
TC_API const char *tc_strerror(int err);

/* ----------------------------------------------------------- configuration */

/* A field holding TC_UNSET is left to the environment (TRICOLOR_*), then to
 * the default.  A field set to anything else wins over the environment. */
#define TC_UNSET (-0x7fffffff - 1)

/* tc_config.gc_percent value meaning "no proportional trigger" (GOGC=off). */
#define TC_GC_OFF (-1)

/* tc_config.trace values. */
enum { TC_TRACE_OFF = 0, TC_TRACE_TEXT = 1, TC_TRACE_JSON = 2 };

/* tc_config.scavenge values: how free heap pages go back to the OS. */
enum {
    TC_SCAVENGE_OFF = 0,      /* never (until tc_shutdown) */
    TC_SCAVENGE_DONTNEED = 1, /* madvise(MADV_DONTNEED): RSS falls at once */
    TC_SCAVENGE_FREE = 2      /* madvise(MADV_FREE): the kernel takes the
                                 pages when it needs memory; cheaper, but
                                 RSS falls only then */
};

/* tc_config.finalizers values: where finalizers and cleanups run. */
enum {
    TC_FINALIZE_THREAD = 0, /* on a thread of the library's (attached) */
    TC_FINALIZE_QUEUE = 1   /* when the program calls tc_run_finalizers */
};

/* Identifies the layout of tc_config a program was compiled with.  The
 * library also accepts the earlier layouts: 0x74726963 ("tric"), which
 * ends before `scavenge` (tricolor 0.1), 0x74726332 ("trc2"), which ends
 * before `idle_workers`, 0x74726333 ("trc3"), which ends before
 * `debug_stress`, 0x74726334 ("trc4"), which ends before `finalizers`,
 * and 0x74726335 ("trc5"), which ends before `debug_stalls_us`; fields a
 * layout lacks are never read. */
#define TC_CONFIG_MAGIC 0x74726336u /* "trc6" */

typedef struct tc_config {
    unsigned magic;       /* must be TC_CONFIG_MAGIC: use TC_CONFIG_INIT */
    int gc_percent;       /* >= 0, or TC_GC_OFF; default 100 */
    int64_t memory_limit; /* bytes, > 0; INT64_MAX = no limit (default) */
    int trace;            /* TC_TRACE_OFF / _TEXT / _JSON; default off */
    int mark_workers;     /* >= 0 dedicated mark threads (together they
                             mark 25% of the cores); default by cores */
    int debug_verify;     /* 0 or 1: check arguments and references */
    int debug_checkmark;  /* 0 or 1: re-mark and compare at mark termination */
    int debug_poison;     /* 0 or 1: fill freed objects with 0xdb bytes */
    int debug_stoptheworld; /* 0 or 1: mark entirely inside the pause */
    int scavenge;         /* TC_SCAVENGE_*; default TC_SCAVENGE_DONTNEED */
    int idle_workers;     /* >= 0 idle-priority mark threads, which mark only
                             on cores nothing else wants; default 0; none
                             when mark_workers is 0.  The process needs
                             CAP_SYS_NICE or RLIMIT_NICE >= 20 (`ulimit
                             -e 20`) to lift them back to normal priority
                             when they hold up a cycle; without it none
                             starts (said once on stderr; docs/tuning.md) */
    int debug_stress;     /* 0 or N: the stress mode that finds missing write
                             barriers (TRICOLOR_DEBUG=stress=N): a cycle
                             starts every N allocations of each thread,
                             without waiting; marking crawls in tiny slices
                             so the program's stores overlap it; checkmark
                             runs at every mark termination.  Slow. */
    int finalizers;       /* TC_FINALIZE_THREAD (default) or _QUEUE */
    int debug_stalls_us;  /* 0 (default) or N: the stall tracer
                             (TRICOLOR_DEBUG=stalls=N): every library call
                             that keeps its thread N microseconds or more
                             prints one line saying where the time went
                             (see "Stalls" below) */
} tc_config;

/* Every field unset.  Write:  tc_config c = TC_CONFIG_INIT; c.gc_percent = 50; */
#define TC_CONFIG_INIT                                                        \
    { TC_CONFIG_MAGIC, TC_UNSET, TC_UNSET, TC_UNSET, TC_UNSET, TC_UNSET,      \
      TC_UNSET, TC_UNSET, TC_UNSET, TC_UNSET, TC_UNSET, TC_UNSET, TC_UNSET,   \
      TC_UNSET }

/* ---------------------------------------------------------------- lifecycle */

/* Start the collector.  cfg may be NULL (defaults and environment).
 * The calling thread becomes an attached mutator.
 * Returns TC_OK, TC_EINVAL (a bad cfg field, or cfg not made with
 * TC_CONFIG_INIT; a diagnostic names it), TC_ESTATE (already running),
 * TC_ENOMEM (memory, or a thread the OS would not start).  A tc_init that
 * fails leaves the library as it was before the call: no thread running,
 * nothing mapped, and the next tc_init starts afresh.  Bad environment
 * values only warn (one line each) and fall back to the default.  Any
 * thread; one at a time.
 *
 * fork(): the library installs pthread_atfork handlers (at the first
 * tc_init).  Before the fork they let the cycle under way finish and bring
 * every thread to a safepoint, so the heap is consistent; the parent then
 * carries on.  In the child only the forking thread exists: it stays
 * attached if it was, the other threads' roots are dropped (their objects
 * are freed unless reachable otherwise), and the child gets collector
 * threads of its own, so it may allocate, collect, attach new threads and
 * call tc_shutdown.  A fork therefore waits for the cycle under way.  Not
 * from a cycle callback, a root scanner or a trace function (diagnosed:
 * the child must not use the collector then). */
TC_API int tc_init(const tc_config *cfg);

/* Stop the collector's threads, free every object and unmap every byte the
 * collector mapped.  Call it from the thread that called tc_init after every
 * other thread has detached (threads still attached are reported and
 * forgotten; they must not touch the heap again).  No-op if not running.
 * tc_init may be called again afterwards and starts afresh. */
TC_API void tc_shutdown(void);

/* ------------------------------------------------------- types and tracing */

typedef struct tc_visitor tc_visitor;
typedef void (*tc_trace_fn)(tc_visitor *v, void *obj);

enum {
    TC_LAYOUT_LEAF = 0,  /* no references; never scanned */
    TC_LAYOUT_SLOTS = 1, /* every pointer-sized payload word is a value;
                            once the object is reachable, store every word
                            (tagged integers too) with tc_write, since mark
                            workers read them while the mutator runs */
    TC_LAYOUT_TRACE = 2, /* trace(v, obj) visits each reference */
    TC_LAYOUT_WEAK = 3,  /* every word is a weak value: a reference here
                            does not keep its target alive, and reads NULL
                            once the target is found unreachable.  Store
                            with tc_weak_write, read with tc_weak_read.  A
                            weak reference is a one-word WEAK object; a
                            Lua weak-valued table's array is a bigger one */
    TC_LAYOUT_EPHEMERON = 4 /* word 0 a key, held weakly; word 1 a value,
                            reachable through this object only while the
                            key is reachable; words 2.. strong values, as
                            in SLOTS (a chain link, say).  Set key and
                            value with tc_ephemeron_set, read them with
                            tc_ephemeron_key / tc_ephemeron_value */
};

/* Describe each object type once, as a static constant:
 *   static const tc_type cons_type = { .name = "cons",
 *                                      .layout = TC_LAYOUT_SLOTS };
 * A type must outlive the collector (tc_shutdown). */
typedef struct tc_type {
    const char *name;  /* shown in diagnostics and heap profiles */
    int layout;        /* TC_LAYOUT_LEAF / _SLOTS / _TRACE / _WEAK / _EPHEMERON */
    tc_trace_fn trace; /* for TC_LAYOUT_TRACE only */
    void *user;        /* free for the embedder */
} tc_type;

/* Report one value held by the object being traced (or by a root).
 * ref may be a reference to a live object, NULL, or any word that is not a
 * GC heap address (a pointer elsewhere, an odd tagged integer): those are
 * ignored.  A reference into the middle of an object, or to a freed object,
 * is ignored and reported (both types' names) under TRICOLOR_DEBUG=verify=1.
 * Called only from trace functions and root scanners, with the visitor they
 * were given.  Trace functions run on collector threads too: they must only
 * read the object and call tc_visit*, never allocate or lock. */
TC_API void tc_visit(tc_visitor *v, void *ref);

/* tc_visit on each of n consecutive words. */
TC_API void tc_visit_slots(tc_visitor *v, void *const *slots, size_t n);

/* --------------------------------------------------------------- allocation */

/* Allocate an object of `type` with `size` bytes of payload, zeroed and
 * 16-byte aligned.  May poll a safepoint, assist, or run a collection.
 * Errors: type NULL, a type with a bad layout, or size 0 print a
 * diagnostic and return NULL (tc_last_error() == TC_EINVAL); from an
 * unattached thread, likewise with TC_ENOTATTACHED; inside a blocking
 * region, likewise with TC_ESTATE.  When memory runs out, the
 * out-of-memory handler runs: the default prints one line (bytes
 * requested, heap size, limit) and aborts; if a handler set with
 * tc_set_oom_handler returns, tc_alloc returns NULL (tc_last_error() ==
 * TC_ENOMEM).  A request larger than the machine could ever back (its RAM
 * plus swap, lowered to the RLIMIT_AS and RLIMIT_DATA limits if set, as
 * read at tc_init; at most 2^46 bytes) goes to the handler at once,
 * before any memory is mapped for it.  (The memory limit is soft and does
 * not bound a single request.)  Any attached thread. */
TC_API void *tc_alloc(const tc_type *type, size_t size);

/* Usable payload bytes of obj (>= the size asked for).  0 and a diagnostic
 * if obj is not the start of a live heap object.  Any thread. */
TC_API size_t tc_size(const void *obj);

/* obj's type; NULL and a diagnostic if obj is not a live heap object. */
TC_API const tc_type *tc_type_of(const void *obj);

/* Nonzero if p is the start of an object in the GC heap.  Any thread. */
TC_API int tc_is_heap_object(const void *p);

typedef void (*tc_oom_fn)(void *ctx, size_t requested);

/* Replace the out-of-memory handler (NULL restores the default, which
 * aborts).  A handler that returns makes tc_alloc return NULL.  The
 * handler runs on the allocating thread, possibly on several at once.
 * When this returns, no call of the previous handler is running any more
 * (so its ctx may be freed), except one by the calling thread itself (a
 * handler may replace itself).  Any thread. */
TC_API void tc_set_oom_handler(tc_oom_fn fn, void *ctx);

/* The error of the last failed tc_alloc on this thread (TC_OK if none). */
TC_API int tc_last_error(void);

/* ----------------------------------------------------------- write barrier */

/* Internal state the inline fast paths read; do not touch. */
TC_API extern int tc__barrier_on;
TC_API extern int tc__safepoint_requested;
TC_API void tc__write_slow(void *obj, void **slot, void *val);
TC_API void tc__safepoint_slow(void);

/* The public headers' fast paths use compiler atomics so that no user of
 * tricolor needs libatomic_ops headers; the library itself uses
 * libatomic_ops for every other cross-thread access. */
#if defined(__GNUC__) || defined(__clang__)
#define TC__LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define TC__LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define TC__STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define TC__LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define TC__LOAD_RELAXED(p) (*(volatile __typeof__(*(p)) *)(p))
#define TC__LOAD_ACQUIRE(p) (*(volatile __typeof__(*(p)) *)(p))
#define TC__STORE_RELAXED(p, v) (*(volatile __typeof__(*(p)) *)(p) = (v))
#define TC__LIKELY(x) (x)
#endif
#define TC__CAT2(a, b) a##b
#define TC__CAT(a, b) TC__CAT2(a, b)

/* Store the reference val into *slot, a field of the heap object obj.
 * The only correct way to store a reference into a GC object, initialising
 * stores into a fresh object included.  Fast path outside marking: one
 * load of the collector's phase and a branch.  While marking, a store over
 * NULL (every initialising store) also stays inline; a store over a
 * reference records the old value for the marker.  Any attached thread,
 * outside blocking regions.  (tc__barrier_on: 0 off, 1 marking, 2 every
 * store to the slow path.)
 *
 * obj: the start of the object that contains slot (what tc_alloc
 * returned), not a pointer into it.  The barrier itself needs only slot
 * and its old value; obj is what TRICOLOR_DEBUG=verify=1 checks the slot
 * against (inside obj, aligned), and what a future generational barrier
 * will record, so pass the real object even where nothing checks it.  An
 * interpreter that holds a pointer to a slot keeps its object's address
 * beside it.
 *
 * Skipping stores: a fresh object is zeroed, so storing NULL over NULL
 * changes nothing and may be left out (make-vector with a NULL fill need
 * not loop).  Any other store, into a fresh object too, goes through
 * tc_write.
 *
 * Sub-word stores: in a SLOTS object every word is read whole by markers,
 * so do not store 4 bytes into one of its words (a type tag beside a
 * length): build the whole word and store it with tc_write, cast to
 * void * (it is a value, and must not look like a reference: keep a low
 * tag bit set, see TC_LAYOUT_SLOTS).  A LEAF or TRACE object's non-reference
 * fields are yours to write as you like. */
static inline void tc_write(void *obj, void **slot, void *val)
{
    int mode = TC__LOAD_RELAXED(&tc__barrier_on);
    if (TC__LIKELY(mode == 0) ||
        (mode == 1 && TC__LOAD_RELAXED(slot) == (void *)0))
        TC__STORE_RELAXED(slot, val);
    else
        tc__write_slow(obj, slot, val);
}

/* Load the reference in *slot, a field of a heap object, with a relaxed
 * atomic load.  Trace functions run on mark workers while mutators store
 * with tc_write; reading fields through tc_read (or tc_visit_slots) makes
 * that a defined race, one ThreadSanitizer accepts.  Mutators may read
 * their objects' fields plainly. */
static inline void *tc_read(void *const *slot)
{
    return TC__LOAD_RELAXED(slot);
}

/* (obj)->field read with tc_read. */
#define TC_READ(obj, field) tc_read((void *const *)&(obj)->field)

/* (obj)->field = val through the barrier.  obj is evaluated once, then
 * val (GCC, Clang; other compilers evaluate obj twice). */
#if defined(__GNUC__) || defined(__clang__)
#define TC_WRITE(obj, field, val) TC__WRITE(TC__CAT(tc__w, __COUNTER__), obj, field, val)
#define TC__WRITE(o, obj, field, val)                                         \
    __extension__({                                                           \
        __typeof__(obj) o = (obj);                                            \
        tc_write((void *)o, (void **)&o->field, (void *)(val));               \
    })
#else
#define TC_WRITE(obj, field, val)                                             \
    tc_write((void *)(obj), (void **)&(obj)->field, (void *)(val))
#endif

/* Copy n words from src to dst (a range inside heap object obj), with
 * memmove semantics; the barrier is applied once for the batch.  src may be
 * anywhere (another object, a C array).  Any attached thread. */
TC_API void tc_write_slots(void *obj, void **dst, void *const *src, size_t n);

/* Store val into each of the n words at dst (a range inside heap object
 * obj), through the barrier once for the batch: make-vector, vector-fill!,
 * clearing a table.  Any attached thread. */
TC_API void tc_fill_slots(void *obj, void **dst, void *val, size_t n);

/* ------------------------------------- weak references and ephemerons
 *
 * A weak reference does not keep its target alive.  Once a cycle finds
 * the target unreachable, every weak read of it returns NULL, at once and
 * for good, and the slot is cleared to NULL before the cycle ends (each
 * live WEAK or EPHEMERON object's slots are cleared when its span is
 * swept).  The target's memory is never reused while a weak slot could
 * still lead to it: an unreachable object that was ever weakly referenced
 * is kept, dead, until the next cycle frees it.
 *
 * Reading a weak slot while the collector marks keeps its target alive
 * (the read barrier Go's weak handles use), so a program never revives an
 * object the collector is about to free.  Read weak slots only through
 * tc_weak_read (a plain load could return a target already found dead).
 *
 * An object kept alive for its finalizer (see below) is not unreachable
 * yet: weak references to it stay valid until it is freed, and so do the
 * entries of ephemerons keyed by it, value included (as in Lua, a
 * finalizer can still find what a weak-keyed table associates with its
 * object).  For finalization order an ephemeron's value counts as
 * referred to by its key: a value that refers back to its key makes a
 * cycle, so a key with a finalizer whose ephemeron's value reaches the
 * key is never finalized while the ephemeron lives (a cleanup has no
 * such problem).
 *
 * Ephemerons: the value of an EPHEMERON object is reachable through it
 * only if its key is reachable (from anywhere but the value itself).  A
 * key reachable only through another ephemeron's value counts once that
 * ephemeron's key is reachable, and so on down a chain; ephemerons whose
 * keys reach each other only through their own values are all
 * unreachable.  This is what Lua's weak-keyed tables and JavaScript's
 * WeakMap need.  Markers resolve ephemerons as they mark, while the
 * program runs: none is left for the pauses.  A key that is not a heap
 * object (NULL, a tagged integer) never dies: the value is then strong. */

TC_API extern int tc__weak_mode;
TC_API void *tc__weak_read_slow(void *target, int mode);

/* Load the weak slot *slot (of a WEAK object, or an ephemeron's key):
 * its target, or NULL once the target was found unreachable.  Fast path
 * (no cycle under way): two loads and a branch.  Any attached thread. */
static inline void *tc_weak_read(void *const *slot)
{
    int mode = TC__LOAD_ACQUIRE(&tc__weak_mode); /* before the slot: see weak.h */
    void *target = TC__LOAD_RELAXED(slot);
    if (TC__LIKELY(mode == 0) || target == (void *)0)
        return target;
    return tc__weak_read_slow(target, mode);
}

/* Store val into the weak slot *slot of WEAK object obj (any value: a
 * reference, NULL, a tagged word).  Any attached thread. */
TC_API void tc_weak_write(void *obj, void **slot, void *val);

/* Set an EPHEMERON object's key and value (word 0 and 1).  Any attached
 * thread. */
TC_API void tc_ephemeron_set(void *eph, void *key, void *value);
/* Its key, or NULL once the key was found unreachable. */
TC_API void *tc_ephemeron_key(const void *eph);
/* Its value, or NULL once the key was found unreachable (the value may be
 * gone by then). */
TC_API void *tc_ephemeron_value(const void *eph);

/* ------------------------------------------------- finalizers, cleanups
 *
 * A finalizer runs once, after its object is found unreachable, with the
 * object itself: while it runs, the object and everything it reaches are
 * valid, and if it stores the object somewhere reachable, the object lives
 * on (it is not finalized again unless registered again).  Order: if A
 * refers to B (directly or not) and both have finalizers, A's runs first
 * and B's only in a later cycle, once A is gone (Boehm GC's topological
 * order).  An object with a finalizer that reaches itself again (a cycle
 * through other objects, with finalizers or without, or through an
 * ephemeron's value) is never finalized, nor freed: break such cycles
 * before dropping the object, or use cleanups.  An object's direct
 * reference to itself does not count.
 *
 * A cleanup (Go's runtime.AddCleanup) is cheaper: it receives only its
 * ctx, never the object, which is freed as usual; there is no order
 * among cleanups and no cycle problem.  ctx must not be the object or
 * keep it reachable.
 *
 * Finalizers and cleanups never run on the collector's threads.  With
 * TC_FINALIZE_THREAD (the default), a thread of the library's, attached,
 * runs them (they may allocate, lock, block); with TC_FINALIZE_QUEUE they
 * wait until the program calls tc_run_finalizers, at a safe point of its
 * choosing.  tc_shutdown runs those already queued before the heap goes
 * away; objects not yet found unreachable are not finalized. */

typedef void (*tc_finalizer_fn)(void *obj, void *ctx);
typedef void (*tc_cleanup_fn)(void *ctx);

/* Give obj a finalizer (replacing any it had); fn NULL removes it.
 * TC_EINVAL if obj is not a live heap object, TC_ENOTFOUND when removing
 * none, TC_ENOMEM.  Any attached thread. */
TC_API int tc_finalizer_set(void *obj, tc_finalizer_fn fn, void *ctx);
/* Add a cleanup to obj (several may be added); remove the one added with
 * the same fn and ctx.  TC_EINVAL, TC_ENOTFOUND, TC_ENOMEM.  Any attached
 * thread. */
TC_API int tc_cleanup_add(void *obj, tc_cleanup_fn fn, void *ctx);
TC_API int tc_cleanup_remove(void *obj, tc_cleanup_fn fn, void *ctx);
/* Run up to max queued finalizers and cleanups on the calling thread;
 * returns how many ran.  Any attached thread, either mode. */
TC_API size_t tc_run_finalizers(size_t max);
/* Finalizers and cleanups queued and not yet run.  Any thread. */
TC_API size_t tc_finalizers_pending(void);

/* -------------------------------------------------------------------- roots */

/* Stores into roots need no barrier.
 *
 * Casts.  tc_root_add takes void ** and tc_visit_slots void *const *, so a
 * `cell *global` is registered as (void **)&global: use TC_ROOT_ADD(global)
 * and TC_VISIT_SLOTS(v, array, n), which cast for you (and check, at
 * compile time, that the variable is pointer-sized).  The cast is safe:
 * the library reads each slot as one pointer-sized word with an atomic
 * load, in its own translation unit built with -fno-strict-aliasing, and
 * never writes it; object pointers of every type share one representation
 * on every platform tricolor supports; and once the variable's address
 * has been passed to the library, your compiler already treats every
 * later call as a possible reader of it, so strict aliasing gives it
 * nothing to assume.  TC_ROOTS casts a `volatile` variable's address
 * without the qualifier (a variable kept across setjmp is volatile): the
 * collector reads it only while the thread is stopped or in a blocking
 * region, where volatile changes nothing. */

/* Register n consecutive pointer slots (e.g. a global array) as roots.
 * TC_EINVAL (NULL or n == 0), TC_EEXIST (slots already registered).
 * Adding and removing are O(1), however many ranges are registered.
 * Any thread while the collector runs. */
TC_API int tc_root_add(void **slots, size_t n);
/* Unregister slots given to tc_root_add.  TC_ENOTFOUND if unknown. */
TC_API int tc_root_remove(void **slots);

/* The address of a pointer-sized lvalue as a root slot (compile-time
 * check of its size; the cast is explained above). */
#define TC__SLOT(var)                                                         \
    ((void **)(uintptr_t)&(var) + 0 * sizeof(char[sizeof(var) == sizeof(void *) ? 1 : -1]))
/* tc_root_add / tc_root_remove for one global pointer variable of any
 * pointer type, and for a whole array of them. */
#define TC_ROOT_ADD(var) tc_root_add(TC__SLOT(var), 1)
#define TC_ROOT_REMOVE(var) tc_root_remove(TC__SLOT(var))
#define TC_ROOT_ADD_ARRAY(arr)                                                \
    tc_root_add(TC__SLOT((arr)[0]), sizeof(arr) / sizeof((arr)[0]))
/* tc_visit_slots on n pointers of any pointer type. */
#define TC_VISIT_SLOTS(v, ptrs, n)                                            \
    tc_visit_slots((v), (void *const *)(uintptr_t)TC__SLOT((ptrs)[0]), (n))

typedef void (*tc_root_fn)(tc_visitor *v, void *ctx);

/* A callback that visits roots at each root snapshot (global: on a
 * collector thread; it must not allocate, lock what mutators hold, or
 * call tc_* other than tc_visit*).  TC_EINVAL, TC_EEXIST for the same pair. */
TC_API int tc_root_scanner_add(tc_root_fn fn, void *ctx);
TC_API int tc_root_scanner_remove(tc_root_fn fn, void *ctx);

/* Like tc_root_scanner_add, for roots owned by the calling thread (an
 * interpreter's VM stack).  Removed automatically at detach.  Any attached
 * thread; TC_ENOTATTACHED otherwise. */
TC_API int tc_thread_root_scanner_add(tc_root_fn fn, void *ctx);
TC_API int tc_thread_root_scanner_remove(tc_root_fn fn, void *ctx);

/* A shadow-stack frame; TC_ROOTS builds one on the C stack, next to an
 * array of the addresses of the variables it registers.  Internal. */
typedef struct tc_frame {
    struct tc_frame *prev;
    void ***slots;
    unsigned n;
    unsigned popped;   /* 1 once popped, or ignored (unattached) */
    unsigned depth;    /* its place in the thread's list, 1 = outermost */
} tc_frame;

/* The calling thread's shadow stack, which the inline push and pop use.
 * Internal: the library sets `fast` to 1 only while the thread is
 * attached, outside blocking regions and without verify=1; otherwise push
 * and pop take the out-of-line path, which handles those cases. */
typedef struct tc__shadow_stack {
    tc_frame *top;
    unsigned depth;
    int fast;
} tc__shadow_stack;

TC_API void tc__frame_push(tc_frame *f);
TC_API void tc__frame_pop(tc_frame *f);
TC_API void tc__frame_pop_top(void);

#if defined(__GNUC__) || defined(__clang__)
#define TC__INLINE_FRAMES 1
TC_API extern __thread tc__shadow_stack tc__stack;

/* Push: three stores to the thread's own memory, no call. */
static inline void tc__frame_push_inline(tc_frame *f)
{
    tc__shadow_stack *s = &tc__stack;
    if (TC__LIKELY(s->fast)) {
        f->prev = s->top;
        f->depth = ++s->depth;
        s->top = f;
    } else {
        tc__frame_push(f);
    }
}

/* Pop (the cleanup of TC_ROOTS): inline when f is on top. */
static inline void tc__frame_pop_inline(tc_frame *f)
{
    tc__shadow_stack *s = &tc__stack;
    if (TC__LIKELY(s->fast && s->top == f)) {
        s->top = f->prev;
        s->depth--;
        f->popped = 1;
    } else {
        tc__frame_pop(f);
    }
}
#define TC__CLEANUP __attribute__((cleanup(tc__frame_pop_inline)))
#else
#define TC__INLINE_FRAMES 0
#define tc__frame_push_inline tc__frame_push
#define TC__CLEANUP
#endif

#define TC__NARGS(...)                                                        \
    TC__NARGS_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,  \
               2, 1, 0)
#define TC__NARGS_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13,    \
                   _14, _15, _16, N, ...)                                     \
    N
#define TC__A1(a) TC__SLOT(a)
#define TC__A2(a, ...) TC__SLOT(a), TC__A1(__VA_ARGS__)
#define TC__A3(a, ...) TC__SLOT(a), TC__A2(__VA_ARGS__)
#define TC__A4(a, ...) TC__SLOT(a), TC__A3(__VA_ARGS__)
#define TC__A5(a, ...) TC__SLOT(a), TC__A4(__VA_ARGS__)
#define TC__A6(a, ...) TC__SLOT(a), TC__A5(__VA_ARGS__)
#define TC__A7(a, ...) TC__SLOT(a), TC__A6(__VA_ARGS__)
#define TC__A8(a, ...) TC__SLOT(a), TC__A7(__VA_ARGS__)
#define TC__A9(a, ...) TC__SLOT(a), TC__A8(__VA_ARGS__)
#define TC__A10(a, ...) TC__SLOT(a), TC__A9(__VA_ARGS__)
#define TC__A11(a, ...) TC__SLOT(a), TC__A10(__VA_ARGS__)
#define TC__A12(a, ...) TC__SLOT(a), TC__A11(__VA_ARGS__)
#define TC__A13(a, ...) TC__SLOT(a), TC__A12(__VA_ARGS__)
#define TC__A14(a, ...) TC__SLOT(a), TC__A13(__VA_ARGS__)
#define TC__A15(a, ...) TC__SLOT(a), TC__A14(__VA_ARGS__)
#define TC__A16(a, ...) TC__SLOT(a), TC__A15(__VA_ARGS__)

/* TC_ROOTS(a, b, ...): register the listed local pointer variables (any
 * pointer type, 1 to 16 of them) as roots on this thread's shadow stack
 * until the end of the enclosing scope (GCC/Clang cleanup attribute).
 * Push and pop are inline: a few stores, no call.  Several frames may
 * stand in one scope; they pop in reverse order.  The variables must hold
 * references or NULL (or other non-heap words) from the moment of the
 * TC_ROOTS on: initialise them first (`cell *x = NULL;`); assigning to
 * them needs no barrier.  On compilers without cleanup, or to end the
 * frame early, call TC_ROOTS_POP().  To leave frames with longjmp, see
 * tc_roots_save.  A frame may be pushed and popped inside a blocking
 * region, but its variables must not be assigned there (a collection may
 * be reading them).  Any attached thread (unattached: a diagnostic, the
 * frame is ignored).  Under TRICOLOR_DEBUG=verify=1, a variable that holds
 * what cannot be a value (a pointer into the middle or the header of a
 * heap object, or into freed memory: uninitialised, most likely) is
 * reported when the frame is pushed. */
#define TC_ROOTS(...)                                                         \
    void **TC__CAT(tc__slots_, __LINE__)[] = {                                \
        TC__CAT(TC__A, TC__NARGS(__VA_ARGS__))(__VA_ARGS__)};                 \
    tc_frame TC__CLEANUP TC__CAT(tc__frame_, __LINE__) = {                    \
        0, TC__CAT(tc__slots_, __LINE__), TC__NARGS(__VA_ARGS__), 0, 0};      \
    tc__frame_push_inline(&TC__CAT(tc__frame_, __LINE__))

/* Pop the innermost TC_ROOTS frame of this thread now. */
#define TC_ROOTS_POP() tc__frame_pop_top()

/* Leaving TC_ROOTS scopes with longjmp (how Lua and many interpreters
 * raise errors).  A longjmp skips the frames' cleanups, so they would stay
 * roots pointing into stack memory that is reused.  Save the shadow
 * stack's top before setjmp, and restore it where the jump lands:
 *
 *     tc_roots_mark mark = tc_roots_save();
 *     if (setjmp(env) != 0) {
 *         tc_roots_restore(mark);   // drop every frame pushed since
 *         ...
 *
 * tc_roots_restore drops the frames pushed after the save without reading
 * them (their memory is dead).  Frames that are still in scope at the
 * save must stay so until the restore.  A frame popped normally while
 * frames pushed after it are still linked (a longjmp without restore)
 * drops those too, with a diagnostic.  Any attached thread. */
typedef const tc_frame *tc_roots_mark;
TC_API tc_roots_mark tc_roots_save(void);
TC_API void tc_roots_restore(tc_roots_mark mark);

/* ------------------------------------------------------------------ threads */

/* Attach the calling thread so it may touch the heap.  TC_ESTATE if the
 * collector is not running, TC_EEXIST if already attached, TC_ENOMEM.
 * A thread that exits attached (returns from its start function or calls
 * pthread_exit) is detached at exit, with a diagnostic: detach explicitly.
 * (The main thread returning from main ends the process, which needs no
 * detach.) */
TC_API int tc_thread_attach(void);

/* Detach the calling thread: its TC_ROOTS frames and thread root scanners
 * stop being roots.  No-op (with a diagnostic) if not attached. */
TC_API void tc_thread_detach(void);

/* Let a pending stop-the-world proceed.  Fast path: one load and a branch.
 * Allocation polls too; interpreters call it on backward jumps and calls.
 * Any attached thread. */
static inline void tc_safepoint(void)
{
    if (TC__LOAD_RELAXED(&tc__safepoint_requested))
        tc__safepoint_slow();
}

/* Around code that may block (I/O, locks, sleeping): the thread must not
 * touch the heap in between, and no pause waits for it.  Its roots are
 * still scanned.  Leaving waits while the world is stopped.  Not nestable.
 * Inside a region: TC_ROOTS frames may be pushed and popped (not
 * assigned); tc_alloc fails (NULL, TC_ESTATE, a diagnostic); tc_collect
 * is diagnosed and collects all the same; tc_write must not be called
 * (TRICOLOR_DEBUG=verify=1 diagnoses it).  Any attached thread. */
TC_API void tc_blocking_enter(void);
TC_API void tc_blocking_leave(void);

/* ------------------------------------------------------------------ control */

/* Run a full cycle, marked and swept, that started after this call; return
 * when it is done.  Its marking runs flat out (the mark workers are not
 * held to the GC's CPU share while a thread waits for it).  Any attached
 * thread (several at once is fine). */
TC_API void tc_collect(void);

/* Set GC percent (negative = off); returns the previous value (negative if
 * it was off).  The goal and trigger are recomputed at once, so the next
 * cycle starts by the new setting; a cycle already marking keeps the goal
 * it started with.  Any thread. */
TC_API int tc_set_gc_percent(int percent);

/* Set the soft memory limit in bytes (INT64_MAX = none); returns the
 * previous.  A value <= 0 is ignored and only returns the current one.
 * The limit bounds all memory the collector holds (tc_stats.sys_bytes):
 * near it the heap goal tightens, free pages go back to the OS before the
 * heap grows, and GC CPU stays capped, so a limit the live heap cannot fit
 * in is overshot rather than turning into back-to-back stalls.  Exceeding
 * it never fails an allocation.  Any thread. */
TC_API int64_t tc_set_memory_limit(int64_t bytes);

/* CPU the calling thread has spent in mutator assists (marking on behalf
 * of its own allocations) since it attached.  Any attached thread. */
TC_API uint64_t tc_thread_assist_ns(void);

/* ------------------------------------------------------------ observability */

#define TC_PAUSE_RING 256

/* Stalls.  A stall is one call of tc_alloc, tc_safepoint,
 * tc_blocking_leave, a store (tc_write, TC_WRITE, tc_write_slots, ...)
 * that fills the barrier buffer while marking and flushes it, or a
 * TC_ROOTS push or pop inside a blocking region (which may wait for a root
 * scan), that keeps the calling thread for tc_config.debug_stalls_us
 * (TRICOLOR_DEBUG=stalls=N) microseconds or more.  Only slow paths are timed: the inline fast paths never are, and
 * with the tracer off the slow paths pay one predictable branch.
 * tc_collect and the other calls that wait on purpose are not timed.
 *
 * The tracer splits each stall's wall time into these causes, which sum
 * to its total.  Time the thread spends preempted by the OS counts
 * towards whatever it was doing. */
enum {
    TC_STALL_TTS = 0,     /* parked at a safepoint, waiting for the other
                             threads to reach theirs (time-to-safepoint) */
    TC_STALL_PAUSE,       /* parked while the world is stopped; and, after
                             the pause that begins a cycle, scanning the
                             thread's own TC_ROOTS frames (its part of
                             that pause's root snapshot) */
    TC_STALL_RESUME,      /* parked after the world restarted, until the OS
                             ran the thread again (cores busy elsewhere) */
    TC_STALL_ASSIST,      /* assist marking, paying for allocation */
    TC_STALL_ASSIST_WAIT, /* an assist waiting for markers to share work */
    TC_STALL_SWEEP,       /* sweeping spans lazily to find room */
    TC_STALL_REFILL,      /* taking a span from the page heap (may map) */
    TC_STALL_FRESH,       /* zeroing a reused span's pages (faulting in any
                             the OS took back) */
    TC_STALL_RELEASE,     /* returning pages to the OS, under the memory
                             limit, before the heap may grow */
    TC_STALL_LOCK,        /* waiting for a library lock another thread held */
    TC_STALL_COLLECT,     /* a full collection: the heap could not grow */
    TC_STALL_START,       /* waking the collector's thread for a cycle
                             (it may take this thread's core), and waiting
                             for a cycle to start: the heap reached its goal
                             before that thread could begin marking (a busy
                             machine) */
    TC_STALL_OTHER,       /* the rest */
    TC_STALL_CAUSES
};

/* The cause's name as the trace prints it ("tts", "pause", "resume", "assist",
 * "assist_wait", "sweep", "refill", "fresh", "release", "lock",
 * "collect", "start", "other"), or "?" if cause is out of range.  Any
 * thread. */
TC_API const char *tc_stall_cause_name(int cause);

/* What the collector has done since tc_init, by topic.  The layout
 * changed in 0.2 (the fields were grouped by topic; programs built
 * against 0.1's header must be rebuilt: the shared library's soname moved
 * from libtricolor.so.0 to libtricolor.so.0.2).  From 0.2 on, fields are
 * only ever added at the end, and tc_read_stats copies only as much as the
 * caller's header knows of (tc_read_stats_sized), so a program built
 * against this header keeps working with a later library of the same
 * soname. */
typedef struct tc_stats {
    /* Cycles and allocation. */
    uint64_t cycles;            /* completed cycles */
    uint64_t bytes_allocated;   /* payload+header bytes ever allocated */
    uint64_t objects_allocated; /* objects ever allocated */

    /* The heap. */
    uint64_t heap_live;       /* bytes marked by the last cycle */
    uint64_t objects_live;    /* objects marked by the last cycle */
    uint64_t heap_inuse;      /* bytes in spans holding objects */
    uint64_t heap_mapped;     /* bytes of heap address space mapped */
    uint64_t heap_released;   /* mapped bytes not backed by memory (never
                                 touched, or returned to the OS) */
    uint64_t sys_bytes;       /* all memory the collector holds: heap pages
                                 not released + metadata; what the memory
                                 limit bounds */
    uint64_t scavenged_bytes; /* bytes returned to the OS, ever */

    /* Pacing. */
    uint64_t heap_goal;       /* heap size at which marking should end */
    uint64_t next_gc_trigger; /* heap size that starts the next cycle */
    int gc_percent;           /* current, negative = off */
    int64_t memory_limit;     /* current, INT64_MAX = none */
    int gc_cpu_limited;       /* 1 while the GC CPU limiter suspends assists */

    /* Pauses. */
    uint64_t pause_total_ns;              /* every stop-the-world pause, summed */
    uint64_t pause_max_ns;                /* the longest pause */
    uint64_t num_pauses;                  /* pauses recorded; newest at (n-1)%256 */
    uint64_t pause_ns[TC_PAUSE_RING];     /* from stop request to restart */
    uint64_t pause_end_ns[TC_PAUSE_RING]; /* ns since tc_init at restart */

    /* The collector's CPU time. */
    uint64_t gc_cpu_stw_ns;        /* CPU spent inside pauses */
    uint64_t gc_cpu_background_ns; /* CPU of background collector work */
    uint64_t gc_cpu_assist_ns;     /* CPU of mutator assists */
    uint64_t last_cycle_assist_ns; /* assist CPU of the last completed cycle */
    uint64_t gc_cpu_barrier_ns;    /* CPU mutators spent flushing barrier buffers */
    uint64_t gc_cpu_idle_ns;       /* CPU of idle-priority mark workers (not in
                                      gc_cpu_fraction: it used idle cores) */
    uint64_t gc_cpu_scavenge_ns;   /* CPU of returning pages to the OS (the
                                      scavenger thread, and allocating threads
                                      making room under the memory limit) */
    double gc_cpu_fraction;        /* GC CPU / (wall since init x cores) */

    /* Weak references and finalizers (totals since tc_init). */
    uint64_t weak_cleared;       /* weak slots (and ephemerons) cleared */
    uint64_t ephemerons;         /* ephemerons the markers processed */
    uint64_t finalizers_queued;  /* finalizers and cleanups queued */
    uint64_t finalizers_run;     /* finalizers and cleanups that have run */
    uint64_t finalizers_pending; /* queued and not yet run */

    /* Stalls (all 0 while the stall tracer is off). */
    uint64_t stalls;       /* stalls: calls of the threshold or longer */
    uint64_t stall_ns;     /* their wall time, summed */
    uint64_t stall_max_ns; /* the longest */
    uint64_t stall_cause_ns[TC_STALL_CAUSES]; /* stall_ns split by cause; its
                                                 length stays 0.2's (13): a
                                                 cause added later is counted
                                                 in a field at the end */

    /* Fields added after 0.2 go here, at the end. */
} tc_stats;

/* Fill *out with a consistent snapshot.  Any thread.  Called by name, it
 * is the macro below, which passes the size of the caller's tc_stats to
 * tc_read_stats_sized.  The function itself is exported too, for a call
 * through a pointer: it fills a tc_stats of this library's layout. */
TC_API void tc_read_stats(tc_stats *out);
/* Fill the first `size` bytes of *out: the fields of a tc_stats as the
 * caller's header laid it out (pass sizeof(tc_stats)).  Fields that the
 * caller's header has and this library does not (size larger than the
 * library's tc_stats) read 0.  A NULL out, or a size smaller than 0.2's
 * tc_stats, is refused with a diagnostic on stderr, and *out is left
 * alone.  Any thread. */
TC_API void tc_read_stats_sized(tc_stats *out, size_t size);
#define tc_read_stats(out) tc_read_stats_sized((out), sizeof(tc_stats))

/* Everything measured about one completed cycle.  Times are ns; "since
 * init" means on a monotonic clock from tc_init. */
typedef struct tc_cycle_info {
    uint64_t cycle;                /* 1, 2, ... */
    uint64_t start_ns;             /* since init */
    uint64_t sweep_term_ns;        /* in pause 1: finish any unswept span */
    uint64_t mark_start_ns;        /* in pause 1: barrier on, root snapshot */
    uint64_t mark_ns;              /* concurrent mark: pause 1 end to the last
                                      mark-termination pause's start */
    uint64_t mark_term_ns;         /* in the last pause 2: flush, drain, barrier
                                      off, publish */
    uint64_t sweep_ns;             /* pause 2 end to the end of sweeping */
    uint64_t tts_ns;               /* time-to-safepoint, summed over pauses */
    uint64_t pause_ns;             /* the cycle's pauses, tts included */
    uint64_t cpu_stw_ns;           /* CPU inside the pauses */
    uint64_t cpu_background_ns;    /* CPU of background marking */
    uint64_t cpu_assist_ns;        /* CPU of assists */
    uint64_t cpu_idle_ns;          /* CPU of idle-priority mark workers,
                                      which run only on otherwise idle cores */
    uint64_t cpu_sweep_ns;         /* CPU of sweeping */
    uint64_t heap_start;           /* heap in use when the cycle started */
    uint64_t heap_end;             /* heap in use when marking ended */
    uint64_t heap_marked;          /* bytes marked live */
    uint64_t objects_marked;       /* objects marked live */
    uint64_t heap_goal;            /* the goal this cycle aimed for */
    uint64_t roots;                /* root slots and scanner calls visited */
    double gc_cpu_fraction;        /* since init, at the end of this cycle */
    int mark_workers;              /* dedicated mark workers (1 when the
                                      collector thread marks); idle-priority
                                      workers are not counted */
    int forced;                    /* 1 if from tc_collect */
    /* Each pause measured from the stop request to the restart. */
    uint64_t stw1_ns;              /* pause 1: sweep termination + mark start */
    uint64_t stw2_ns;              /* mark-termination pauses, summed */
    uint64_t tts1_ns;              /* time-to-safepoint within pause 1 */
    uint64_t tts2_ns;              /* time-to-safepoint within pause 2, summed */
    uint64_t cpu_barrier_ns;       /* CPU mutators spent flushing full barrier
                                      buffers during marking */
    int mark_term_attempts;        /* mark-termination pauses; > 1 when one found
                                      grey work left and marking resumed */
    /* Since the pacer: */
    uint64_t heap_trigger;         /* the trigger the pacer had set for this
                                      cycle (heap_start may be below it if
                                      forced, above it by allocation while
                                      the cycle was being started) */
    uint64_t heap_released;        /* heap bytes not backed by memory after
                                      this cycle's sweep */
    int cpu_limited;               /* 1 if the GC CPU limiter suspended an
                                      assist during this cycle */
    /* Since weak references and finalizers: */
    uint64_t weak_cleared;         /* weak slots and ephemerons this cycle's
                                      sweep cleared */
    uint64_t ephemerons;           /* ephemerons its markers processed */
    uint64_t finalizers_queued;    /* finalizers and cleanups its sweep queued */
    uint64_t finalizers_run;       /* finalizers and cleanups run since the
                                      previous report */
    /* Since the stall tracer: stalls that ended since the previous
     * report (all 0 while the tracer is off). */
    uint64_t stalls;
    uint64_t stall_ns;
    uint64_t stall_max_ns;
    uint64_t stall_cause_ns[TC_STALL_CAUSES];
} tc_cycle_info;

typedef void (*tc_cycle_fn)(const tc_cycle_info *info, void *ctx);

/* Call fn once per completed cycle (after its sweep finished or the next
 * cycle began), on the collector thread, never on a mutator.
 * NULL removes it.  When this returns, the previous fn is not running any
 * more (so its ctx may be freed), unless this is called from inside it.
 * fn must not call tc_alloc.  Any thread. */
TC_API void tc_set_cycle_callback(tc_cycle_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* TRICOLOR_H */
