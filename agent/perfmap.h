/*
 * Names for JIT code from the process's perf map, /tmp/perf-<pid>.map
 * (one "START SIZE name" line per code block, hex numbers), as written by
 * node --perf-basic-prof, python -X perf, Java agents and others.
 * Flusher thread only.
 */
#ifndef OTP_PERFMAP_H
#define OTP_PERFMAP_H

#include <stdint.h>

typedef struct otp_perfmap otp_perfmap_t;

otp_perfmap_t *otp_perfmap_new(void);
void otp_perfmap_free(otp_perfmap_t *m);
/* Re-reads the file when its size, mtime or identity changed (or the pid
 * did, after fork). Names from before stay valid until then only. */
void otp_perfmap_refresh(otp_perfmap_t *m);
/* On the agent thread's tick, at most once a second: a Python run with
 * -X perf adds a trampoline to the map for each function it first runs,
 * and the stack walker needs them before the first export (10 s by
 * default), or the samples walked meanwhile stop at the innermost one.
 * Publishes the trampolines when the file changed; keeps no text. */
void otp_perfmap_tick(void);
/* The name of the code block holding addr (the latest entry wins where
 * entries overlap), or NULL. */
const char *otp_perfmap_lookup(const otp_perfmap_t *m, uint64_t addr);

#endif
