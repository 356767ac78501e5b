/* platform.c — see platform.h. */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "atomics.h"

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t plat_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t plat_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

void plat_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int plat_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void *plat_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *plat_map_aligned(size_t size, size_t align)
{
    if (size + align < size)
        return NULL;
    char *raw = plat_map(size + align);
    if (!raw)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = align - head;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + size, tail);
    return (void *)start;
}

void plat_unmap(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

/* Set once MADV_FREE failed with EINVAL where MADV_DONTNEED worked: the
 * kernel predates MADV_FREE, so stop asking. */
static tc_aword madv_free_missing;

int plat_release(void *p, size_t size, int use_madv_free)
{
#ifdef MADV_FREE
    if (use_madv_free && !at_load(&madv_free_missing)) {
        if (madvise(p, size, MADV_FREE) == 0)
            return 0;
        if (errno != EINVAL)
            return -1;
        if (madvise(p, size, MADV_DONTNEED) != 0)
            return -1; /* EINVAL was about the range, not MADV_FREE */
        at_store(&madv_free_missing, 1);
        return 0;
    }
#else
    (void)use_madv_free;
#endif
    return madvise(p, size, MADV_DONTNEED) == 0 ? 0 : -1;
}

static void vdiag(const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "tricolor: ");
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t unused = write(2, line, (size_t)n);
    (void)unused;
}

void plat_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(fmt, ap);
    va_end(ap);
}

void plat_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(fmt, ap);
    va_end(ap);
    abort();
}

size_t plat_os_page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

void plat_name_thread(const char *name)
{
    pthread_setname_np(pthread_self(), name);
}
