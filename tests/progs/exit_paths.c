/*
 * Ways a process ends without destructors. Usage: exit_paths MODE
 *   _exit   burn 0.5 s of CPU, then _exit(7)
 *   _Exit   the same through _Exit(9)
 *   sys_exit_group  the same through syscall(SYS_exit_group, 8)
 *   child   a fork child burns 0.5 s and _exits(5); the parent reports it
 *   vfork   a vfork child _exits(4) at once; the parent reports it
 *   quick_exit  burn 0.5 s, then quick_exit(6), whose handler (registered
 *           by main) prints a line first
 *   execveat     burn 0.5 s, then execveat() a shell that prints a line
 *                and exits 3
 *   sys_execve   the same through syscall(SYS_execve)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile unsigned long sink;

__attribute__((noinline)) static void exit_burn(double s)
{
    double end = cpu_s() + s;
    while (cpu_s() < end)
        for (int i = 0; i < 10000; i++)
            sink += (unsigned long)i * i;
}

static int report(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return 1;
    printf("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}

extern char **environ;

static void on_quick_exit(void)
{
    printf("at_quick_exit handler ran\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "_exit";
    fflush(stdout);
    if (strcmp(mode, "_exit") == 0) {
        exit_burn(0.5);
        _exit(7);
    }
    if (strcmp(mode, "_Exit") == 0) {
        exit_burn(0.5);
        _Exit(9);
    }
    if (strcmp(mode, "sys_exit_group") == 0) {
        exit_burn(0.5);
        syscall(SYS_exit_group, 8);
    }
    if (strcmp(mode, "child") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            exit_burn(0.5);
            _exit(5);
        }
        return report(pid);
    }
    if (strcmp(mode, "quick_exit") == 0) {
        at_quick_exit(on_quick_exit);
        exit_burn(0.5);
        quick_exit(6);
    }
    if (strcmp(mode, "execveat") == 0 || strcmp(mode, "sys_execve") == 0) {
        char *args[] = {"sh", "-c", "echo replaced; exit 3", NULL};
        exit_burn(0.5);
        if (mode[0] == 'e')
            execveat(AT_FDCWD, "/bin/sh", args, environ, 0);
        else
            syscall(SYS_execve, "/bin/sh", args, environ);
        perror(mode);
        return 1;
    }
    if (strcmp(mode, "vfork") == 0) {
        pid_t pid = vfork();
        if (pid == 0)
            _exit(4);
        return report(pid);
    }
    return 2;
}
