/*
 * stats.h — pauses, CPU accounting, per-cycle reports, the trace line.
 *
 * A cycle's report is finished off the mutators' path: the collector
 * thread (collector.c) fills it through the cycle, adds the sweep time once
 * sweeping is done, then prints the trace line (TRICOLOR_TRACE) and calls
 * the cycle callback.
 */
#ifndef TC_STATS_H
#define TC_STATS_H

#include "namespace.h"

#include <stdint.h>

#include "tricolor.h"

void stats_init(uint64_t init_ns);
void stats_reset(void);
/* fork() support (PLAT_FORK_*): stats_lock. */
void stats_fork(int stage);
/* ns since tc_init on the monotonic clock. */
uint64_t stats_since_init(uint64_t now_ns);

void stats_record_pause(uint64_t pause_ns, uint64_t end_ns, uint64_t cpu_ns);
void stats_add_cpu_background(uint64_t ns);
void stats_add_cpu_sweep(uint64_t ns);
void stats_add_cpu_barrier(uint64_t ns);
void stats_add_cpu_assist(uint64_t ns);
void stats_add_cpu_idle(uint64_t ns);
void stats_set_last_cycle(uint64_t cycles, uint64_t marked, uint64_t objects);
double stats_gc_cpu_fraction(uint64_t now_ns);

/* Print the trace line (if enabled) and call the callback. */
void stats_emit_cycle(const tc_cycle_info *info, int trace_mode);

/* Format a trace line into buf (exposed for tests); returns its length. */
int stats_format_trace(const tc_cycle_info *info, int json, char *buf, size_t len);

#endif
