/*
 * sweep.h — applying a cycle's mark bits to one span: a step that takes a
 * span and returns what became of it.  Who sweeps which span, and when,
 * is central.h's business; this module touches no list.
 *
 * Sweeping a small span turns its mark bits into its allocation bits (as
 * Go flips gcmarkBits into allocBits): a slot is in use after the sweep iff
 * it was marked.  Freed slots get their header cleared (a free slot has
 * header 0; under verify=1 the freed type with HEADER_DEAD) and their
 * payload zeroed, or under poison=1 filled with 0xdb.  A large span is
 * freed whole if unmarked.  Objects with finalizers and weakly referenced
 * ones may outlive their mark (final.h, weak.h).
 */
#ifndef TC_SWEEP_H
#define TC_SWEEP_H

#include "namespace.h"

#include <stdint.h>

#include "heap.h"

enum { SWEEP_EMPTY, SWEEP_PARTIAL, SWEEP_FULL, SWEEP_FREED };

/* Sweep s, which the caller took off an unswept list.  Small spans report
 * EMPTY/PARTIAL/FULL and stay the caller's; a dead large span is freed
 * (FREED), a live one reports FULL. */
int sweep_span(tc_span *s);

#endif
