/*
 * seccomp, landlock and new roots.
 *
 * A landlock ruleset (Linux 5.13+) denies what it does not allow: the
 * output directory, /proc, the objects' files, and from ABI 4 on the
 * collector's port. As with a seccomp filter, the agent cannot know
 * what the ruleset allows, so it stops before it takes effect.
 *
 * A new root (chroot, pivot_root, setns into another mount namespace)
 * hides the output directory and the files the symbols come from: an
 * export after it wrote its profile into the app's jail (the same
 * absolute path under the new root) with every frame <unknown>. So the
 * agent stops before such a call, as for seccomp below. The new root is
 * often a privilege-separated child's empty jail (sshd and the like);
 * profiling there would need descriptors held outside the jail, which is
 * the way out of one.
 *
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

#include <errno.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "flusher.h"
#include "heap.h"
#include "internal.h"
#include "log.h"
#include "sys.h"

static _Atomic int dormant;
static atomic_flag said = ATOMIC_FLAG_INIT;

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
    char comm[16];
    if (otp_thread_comm((pid_t)atoi(name), comm, sizeof comm) && strcmp(comm, OTP_AGENT_THREAD_NAME) == 0)
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

/* Whether the calling thread holds capability `cap` (effective); when
 * that cannot be read, true: stopping needlessly loses less than writing
 * into a jail. */
static bool has_cap(int cap)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0)
        return true;
    return (data[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap)) != 0;
}

/* A filter needs no_new_privs or CAP_SYS_ADMIN, or the kernel refuses
 * it (EACCES) and nothing changes: no reason to stop then. */
static bool filter_refused(void)
{
    return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0 && !has_cap(CAP_SYS_ADMIN);
}

/* The one way in: the bounded export, then nothing more, said once. */
static void go_dormant(const char *why, const char *what)
{
    if (atomic_exchange(&dormant, 1))
        return;
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    otp_log_once(&said, OTP_LOG_INFO, "the app %s (%s): profiling stops here, what was sampled until now is exported",
                 why, what);
    /* The final profiles say it too: the rest of the process's work is
     * in none, and the log line is seen only at info level. */
    char note[256];
    snprintf(note, sizeof note, "otprof stopped before the process ended: the app %s (%s); its work after this is in no profile",
             why, what);
    otp_flusher_note_final(note);
    stop_agent();
    otp_tls_in_agent = saved;
}

void otp_sandbox_before_seccomp(int mode)
{
    if (otp_tls_in_agent || !otp_agent_running())
        return;
    /* A landlock ruleset needs what a filter needs. */
    if (mode != OTP_SANDBOX_STRICT && filter_refused())
        return;
    if (mode == OTP_SANDBOX_LANDLOCK)
        go_dormant("restricts its access to files and ports", "landlock");
    else
        go_dormant("restricts its system calls", mode == OTP_SANDBOX_STRICT ? "seccomp strict mode" : "seccomp filter");
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Whether the app's call would give the process another root. Calls the
 * kernel will refuse (no such directory, no capability, not a mount
 * namespace) change nothing and stop nothing. */
static bool root_changes(int how, const char *path, int fd, int nstype)
{
    struct stat to, now;
    switch (how) {
    case OTP_ROOT_CHROOT:
        if (!path || stat(path, &to) != 0 || !S_ISDIR(to.st_mode))
            return false;
        if (stat("/", &now) == 0 && same_file(&to, &now))
            return false;
        return has_cap(CAP_SYS_CHROOT);
    case OTP_ROOT_SETNS:
        if (nstype != 0 && !(nstype & CLONE_NEWNS))
            return false;
        /* nstype 0 names the namespace by its descriptor alone; a pidfd
         * (no NS_GET_NSTYPE) with 0 is refused by the kernel. */
        if (nstype == 0 && ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNS)
            return false;
        /* Its own namespace again (a pidfd never matches). */
        if (fstat(fd, &to) == 0 && stat("/proc/self/ns/mnt", &now) == 0 && same_file(&to, &now))
            return false;
        return has_cap(CAP_SYS_ADMIN);
    case OTP_ROOT_PIVOT:
        return has_cap(CAP_SYS_ADMIN);
    default:
        return false;
    }
}

void otp_sandbox_before_root(int how, const char *path, int fd, int nstype)
{
    if (otp_tls_in_agent || !otp_agent_running())
        return;
    int e = errno;
    otp_tls_in_agent++;
    bool changes = root_changes(how, path, fd, nstype);
    otp_tls_in_agent--;
    if (changes) {
        char what[160];
        /* Only chroot's path was read by the kernel (stat) already: the
         * others are not read here, as a bad pointer is the kernel's
         * EFAULT to give. */
        if (how == OTP_ROOT_CHROOT)
            snprintf(what, sizeof what, "chroot to %.120s", path);
        else
            snprintf(what, sizeof what, "%s", how == OTP_ROOT_SETNS ? "setns into another mount namespace" : "pivot_root");
        go_dormant("changes its root directory", what);
    }
    errno = e;
}

bool otp_sandbox_dormant(void)
{
    return atomic_load(&dormant) != 0;
}
