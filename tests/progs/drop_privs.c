/*
 * A root daemon that works for a while (long enough for the agent's
 * flusher to run), then drops privileges the way setpriv does: keep
 * capabilities over the uid change, then the uid, then the gid and the
 * groups. glibc applies each to every thread and aborts if they disagree.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(void)
{
    /* Allocate and work for 1.5 s: heap samples start the flusher. */
    double end = mono_ms() + 1500;
    unsigned long sum = 0;
    while (mono_ms() < end) {
        char *p = malloc(64 * 1024);
        memset(p, 1, 64 * 1024);
        sum += (unsigned long)p[100];
        free(p);
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        perror("keepcaps");
    if (setresuid(65534, 65534, 65534) != 0)
        perror("setresuid");
    if (setresgid(65534, 65534, 65534) != 0)
        perror("setresgid");
    if (setgroups(0, NULL) != 0)
        perror("setgroups");
    printf("uid %d gid %d, worked %s\n", (int)getuid(), (int)getgid(), sum ? "yes" : "no");
    return 0;
}
