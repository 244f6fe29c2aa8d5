/*
 * A single-threaded program that closes every descriptor above 2 it may
 * have (as daemons and fork-exec helpers do), then opens its data file,
 * which bare always gets the number 3, writes a record to it and reads
 * it back; allocating and spinning in between, for MS ms. MODE says how
 * it closes them:
 *   range    close_range(3, ~0U, 0), after an empty range (4, 3) that must
 *            fail with EINVAL
 *   from     closefrom(3)
 *   loop     close() of 3 to 1023, one by one
 *   syscall  syscall(SYS_close_range, 3, ~0U, 0)
 *   dup2     close_range, then the file is opened and dup2'd onto 4 (a
 *            shell's "exec 4>file"), and written through 4
 * Under the agent the agent's own descriptors (temp files, directories,
 * /proc reads) sit among those numbers during an export. Prints
 * "records N failed F cpu_ms C": F counts writes, reads and checks that
 * failed (0 bare), C is the program thread's CPU time; exits 0.
 * Usage: close_all MODE DIR [MS]   (default 1500)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

static volatile unsigned long sink;

__attribute__((noinline)) static void work_a_little(int n)
{
    void *volatile p = malloc(60000);
    memset(p, 1, 64);
    free(p);
    for (int i = 0; i < n; i++) sink += (unsigned long)i;
}

static int close_all(const char *mode)
{
    if (strcmp(mode, "from") == 0) {
        closefrom(3);
        return 0;
    }
    if (strcmp(mode, "loop") == 0) {
        for (int fd = 3; fd < 1024; fd++) close(fd);
        return 0;
    }
    if (strcmp(mode, "syscall") == 0) return (int)syscall(SYS_close_range, 3, ~0U, 0);
    /* An empty range is refused (EINVAL), as the kernel does. */
    if (close_range(4, 3, 0) == 0 || errno != EINVAL) return -1;
    return close_range(3, ~0U, 0);
}

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    const char *mode = argv[1], *dir = argv[2];
    double ms = argc > 3 ? atof(argv[3]) : 1500;
    bool onto4 = strcmp(mode, "dup2") == 0;
    long records = 0, failed = 0;
    double end = now_ms() + ms;
    char path[4096], want[64], got[64];
    while (now_ms() < end) {
        work_a_little(20000);
        if (close_all(mode) != 0) failed++;
        snprintf(path, sizeof path, "%s/data.%ld", dir, records % 4);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) {
            failed++;
            continue;
        }
        if (onto4 && fd != 4) {
            if (dup2(fd, 4) != 4) failed++;
            close(fd);
            fd = 4;
        }
        int n = snprintf(want, sizeof want, "record %ld\n", records);
        work_a_little(40000);
        if (write(fd, want, (size_t)n) != n) failed++;
        work_a_little(20000);
        struct stat st;
        if (fstat(fd, &st) != 0 || st.st_size != n) failed++;
        if (close(fd) != 0) failed++;
        fd = open(path, O_RDONLY);
        ssize_t r = fd >= 0 ? read(fd, got, sizeof got) : -1;
        if (fd >= 0) close(fd);
        if (r != n || memcmp(got, want, (size_t)n) != 0) failed++;
        records++;
    }
    /* The program's one thread: the process's CPU would also count the
     * agent's thread, which exports every 100 ms in the test. */
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    double cpu = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
    printf("records %ld failed %ld cpu_ms %.0f\n", records, failed, cpu);
    return 0;
}
