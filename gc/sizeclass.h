/*
 * sizeclass.h — small-object size classes.
 *
 * A "slot" is one object's header word plus its payload.  Slot sizes are
 * multiples of 16 so payloads stay 16-byte aligned (see heap.h for the
 * span layout).  Classes: 16..128 in steps of 16, then eight classes per
 * power of two up to 32 KiB, so above 128 bytes no class is more than 1/8
 * larger than the one below it (rounding waste <= 12.5%).  Each class's
 * span length is the fewest pages whose tail waste is <= 1/8 of the span
 * and that hold at most TC_SPAN_MAX_OBJECTS slots.
 */
#ifndef TC_SIZECLASS_H
#define TC_SIZECLASS_H

#include "namespace.h"

#include <stddef.h>
#include <stdint.h>

#define TC_NUM_CLASSES 73          /* class 0 means "large object" */
#define TC_MAX_SMALL_SLOT 32768
#define TC_SPAN_MAX_OBJECTS 512

typedef struct sc_info {
    uint32_t slot_size; /* header + payload bytes */
    uint32_t npages;    /* pages per span */
    uint32_t nelems;    /* slots per span */
    uint32_t divmul;    /* offset * divmul >> 32 == offset / slot_size */
} sc_info;

extern sc_info sc_table[TC_NUM_CLASSES];

/* Fill sc_table and the lookup tables; idempotent. */
void sc_init(void);

/* The class for a slot of `slot_bytes` (header included), or 0 if it is
 * larger than TC_MAX_SMALL_SLOT. */
static inline unsigned sc_class_of(size_t slot_bytes);

extern uint8_t sc_lookup16[1024 / 16 + 1];
extern uint8_t sc_lookup128[(TC_MAX_SMALL_SLOT - 1024) / 128 + 1];

static inline unsigned sc_class_of(size_t slot_bytes)
{
    if (slot_bytes <= 1024)
        return sc_lookup16[(slot_bytes + 15) >> 4];
    if (slot_bytes <= TC_MAX_SMALL_SLOT)
        return sc_lookup128[(slot_bytes - 1024 + 127) >> 7];
    return 0;
}

#endif
