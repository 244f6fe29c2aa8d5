/*
 * Heap profiling across fork, vfork and posix_spawn:
 *   parent_site  the parent leaks 100 x 10240 B before forking
 *   child_site   the fork child leaks 50 x 10240 B and frees 50 of the
 *                parent's blocks it inherited, then exits normally
 *   vfork_site   20 vfork children each allocate and free 100 blocks
 *                before _exit (they share the parent's memory)
 *   after_site   the parent allocates 10 x 1000 B afterwards
 * Also posix_spawns /bin/true 20 times. Prints "child PID" for the test.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
void *parent_blocks[100];
void *child_blocks[50];
void *after_blocks[10];
void *volatile sink;

__attribute__((noinline)) void parent_site(void)
{
    for (int i = 0; i < 100; i++)
        parent_blocks[i] = malloc(10240);
}

__attribute__((noinline)) void child_site(void)
{
    for (int i = 0; i < 50; i++)
        child_blocks[i] = malloc(10240);
    for (int i = 0; i < 50; i++)
        free(parent_blocks[i]);
}

__attribute__((noinline)) void vfork_site(void)
{
    for (int i = 0; i < 100; i++) {
        sink = malloc(100);
        free(sink);
    }
}

__attribute__((noinline)) void after_site(void)
{
    for (int i = 0; i < 10; i++)
        after_blocks[i] = malloc(1000);
}

int main(void)
{
    usleep(50000); /* let the agent finish starting (unwinder) */
    parent_site();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        child_site();
        exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 1;
    printf("child %d\n", (int)pid);
    for (int i = 0; i < 20; i++) {
        pid_t v = vfork();
        if (v == 0) {
            vfork_site();
            _exit(0);
        }
        if (v < 0 || waitpid(v, &st, 0) != v || !WIFEXITED(st))
            return 1;
    }
    for (int i = 0; i < 20; i++) {
        char *argv[] = {"true", NULL};
        pid_t s;
        if (posix_spawn(&s, "/bin/true", NULL, NULL, argv, environ) != 0 || waitpid(s, &st, 0) != s ||
            !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 1;
    }
    after_site();
    sink = after_blocks[9];
    sink = parent_blocks[99];
    return 0;
}
