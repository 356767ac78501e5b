/* roots.c — root registration and scanning; see roots.h. */
#include "roots.h"

#include <pthread.h>
#include <stdlib.h>

#include "mark.h"
#include "platform.h"

typedef struct slot_range {
    void **slots;
    size_t n;
} slot_range;

static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;
static slot_range *ranges;
static size_t nranges, ranges_cap;
static root_fn_entry *scanners;
static size_t nscanners, scanners_cap;

/* Grow *arr (of elem-sized entries) so one more fits. */
static int reserve(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return TC_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int tc_root_add(void **slots, size_t n)
{
    if (!slots || n == 0) {
        plat_diag("tc_root_add(%p, %zu): %s", (void *)slots, n,
                  slots ? "n must be > 0" : "slots is NULL");
        return TC_EINVAL;
    }
    pthread_mutex_lock(&roots_lock);
    int err = 0;
    for (size_t i = 0; i < nranges && !err; i++)
        if (ranges[i].slots == slots)
            err = TC_EEXIST;
    if (!err)
        err = reserve((void **)&ranges, &ranges_cap, nranges, sizeof *ranges);
    if (!err)
        ranges[nranges++] = (slot_range){slots, n};
    pthread_mutex_unlock(&roots_lock);
    return err;
}

int tc_root_remove(void **slots)
{
    pthread_mutex_lock(&roots_lock);
    int err = TC_ENOTFOUND;
    for (size_t i = 0; i < nranges; i++)
        if (ranges[i].slots == slots) {
            ranges[i] = ranges[--nranges];
            err = 0;
            break;
        }
    pthread_mutex_unlock(&roots_lock);
    return err;
}

/* Add or remove (fn, ctx) in a scanner table, under roots_lock. */
static int table_add(root_fn_entry **tab, size_t *n, size_t *cap, tc_root_fn fn, void *ctx)
{
    for (size_t i = 0; i < *n; i++)
        if ((*tab)[i].fn == fn && (*tab)[i].ctx == ctx)
            return TC_EEXIST;
    int err = reserve((void **)tab, cap, *n, sizeof **tab);
    if (!err)
        (*tab)[(*n)++] = (root_fn_entry){fn, ctx};
    return err;
}

static int table_remove(root_fn_entry *tab, size_t *n, tc_root_fn fn, void *ctx)
{
    for (size_t i = 0; i < *n; i++)
        if (tab[i].fn == fn && tab[i].ctx == ctx) {
            tab[i] = tab[--*n];
            return 0;
        }
    return TC_ENOTFOUND;
}

int tc_root_scanner_add(tc_root_fn fn, void *ctx)
{
    if (!fn) {
        plat_diag("tc_root_scanner_add: fn is NULL");
        return TC_EINVAL;
    }
    pthread_mutex_lock(&roots_lock);
    int err = table_add(&scanners, &nscanners, &scanners_cap, fn, ctx);
    pthread_mutex_unlock(&roots_lock);
    return err;
}

int tc_root_scanner_remove(tc_root_fn fn, void *ctx)
{
    pthread_mutex_lock(&roots_lock);
    int err = table_remove(scanners, &nscanners, fn, ctx);
    pthread_mutex_unlock(&roots_lock);
    return err;
}

int tc_thread_root_scanner_add(tc_root_fn fn, void *ctx)
{
    tc_thread *t = thread_self_or_diag("tc_thread_root_scanner_add");
    if (!t)
        return TC_ENOTATTACHED;
    if (!fn) {
        plat_diag("tc_thread_root_scanner_add: fn is NULL");
        return TC_EINVAL;
    }
    pthread_mutex_lock(&roots_lock);
    int err = table_add(&t->scanners, &t->nscanners, &t->scanners_cap, fn, ctx);
    pthread_mutex_unlock(&roots_lock);
    return err;
}

int tc_thread_root_scanner_remove(tc_root_fn fn, void *ctx)
{
    tc_thread *t = thread_self_or_diag("tc_thread_root_scanner_remove");
    if (!t)
        return TC_ENOTATTACHED;
    pthread_mutex_lock(&roots_lock);
    int err = table_remove(t->scanners, &t->nscanners, fn, ctx);
    pthread_mutex_unlock(&roots_lock);
    return err;
}

void roots_thread_gone(tc_thread *t)
{
    pthread_mutex_lock(&roots_lock);
    free(t->scanners);
    t->scanners = NULL;
    t->nscanners = t->scanners_cap = 0;
    pthread_mutex_unlock(&roots_lock);
}

void roots_reset(void)
{
    pthread_mutex_lock(&roots_lock);
    free(ranges);
    free(scanners);
    ranges = NULL;
    scanners = NULL;
    nranges = ranges_cap = nscanners = scanners_cap = 0;
    pthread_mutex_unlock(&roots_lock);
}

/* ---------------------------------------------------------------- frames */

void tc__frame_push(tc_frame *f)
{
    tc_thread *t = thread_self_or_diag("TC_ROOTS");
    if (!t) {
        f->popped = 1;
        return;
    }
    f->prev = t->frames;
    t->frames = f;
}

void tc__frame_pop(tc_frame *f)
{
    tc_thread *t = thread_self();
    if (f->popped || !t)
        return;
    f->popped = 1;
    if (t->frames != f) {
        plat_diag("TC_ROOTS: frames popped out of order (a longjmp out of a frame's scope?)");
        /* Unlink it wherever it is, so no dead frame stays a root. */
        for (tc_frame **pp = &t->frames; *pp; pp = &(*pp)->prev)
            if (*pp == f) {
                *pp = f->prev;
                return;
            }
        return;
    }
    t->frames = f->prev;
}

void tc__frame_pop_top(void)
{
    tc_thread *t = thread_self_or_diag("TC_ROOTS_POP");
    if (!t)
        return;
    if (!t->frames) {
        plat_diag("TC_ROOTS_POP: no frame to pop");
        return;
    }
    t->frames->popped = 1;
    t->frames = t->frames->prev;
}

/* --------------------------------------------------------------- scanning */

static void scan_thread(tc_thread *t, void *ctx)
{
    tc_visitor *v = ctx;
    v->root_kind = "a TC_ROOTS frame";
    for (tc_frame *f = t->frames; f; f = f->prev)
        for (unsigned i = 0; i < f->n; i++)
            tc_visit(v, *f->slots[i]);
    v->root_kind = "a thread root scanner";
    for (size_t i = 0; i < t->nscanners; i++)
        t->scanners[i].fn(v, t->scanners[i].ctx);
}

void roots_scan(tc_visitor *v)
{
    pthread_mutex_lock(&roots_lock);
    v->root_kind = "a global root slot";
    for (size_t i = 0; i < nranges; i++)
        tc_visit_slots(v, (void *const *)ranges[i].slots, ranges[i].n);
    v->root_kind = "a global root scanner";
    for (size_t i = 0; i < nscanners; i++)
        scanners[i].fn(v, scanners[i].ctx);
    threads_for_each(scan_thread, v);
    pthread_mutex_unlock(&roots_lock);
    v->root_kind = "roots";
}
