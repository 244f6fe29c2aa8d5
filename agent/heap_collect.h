/*
 * The flusher's side of heap sampling: the per-thread heap rings drained
 * into the interval's aggregation, and each interval's heap profile
 * (alloc_* of the interval, inuse_* at its end, unbiased). Flusher
 * thread only.
 */
#ifndef OTP_HEAP_COLLECT_H
#define OTP_HEAP_COLLECT_H

#include <stdbool.h>
#include <stdint.h>

#include "profile.h"
#include "symbols.h"
#include "thread.h"

/* Every flusher tick, for each ACTIVE or RETIRED slot: moves its heap
 * ring's records into the interval's aggregation. */
void otp_heap_drain_thread(otp_thread_t *t);

/* Drains every heap ring and builds this interval's heap profile. NULL
 * when heap profiling is off or nothing was sampled yet. The profile
 * stays valid until the next call. */
const otp_profile_t *otp_heap_collect(int64_t start_ns, int64_t end_ns, bool final);

/* After otp_heap_collect, once the symbolizer is fresh: names suspected
 * leak sites (warning once per site, and as comments of the collected
 * profile) and, when final, prepares the leak report of the summary.
 * Suspected leaks reach the sinks as comments of the heap profile: pprof
 * Profile.comment, and the OTLP encoder's pprof.profile.comment
 * attribute. `ends` (may be "") is one more comment: why profiling
 * ends early. */
void otp_heap_annotate(otp_symbolizer_t *sym, bool final, const char *ends);

/* Fork child: the parent's tables are left behind, not freed (jemalloc's
 * fork handler has not run yet). */
void otp_heap_collect_atfork_child(void);

#endif
