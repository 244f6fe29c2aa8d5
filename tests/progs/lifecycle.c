/*
 * Lifecycle situations, one per mode (argv[1]):
 *   unshare   burn CPU and allocate for 1.2 s, run and join a thread, then
 *             unshare(CLONE_NEWUSER); prints the result and the number of
 *             threads right after, then burns 0.3 s more
 *   sys_unshare  the same through syscall(SYS_unshare, ...)
 *   forkcount a fork child counts its threads (/proc/self/task) first thing
 *   nomalloc  single-threaded, CPU-bound for argv[2] s, never allocates;
 *             prints its CPU time in ms on stderr
 *   pexit     main starts two workers (CPU for 0.6 s each) and calls
 *             pthread_exit
 *   daemon    double fork; the middle process exits at once, the grandchild
 *             burns CPU, prints its blocked-signal mask and its pid
 *   pidns     unshare(CLONE_NEWPID), fork: the child (pid 1 in the new
 *             namespace) prints its mask and burns CPU
 *   failexec  burns CPU for 0.5 s, execve fails, burns and allocates 1.2 s
 *   spin      burns CPU until killed; prints its CPU ms at each SIGUSR1
 *   pipe      burns CPU, then writes to stdout until that fails
 *   ownterm   installs its own SIGTERM handler, waits for SIGTERM, prints
 *   dfl       reads the dispositions of the signals the agent catches
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void burn(double s)
{
    double end = thread_cpu_now() + s;
    uint64_t x = 3;
    while (thread_cpu_now() < end)
        for (int i = 0; i < 5000; i++)
            x = x * 6364136223846793005ULL + 1;
    sink = x;
}

__attribute__((noinline)) static void burn_alloc(double s)
{
    double end = thread_cpu_now() + s;
    while (thread_cpu_now() < end) {
        char *p = malloc(4096);
        if (p)
            memset(p, 1, 4096);
        sink += p ? (uint64_t)p[7] : 0;
        free(p);
        for (int i = 0; i < 2000; i++)
            sink = sink * 6364136223846793005ULL + 1;
    }
}

__attribute__((noinline)) static void *worker_burn(void *arg)
{
    burn(*(double *)arg);
    return NULL;
}

/* Threads of this process, without allocating. */
static int count_threads(void)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    char buf[4096];
    int n = 0;
    long got;
    while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < got;) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + off);
            if (d->name[0] != '.')
                n++;
            off += d->reclen;
        }
    }
    close(fd);
    return n;
}

/* SigBlk of /proc/self/status: the kernel's view of the mask. */
static void print_mask(const char *who)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    char *p = strstr(buf, "SigBlk:");
    char *e = p ? strchr(p, '\n') : NULL;
    if (e)
        *e = '\0';
    printf("%s %s\n", who, p ? p : "SigBlk: ?");
}

static void on_term(int sig)
{
    static const char msg[] = "own handler ran\n";
    (void)sig;
    ssize_t w = write(1, msg, sizeof msg - 1);
    (void)w;
    _exit(7);
}

static void on_usr1(int sig)
{
    (void)sig;
    char b[32];
    int n = snprintf(b, sizeof b, "cpu_ms=%.0f\n", cpu_now() * 1000);
    ssize_t w = write(2, b, (size_t)n);
    (void)w;
}

static const char *disp(int sig)
{
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) != 0)
        return "error";
    if (sa.sa_flags & SA_SIGINFO)
        return "handler";
    return sa.sa_handler == SIG_DFL ? "default" : sa.sa_handler == SIG_IGN ? "ignored" : "handler";
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "unshare") || !strcmp(mode, "sys_unshare")) {
        burn_alloc(1.2);
        pthread_t th;
        double s = 0.05;
        pthread_create(&th, NULL, worker_burn, &s);
        pthread_join(th, NULL);
        int rc = mode[0] == 's' ? (int)syscall(SYS_unshare, CLONE_NEWUSER) : unshare(CLONE_NEWUSER);
        int e = errno;
        int n = count_threads();
        printf("unshare(CLONE_NEWUSER): %s; threads right after: %d\n", rc == 0 ? "ok" : strerror(e), n);
        burn_alloc(0.3);
        return rc == 0 ? 0 : 1;
    }
    if (!strcmp(mode, "forkcount")) {
        pthread_t th;
        double s = 0.05;
        pthread_create(&th, NULL, worker_burn, &s);
        pthread_join(th, NULL);
        burn_alloc(0.2);
        pid_t pid = fork();
        if (pid == 0) {
            int n = count_threads();
            printf("child threads: %d\n", n);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
    }
    if (!strcmp(mode, "nomalloc")) {
        burn(argc > 2 ? atof(argv[2]) : 3.0);
        char b[32];
        int n = snprintf(b, sizeof b, "cpu_ms=%.0f\n", cpu_now() * 1000);
        ssize_t w = write(2, b, (size_t)n);
        (void)w;
        return 0;
    }
    if (!strcmp(mode, "pexit")) {
        static double s = 0.6;
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, worker_burn, &s);
        pthread_exit(NULL);
    }
    if (!strcmp(mode, "daemon")) {
        pid_t pid = fork();
        if (pid > 0) {
            int st;
            waitpid(pid, &st, 0);
            return 0;
        }
        setenv("LC_WAIT_PARENT", "1", 1);
        if (fork() > 0)
            _exit(0); /* the middle process leaves at once */
        unsetenv("LC_WAIT_PARENT");
        burn(0.6);
        print_mask("daemon");
        printf("daemon pid %d\n", (int)getpid());
        exit(0);
    }
    if (!strcmp(mode, "pidns")) {
        if (unshare(CLONE_NEWPID) != 0) {
            printf("skip: unshare(CLONE_NEWPID): %s\n", strerror(errno));
            return 0;
        }
        pid_t pid = fork();
        if (pid == 0) {
            print_mask("nschild");
            burn(0.6);
            printf("nschild pid %d\n", (int)getpid());
            exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
    }
    if (!strcmp(mode, "failexec")) {
        burn(0.5);
        char *args[] = {"/nonexistent/prog", NULL};
        execve(args[0], args, environ);
        printf("execve failed: %s\n", strerror(errno));
        burn_alloc(1.2);
        return 0;
    }
    if (!strcmp(mode, "spin")) {
        signal(SIGUSR1, on_usr1);
        for (;;)
            burn(0.1);
    }
    if (!strcmp(mode, "pipe")) {
        for (;;) {
            burn(0.1);
            if (write(1, "x\n", 2) < 0) {
                printf("write: %s\n", strerror(errno));
                return 3;
            }
        }
    }
    if (!strcmp(mode, "ownterm")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
        printf("ready\n");
        for (;;)
            burn(0.05);
    }
    if (!strcmp(mode, "dfl")) {
        printf("TERM %s INT %s HUP %s PIPE %s ALRM %s USR1 %s USR2 %s\n", disp(SIGTERM), disp(SIGINT), disp(SIGHUP),
               disp(SIGPIPE), disp(SIGALRM), disp(SIGUSR1), disp(SIGUSR2));
        signal(SIGINT, SIG_IGN);
        printf("INT after SIG_IGN: %s\n", disp(SIGINT));
        signal(SIGINT, SIG_DFL);
        printf("INT after SIG_DFL: %s\n", disp(SIGINT));
        return 0;
    }
    fprintf(stderr, "usage: lifecycle MODE\n");
    return 2;
}
