/* mark.c — marking and the checkmark verifier; see mark.h. */
#include "mark.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "options.h"
#include "platform.h"

static pthread_mutex_t grey_lock = PTHREAD_MUTEX_INITIALIZER;
static grey_chunk *grey_full;  /* chunks holding grey objects */
static grey_chunk *grey_empty; /* spare chunks */
tc_aword mark_black_allocation;
static tc_aword marked_bytes, marked_objects;

static grey_chunk *chunk_get_empty(void)
{
    pthread_mutex_lock(&grey_lock);
    grey_chunk *c = grey_empty;
    if (c)
        grey_empty = c->next;
    pthread_mutex_unlock(&grey_lock);
    if (!c) {
        c = malloc(sizeof *c);
        if (!c)
            plat_fatal("out of memory for the mark stack (%zu bytes)", sizeof *c);
    }
    c->next = NULL;
    c->n = 0;
    return c;
}

static void chunk_put(grey_chunk **list, grey_chunk *c)
{
    pthread_mutex_lock(&grey_lock);
    c->next = *list;
    *list = c;
    pthread_mutex_unlock(&grey_lock);
}

static grey_chunk *chunk_take_full(void)
{
    pthread_mutex_lock(&grey_lock);
    grey_chunk *c = grey_full;
    if (c)
        grey_full = c->next;
    pthread_mutex_unlock(&grey_lock);
    return c;
}

void mark_visitor_init(tc_visitor *v, int mode)
{
    *v = (tc_visitor){.mode = mode, .root_kind = "roots"};
}

void mark_visitor_done(tc_visitor *v)
{
    if (v->chunk)
        chunk_put(v->chunk->n ? &grey_full : &grey_empty, v->chunk);
    v->chunk = NULL;
}

static void push_grey(tc_visitor *v, void *obj)
{
    grey_chunk *c = v->chunk;
    if (!c || c->n == GREY_CHUNK_ITEMS) {
        if (c)
            chunk_put(&grey_full, c);
        c = v->chunk = chunk_get_empty();
    }
    c->items[c->n++] = obj;
}

static void *pop_grey(tc_visitor *v)
{
    grey_chunk *c = v->chunk;
    if (c && c->n)
        return c->items[--c->n];
    grey_chunk *full = chunk_take_full();
    if (!full)
        return NULL;
    if (c)
        chunk_put(&grey_empty, c);
    v->chunk = full;
    return full->items[--full->n];
}

static const char *type_name(const tc_type *t)
{
    return t && t->name ? t->name : "?";
}

static const tc_type *header_of(uintptr_t payload)
{
    return at_load_ptr((const tc_aword *)(payload - TC_HEADER_SIZE));
}

/* Who holds the reference being visited, for diagnostics. */
static void describe_referrer(const tc_visitor *v, char *buf, size_t len)
{
    if (v->current)
        snprintf(buf, len, "a %s object at %p", type_name(header_of((uintptr_t)v->current)),
                 v->current);
    else
        snprintf(buf, len, "%s", v->root_kind);
}

static void report_bad_reference(const tc_visitor *v, tc_span *s, uintptr_t p)
{
    char who[128];
    describe_referrer(v, who, sizeof who);
    uintptr_t first = s->base + TC_SPAN_SLOT0 + TC_HEADER_SIZE;
    size_t idx = p < first ? 0 : s->sizeclass ? ((uint64_t)(p - first) * s->divmul) >> 32 : 0;
    uintptr_t obj = first + idx * s->slot_size;
    const tc_type *t = header_of(obj);
    if (obj == p)
        plat_diag("verify: %s holds %p, a freed object (ignored)", who, (void *)p);
    else if (!t)
        plat_diag("verify: %s holds %p, inside a free slot at %p (ignored)", who, (void *)p,
                  (void *)obj);
    else
        plat_diag("verify: %s holds %p, %zu bytes into a %s object at %p (interior "
                  "reference ignored)", who, (void *)p, (size_t)(p - obj), type_name(t),
                  (void *)obj);
}

static void checkmark_failed(const tc_visitor *v, uintptr_t p, const tc_type *t)
{
    char who[128];
    describe_referrer(v, who, sizeof who);
    plat_fatal("checkmark: object %p of type %s is reachable (from %s) but was not marked: "
               "a missing write barrier or a root that was not registered", (void *)p,
               type_name(t), who);
}

static inline void visit_word(tc_visitor *v, uintptr_t p)
{
    if (!p || (p & 15))
        return;
    tc_span *s = heap_span_of(p);
    if (!s)
        return;
    long idx = span_slot_index(s, p);
    const tc_type *t = idx < 0 ? NULL : header_of(p);
    if (!t) {
        if (opt.verify)
            report_bad_reference(v, s, p);
        return;
    }
    uint64_t bit = (uint64_t)1 << (idx & 63);
    tc_aword *word = (v->mode == VISIT_MARK ? s->markbits : s->checkbits) + idx / 64;
    if (!at_set_bits(word, bit))
        return;
    if (v->mode == VISIT_MARK) {
        v->bytes += span_object_bytes(s);
        v->objects++;
    } else if (!(at_load(&s->markbits[idx / 64]) & bit)) {
        checkmark_failed(v, p, t);
    }
    if (t->layout != TC_LAYOUT_LEAF)
        push_grey(v, (void *)p);
}

void tc_visit(tc_visitor *v, void *ref)
{
    if (v->current == NULL)
        v->roots++;
    visit_word(v, (uintptr_t)ref);
}

void tc_visit_slots(tc_visitor *v, void *const *slots, size_t n)
{
    if (v->current == NULL)
        v->roots += n;
    for (size_t i = 0; i < n; i++)
        visit_word(v, at_load((const tc_aword *)&slots[i]));
}

static void scan_object(tc_visitor *v, void *obj)
{
    const tc_type *t = header_of((uintptr_t)obj);
    v->current = obj;
    if (t->layout == TC_LAYOUT_SLOTS) {
        tc_span *s = heap_span_of((uintptr_t)obj);
        const tc_aword *w = obj;
        size_t n = (s->slot_size - TC_HEADER_SIZE) / sizeof(void *);
        for (size_t i = 0; i < n; i++)
            visit_word(v, at_load(&w[i]));
    } else {
        t->trace(v, obj);
    }
    v->current = NULL;
}

void mark_drain(tc_visitor *v)
{
    void *obj;
    while ((obj = pop_grey(v)) != NULL)
        scan_object(v, obj);
}

void mark_set_black_allocation(int on) { at_store_seq(&mark_black_allocation, (uintptr_t)on); }

void mark_set_allocated(tc_span *s, size_t idx)
{
    at_set_bits(&s->markbits[idx / 64], (uint64_t)1 << (idx & 63));
}

int mark_is_marked(const void *p)
{
    tc_span *s = heap_span_of((uintptr_t)p);
    long idx = s ? span_slot_index(s, (uintptr_t)p) : -1;
    return idx >= 0 && (at_load(&s->markbits[idx / 64]) >> (idx & 63) & 1);
}

static void clear_checkbits(tc_span *s, void *ctx)
{
    (void)ctx;
    for (unsigned w = 0; w < TC_BITWORDS; w++)
        at_store(&s->checkbits[w], 0);
}

void mark_checkmark(void (*scan_roots)(tc_visitor *v))
{
    heap_for_each_span(clear_checkbits, NULL);
    tc_visitor v;
    mark_visitor_init(&v, VISIT_CHECK);
    scan_roots(&v);
    mark_drain(&v);
    mark_visitor_done(&v);
}

void mark_add_counts(uint64_t bytes, uint64_t objects)
{
    at_add(&marked_bytes, bytes);
    at_add(&marked_objects, objects);
}

void mark_take_counts(uint64_t *bytes, uint64_t *objects)
{
    *bytes = at_load(&marked_bytes);
    *objects = at_load(&marked_objects);
    at_store(&marked_bytes, 0);
    at_store(&marked_objects, 0);
}

void mark_reset(void)
{
    pthread_mutex_lock(&grey_lock);
    grey_chunk *lists[2] = {grey_full, grey_empty};
    grey_full = grey_empty = NULL;
    pthread_mutex_unlock(&grey_lock);
    for (int i = 0; i < 2; i++)
        while (lists[i]) {
            grey_chunk *c = lists[i];
            lists[i] = c->next;
            free(c);
        }
    at_store(&mark_black_allocation, 0);
}
