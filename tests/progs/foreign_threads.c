/*
 * Work done on threads that the app's pthread_create did not start.
 * Usage:
 *   foreign_threads clone SECS       a raw clone thread (no thread-local
 *       storage of its own) burns SECS of its CPU in clone_burn while the
 *       main thread burns SECS / 2 in main_burn; main waits for the clone
 *       to end (allocating as it waits), then exits 300 ms later
 *   foreign_threads clone_live SECS  the same, but main exits after its
 *       SECS / 2 while the clone thread still burns (exit ends it)
 *   foreign_threads aio SECS FILE    reads FILE through POSIX AIO for
 *       SECS: glibc's own worker threads do the copying
 * Prints the process's CPU time to stderr at the end as cpu_ms=.
 */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

static volatile int clone_done;
static volatile unsigned long sink;

/* No libc call that touches thread-local state (errno included, which
 * only failures set): this thread's TLS pointer is its creator's. */
static long thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

__attribute__((noinline)) static void clone_burn(double secs)
{
    long end = thread_ns() + (long)(secs * 1e9);
    while (thread_ns() < end)
        for (int i = 0; i < 20000; i++)
            sink += (unsigned long)i * 3;
}

/* Allocates as it goes, as most programs do: the agent's thread starts
 * at an allocation. */
__attribute__((noinline)) static void main_burn(double secs)
{
    long end = thread_ns() + (long)(secs * 1e9);
    while (thread_ns() < end) {
        free(malloc(64));
        for (int i = 0; i < 20000; i++)
            sink += (unsigned long)i * 5;
    }
}

static double clone_secs;

static int clone_main(void *arg)
{
    (void)arg;
    clone_burn(clone_secs);
    clone_done = 1;
    syscall(SYS_exit, 0);
    return 0;
}

static int run_clone(double secs, int live)
{
    size_t sz = 256 * 1024;
    char *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stk == MAP_FAILED)
        return 1;
    clone_secs = live ? secs * 4 : secs;
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    if (clone(clone_main, stk + sz, flags, NULL) < 0) {
        perror("clone");
        return 1;
    }
    main_burn(secs / 2);
    if (live)
        return 0;
    /* Waits as a program that goes on allocating (the agent's thread
     * starts at an allocation the agent samples, after its first second). */
    double end = 0;
    while (!end || now_ms() < end) {
        if (!end && clone_done)
            end = now_ms() + 300;
        free(malloc(64 * 1024));
        usleep(1000);
    }
    return 0;
}

static int run_aio(double secs, const char *file)
{
    int fd = open(file, O_RDONLY);
    if (fd < 0) {
        perror(file);
        return 1;
    }
    enum { N = 4, SZ = 1 << 20 };
    static char buf[N][SZ];
    struct aiocb cb[N];
    double end = now_ms() + secs * 1e3;
    do {
        for (int i = 0; i < N; i++) {
            memset(&cb[i], 0, sizeof cb[i]);
            cb[i].aio_fildes = fd;
            cb[i].aio_buf = buf[i];
            cb[i].aio_nbytes = SZ;
            cb[i].aio_offset = (off_t)i * SZ;
            if (aio_read(&cb[i]) != 0) {
                perror("aio_read");
                return 1;
            }
        }
        for (int i = 0; i < N; i++) {
            const struct aiocb *l[1] = {&cb[i]};
            while (aio_error(&cb[i]) == EINPROGRESS)
                aio_suspend(l, 1, NULL);
            if (aio_return(&cb[i]) != SZ) {
                fprintf(stderr, "short read\n");
                return 1;
            }
        }
    } while (now_ms() < end);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: foreign_threads clone|clone_live SECS | aio SECS FILE\n");
        return 2;
    }
    double secs = atof(argv[2]);
    int rc;
    if (strcmp(argv[1], "aio") == 0 && argc > 3)
        rc = run_aio(secs, argv[3]);
    else if (strcmp(argv[1], "clone") == 0 || strcmp(argv[1], "clone_live") == 0)
        rc = run_clone(secs, strcmp(argv[1], "clone_live") == 0);
    else
        rc = 2;
    fprintf(stderr, "cpu_ms=%.0f\n", cpu_ms());
    return rc;
}
