/*
 * reap: runs a command as a child subreaper (PR_SET_CHILD_SUBREAPER), so
 * that every process of its tree that is orphaned on the way (a browser's
 * helpers, which it kills or abandons) is reparented here and reaped here.
 * The caller's getrusage(RUSAGE_CHILDREN) then counts the CPU of the whole
 * tree; without it, init reaps those helpers and their CPU is counted
 * nowhere the test can read. After the command ends, the orphans left get
 * GRACE seconds to end, then SIGKILL. TERM, INT and HUP are passed on to
 * the command. Exits as the command did (a signal is raised again).
 * Usage: reap GRACE_S CMD [ARGS...]
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child;

static void pass_on(int sig)
{
    if (child > 0)
        kill(child, sig);
}

/* SIGKILL to every process whose parent is this one. */
static void kill_orphans(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    pid_t self = getpid();
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[512];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* pid (comm) state ppid ...: comm may hold spaces and parens. */
        char *p = strrchr(buf, ')');
        int ppid = 0;
        if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == self)
            kill(atoi(e->d_name), SIGKILL);
    }
    closedir(d);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: reap GRACE_S CMD [ARGS...]\n");
        return 2;
    }
    double grace = atof(argv[1]);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        perror("reap: PR_SET_CHILD_SUBREAPER");
        return 2;
    }
    child = fork();
    if (child < 0) {
        perror("reap: fork");
        return 2;
    }
    if (child == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "reap: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pass_on;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int status = 0, got = 0;
    double deadline = 0;
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, got ? WNOHANG : 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            break; /* ECHILD: the whole tree is reaped */
        }
        if (p == 0) {
            if (now_s() > deadline) {
                kill_orphans();
                deadline = now_s() + 3600;
                got = 0; /* now wait for them blocking */
                continue;
            }
            usleep(20000);
            continue;
        }
        if (p == child) {
            status = st;
            child = 0;
            got = 1;
            deadline = now_s() + grace;
        }
    }
    if (WIFSIGNALED(status)) {
        signal(WTERMSIG(status), SIG_DFL);
        raise(WTERMSIG(status));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
