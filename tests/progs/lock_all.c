/*
 * A program that locks all its memory at start, as real-time and some
 * security programs do: mlockall(MCL_CURRENT) faults in and locks every
 * mapping of the process, the agent's too. Prints the locked and mapped
 * sizes (VmLck, VmSize, KiB) and the status of mlockall.
 * Usage: lock_all
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0) v = atol(line + n);
    if (f) fclose(f);
    return v;
}

int main(void)
{
    int rc = mlockall(MCL_CURRENT);
    int err = errno;
    printf("mlockall %s locked_kib %ld size_kib %ld\n", rc == 0 ? "ok" : strerror(err), status_kib("VmLck:"),
           status_kib("VmSize:"));
    return 0;
}
