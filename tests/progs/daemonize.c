/*
 * A program that works, then daemonizes with daemon(3), and works on in
 * the daemon: 500 ms of CPU in before_daemon, daemon(1, 1), 500 ms in
 * in_daemon, then the daemon creates the file MARKER and exits. The
 * parent leaves through daemon's own _exit(0).
 * Usage: daemonize MARKER
 */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double thread_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void spin(double ms)
{
    double end = thread_ms() + ms;
    volatile double s = 0;
    while (thread_ms() < end)
        for (int i = 1; i < 5000; i++)
            s += 1.0 / i;
}

__attribute__((noinline)) static void before_daemon(void)
{
    spin(500);
}

__attribute__((noinline)) static void in_daemon(void)
{
    spin(500);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    before_daemon();
    if (daemon(1, 1) != 0) {
        perror("daemon");
        return 1;
    }
    in_daemon();
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0)
        close(fd);
    return 0;
}
