/* busycollect — tc_collect while the program keeps every core busy
 * (issue 14's audit of idle-priority mark workers).
 *
 * N attached threads spin (with safe points) while the main thread holds
 * a 3,000,000-node list and calls tc_collect 5 times.  Marking a list is
 * one long chain: whoever holds its grey end holds up the cycle.  Prints
 * the total and the worst single call.  Compare
 *     build-bench/bench/busycollect 4
 *     TRICOLOR_IDLE_WORKERS=2 build-bench/bench/busycollect 4
 * tricolor only: it measures the library's own threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tricolor.h"

#define NODES 3000000
#define COLLECTS 5
#define MAX_SPINNERS 64

typedef struct node {
    struct node *next;
    void *pad;
} node;

static const tc_type node_type = {.name = "node", .layout = TC_LAYOUT_SLOTS};
static atomic_int stop;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *spin(void *arg)
{
    (void)arg;
    tc_thread_attach();
    volatile unsigned long x = 0;
    while (!atomic_load(&stop)) {
        for (int i = 0; i < 10000; i++)
            x++;
        tc_safepoint();
    }
    tc_thread_detach();
    return NULL;
}

int main(int argc, char **argv)
{
    int nspin = argc > 1 ? atoi(argv[1]) : 4;
    if (nspin < 0 || nspin > MAX_SPINNERS) {
        fprintf(stderr, "usage: busycollect [spinning threads, 0..%d]\n", MAX_SPINNERS);
        return 2;
    }
    if (tc_init(NULL) != 0)
        return 1;
    node *head = NULL, *n = NULL;
    TC_ROOTS(head, n);
    for (int i = 0; i < NODES; i++) {
        n = tc_alloc(&node_type, sizeof(node));
        if (!n)
            return 1;
        TC_WRITE(n, next, head);
        head = n;
    }
    pthread_t t[MAX_SPINNERS];
    for (int i = 0; i < nspin; i++)
        if (pthread_create(&t[i], NULL, spin, NULL) != 0)
            return 1;
    double worst = 0, t0 = now_s();
    for (int i = 0; i < COLLECTS; i++) {
        double a = now_s();
        tc_collect();
        double d = now_s() - a;
        worst = d > worst ? d : worst;
    }
    printf("busycollect: %d spinning threads, %d collections of a %d-node list: "
           "%.3f s, worst %.3f s\n",
           nspin, COLLECTS, NODES, now_s() - t0, worst);
    atomic_store(&stop, 1);
    for (int i = 0; i < nspin; i++)
        pthread_join(t[i], NULL);
    TC_ROOTS_POP();
    tc_shutdown();
    return 0;
}
