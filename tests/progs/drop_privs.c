/*
 * A root daemon that works for a while (long enough for the agent's
 * flusher to run), then drops privileges the way setpriv does: keep
 * capabilities over the uid change, then the uid, then the gid and the
 * groups. glibc applies each to every thread and aborts if they disagree.
 */
#include <grp.h>
#include <linux/capability.h>
#include <sys/syscall.h>
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

/* Called through volatile pointers: the compiler must not drop the
 * allocations. */
static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;

/* After a uid change with keep-capabilities, the permitted set is kept but
 * the effective one is cleared: raise it again (as setpriv does). */
static void raise_effective(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &hdr, data) != 0) {
        perror("capget");
        return;
    }
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        data[i].effective = data[i].permitted;
    if (syscall(SYS_capset, &hdr, data) != 0)
        perror("capset");
}

int main(void)
{
    /* Allocate and work for 1.5 s: heap samples start the flusher. */
    double end = mono_ms() + 1500;
    unsigned long sum = 0;
    while (mono_ms() < end) {
        char *p = do_malloc(64 * 1024);
        memset(p, 1, 64 * 1024);
        sum += (unsigned long)p[100];
        do_free(p);
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        perror("keepcaps");
    if (setresuid(65534, 65534, 65534) != 0)
        perror("setresuid");
    raise_effective();
    if (setresgid(65534, 65534, 65534) != 0)
        perror("setresgid");
    if (setgroups(0, NULL) != 0)
        perror("setgroups");
    printf("uid %d gid %d, worked %s\n", (int)getuid(), (int)getgid(), sum ? "yes" : "no");
    return 0;
}
