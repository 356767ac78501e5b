/*
 * options.h — the collector's settings, resolved once by tc_init:
 * a tc_config field that is set wins; otherwise the TRICOLOR_* variable;
 * otherwise the default.  A bad environment value warns once and is
 * ignored; a bad tc_config value makes tc_init fail with TC_EINVAL.
 */
#ifndef TC_OPTIONS_H
#define TC_OPTIONS_H

#include "namespace.h"

#include <stdint.h>

#include "tricolor.h"

typedef struct tc_options {
    int gc_percent;       /* < 0: off */
    int64_t memory_limit; /* INT64_MAX: none */
    int trace;            /* TC_TRACE_* */
    int mark_workers;
    int verify, checkmark, poison, stoptheworld;
    int scavenge;         /* TC_SCAVENGE_* */
    int idle_workers;     /* used only when mark_workers > 0 */
    int stress;           /* 0, or a cycle every N allocations (debug) */
    int finalizers;       /* TC_FINALIZE_THREAD or TC_FINALIZE_QUEUE */
    int stalls_us;        /* 0, or the stall tracer's threshold (debug) */
} tc_options;

extern tc_options opt;

/* Resolve cfg (may be NULL) and the environment into opt. */
int options_resolve(const tc_config *cfg);

/* Parsers, exposed for tests.  Return 0 and set *out, or -1 if bad. */
int options_parse_percent(const char *s, int *out);
int options_parse_bytes(const char *s, int64_t *out);
int options_parse_count(const char *s, int *out);
int options_parse_scavenge(const char *s, int *out);
int options_parse_finalizers(const char *s, int *out);

#endif
