/*
 * A program that gives itself another root directory halfway through,
 * as privilege-separated daemons and container set-ups do:
 *   new_root chroot JAIL        chroot(JAIL), chdir("/")
 *   new_root pivot JAIL         a mount namespace of its own, JAIL bound
 *                               on itself, pivot_root through syscall()
 *   new_root same JAIL          chroot("/"): the root does not change
 *   new_root setns-self JAIL    setns into its own mount namespace
 *   new_root refused JAIL       as uid 54322, chroot(JAIL) fails (EPERM)
 * With PROG... after JAIL, the program then execv()s PROG instead of
 * in_root(). before_root() and in_root() each burn 300 ms of CPU and keep 1000
 * blocks of 100 bytes. Exit 2 when the set-up itself is not possible
 * here (not root, no mount namespaces).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

static volatile unsigned long sink;

/* The blocks are kept in the caller's own frame, so that the heap
 * profile's leaf functions tell the two phases apart. */
#define KEEP_BLOCKS()                                                                              \
    for (int i = 0; i < 1000; i++) {                                                               \
        char *p = malloc(100);                                                                     \
        if (p)                                                                                     \
            p[0] = (char)i;                                                                        \
        sink += (unsigned long)(uintptr_t)p;                                                       \
    }

static void burn(double ms)
{
    double end = cpu_ms() + ms;
    while (cpu_ms() < end)
        for (int i = 0; i < 20000; i++)
            sink += (unsigned long)i * i;
}

__attribute__((noinline)) static void before_root(void)
{
    KEEP_BLOCKS();
    burn(300);
}

__attribute__((noinline)) static void in_root(void)
{
    KEEP_BLOCKS();
    burn(300);
}

static int cannot(const char *what)
{
    printf("cannot %s: %s\n", what, strerror(errno));
    return 2;
}

static int pivot(const char *jail)
{
    if (unshare(CLONE_NEWNS) != 0)
        return cannot("unshare(CLONE_NEWNS)");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return cannot("make / private");
    if (mount(jail, jail, NULL, MS_BIND, NULL) != 0)
        return cannot("bind the jail");
    if (chdir(jail) != 0 || syscall(SYS_pivot_root, ".", ".") != 0)
        return cannot("pivot_root");
    if (umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
        return cannot("detach the old root");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: new_root MODE JAIL [PROG...]\n");
        return 1;
    }
    const char *mode = argv[1], *jail = argv[2];
    if (strcmp(mode, "refused") == 0 && setresuid(54322, 54322, 54322) != 0)
        return cannot("become uid 54322");
    before_root();
    if (strcmp(mode, "pivot") == 0) {
        int rc = pivot(jail);
        if (rc)
            return rc;
    } else if (strcmp(mode, "setns-self") == 0) {
        int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNS) != 0)
            return cannot("setns into its own mount namespace");
        close(fd);
    } else {
        const char *to = strcmp(mode, "same") == 0 ? "/" : jail;
        if (chroot(to) != 0) {
            if (strcmp(mode, "refused") != 0)
                return cannot("chroot");
            printf("chroot: %s\n", strerror(errno));
        } else if (chdir("/") != 0) {
            return cannot("chdir");
        }
    }
    if (argc > 3) {
        execv(argv[3], argv + 3);
        return cannot("exec");
    }
    in_root();
    printf("done\n");
    return 0;
}
