/*
 * A JIT in miniature: copies two CPU-burning stubs into executable
 * anonymous memory, names them in the perf map /tmp/perf-<pid>.map the
 * way JIT runtimes do, and runs each for the given CPU seconds (default
 * 0.4). The second stub's line is appended only after the first has run,
 * so a profiler must re-read the grown file. Prints its pid; the map file
 * is left behind, as JITs leave it (the caller removes it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef uint64_t (*stub_fn)(uint64_t);

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t run(stub_fn f, double s)
{
    uint64_t left = 0;
    double end = cpu_now() + s;
    while (cpu_now() < end) left += f(2000000); /* counts down to 0 */
    return left;
}

static int append_map(const char *path, void *start, size_t size, const char *name)
{
    FILE *m = fopen(path, "a");
    if (!m) return -1;
    fprintf(m, "%lx %zx %s\n", (unsigned long)(uintptr_t)start, size, name);
    return fclose(m);
}

int main(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 0.4;
    /* loop: sub rdi, 1; jnz loop; mov rax, rdi; ret */
    static const unsigned char code[] = {0x48, 0x83, 0xEF, 0x01, 0x75, 0xFA, 0x48, 0x89, 0xF8, 0xC3};
    uint8_t *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 1;
    memcpy(m + 256, code, sizeof code);
    memcpy(m + 4096 + 512, code, sizeof code);
    if (mprotect(m, 8192, PROT_READ | PROT_EXEC) != 0) return 1;
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    if (append_map(path, m + 256, sizeof code, "LazyCompile:*hotLoop app.js:12") != 0) return 2;
    uint64_t left = run((stub_fn)(void *)(m + 256), s);
    if (append_map(path, m + 4096 + 512, sizeof code, "py::burn:/srv/app/work.py") != 0) return 2;
    left += run((stub_fn)(void *)(m + 4096 + 512), s);
    printf("stubs ran: %s\n", left == 0 ? "yes" : "no");
    return 0;
}
