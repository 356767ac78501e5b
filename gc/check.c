/* check.c — the checking build's lock-order check; see check.h. */
#define TC_CHECK_IMPL /* the real pthread_mutex_* here */
#include "check.h"

#ifdef TC_CHECKING

#include <stdint.h>

#include "atomics.h"

static const char *const rank_names[RANK_COUNT] = {
    "an unranked lock", "init_lock", "threads_lock", "cyc_lock", "roots_lock", "frames_lock",
    "a central lock", "heap_lock", "specials_lock", "queue_lock", "grey_lock",
    "a stripe lock", "pacer_lock", "limiter_lock", "stats_lock", "oom_lock",
    "the scavenger's ctl_lock", "the scavenger's lock", "world_lock",
};

/* Mutexes with a rank, by address: open addressing, filled by
 * constructors and by threads attaching (frames_lock), emptied by threads
 * detaching, read by every lock call.  A slot is claimed (SLOT_CLAIMED)
 * with a compare-and-swap, then gets its rank, then its address with a
 * release store: two threads registering at once never share a slot, and
 * a reader that finds the address also finds the rank. */
#define RANKED_SLOTS 4096 /* a power of two */
#define SLOT_DELETED ((uintptr_t)1)
#define SLOT_CLAIMED ((uintptr_t)2)
static tc_aword ranked_addr[RANKED_SLOTS];
static tc_aword ranked_rank[RANKED_SLOTS];

/* Arrays of mutexes of one rank (the central locks, the stripes): set
 * when the collector is first started (tc_init, no other thread of ours
 * runs yet), and kept: the arrays are static. */
static struct {
    uintptr_t first, stride;
    size_t n;
    int rank;
} arrays[4];
static int narrays;

static size_t slot_of(uintptr_t a) { return (size_t)((a >> 4) * 0x9e3779b97f4a7c15u >> 52); }

/* The slot holding address a, or NULL: the probe ends at an empty slot. */
static tc_aword *slot_holding(uintptr_t a)
{
    for (size_t i = slot_of(a), n = 0; n < RANKED_SLOTS; i = (i + 1) % RANKED_SLOTS, n++) {
        uintptr_t seen = at_load_acquire(&ranked_addr[i]);
        if (seen == a)
            return &ranked_addr[i];
        if (seen == 0)
            break;
    }
    return NULL;
}

void tci_lock_rank_set(const pthread_mutex_t *m, int rank)
{
    uintptr_t a = (uintptr_t)m;
    if (slot_holding(a))
        return;
    for (size_t i = slot_of(a), n = 0; n < RANKED_SLOTS; i = (i + 1) % RANKED_SLOTS, n++) {
        uintptr_t seen = at_load_acquire(&ranked_addr[i]);
        if ((seen == 0 || seen == SLOT_DELETED) &&
            AO_compare_and_swap(&ranked_addr[i], seen, SLOT_CLAIMED)) {
            at_store(&ranked_rank[i], (uintptr_t)rank);
            at_store_release(&ranked_addr[i], a);
            return;
        }
    }
    TC_REQUIRE(!"the lock-order check's table is full");
}

void tci_lock_rank_clear(const pthread_mutex_t *m)
{
    tc_aword *slot = slot_holding((uintptr_t)m);
    if (slot)
        at_store_release(slot, SLOT_DELETED);
}

void tci_lock_rank_set_array(const pthread_mutex_t *first, size_t n, size_t stride, int rank)
{
    for (int k = 0; k < narrays; k++)
        if (arrays[k].first == (uintptr_t)first)
            return; /* set by an earlier tc_init */
    TC_REQUIRE(narrays < (int)(sizeof arrays / sizeof arrays[0]));
    arrays[narrays].first = (uintptr_t)first;
    arrays[narrays].stride = stride;
    arrays[narrays].n = n;
    arrays[narrays].rank = rank;
    narrays++;
}

static int rank_of(const pthread_mutex_t *m)
{
    uintptr_t a = (uintptr_t)m;
    for (int k = 0; k < narrays; k++) {
        uintptr_t off = a - arrays[k].first;
        if (off < arrays[k].n * arrays[k].stride && off % arrays[k].stride == 0)
            return arrays[k].rank;
    }
    tc_aword *slot = slot_holding(a);
    return slot ? (int)at_load(&ranked_rank[slot - ranked_addr]) : RANK_NONE;
}

/* The ranked locks this thread holds. */
#define MAX_HELD 16
static _Thread_local struct held {
    const pthread_mutex_t *m;
    int rank;
    const char *file;
    int line;
} held[MAX_HELD];
static _Thread_local int nheld;

static void note_held(const pthread_mutex_t *m, int rank, const char *file, int line)
{
    TC_REQUIRE(nheld < MAX_HELD);
    held[nheld++] = (struct held){m, rank, file, line};
}

int tci_lock_checked(pthread_mutex_t *m, const char *file, int line)
{
    int rank = rank_of(m);
    for (int i = 0; rank != RANK_NONE && i < nheld; i++)
        if (held[i].rank >= rank)
            plat_fatal("lock order: %s:%d takes %s while holding %s (taken at %s:%d); "
                       "design.md §8 orders them the other way, or allows one at a time",
                       file, line, rank_names[rank], rank_names[held[i].rank], held[i].file,
                       held[i].line);
    int err = pthread_mutex_lock(m);
    if (!err && rank != RANK_NONE)
        note_held(m, rank, file, line);
    return err;
}

int tci_trylock_checked(pthread_mutex_t *m, const char *file, int line)
{
    int err = pthread_mutex_trylock(m);
    int rank = err ? RANK_NONE : rank_of(m);
    if (rank != RANK_NONE)
        note_held(m, rank, file, line);
    return err;
}

int tci_unlock_checked(pthread_mutex_t *m)
{
    for (int i = nheld - 1; i >= 0; i--)
        if (held[i].m == m) {
            held[i] = held[--nheld];
            break;
        }
    return pthread_mutex_unlock(m);
}

#else
typedef int check_c_is_empty_outside_the_checking_build;
#endif
