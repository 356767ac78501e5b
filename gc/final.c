/* final.c — finalizers and cleanups; see final.h. */
#include "final.h"
#include "check.h"

#include <pthread.h>
#include <stdlib.h>

#include "alloc.h"
#include "atomics.h"
#include "barrier.h"
#include "collector.h"
#include "heap.h"
#include "mark.h"
#include "platform.h"
#include "threads.h"

/* ------------------------------------------------------------- records */

typedef struct cleanup {
    tc_cleanup_fn fn;
    void *ctx;
    struct cleanup *next;
} cleanup;

typedef struct special {
    uintptr_t obj;
    tc_finalizer_fn fin; /* NULL: none */
    void *fin_ctx;
    cleanup *cleanups;
    struct special *next; /* hash chain */
} special;

static pthread_mutex_t specials_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(specials_lock, RANK_SPECIALS);
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
TC_LOCK_RANK(queue_lock, RANK_QUEUE);
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER; /* jobs queued, or stop */

typedef struct job job;

/* The module's state, zeroed in one place (final_reset), when neither
 * the collector nor the finalizer thread runs. */
static struct final_state {
    /* The specials: each object with a finalizer or cleanups (specials_lock). */
    special **table; /* power-of-two buckets */
    size_t nbuckets, nspecials;
    /* The queue of finalizers and cleanups to run (queue_lock; the counts
     * are atomic words, read without it). */
    job *queue_head, *queue_tail;
    TC_OWN_LINE tc_aword queue_len;
    TC_OWN_LINE tc_aword queued_total, run_total, queued_cycle, run_cycle;
    int thread_stop;
    /* The finalizer thread (init_lock's: final_start, final_stop, fork). */
    pthread_t thread;
    int have_thread, thread_mode;
} fs;
/* This thread holds specials_lock while final_scan scans an oversized
 * bucket: a key test of the marking it does (final_has_finalizer) reads
 * the table under that hold instead of locking again. */
static _Thread_local int scanning_specials;

static size_t bucket_of(uintptr_t obj, size_t n)
{
    return (size_t)(((uint64_t)obj * 0x9e3779b97f4a7c15ull) >> 20) & (n - 1);
}

/* specials_lock held. */
static special **find_locked(uintptr_t obj)
{
    if (!fs.nbuckets)
        return NULL;
    special **pp = &fs.table[bucket_of(obj, fs.nbuckets)];
    while (*pp && (*pp)->obj != obj)
        pp = &(*pp)->next;
    return pp;
}

static int find_has_fin_locked(uintptr_t obj)
{
    special **pp = find_locked(obj);
    return pp && *pp && (*pp)->fin;
}

/* specials_lock held: obj's record, made if there is none; NULL when out
 * of memory. */
static special *get_or_make_locked(uintptr_t obj)
{
    special **pp = find_locked(obj);
    if (pp && *pp)
        return *pp;
    if (fs.nspecials >= fs.nbuckets) {
        size_t n = fs.nbuckets ? 2 * fs.nbuckets : 256;
        special **nt = calloc(n, sizeof *nt);
        if (!nt)
            return NULL;
        for (size_t i = 0; i < fs.nbuckets; i++)
            for (special *s = fs.table[i], *next; s; s = next) {
                next = s->next;
                size_t b = bucket_of(s->obj, n);
                s->next = nt[b];
                nt[b] = s;
            }
        free(fs.table);
        fs.table = nt;
        fs.nbuckets = n;
    }
    special *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t b = bucket_of(obj, fs.nbuckets);
    s->obj = obj;
    s->next = fs.table[b];
    fs.table[b] = s;
    fs.nspecials++;
    return s;
}

/* specials_lock held: drop obj's record if it holds nothing more, and the
 * header flag with it. */
static void drop_if_empty_locked(uintptr_t obj)
{
    special **pp = find_locked(obj);
    special *s = pp ? *pp : NULL;
    if (!s || s->fin || s->cleanups)
        return;
    *pp = s->next;
    free(s);
    fs.nspecials--;
    tc_aword *h = (tc_aword *)(obj - TC_HEADER_SIZE);
    for (uintptr_t old = at_load(h); !at_cas(h, old, old & ~HEADER_SPECIAL);)
        old = at_load(h);
}

static const char *check_object(const char *what, const void *obj)
{
    if (!thread_self_or_diag(what))
        return "not attached";
    if (!heap_object_span(obj)) {
        char buf[160];
        plat_diag("%s(%p): %s", what, obj,
                  heap_describe_address((uintptr_t)obj, buf, sizeof buf));
        return "not an object";
    }
    return NULL;
}

int tc_finalizer_set(void *obj, tc_finalizer_fn fn, void *ctx)
{
    if (check_object("tc_finalizer_set", obj))
        return thread_self() ? TC_EINVAL : TC_ENOTATTACHED;
    uintptr_t p = (uintptr_t)obj;
    int err = 0;
    pthread_mutex_lock(&specials_lock);
    if (fn) {
        special *s = get_or_make_locked(p);
        if (s) {
            s->fin = fn;
            s->fin_ctx = ctx;
            at_or((tc_aword *)(p - TC_HEADER_SIZE), HEADER_SPECIAL);
        } else {
            err = TC_ENOMEM;
        }
    } else {
        special **pp = find_locked(p);
        if (pp && *pp && (*pp)->fin) {
            (*pp)->fin = NULL;
            drop_if_empty_locked(p);
        } else {
            err = TC_ENOTFOUND;
        }
    }
    pthread_mutex_unlock(&specials_lock);
    return err;
}

int tc_cleanup_add(void *obj, tc_cleanup_fn fn, void *ctx)
{
    if (check_object("tc_cleanup_add", obj))
        return thread_self() ? TC_EINVAL : TC_ENOTATTACHED;
    if (!fn) {
        plat_diag("tc_cleanup_add: fn is NULL");
        return TC_EINVAL;
    }
    uintptr_t p = (uintptr_t)obj;
    cleanup *c = malloc(sizeof *c);
    pthread_mutex_lock(&specials_lock);
    special *s = c ? get_or_make_locked(p) : NULL;
    if (s) {
        *c = (cleanup){fn, ctx, s->cleanups};
        s->cleanups = c;
        at_or((tc_aword *)(p - TC_HEADER_SIZE), HEADER_SPECIAL);
    }
    pthread_mutex_unlock(&specials_lock);
    if (!s) {
        free(c);
        return TC_ENOMEM;
    }
    return 0;
}

int tc_cleanup_remove(void *obj, tc_cleanup_fn fn, void *ctx)
{
    if (check_object("tc_cleanup_remove", obj))
        return thread_self() ? TC_EINVAL : TC_ENOTATTACHED;
    uintptr_t p = (uintptr_t)obj;
    int err = TC_ENOTFOUND;
    pthread_mutex_lock(&specials_lock);
    special **pp = find_locked(p);
    if (pp && *pp) {
        for (cleanup **cp = &(*pp)->cleanups; *cp; cp = &(*cp)->next)
            if ((*cp)->fn == fn && (*cp)->ctx == ctx) {
                cleanup *c = *cp;
                *cp = c->next;
                free(c);
                err = 0;
                break;
            }
        drop_if_empty_locked(p);
    }
    pthread_mutex_unlock(&specials_lock);
    return err;
}

int final_has_finalizer(const void *obj)
{
    if (scanning_specials)
        return find_has_fin_locked((uintptr_t)obj);
    pthread_mutex_lock(&specials_lock);
    int has = find_has_fin_locked((uintptr_t)obj);
    pthread_mutex_unlock(&specials_lock);
    return has;
}

/* --------------------------------------------------------------- queue */

struct job {
    uintptr_t obj;          /* a finalizer's object; 0 for a cleanup */
    tc_finalizer_fn fin;
    tc_cleanup_fn clean;
    void *ctx;
    struct job *next;
};


static void enqueue(job *j)
{
    pthread_mutex_lock(&queue_lock);
    j->next = NULL;
    if (fs.queue_tail)
        fs.queue_tail->next = j;
    else
        fs.queue_head = j;
    fs.queue_tail = j;
    at_add(&fs.queue_len, 1);
    pthread_cond_signal(&queue_cond);
    pthread_mutex_unlock(&queue_lock);
    at_add(&fs.queued_total, 1);
    at_add(&fs.queued_cycle, 1);
}

/* The next job, shaded if marking (final.h); NULL if none. */
static job *dequeue(void)
{
    pthread_mutex_lock(&queue_lock);
    job *j = fs.queue_head;
    if (j) {
        fs.queue_head = j->next;
        if (!fs.queue_head)
            fs.queue_tail = NULL;
        at_sub(&fs.queue_len, 1);
        if (j->obj)
            barrier_shade((void *)j->obj);
    }
    pthread_mutex_unlock(&queue_lock);
    return j;
}

int final_on_death(uintptr_t obj)
{
    int keep = 0;
    cleanup *cleanups = NULL;
    job *fin_job = NULL;
    pthread_mutex_lock(&specials_lock);
    special **pp = find_locked(obj);
    special *s = pp ? *pp : NULL;
    if (s && s->fin) {
        /* Marked before the finalizer leaves the table: a weak read that
         * finds none looks at the mark next, and sees the object kept. */
        mark_set_bit_of(obj);
        fin_job = malloc(sizeof *fin_job);
        if (fin_job) {
            *fin_job = (job){.obj = obj, .fin = s->fin, .ctx = s->fin_ctx};
            s->fin = NULL;
        }
        keep = 1; /* even without memory to queue it: finalized later */
    } else if (s) {
        cleanups = s->cleanups;
        s->cleanups = NULL;
    }
    drop_if_empty_locked(obj);
    pthread_mutex_unlock(&specials_lock);
    if (fin_job)
        enqueue(fin_job);
    while (cleanups) {
        cleanup *c = cleanups;
        cleanups = c->next;
        job *j = malloc(sizeof *j);
        if (j) {
            *j = (job){.clean = c->fn, .ctx = c->ctx};
            enqueue(j);
        }
        free(c);
    }
    return keep;
}

/* final_scan works in batches: the objects of whole buckets, copied
 * under specials_lock and scanned without it, so that tc_finalizer_set
 * never waits for the whole scan (200,000 finalizable objects held the
 * lock for 50-68 ms).  The objects stay valid: nothing is freed while
 * marking (final_scan runs after pause 1, or inside a pause).  The table
 * only grows, and when it doubles bucket b's entries go to b or b + n, so
 * going on from the same index after a resize still meets every entry
 * that was there when the scan began (some twice: harmless); one added
 * later belongs to an object the program reached, which marking keeps. */
#define FINAL_SCAN_BATCH 512

/* specials_lock held: the objects with finalizers of bucket b. */
static size_t bucket_finalizable_locked(size_t b)
{
    size_t n = 0;
    for (const special *s = fs.table[b]; s; s = s->next)
        n += s->fin != NULL;
    return n;
}

/* specials_lock held: bucket b alone is more than a batch (a hash
 * collision): scan it under the lock, as a key test on this thread may
 * read the table meanwhile (final_has_finalizer). */
static void scan_bucket_locked(tc_visitor *v, size_t b)
{
    scanning_specials = 1;
    for (const special *s = fs.table[b]; s; s = s->next)
        if (s->fin)
            mark_scan_contents(v, (void *)s->obj);
    scanning_specials = 0;
}

/* specials_lock held: copy the finalizable objects of whole buckets from
 * *next on into batch; *next moves past them.  Returns how many. */
static size_t take_batch_locked(tc_visitor *v, size_t *next, uintptr_t *batch)
{
    size_t n = 0;
    while (*next < fs.nbuckets) {
        size_t b = *next, len = bucket_finalizable_locked(b);
        if (n + len > FINAL_SCAN_BATCH) {
            if (n == 0) {
                scan_bucket_locked(v, b);
                (*next)++;
            }
            break;
        }
        for (const special *s = fs.table[b]; s; s = s->next)
            if (s->fin)
                batch[n++] = s->obj;
        (*next)++;
    }
    return n;
}

void final_scan(tc_visitor *v)
{
    const char *kind = v->root_kind;
    v->root_kind = "an object with a finalizer (its referents)";
    uintptr_t batch[FINAL_SCAN_BATCH];
    for (size_t next = 0;;) {
        pthread_mutex_lock(&specials_lock);
        int more = next < fs.nbuckets;
        size_t n = more ? take_batch_locked(v, &next, batch) : 0;
        pthread_mutex_unlock(&specials_lock);
        if (!more)
            break;
        for (size_t i = 0; i < n; i++)
            mark_scan_contents(v, (void *)batch[i]);
    }
    v->root_kind = "the finalizer queue";
    pthread_mutex_lock(&queue_lock);
    for (job *j = fs.queue_head; j; j = j->next)
        if (j->obj)
            tc_visit(v, (void *)j->obj);
    pthread_mutex_unlock(&queue_lock);
    v->root_kind = kind;
}

static void run_job(job *j)
{
    if (j->fin) {
        void *obj = (void *)j->obj;
        TC_ROOTS(obj); /* alive while its finalizer runs, whatever happens */
        j->fin(obj, j->ctx);
    } else {
        j->clean(j->ctx);
    }
    free(j);
    at_add(&fs.run_total, 1);
    at_add(&fs.run_cycle, 1);
}

size_t tc_run_finalizers(size_t max)
{
    if (!thread_self_or_diag("tc_run_finalizers"))
        return 0;
    size_t n = 0;
    job *j;
    while (n < max && (j = dequeue()) != NULL) {
        run_job(j);
        n++;
    }
    return n;
}

size_t tc_finalizers_pending(void) { return (size_t)at_load(&fs.queue_len); }

/* ------------------------------------------------------ the thread */


/* Wait, in a blocking region, for a job or the stop. */
static int wait_for_work(void)
{
    tc_blocking_enter();
    pthread_mutex_lock(&queue_lock);
    while (!fs.queue_head && !fs.thread_stop)
        pthread_cond_wait(&queue_cond, &queue_lock);
    int stop = fs.thread_stop;
    pthread_mutex_unlock(&queue_lock);
    tc_blocking_leave();
    return !stop;
}

static void *finalizer_main(void *arg)
{
    (void)arg;
    plat_name_thread("tc-finalizer");
    if (tc_thread_attach() != TC_OK)
        return NULL;
    while (wait_for_work())
        tc_run_finalizers(64);
    tc_thread_detach();
    return NULL;
}

int final_start_thread(void)
{
    if (fs.thread_mode != TC_FINALIZE_THREAD || fs.have_thread)
        return 0;
    pthread_mutex_lock(&queue_lock);
    fs.thread_stop = 0;
    pthread_mutex_unlock(&queue_lock);
    if (plat_thread_create(&fs.thread, finalizer_main, NULL) != 0)
        return TC_ENOMEM;
    fs.have_thread = 1;
    return 0;
}

void final_stop_thread(void)
{
    if (!fs.have_thread)
        return;
    /* The thread may need a pause to finish (it allocates): wait for it
     * in a blocking region. */
    int blocked = threads_block_if_running();
    plat_stop_thread(fs.thread, &queue_lock, &queue_cond, &fs.thread_stop);
    fs.have_thread = 0;
    threads_unblock(blocked);
}

int final_start(int mode)
{
    fs.thread_mode = mode;
    return final_start_thread();
}

void final_stop(void)
{
    final_stop_thread();
    if (thread_self())
        tc_run_finalizers(SIZE_MAX);
}

void final_reset(void)
{
    pthread_mutex_lock(&specials_lock);
    pthread_mutex_lock(&queue_lock);
    for (size_t i = 0; i < fs.nbuckets; i++)
        for (special *s = fs.table[i], *next; s; s = next) {
            next = s->next;
            for (cleanup *c = s->cleanups, *cn; c; c = cn) {
                cn = c->next;
                free(c);
            }
            free(s);
        }
    free(fs.table);
    for (job *j = fs.queue_head, *next; j; j = next) {
        next = j->next;
        free(j);
    }
    fs = (struct final_state){0};
    pthread_mutex_unlock(&queue_lock);
    pthread_mutex_unlock(&specials_lock);
}

void final_fork(int stage)
{
    plat_fork_mutex(&specials_lock, stage);
    plat_fork_mutex(&queue_lock, stage);
    plat_fork_cond(&queue_cond, stage);
}

uint64_t final_total_queued(void) { return at_load(&fs.queued_total); }
uint64_t final_total_run(void) { return at_load(&fs.run_total); }

void final_take_cycle_counts(uint64_t *queued, uint64_t *run)
{
    *queued = at_load(&fs.queued_cycle);
    *run = at_load(&fs.run_cycle);
    at_sub(&fs.queued_cycle, *queued);
    at_sub(&fs.run_cycle, *run);
}
