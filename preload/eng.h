/*
 * The shim's calls into the engine (agent/engine.h). Each answers as the
 * engine would for an agent that is not running when no engine is loaded:
 * the agent is disabled, or it is not decided yet (before the
 * constructor), or the engine could not be loaded.
 */
#ifndef OTP_PRELOAD_ENG_H
#define OTP_PRELOAD_ENG_H

#include <stdint.h>

#include "engine.h"
#include "heap.h"
#include "internal.h"

/* Set once by the constructor, before main, when the engine is running;
 * never cleared (the engine stays mapped until exit). */
extern const otp_engine_t *otp_eng;
/* The constructor has decided: no engine in this process. */
extern bool otp_eng_none;
/* Another copy of the agent is ahead of this one (shim.c): nothing shared
 * may be written, the countdown included (it is the first copy's). */
extern bool otp_eng_second;

/* The constructor's work: the configuration, then the engine if enabled. */
void otp_shim_start(void);
void otp_shim_exit(void);

/* After the app's creation of a thread or process failed with EAGAIN:
 * whether to try it again, `i` tries made since. At the app's limit of
 * tasks (RLIMIT_NPROC, a cgroup's pids.max) the agent's thread gives way
 * (otp_agent_thread_limited); the kernel counts a thread out a moment
 * after it is joined, so a few more tries, a millisecond apart. */
bool otp_preload_task_retry(int i);

static inline bool eng_running(void)
{
    const otp_engine_t *e = otp_eng;
    return e && e->running();
}

/* A slow-path allocation with no engine: before the decision the thread
 * looks again after a while (as the engine's own countdown does while
 * sampling is off); after it, never. */
static inline void *eng_heap_sampled(void *p, size_t size, uintptr_t ra)
{
    const otp_engine_t *e = otp_eng;
    if (e)
        return e->heap_sampled(p, size, ra);
    if (!otp_eng_second)
        otp_tls_heap_left = otp_eng_none ? INT64_MAX : OTP_HEAP_RECHECK_BYTES;
    return p;
}

#endif
