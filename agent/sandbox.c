/*
 * seccomp. A filter may kill the process, or fail the call, on any system
 * call the agent makes (timer_create, openat, rt_sigaction, the
 * flusher's network and file I/O, libunwind's mincore and pipe writes);
 * strict mode leaves a thread only read, write, exit and sigreturn. The
 * agent cannot know what a filter allows, so it stops entirely before the
 * app's call takes effect: a filter installed without TSYNC binds only
 * the calling thread, but every thread it creates inherits it, and the
 * calling thread's own malloc and SIGPROF paths would already break it.
 *
 * Stopping (before the app's call, while every syscall is still allowed):
 *   1. the bounded final export of what was sampled, as at exit; every
 *      thread's timer deleted; the agent marked not running, so
 *      pthread_create, the exec family, fork handlers and the destructor
 *      pass straight through;
 *   2. heap sampling off: the malloc slow path only resets a countdown;
 *   3. the flusher thread gone before the filter exists (a TSYNC filter
 *      would otherwise bind its last syscalls too).
 * A SIGPROF from a deleted timer that is still pending meets a handler
 * that drops it without any syscall.
 */
#include "sandbox.h"

#include <linux/capability.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "heap.h"
#include "internal.h"
#include "log.h"
#include "sys.h"

static _Atomic int dormant;
static atomic_flag said = ATOMIC_FLAG_INIT;

/* The flusher's thread name (flusher.c names it with PR_SET_NAME). */
#define FLUSHER_COMM "otprof-flush"
/* How long to wait for a flusher that had nothing to export to end. */
#define FLUSHER_GONE_MS 3000

typedef struct find_ctx {
    bool found;
} find_ctx_t;

static void find_flusher(void *vctx, const char *name)
{
    find_ctx_t *c = vctx;
    if (name[0] < '0' || name[0] > '9' || c->found)
        return;
    char path[64], comm[32];
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", name);
    if (otp_read_file(path, comm, sizeof comm) > 0 && strncmp(comm, FLUSHER_COMM, strlen(FLUSHER_COMM)) == 0)
        c->found = true;
}

static void wait_flusher_gone(void)
{
    int64_t deadline = otp_mono_ns() + (int64_t)FLUSHER_GONE_MS * 1000000;
    for (;;) {
        find_ctx_t c = {false};
        if (otp_dir_foreach("/proc/self/task", find_flusher, &c) != 0 || !c.found)
            return;
        if (otp_mono_ns() >= deadline) {
            OTP_WARN("the flusher thread did not end before the app's seccomp call");
            return;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

/* Everything the agent does stops, after a bounded final export (the
 * lifecycle's "stop for good": timers, flusher and signal catchers). */
static void stop_agent(void)
{
    otp_agent_stop_now();
    otp_heap_stop();
    wait_flusher_gone();
}

/* A filter needs no_new_privs or CAP_SYS_ADMIN, or the kernel refuses
 * it (EACCES) and nothing changes: no reason to stop then. */
static bool filter_refused(void)
{
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
        return false;
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0)
        return false;
    return !(data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN));
}

void otp_sandbox_before_seccomp(int mode)
{
    if (otp_tls_in_agent || !otp_agent_running())
        return;
    if (mode == OTP_SANDBOX_FILTER && filter_refused())
        return;
    if (atomic_exchange(&dormant, 1))
        return;
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    otp_log_once(&said, OTP_LOG_INFO,
                 "the app restricts its system calls (seccomp %s): profiling stops here, what was "
                 "sampled until now is exported",
                 mode == OTP_SANDBOX_STRICT ? "strict mode" : "filter");
    stop_agent();
    otp_tls_in_agent = saved;
}

bool otp_sandbox_dormant(void)
{
    return atomic_load(&dormant) != 0;
}
