/*
 * mark.h — tri-color marking and the sharing of grey work.
 *
 * Colors: white = mark bit clear; grey = mark bit set and the object on a
 * grey stack (its references not yet visited); black = mark bit set and
 * scanned (or a leaf).  Mark bits live in the span's side bitmap and are
 * set atomically, so any number of markers (workers, barrier flushes, the
 * collector in a pause) may race on them: exactly one wins an object and
 * pushes it.
 *
 * Grey work sits in fixed-size chunks.  Each visitor fills and drains a
 * chunk of its own; full chunks go to a global list (grey_lock) where any
 * marker can take them.  No recursion anywhere: a ten-million-long list is
 * a loop, not a deep C stack.
 *
 * A grey item is an object's payload address; tagged with bit 0, an
 * "oblet": a 128 KiB piece of a large SLOTS object (scanning a large
 * object's first piece pushes the others, so one huge array is many small
 * steps that several workers can share, never one long one); tagged with
 * bit 2, an ephemeron whose key was just marked: its value is to be
 * visited (weak.h).  An ephemeron whose key is not marked when it is
 * scanned is postponed: it goes, tagged with bit 3, into chunks of their
 * own on a second global list, which markers take only when no grey work
 * is left (design.md §12); marking is not over while any is left.
 *
 * The gate (concurrent marking).  Between the two pauses of a cycle the
 * gate is open and mark workers take grey chunks from the global list.
 * mark_concurrent() opens it and returns, with the gate closed again, at
 * the first moment when no worker holds grey work and the global list is
 * empty: then the only grey objects left anywhere are in the mutators'
 * barrier buffers, which mark termination flushes with the world stopped.
 * While the gate is closed the list may still grow (barrier flushes), but
 * no worker takes from it.
 *
 * Black allocation: while mark_allocating_black(), tc_alloc sets the new
 * object's mark bit, so objects born during marking survive the cycle and
 * are never scanned (they hold nothing the snapshot lacks: every reference
 * stored into them came from a root or another object, both covered).
 */
#ifndef TC_MARK_H
#define TC_MARK_H

#include "namespace.h"

#include <stdint.h>

#include "heap.h"
#include "tricolor.h"

#define GREY_CHUNK_ITEMS 510
/* A large SLOTS object is scanned in pieces of this size (design.md §4):
 * 512 words, whose scan takes 100 us at worst (a cache miss and an
 * ephemeron-table probe per word, measured on the ephemeron benchmark),
 * where a 128 KiB piece once held an assist for 3.7 ms. */
#define OBLET_BYTES ((size_t)4 * 1024)

typedef struct grey_chunk {
    struct grey_chunk *next;
    size_t n;
    void *items[GREY_CHUNK_ITEMS];
} grey_chunk;

enum visit_mode { VISIT_MARK = 1, VISIT_CHECK = 2 };

struct tc_visitor {
    int mode;
    int background;        /* a mark worker: its scan work is assist credit */
    grey_chunk *chunk;
    grey_chunk *eph_chunk; /* ephemerons postponed (mark.c, postpone) */
    uint64_t bytes, objects, roots;
    uint64_t visits;       /* the unit of marking work: words visited,
                              plus a fixed cost per item scanned and per
                              ephemeron left pending (mark.c) */
    const void *current;   /* object being scanned, NULL for roots */
    const char *root_kind; /* which roots, when current is NULL */
    const void *skip;      /* a reference tc_visit ignores: the object
                              whose referents are scanned as roots
                              (mark_scan_contents) */
    /* A program thread marking (an assist, a barrier flush): it never
     * sleeps on a pending-ephemeron stripe whose holder may have lost its
     * core.  What it cannot file or take at once waits in `deferred` and
     * goes to the global list with its chunk (mark_visitor_done), or in a
     * chunk of its own once `deferred` is full, for a mark worker, which
     * may wait. */
    int nowait;
    unsigned ndeferred;
    uintptr_t deferred[16]; /* at most 16 used (fewer in tests: mark.c) */
    /* The span of the last reference looked up, and its address range:
     * most references point into the span of the one before (objects
     * allocated together), and the page-map walk costs more than this
     * check.  Valid while the visitor lives: no span is freed while
     * marking (sweeping ends before the next cycle starts). */
    struct tc_span *span;
    uintptr_t span_base, span_bytes;
};

void mark_visitor_init(tc_visitor *v, int mode);
/* Visit every grey object, local and global, until none is left. */
void mark_drain(tc_visitor *v);
/* As mark_drain, but stop at deadline_ns (plat_now_ns clock), leaving the
 * rest on the global list.  Returns 1 if nothing grey was left. */
int mark_drain_until(tc_visitor *v, uint64_t deadline_ns);
/* World stopped, nothing grey left: if a marker dropped grey objects for
 * want of mark-stack memory, rescan every object carrying v's kind of
 * mark bit (marked, or checked under checkmark) until none is dropped.
 * Returns the number of heap passes (0: there was no overflow). */
int mark_finish_overflow(tc_visitor *v);
/* Visit obj's referents without marking obj itself, and without counting
 * its references to itself: what a finalizer's object keeps alive (its
 * referents are roots while it waits to be finalized: final.h). */
void mark_scan_contents(tc_visitor *v, void *obj);
/* Shade a batch of barrier values (a buffer flush): visit each; an entry
 * p | MARK_RESCAN_TAG asks for the object p to be marked (if it is not)
 * and scanned again, whatever its color: an ephemeron whose key changed
 * while marking (weak.h).  The grey objects go to the global list. */
void mark_shade_batch(void *const *vals, size_t n);
#define MARK_RESCAN_TAG ((uintptr_t)8) /* payloads are 16-aligned */
/* Give the visitor's chunk back (its grey objects, if any, go to the
 * global list) and add its byte and object counts to the cycle's. */
void mark_visitor_done(tc_visitor *v);

/* ------------------------------------------------ concurrent marking */

/* Open the gate, wake the workers, and wait until no grey work is left
 * outside the mutators' barrier buffers; close the gate and return.
 * help: the caller marks too (used when there are no mark workers), at
 * `duty` (see mark_worker_loop), adding its CPU to *cpu_ns. */
void mark_concurrent(int help, double duty, tc_aword *cpu_ns);
/* While on, the dedicated markers ignore their duty and mark flat out: the
 * cycle is one a program thread waits for (collector.c, run_cycle). */
void mark_set_flat_out(int on);
/* A mark worker's life: wait for grey work while the gate is open, drain
 * it, repeat; returns when mark_stop_workers() is called.  cpu_ns is
 * incremented (atomically) by the CPU spent marking; unless `idle` (an
 * idle-priority worker, using CPU nobody else wanted), the pacer's CPU
 * limiter counts it too.  duty < 1 makes a
 * fractional worker: after each burst of MARK_SLICE_NS at most it sleeps
 * so that it marks `duty` of the time; 1 marks while there is work. */
void mark_worker_loop(tc_aword *cpu_ns, double duty, int idle);
#define MARK_SLICE_NS 1000000

/* A mutator assist: take grey work from the global list (only while the
 * gate is open) and mark until `work` bytes are marked, `deadline_ns`
 * passes, or no work is left to take.  Returns the bytes marked.  An
 * assist that finds none asks busy markers to share theirs. */
uint64_t mark_assist(uint64_t work, uint64_t deadline_ns);
void mark_stop_workers(void);
/* Before starting workers: undo mark_stop_workers. */
void mark_allow_workers(void);
/* fork() support (PLAT_FORK_*): grey_lock and the workers' conditions. */
void mark_fork(int stage);
/* Nonzero if grey chunks wait on the global list. */
int mark_has_global_work(void);
/* Nonzero between the pauses of a cycle while markers may take work. */
int mark_gate_is_open(void);

/* Turn black allocation on/off (world stopped). */
void mark_set_black_allocation(int on);
extern tc_aword mark_black_allocation;
static inline int mark_allocating_black(void) { return at_load(&mark_black_allocation) != 0; }
/* Set the mark bit of the object at payload address p (sweeping: an
 * object kept for its finalizer, final.c). */
void mark_set_bit_of(uintptr_t p);
/* Set the mark bit of a freshly allocated slot. */
static inline void mark_set_allocated(tc_span *s, size_t idx)
{
    at_or(&s->markbits[idx / 64], (uintptr_t)1 << (idx & 63));
}

#ifdef TC_TESTING
/* Test hook: true if the object whose payload is p is marked. */
int mark_is_marked(const void *p);
/* Test hook: postponed ephemerons in chunks of 3, a nowait visitor's
 * deferred items spilled at 2, so that handing them over is exercised. */
void mark_test_small_chunks(int on);
#endif

/* The checkmark verifier: clear the check bits, re-mark everything
 * reachable from scan_roots with them, and abort naming the first object
 * reachable but not marked by the real mark.  World stopped. */
void mark_checkmark(void (*scan_roots)(tc_visitor *v));

/* Bytes and objects marked this cycle (visitors add theirs when done). */
void mark_add_counts(uint64_t bytes, uint64_t objects);
void mark_take_counts(uint64_t *bytes, uint64_t *objects);

/* Free the chunk pool (shutdown). */
void mark_reset(void);

#endif
