/*
 * platform.h — the operating system underneath: clocks, virtual memory,
 * processor count, and one-line diagnostics on stderr.
 */
#ifndef TC_PLATFORM_H
#define TC_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic wall clock, ns. */
uint64_t plat_now_ns(void);
/* CPU time of the calling thread, ns. */
uint64_t plat_thread_cpu_ns(void);
int plat_ncpu(void);
/* Sleep for about ns nanoseconds. */
void plat_sleep_ns(uint64_t ns);

/* Reserve and commit `size` bytes aligned to `align` (a power of two that
 * is a multiple of the OS page size), zero-filled; NULL on failure. */
void *plat_map_aligned(size_t size, size_t align);
/* Map zero-filled memory with no alignment promise beyond the OS page. */
void *plat_map(size_t size);
void plat_unmap(void *p, size_t size);
/* Give the OS back the memory behind [p, p + size) (page aligned), keeping
 * the mapping: madvise(MADV_DONTNEED), after which the range reads as
 * zero, or with use_madv_free madvise(MADV_FREE), after which each page
 * reads as zero or as its old bytes until written (the kernel takes it
 * only under memory pressure, so RSS falls only then).  MADV_FREE falls
 * back to DONTNEED where the kernel lacks it (EINVAL, before Linux 4.5).
 * 0, or -1 if the kernel refused (e.g. size not a multiple of its page). */
int plat_release(void *p, size_t size, int use_madv_free);
/* Name the calling thread (at most 15 characters), for top -H, perf and
 * debuggers; does nothing where unsupported. */
void plat_name_thread(const char *name);
/* The OS page size in bytes. */
size_t plat_os_page_size(void);

/* "tricolor: <message>\n" on stderr, written with one write(2). */
void plat_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* plat_diag then abort(). */
void plat_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
