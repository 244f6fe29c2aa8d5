/*
 * What the dynamic loader sees: the constructor and destructor, and the
 * interposed pthread_create, exec family and sigaction/signal. Each
 * wrapper forwards to the next definition (RTLD_NEXT) and asks the agent
 * only when it is running in this very process (a vfork child shares our
 * memory but must not touch it) and the call is not the agent's own.
 */
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "eng.h"
#include "internal.h"
#include "next.h"
#include "notify.h"
#include "ns.h"
#include "sys.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef pid_t (*fork_fn)(void);
typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);
typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef sighandler_t (*signal_fn)(int, sighandler_t);
typedef int (*dl_iterate_phdr_fn)(int (*)(struct dl_phdr_info *, size_t, void *), void *);

static pthread_create_fn real_pthread_create OTP_STARTUP_DATA;
static fork_fn real_fork OTP_STARTUP_DATA;
static execve_fn real_execve;
static execvpe_fn real_execvpe;
static execv_fn real_execv, real_execvp;
static fexecve_fn real_fexecve;
static execveat_fn real_execveat;
static sigaction_fn real_sigaction OTP_STARTUP_DATA;
static signal_fn real_signal OTP_STARTUP_DATA;
static dl_iterate_phdr_fn real_dl_iterate_phdr OTP_STARTUP_DATA;



/* Both keep errno: main starts with errno 0 (C11 7.5), and code that
 * tests errno after strtol without clearing it first must not meet the
 * ENOENT of a configuration file we looked for. */
__attribute__((constructor(101))) static void otprof_preload_init(void)
{
    int saved = errno;
    OTP_RESOLVE(real_pthread_create, "pthread_create");
    /* Now, not at the first fork: a crash handler may fork from a signal
     * handler, where dlsym could meet the loader's lock held. */
    OTP_RESOLVE(real_fork, "fork");
    OTP_RESOLVE(real_sigaction, "sigaction");
    OTP_RESOLVE(real_signal, "signal");
    OTP_RESOLVE(real_dl_iterate_phdr, "dl_iterate_phdr");
    otp_ns_absolute_preload();
    otp_shim_start();
    errno = saved;
}

__attribute__((destructor(101))) static void otprof_preload_fini(void)
{
    int saved = errno;
    otp_shim_exit();
    errno = saved;
}

/* ---- threads -------------------------------------------------------- */

static void *thread_trampoline(void *p)
{
    otp_thread_t *t = p;
    void *(*fn)(void *) = t->start_fn;
    void *arg = t->start_arg;
    otp_eng->thread_begin(t);
    return fn(arg);
}

EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    OTP_RESOLVE(real_pthread_create, "pthread_create");
    if (!real_pthread_create)
        return EAGAIN;
    if (otp_tls_in_agent || !eng_running())
        return real_pthread_create(th, attr, fn, arg);
    otp_thread_t *t = otp_eng->thread_prepare(fn, arg, attr);
    if (!t)
        return real_pthread_create(th, attr, fn, arg);
    int rc = real_pthread_create(th, attr, thread_trampoline, t);
    for (int i = 0; rc == EAGAIN && otp_preload_task_retry(i); i++)
        rc = real_pthread_create(th, attr, thread_trampoline, t);
    if (rc != 0)
        otp_eng->thread_failed(t);
    return rc;
}

bool otp_preload_task_retry(int i)
{
    if (i == 0) {
        const otp_engine_t *e = otp_eng;
        return e && e->thread_limited();
    }
    if (i > 50)
        return false;
    otp_pause_us(1000); /* pthread_create and fork are no cancellation points */
    return true;
}

/* fork: a process counts against the same limit of tasks as a thread. */
EXPORT pid_t fork(void)
{
    OTP_RESOLVE(real_fork, "fork");
    if (!real_fork) {
        errno = ENOSYS;
        return -1;
    }
    pid_t p = real_fork();
    for (int i = 0; p < 0 && errno == EAGAIN && otp_preload_task_retry(i); i++)
        p = real_fork();
    return p;
}

/* timer_create: each of the agent's CPU timers takes one of the places
 * RLIMIT_SIGPENDING gives the app's user; at that limit the calling
 * thread's goes to the app (otp_agent_timer_limited). */
typedef int (*timer_create_fn)(clockid_t, struct sigevent *, timer_t *);
static timer_create_fn real_timer_create;

EXPORT int timer_create(clockid_t clk, struct sigevent *sev, timer_t *id)
{
    OTP_RESOLVE(real_timer_create, "timer_create");
    if (!real_timer_create) {
        errno = ENOSYS;
        return -1;
    }
    /* A SIGEV_THREAD timer's callbacks run in threads the C library
     * starts itself: through a trampoline that registers them (notify.h). */
    struct sigevent copy;
    struct sigevent *use = (struct sigevent *)otp_notify_sigevent(sev, &copy);
    /* A timer made before a change of uid counts against the old user's
     * limit: giving it up frees no place, so on to the next. */
    int rc = real_timer_create(clk, use, id);
    while (rc != 0 && errno == EAGAIN && eng_running()) {
        if (!otp_eng->timer_limited()) {
            errno = EAGAIN;
            break;
        }
        rc = real_timer_create(clk, use, id);
    }
    return rc;
}

/* ---- dl_iterate_phdr -------------------------------------------------
 * libunwind binds to this one; see otp_unwind_iterate_phdr. Everyone else
 * gets glibc's, unchanged. */

EXPORT int dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
    OTP_RESOLVE(real_dl_iterate_phdr, "dl_iterate_phdr");
    const otp_engine_t *e = otp_eng;
    if (!e)
        return real_dl_iterate_phdr ? real_dl_iterate_phdr(cb, data) : 0;
    return e->iterate_phdr(cb, data, real_dl_iterate_phdr);
}

/* ---- dlclose ---------------------------------------------------------
 * What it unloads may hold samples not exported yet: the agent notes the
 * objects that went (agent.h). */

typedef int (*dlclose_fn)(void *);
static dlclose_fn real_dlclose;

EXPORT int dlclose(void *handle)
{
    OTP_RESOLVE(real_dlclose, "dlclose");
    if (!real_dlclose) {
        errno = ENOSYS;
        return -1;
    }
    const otp_engine_t *eng = otp_eng;
    if (!eng)
        return real_dlclose(handle);
    int e0 = errno;
    void *before = eng->unload_begin();
    errno = e0;
    int rc = real_dlclose(handle);
    int e = errno;
    eng->unload_end(before);
    errno = e;
    return rc;
}

/* ---- exec ------------------------------------------------------------
 * The calling thread's timer is deleted before exec (and re-armed if exec
 * fails): a SIGPROF pending across exec would meet the default action in
 * the new image and kill it. */

#define AROUND_EXEC(call)                                                                          \
    do {                                                                                           \
        const otp_engine_t *eng_ = otp_eng;                                                        \
        if (eng_)                                                                                  \
            eng_->before_exec();                                                                   \
        int rc_ = (call);                                                                          \
        int e_ = errno;                                                                            \
        if (eng_)                                                                                  \
            eng_->after_failed_exec();                                                             \
        errno = e_;                                                                                \
        return rc_;                                                                                \
    } while (0)

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    OTP_RESOLVE(real_execve, "execve");
    AROUND_EXEC(real_execve(path, argv, envp));
}

EXPORT int execv(const char *path, char *const argv[])
{
    OTP_RESOLVE(real_execv, "execv");
    AROUND_EXEC(real_execv(path, argv));
}

EXPORT int execvp(const char *file, char *const argv[])
{
    OTP_RESOLVE(real_execvp, "execvp");
    AROUND_EXEC(real_execvp(file, argv));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    OTP_RESOLVE(real_execvpe, "execvpe");
    AROUND_EXEC(real_execvpe(file, argv, envp));
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    OTP_RESOLVE(real_fexecve, "fexecve");
    AROUND_EXEC(real_fexecve(fd, argv, envp));
}

/* glibc 2.34's (the agent needs 2.35); also what fexecve itself calls,
 * below the interposition. */
EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    OTP_RESOLVE(real_execveat, "execveat");
    AROUND_EXEC(real_execveat(dirfd, path, argv, envp, flags));
}

/* execl*: collect the variadic arguments into an argv on the stack. */
#define COLLECT_ARGS(arg0, last, argv)                                                             \
    size_t argc_ = 1;                                                                              \
    va_list ap_;                                                                                   \
    va_start(ap_, arg0);                                                                           \
    while (va_arg(ap_, char *) != NULL)                                                            \
        argc_++;                                                                                   \
    va_end(ap_);                                                                                   \
    char *argv[argc_ + 1];                                                                         \
    argv[0] = (char *)(arg0);                                                                      \
    va_start(ap_, arg0);                                                                           \
    for (size_t i_ = 1; i_ <= argc_; i_++)                                                         \
        argv[i_] = va_arg(ap_, char *);                                                            \
    last;                                                                                          \
    va_end(ap_)

EXPORT int execl(const char *path, const char *arg, ...)
{
    COLLECT_ARGS(arg, (void)0, argv);
    return execv(path, argv);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    COLLECT_ARGS(arg, (void)0, argv);
    return execvp(file, argv);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    char **envp;
    COLLECT_ARGS(arg, envp = va_arg(ap_, char **), argv);
    return execve(path, argv, envp);
}

/* ---- SIGPROF ownership ----------------------------------------------
 * Once the agent owns SIGPROF, the app's own sigaction/signal calls for it
 * are virtualised (see cpu.h): the app keeps every SIGPROF that is not
 * from our timers, and its setitimer-based profiling still works. */

static bool virtual_sigprof(int sig)
{
    return sig == SIGPROF && !otp_tls_in_agent && eng_running() && otp_eng->cpu_owns_sigprof();
}

/* SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2,
 * SIGXCPU, SIGVTALRM: see termsig.h. */
static bool virtual_term(int sig)
{
    /* Also after the agent stopped: its catcher stays until the app
     * replaces it. Never in a vfork child (its own signal table). */
    const otp_engine_t *e = otp_eng;
    return e && !otp_tls_in_agent && e->termsig_covers(sig) && e->termsig_active() &&
           getpid() == e->pid();
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    OTP_RESOLVE(real_sigaction, "sigaction");
    if (virtual_sigprof(sig))
        return otp_eng->cpu_app_sigaction(act, old);
    if (virtual_term(sig))
        return otp_eng->termsig_app_sigaction(sig, act, old);
    return real_sigaction(sig, act, old);
}

EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    OTP_RESOLVE(real_signal, "signal");
    bool prof = virtual_sigprof(sig), term = !prof && virtual_term(sig);
    if (!prof && !term)
        return real_signal(sig, handler);
    if (handler == SIG_ERR) {
        errno = EINVAL;
        return SIG_ERR;
    }
    /* glibc's signal() has BSD semantics. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (prof)
        otp_eng->cpu_app_sigaction(&sa, &old);
    else if (otp_eng->termsig_app_sigaction(sig, &sa, &old) != 0)
        return SIG_ERR;
    return (old.sa_flags & SA_SIGINFO) ? (sighandler_t)(void *)old.sa_sigaction : old.sa_handler;
}
