/*
 * Callbacks in threads the C library starts itself (SIGEV_THREAD):
 *   timer     one timer expiry whose callback burns 800 ms of its thread's CPU
 *   periodic  a 30 ms periodic timer: 30 callbacks of 20 ms of CPU each
 *   mq        a message queue's notification, whose callback burns 600 ms
 *   aio       a POSIX AIO read's completion, whose callback burns 100 ms
 * Each callback checks the value the app gave it. Prints the callbacks'
 * CPU time in total (cb_ms=, thread CPU clocks) to stderr, and what the
 * callbacks saw to stdout.
 * Usage: notify_threads timer|periodic|mq|aio
 */
#include <aio.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progs.h"

static _Atomic int calls, bad_values;
static _Atomic long cb_us;

__attribute__((noinline)) static void notify_burn(double ms)
{
    double end = thread_cpu_ms() + ms;
    volatile double s = 0;
    while (thread_cpu_ms() < end)
        for (int i = 1; i < 20000; i++)
            s += 1.0 / i;
}

static double burn_ms;

static void callback(union sigval v)
{
    if (v.sival_int != 42)
        bad_values++;
    notify_burn(burn_ms);
    /* The thread's CPU from its start: each callback has a thread of
     * its own. */
    cb_us += (long)(thread_cpu_ms() * 1000);
    calls++;
}

static int run_timer(int n, double period_ms)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = callback;
    sev.sigev_value.sival_int = 42;
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0)
        return 1;
    long p = (long)(period_ms * 1e6);
    struct itimerspec its = {{n > 1 ? p / 1000000000 : 0, n > 1 ? p % 1000000000 : 0}, {0, 1000000}};
    timer_settime(t, 0, &its, NULL);
    while (calls < n)
        usleep(1000);
    timer_delete(t);
    return 0;
}

static int run_mq(void)
{
    char name[64];
    snprintf(name, sizeof name, "/otprof-notify-%d", (int)getpid());
    struct mq_attr attr = {0, 4, 16, 0, {0}};
    mqd_t q = mq_open(name, O_CREAT | O_RDWR, 0600, &attr);
    if (q == (mqd_t)-1)
        return 1;
    mq_unlink(name);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = callback;
    sev.sigev_value.sival_int = 42;
    if (mq_notify(q, &sev) != 0)
        return 1;
    mq_send(q, "x", 1, 0);
    while (calls < 1)
        usleep(1000);
    mq_close(q);
    return 0;
}

static int run_aio(void)
{
    static char buf[16];
    struct aiocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_fildes = open("/dev/zero", O_RDONLY);
    cb.aio_buf = buf;
    cb.aio_nbytes = sizeof buf;
    cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
    cb.aio_sigevent.sigev_notify_function = callback;
    cb.aio_sigevent.sigev_value.sival_int = 42;
    if (cb.aio_fildes < 0 || aio_read(&cb) != 0)
        return 1;
    while (calls < 1)
        usleep(1000);
    close(cb.aio_fildes);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "timer";
    int rc;
    if (!strcmp(mode, "periodic")) {
        burn_ms = 20;
        rc = run_timer(30, 30);
    } else if (!strcmp(mode, "aio")) {
        burn_ms = 100;
        rc = run_aio();
    } else if (!strcmp(mode, "mq")) {
        burn_ms = 600;
        rc = run_mq();
    } else {
        burn_ms = 800;
        rc = run_timer(1, 0);
    }
    usleep(20000); /* the last callback's thread ends */
    printf("%s: %d callbacks, %d with a wrong value\n", mode, calls, bad_values);
    fprintf(stderr, "cb_ms=%.0f\n", cb_us / 1000.0);
    return rc;
}
