/*
 * hello.c — the smallest complete embedding of tricolor: one type, one
 * root, one barrier store, a collection, stats printed.
 */
#include <stdio.h>

#include "tricolor.h"

typedef struct cell {
    struct cell *next; /* a reference */
    long value;        /* stored tagged (odd), so it is never a reference */
} cell;

/* Every word of a cell is either a reference or an odd tagged integer. */
static const tc_type cell_type = {.name = "cell", .layout = TC_LAYOUT_SLOTS};

int main(void)
{
    if (tc_init(NULL) != 0) /* this thread is now attached */
        return 1;

    cell *list = NULL;
    TC_ROOTS(list); /* `list` is a root until the end of main */
    for (long i = 0; i < 100000; i++) {
        cell *c = tc_alloc(&cell_type, sizeof(cell));
        c->value = (i << 1) | 1;
        if (i % 1000 == 0) {        /* keep one cell in 1000; drop the rest */
            TC_WRITE(c, next, list); /* every reference store into the heap */
            list = c;                /* a store into a root: no barrier */
        }
    }
    tc_collect();

    long n = 0;
    for (cell *c = list; c; c = c->next)
        n++;
    tc_stats st;
    tc_read_stats(&st);
    printf("hello: %ld cells reachable, %llu cycles, %llu objects live, longest pause %.3f ms\n",
           n, (unsigned long long)st.cycles, (unsigned long long)st.objects_live,
           st.pause_max_ns / 1e6);
    tc_shutdown();
    return 0;
}
