/*
 * atomics.h — every cross-thread access in gc/ goes through these wrappers,
 * built on libatomic_ops.  Names say the ordering:
 *   relaxed   no ordering (counters, flags read again under a lock)
 *   acquire / release   publish data then the pointer/flag that names it
 *   seq       sequentially consistent (the safepoint handshake's Dekker
 *             pattern: store my flag, then load yours)
 * Words are uintptr_t-sized (AO_t); tc_aword is the type of such a word.
 */
#ifndef TC_ATOMICS_H
#define TC_ATOMICS_H

#include "namespace.h"

#include <atomic_ops.h>
#include <stdint.h>

typedef AO_t tc_aword;

/* Give a frequently written shared word a cache line of its own, so that
 * threads reading its neighbours do not make every write miss. */
#define TC_CACHE_LINE 64
#define TC_OWN_LINE __attribute__((aligned(TC_CACHE_LINE)))

static inline uintptr_t at_load(const volatile tc_aword *p) { return AO_load(p); }
static inline uintptr_t at_load_acquire(const volatile tc_aword *p) { return AO_load_acquire(p); }
static inline uintptr_t at_load_seq(const volatile tc_aword *p) { return AO_load_full(p); }
static inline void at_store(volatile tc_aword *p, uintptr_t v) { AO_store(p, v); }
static inline void at_store_release(volatile tc_aword *p, uintptr_t v) { AO_store_release(p, v); }
static inline void at_store_seq(volatile tc_aword *p, uintptr_t v) { AO_store_full(p, v); }

/* Returns the value before the addition. */
static inline uintptr_t at_add(volatile tc_aword *p, uintptr_t v) { return AO_fetch_and_add(p, v); }
static inline uintptr_t at_sub(volatile tc_aword *p, uintptr_t v) { return AO_fetch_and_add(p, (AO_t)0 - v); }

/* Compare-and-swap with full ordering; returns nonzero on success. */
static inline int at_cas(volatile tc_aword *p, uintptr_t old, uintptr_t nv)
{
    return AO_compare_and_swap_full(p, old, nv);
}

/* Set the bits of mask in *p; returns nonzero if this call set any of them
 * (zero if all were already set).  Used for mark bits: many markers race. */
static inline int at_set_bits(volatile tc_aword *p, uintptr_t mask)
{
    uintptr_t old = AO_load(p);
    while ((old & mask) != mask) {
        uintptr_t seen = AO_fetch_compare_and_swap(p, old, old | mask);
        if (seen == old)
            return 1;
        old = seen;
    }
    return 0;
}

/* A full memory fence: stores before it are visible before loads after
 * it (the Dekker pattern of the ephemeron table, weak.h). */
static inline void at_fence(void) { AO_nop_full(); }

/* Atomic OR without a result: black allocation sets a mark bit that
 * markers may be setting in the same word. */
static inline void at_or(volatile tc_aword *p, uintptr_t mask) { AO_or(p, mask); }

/* The public header's inline fast paths read these two ints with compiler
 * atomics; the library writes them here. */
static inline unsigned at_int_load(const volatile int *p) { return AO_int_load((const volatile unsigned *)p); }
static inline unsigned at_int_load_acquire(const volatile int *p) { return AO_int_load_acquire((const volatile unsigned *)p); }
static inline void at_int_store_seq(volatile int *p, int v) { AO_int_store_full((volatile unsigned *)p, (unsigned)v); }
static inline unsigned at_int_load_seq(const volatile int *p) { return AO_int_load_full((const volatile unsigned *)p); }

/* Pointer convenience wrappers over the word versions. */
#define at_load_ptr(p) ((void *)at_load((const volatile tc_aword *)(p)))
#define at_load_ptr_acquire(p) ((void *)at_load_acquire((const volatile tc_aword *)(p)))
#define at_store_ptr(p, v) at_store((volatile tc_aword *)(p), (uintptr_t)(v))
#define at_store_ptr_release(p, v) at_store_release((volatile tc_aword *)(p), (uintptr_t)(v))

#endif
