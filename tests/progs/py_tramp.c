/*
 * Python's perf trampolines in miniature (python -X perf, 3.12 and
 * later on x86-64): an 11-byte stub "sub $8,%rsp; call *%rcx; add
 * $8,%rsp; ret" copied into executable anonymous memory and named
 * py::... in /tmp/perf-<pid>.map, as CPython does for each code object.
 * outer() calls the stub, which calls back into burn() (the evaluator's
 * place); the stub keeps no frame pointer, so a walk through it by rbp
 * loses outer(). Runs for the given CPU seconds (default 1), prints its
 * pid; the map file is left behind (the caller removes it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef uint64_t (*tramp_fn)(uint64_t, uint64_t, uint64_t, uint64_t (*)(uint64_t, uint64_t, uint64_t));

static volatile uint64_t sink;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t burn(uint64_t n, uint64_t b, uint64_t c)
{
    uint64_t x = b ^ c;
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

__attribute__((noinline)) static uint64_t outer(tramp_fn f, double s)
{
    uint64_t x = 0;
    double end = cpu_now() + s;
    while (cpu_now() < end) {
        x += f(200000, 1, 2, burn);
        void *volatile p = malloc(64); /* as an interpreter does */
        free(p);
    }
    return x;
}

int main(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 1.0;
    static const unsigned char code[] = {0x48, 0x83, 0xEC, 0x08, 0xFF, 0xD1, 0x48, 0x83, 0xC4, 0x08, 0xC3};
    uint8_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 1;
    /* Two stubs back to back, as CPython's arena holds them. */
    memcpy(m + 100, code, sizeof code);
    memcpy(m + 100 + sizeof code, code, sizeof code);
    if (mprotect(m, 4096, PROT_READ | PROT_EXEC) != 0) return 1;
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f) return 2;
    fprintf(f, "%lx b py::other:/srv/app.py\n", (unsigned long)(uintptr_t)(m + 100));
    fprintf(f, "%lx b py::handle:/srv/app.py\n", (unsigned long)(uintptr_t)(m + 100 + sizeof code));
    fclose(f);
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    sink = outer((tramp_fn)(void *)(m + 100 + sizeof code), s);
    printf("done\n");
    return 0;
}
