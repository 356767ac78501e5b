/* sizeclass.c — builds the size-class table at start-up; see sizeclass.h. */
#include "sizeclass.h"

#include "heap.h"
#include "platform.h"

sc_info sc_table[TC_NUM_CLASSES];
uint8_t sc_lookup16[1024 / 16 + 1];
uint8_t sc_lookup128[(TC_MAX_SMALL_SLOT - 1024) / 128 + 1];

/* Slots in a span of npages: the first slot starts TC_SPAN_SLOT0 bytes in. */
static uint32_t slots_in(uint32_t npages, uint32_t slot)
{
    return (uint32_t)((npages * TC_PAGE_SIZE - TC_SPAN_SLOT0) / slot);
}

static uint32_t pick_npages(uint32_t slot)
{
    for (uint32_t np = 1; np <= 16; np++) {
        uint32_t n = slots_in(np, slot);
        if (n == 0)
            continue;
        uint32_t waste = np * TC_PAGE_SIZE - n * slot;
        if (waste * 8 <= np * TC_PAGE_SIZE && n <= TC_SPAN_MAX_OBJECTS)
            return np;
    }
    plat_fatal("no span length fits slot size %u", slot);
}

/* Check the multiply-shift division at every slot boundary: it is exact at
 * k*slot and one below it, so (monotonic) it is exact everywhere between. */
static void check_divmul(const sc_info *c)
{
    uint64_t span_bytes = (uint64_t)c->npages * TC_PAGE_SIZE;
    for (uint64_t k = 1; k * c->slot_size < span_bytes; k++) {
        uint64_t off = k * c->slot_size;
        if ((off * c->divmul) >> 32 != k || ((off - 1) * c->divmul) >> 32 != k - 1)
            plat_fatal("size class %u: division magic inexact", c->slot_size);
    }
}

void sc_init(void)
{
    if (sc_table[1].slot_size)
        return;
    unsigned c = 1;
    for (uint32_t s = 16; s <= 128; s += 16)
        sc_table[c++].slot_size = s;
    for (uint32_t p = 128; p < TC_MAX_SMALL_SLOT; p *= 2)
        for (uint32_t k = 1; k <= 8; k++)
            sc_table[c++].slot_size = p + k * (p / 8);
    if (c != TC_NUM_CLASSES)
        plat_fatal("size class table has %u classes, expected %u", c, TC_NUM_CLASSES);
    for (c = 1; c < TC_NUM_CLASSES; c++) {
        sc_info *ci = &sc_table[c];
        ci->npages = pick_npages(ci->slot_size);
        ci->nelems = slots_in(ci->npages, ci->slot_size);
        ci->divmul = (uint32_t)(UINT32_MAX / ci->slot_size + 1);
        check_divmul(ci);
    }
    c = 1;
    for (unsigned i = 0; i < sizeof sc_lookup16; i++) {
        while (sc_table[c].slot_size < i * 16)
            c++;
        sc_lookup16[i] = (uint8_t)c;
    }
    for (unsigned i = 0; i < sizeof sc_lookup128; i++) {
        while (sc_table[c].slot_size < 1024 + i * 128)
            c++;
        sc_lookup128[i] = (uint8_t)c;
    }
}
