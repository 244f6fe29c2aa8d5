/*
 * What the C library's heap holds at the start of main and after a
 * thread has come and gone, printed before anything of ours allocates
 * (stdout's buffer is the first): a preloaded agent keeps its memory
 * elsewhere, so the figures equal the bare run's. And errno at the start
 * of main, which C makes 0.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>

static void *idle(void *arg)
{
    return arg;
}

int main(void)
{
    int errno_at_start = errno;
    struct mallinfo2 start = mallinfo2();
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    struct mallinfo2 after = mallinfo2();
    printf("start arena %zu inuse %zu mmapped %zu errno %d\n", start.arena, start.uordblks, start.hblkhd,
           errno_at_start);
    printf("thread arena %zu inuse %zu mmapped %zu\n", after.arena, after.uordblks, after.hblkhd);
    return 0;
}
