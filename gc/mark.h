/*
 * mark.h — tri-color marking.
 *
 * Colors: white = mark bit clear; grey = mark bit set and the object on a
 * grey stack (its references not yet visited); black = mark bit set and
 * scanned (or a leaf).  Mark bits live in the span's side bitmap and are
 * set with an atomic compare-and-swap, so any number of markers (workers,
 * assists, barrier flushes) may race on them: exactly one wins an object
 * and pushes it.
 *
 * Grey objects sit in fixed-size chunks.  Each visitor fills and drains a
 * chunk of its own; full chunks go to a global list (mutex) where any
 * marker can take them.  No recursion anywhere: a ten-million-long list is
 * a loop, not a deep C stack.
 *
 * Black allocation: while mark_allocating_black(), tc_alloc sets the new
 * object's mark bit, so objects born during marking survive the cycle and
 * are never scanned (they hold nothing the snapshot lacks: every reference
 * stored into them came from a root or another object, both covered).
 */
#ifndef TC_MARK_H
#define TC_MARK_H

#include <stdint.h>

#include "heap.h"
#include "tricolor.h"

#define GREY_CHUNK_ITEMS 510

typedef struct grey_chunk {
    struct grey_chunk *next;
    size_t n;
    void *items[GREY_CHUNK_ITEMS];
} grey_chunk;

enum visit_mode { VISIT_MARK = 1, VISIT_CHECK = 2 };

struct tc_visitor {
    int mode;
    grey_chunk *chunk;
    uint64_t bytes, objects, roots;
    const void *current;   /* object being scanned, NULL for roots */
    const char *root_kind; /* which roots, when current is NULL */
};

void mark_visitor_init(tc_visitor *v, int mode);
/* Visit every grey object, local and global, until none is left. */
void mark_drain(tc_visitor *v);
/* Give the visitor's chunk back (it must be empty after a drain, or its
 * grey objects go to the global list). */
void mark_visitor_done(tc_visitor *v);

/* Turn black allocation on/off (world stopped). */
void mark_set_black_allocation(int on);
extern tc_aword mark_black_allocation;
static inline int mark_allocating_black(void) { return at_load(&mark_black_allocation) != 0; }
/* Set the mark bit of a freshly allocated slot. */
void mark_set_allocated(tc_span *s, size_t idx);

/* True if the object whose payload is p is marked (p must be an object). */
int mark_is_marked(const void *p);

/* The checkmark verifier: clear the check bits, re-mark everything
 * reachable from scan_roots with them, and abort naming the first object
 * reachable but not marked by the real mark.  World stopped. */
void mark_checkmark(void (*scan_roots)(tc_visitor *v));

/* Bytes and objects marked this cycle: visitors add theirs when done. */
void mark_add_counts(uint64_t bytes, uint64_t objects);
void mark_take_counts(uint64_t *bytes, uint64_t *objects);

/* Free the chunk pool (shutdown). */
void mark_reset(void);

#endif
