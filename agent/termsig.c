/*
 * Catcher for terminating signals at their default action; see termsig.h.
 *
 * The handler runs with SA_NODEFER and an empty mask, so that our own
 * watchdog (a timer sending the same signal) can interrupt a stuck export
 * and end the process; other terminating signals meanwhile are swallowed
 * and the process dies of the first one. SA_ONSTACK: the thread may run
 * on a small stack.
 *
 * A PID namespace's init (pid 1, a container's main process) never dies
 * of a signal left at SIG_DFL: the kernel drops it. So there is nothing
 * to catch, and a catcher would turn an ignored signal into a final
 * export, after which the process runs on unprofiled: none is installed
 * in pid 1 (a fork child that is not pid 1 gets one, and one that becomes
 * pid 1 of a new namespace loses it).
 */
#include "termsig.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

static const int covered[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU, SIGVTALRM};
#define NCOVERED ((int)OTP_ARRAY_LEN(covered))

static _Atomic bool caught[NCOVERED]; /* our catcher is installed */
static otp_termsig_fn on_fatal;
static int64_t budget_ns;
static _Atomic int dying;
static timer_t watchdog;
static _Atomic bool watchdog_armed;

/* The kernel ignores this process's SIG_DFL signals (see the top). */
static bool unkillable(void)
{
    return getpid() == 1;
}

static int index_of(int sig)
{
    for (int i = 0; i < NCOVERED; i++)
        if (covered[i] == sig)
            return i;
    return -1;
}

bool otp_termsig_active(void)
{
    return on_fatal != NULL;
}

bool otp_termsig_covers(int sig)
{
    return index_of(sig) >= 0;
}

/* The real sigaction: calls from agent code pass the preload wrapper. */
static int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    int rc = sigaction(sig, act, old);
    otp_tls_in_agent = saved;
    return rc;
}

/* Dies of sig by its default action. Returns only if that did not end
 * the process (a tracer swallowed it, or this became an init process
 * the catcher missed): as without the agent, the app goes on, with the
 * signal at SIG_DFL (the final export is done; the agent is off). */
static void die(int sig)
{
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    real_sigaction(sig, &dfl, NULL);
    int i = index_of(sig);
    if (i >= 0)
        atomic_store(&caught[i], false);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    syscall(SYS_tgkill, (long)getpid(), (long)otp_gettid(), (long)sig);
    /* Pending now; unblocking delivers it and the default action ends
     * the process. */
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    if (atomic_exchange(&watchdog_armed, false))
        syscall(SYS_timer_delete, watchdog);
    atomic_store(&dying, 0);
    otp_tls_in_agent = saved;
}

/* One-shot timer that sends sig to this thread at the deadline: the
 * handler re-entered (SA_NODEFER) then dies at once. */
static void arm_watchdog(int sig, int64_t deadline_ns)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = sig;
    sev.sigev_value.sival_ptr = (void *)&dying;
    sev._sigev_un._tid = otp_gettid();
    timer_t id;
    if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) != 0)
        return;
    watchdog = id;
    atomic_store(&watchdog_armed, true);
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = deadline_ns / 1000000000;
    its.it_value.tv_nsec = deadline_ns % 1000000000;
    syscall(SYS_timer_settime, id, TIMER_ABSTIME, &its, NULL);
}

static void handler_body(int sig, siginfo_t *si);

/* The body may return to the interrupted code (a signal the process
 * survives): errno as it was. */
static void handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    handler_body(sig, si);
    errno = saved;
}

static void handler_body(int sig, siginfo_t *si)
{
    /* The agent's own write to a closed pipe (a diagnostic on a stderr
     * nobody reads): without the agent there would have been no write. */
    if (sig == SIGPIPE && otp_tls_in_agent && si && si->si_code == SI_USER && si->si_pid == getpid())
        return;
    if (atomic_exchange(&dying, 1) != 0) {
        /* Our watchdog: the export is stuck, end it now. Any other
         * terminating signal meanwhile (timeout(1) sends the same one
         * twice, to the child and to its group) lets the export finish:
         * the process dies of the first one, as it would have. */
        if (si && si->si_code == SI_TIMER && si->si_value.sival_ptr == (void *)&dying)
            die(sig); /* the interrupted export never resumes if this kills */
        return;
    }
    /* Also from inside the agent's code: a process whose threads
     * allocate all the time got 1 SIGTERM in 7 to 20 there, and died
     * with no final export. */
    if (on_fatal) {
        int64_t deadline = otp_mono_ns() + budget_ns;
        arm_watchdog(sig, deadline + 100 * 1000000LL);
        on_fatal(sig, deadline, otp_tls_in_agent != 0);
    }
    die(sig);
}

static int install(int i)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return real_sigaction(covered[i], &sa, NULL);
}

static bool is_default(const struct sigaction *a)
{
    return !(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_DFL;
}

static void install_all(void)
{
    if (unkillable())
        return;
    for (int i = 0; i < NCOVERED; i++) {
        struct sigaction cur;
        if (real_sigaction(covered[i], NULL, &cur) != 0 || !is_default(&cur))
            continue; /* ignored or handled already: the app's choice */
        if (install(i) == 0)
            atomic_store(&caught[i], true);
    }
}

void otp_termsig_init(otp_termsig_fn fn, int64_t budget_ms)
{
    on_fatal = fn;
    budget_ns = budget_ms * 1000000;
    install_all();
}

int otp_termsig_app_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int i = index_of(sig);
    if (i < 0) {
        errno = EINVAL;
        return -1;
    }
    struct sigaction prev;
    bool was_ours = atomic_load(&caught[i]);
    if (act && is_default(act)) {
        /* SIG_DFL again: ours, seen as SIG_DFL. */
        if (!was_ours && unkillable()) {
            if (real_sigaction(sig, act, &prev) != 0)
                return -1;
        } else if (!was_ours) {
            if (real_sigaction(sig, NULL, &prev) != 0)
                return -1;
            if (install(i) != 0)
                return real_sigaction(sig, act, old);
            atomic_store(&caught[i], true);
        }
    } else if (act) {
        if (real_sigaction(sig, act, &prev) != 0)
            return -1;
        atomic_store(&caught[i], false);
    } else if (!was_ours && real_sigaction(sig, NULL, &prev) != 0) {
        return -1;
    }
    if (old) {
        if (was_ours) {
            memset(old, 0, sizeof *old);
            old->sa_handler = SIG_DFL;
            sigemptyset(&old->sa_mask);
        } else {
            *old = prev;
        }
    }
    return 0;
}

static void release_caught(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int i = 0; i < NCOVERED; i++)
        if (atomic_exchange(&caught[i], false))
            real_sigaction(covered[i], &dfl, NULL);
}

void otp_termsig_release(void)
{
    release_caught();
    on_fatal = NULL;
}

void otp_termsig_atfork_child(void)
{
    atomic_store(&dying, 0);
    atomic_store(&watchdog_armed, false);
    if (!on_fatal)
        return;
    /* The first child in a new PID namespace is its init; the child of
     * an init is not. */
    if (unkillable())
        release_caught();
    else
        install_all();
}
