/*
 * A single-threaded program that computes and forks, as a script does:
 * ROUNDS rounds of SECONDS of CPU (with small allocations, as any
 * program makes), each ending in a fork whose child exits at once. Right
 * after each fork the parent reads its own thread count from
 * /proc/self/stat, as Python 3.12 and later do at every os.fork(), and
 * prints the most it saw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int threads_now(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    int field = 2, v = -1;
    for (char *t = strtok(p + 1, " "); t; t = strtok(NULL, " "))
        if (++field == 20) { v = atoi(t); break; }
    return v;
}

static volatile unsigned long sink;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static unsigned long work(double s)
{
    unsigned long x = 1;
    double end = cpu_now() + s;
    while (cpu_now() < end) {
        for (int i = 0; i < 20000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
        char *volatile p = malloc(64);
        free(p);
    }
    return x;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 8;
    double s = argc > 2 ? atof(argv[2]) : 0.4;
    int most = 0;
    for (int r = 0; r < rounds; r++) {
        sink += work(s);
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        int n = threads_now();
        if (n > most) most = n;
        waitpid(pid, NULL, 0);
    }
    printf("threads right after a fork: at most %d\n", most);
    return 0;
}
