/* collide.c — an embedder whose own names are the library's internal
 * ones (the names an interpreter really has: heap_init, opt, centrals,
 * alloc_reset, mark_drain, stats_init).  It must link against the static
 * and the shared library alike, and each side must keep its own: the
 * library's internals carry the tci_ prefix and the shared library
 * exports only the public API. */
#include <stdio.h>
#include <string.h>

#include <tricolor.h>

int opt = 42;                     /* the library has tci_opt */
const char *centrals[3] = {"a", "b", "c"};
static int heap_inits;

int heap_init(void);
int heap_init(void) { return ++heap_inits; }
void alloc_reset(void);
void alloc_reset(void) { opt = 0; }
int mark_drain(int x);
int mark_drain(int x) { return x + 1; }
void stats_init(const char *s);
void stats_init(const char *s) { (void)s; }

typedef struct cell {
    struct cell *next;
    void *value;
} cell;
static const tc_type cell_type = {.name = "cell", .layout = TC_LAYOUT_SLOTS};

int main(void)
{
    if (tc_init(NULL) != TC_OK)
        return 1;
    cell *list = NULL;
    TC_ROOTS(list);
    for (int i = 0; i < 100000; i++) {
        cell *c = tc_alloc(&cell_type, sizeof *c);
        TC_WRITE(c, next, list);
        list = c;
    }
    tc_collect();
    tc_stats st;
    tc_read_stats(&st);
    int ok = st.objects_live == 100000 && opt == 42 && heap_init() == 1 &&
             mark_drain(1) == 2 && strcmp(centrals[1], "b") == 0;
    alloc_reset();
    ok = ok && opt == 0;
    list = NULL;
    tc_shutdown();
    printf("collide: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
