/*
 * roots.h — the three kinds of roots.
 *   global slots      tc_root_add(slots, n): arrays the embedder owns
 *   global scanners   tc_root_scanner_add(fn, ctx): called at each snapshot
 *   per thread        TC_ROOTS frames (shadow stack) and thread scanners
 * roots_lock guards the global tables and every thread's scanner table.
 * A thread's frames are touched only by the thread itself, and read by
 * the collector while that thread is stopped or blocking.
 */
#ifndef TC_ROOTS_H
#define TC_ROOTS_H

#include "namespace.h"

#include "threads.h"

/* Visit every root: world stopped. */
void roots_scan(tc_visitor *v);
/* Drop t's scanner table (detach, shutdown). */
void roots_thread_gone(tc_thread *t);
/* Forget every global root (shutdown). */
void roots_reset(void);
/* fork() support (PLAT_FORK_*): roots_lock. */
void roots_fork(int stage);

#endif
