/*
 * Unit tests of how the agent keeps its descriptors off the numbers of
 * the standard streams an app closed (sys.h): otp_open moves what lands
 * on 0-2 above them; otp_std_hold fills the closed numbers with
 * placeholders (O_PATH: reads and writes fail with EBADF), so that
 * a library's socket lands above them; release closes only what is still
 * the agent's (an app's dup2 onto one stays); holds nest; another
 * thread's hold and release meanwhile leave them alone; a fork child
 * drops the placeholders it inherited; within OTP_FD_RESERVE of
 * RLIMIT_NOFILE nothing is opened (and nothing for a while after), except
 * for the final export; what the agent opens is marked as its own until
 * otp_close (a number the app took is then left open), and a fork child
 * closes all of it. Runs in a child process that
 * closes its 0-2 and reports through a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "fds.h"

enum {
    R_OPEN_HIGH,     /* otp_open with 0-2 closed gave a number above 2 */
    R_OPEN_LOW_FREE, /* and left 0 closed */
    R_HELD_ALL,        /* under the hold, 0-2 are open O_PATH descriptors */
    R_HELD_READ_EBADF, /* reading 0 fails as when closed */
    R_HELD_WRITE_EBADF,
    R_SOCKET_HIGH,    /* a socket made meanwhile lands above 2 */
    R_RELEASE_CLOSED, /* released: 0 and 2 closed again */
    R_DUP2_KEPT,      /* the app's dup2 onto 1 survives the release */
    R_NEST_KEPT,      /* an inner release keeps the outer hold's */
    R_NEST_FREED,
    R_OTHER_KEPT,    /* another thread's hold and release leave them */
    R_OPEN_ALL_SAME, /* nothing closed: the hold changes nothing */
    R_FORK_DROPPED,  /* a fork child's copy of the placeholders goes */
    R_NEAR_REFUSED,  /* an open within the reserve is refused (EMFILE) and closed */
    R_NEAR_PAUSED,   /* then no room for a while */
    R_NEAR_FINAL,    /* the final export may use the reserve */
    R_OWN_MARKED,    /* otp_open's descriptor is marked, and found */
    R_OWN_UNMARKED,  /* otp_close unmarks and closes it */
    R_GIVEN_LEFT,    /* a number given up to the app: otp_close leaves it open */
    R_FORK_CLOSED,   /* a fork child closes every marked descriptor, no open under way */
    R_CLOSE_WAITS,   /* an app close meeting an open of the agent's that hangs waits ~100 ms */
    R_CLOSE_ONCE,    /* and the next close does not wait 100 ms more */
    R_N
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_closed(int fd)
{
    return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static bool is_held(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_PATH);
}

static void *other_thread(void *arg)
{
    (void)arg;
    otp_std_hold();
    otp_std_release();
    return NULL;
}

static void child(int out)
{
    char r[R_N];
    memset(r, 0, sizeof r);
    close(0);
    close(1);
    close(2);
    int fd = otp_open("/dev/null", O_RDONLY | O_CLOEXEC);
    r[R_OPEN_HIGH] = fd > 2;
    r[R_OPEN_LOW_FREE] = is_closed(0);
    if (fd >= 0) otp_close(fd);

    otp_std_hold();
    r[R_HELD_ALL] = is_held(0) && is_held(1) && is_held(2);
    char c;
    r[R_HELD_READ_EBADF] = read(0, &c, 1) < 0 && errno == EBADF;
    r[R_HELD_WRITE_EBADF] = write(2, "x", 1) < 0 && errno == EBADF;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    r[R_SOCKET_HIGH] = s > 2;
    if (s >= 0) close(s);
    int dn = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (dn >= 0) {
        dup2(dn, 1);
        close(dn);
    }
    otp_std_release();
    struct stat st;
    r[R_RELEASE_CLOSED] = is_closed(0) && is_closed(2);
    r[R_DUP2_KEPT] = fstat(1, &st) == 0 && S_ISCHR(st.st_mode);

    otp_std_hold();
    otp_std_hold();
    otp_std_release();
    r[R_NEST_KEPT] = is_held(0) && is_held(2);
    otp_std_release();
    r[R_NEST_FREED] = is_closed(0) && is_closed(2);

    otp_std_hold();
    pthread_t th;
    bool ran = pthread_create(&th, NULL, other_thread, NULL) == 0 && pthread_join(th, NULL) == 0;
    r[R_OTHER_KEPT] = ran && is_held(0) && is_held(2);
    otp_std_release();

    otp_std_hold();
    pid_t p = fork();
    if (p == 0) {
        otp_fd_atfork_child();
        _exit(is_closed(0) && is_closed(2) ? 0 : 1);
    }
    int status = 1;
    if (p > 0) waitpid(p, &status, 0);
    r[R_FORK_DROPPED] = p > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && is_held(0);
    otp_std_release();

    /* 0-2 all open: the hold adds nothing. */
    int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY), d = open("/dev/null", O_RDONLY);
    int before = open("/dev/null", O_RDONLY);
    close(before);
    otp_std_hold();
    int during = open("/dev/null", O_RDONLY);
    otp_std_release();
    r[R_OPEN_ALL_SAME] = a >= 0 && b >= 0 && d >= 0 && during == before;
    if (during >= 0) close(during);
    int m = otp_open("/dev/null", O_RDONLY | O_CLOEXEC);
    r[R_OWN_MARKED] = m > 2 && otp_fd_owned(m) && otp_fd_owned_next(0, ~0U) == m &&
                      otp_fd_owned_next((unsigned)m + 1, ~0U) < 0 && otp_fd_owned_next(0, (unsigned)m - 1) < 0;
    r[R_OWN_UNMARKED] = m > 2 && otp_close(m) == 0 && !otp_fd_owned(m) && is_closed(m) &&
                        otp_fd_owned_next(0, ~0U) < 0;
    m = otp_open("/dev/null", O_RDONLY | O_CLOEXEC);
    otp_fd_give_up(m);
    r[R_GIVEN_LEFT] = m > 2 && !otp_fd_owned(m) && otp_close(m) == 0 && !is_closed(m);
    if (m >= 0) close(m);
    m = otp_open("/dev/null", O_RDONLY | O_CLOEXEC);
    int m2 = otp_open("/dev/null", O_RDONLY | O_CLOEXEC);
    otp_fd_open_begin(); /* a fork in the middle of an open of the agent's */
    p = fork();
    if (p == 0) {
        otp_fd_atfork_child();
        _exit(is_closed(m) && is_closed(m2) && otp_fd_owned_next(0, ~0U) < 0 &&
                      atomic_load(&otp_fd_opening) == 0 && atomic_load(&otp_fd_closing) == 0
                  ? 0
                  : 1);
    }
    otp_fd_open_end();
    status = 1;
    if (p > 0) waitpid(p, &status, 0);
    r[R_FORK_CLOSED] = m > 2 && m2 > 2 && p > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                       otp_fd_owned(m) && !is_closed(m2);
    otp_close(m);
    otp_close(m2);
    /* An open of the agent's that hangs (an output directory on a stuck
     * network file system): the app's closes wait for it 100 ms in all. */
    otp_fd_open_begin();
    int64_t c0 = mono_ms();
    otp_fd_close_begin();
    otp_fd_close_end();
    int64_t c1 = mono_ms();
    otp_fd_close_begin();
    otp_fd_close_end();
    int64_t c2 = mono_ms();
    otp_fd_open_end();
    r[R_CLOSE_WAITS] = c1 - c0 >= 90 && c1 - c0 < 2000;
    r[R_CLOSE_ONCE] = c2 - c1 < 50;
    /* Near the limit of open files: 20, and the lowest free number 5. */
    struct rlimit rl = {20, 20};
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
        int lowest = open("/dev/null", O_RDONLY);
        if (lowest >= 0) close(lowest);
        errno = 0;
        int near = otp_open("/dev/null", O_RDONLY | O_CLOEXEC);
        r[R_NEAR_REFUSED] = near < 0 && errno == EMFILE && is_closed(lowest);
        r[R_NEAR_PAUSED] = !otp_fd_room();
        otp_fd_final(true);
        near = otp_open("/dev/null", O_RDONLY | O_CLOEXEC);
        r[R_NEAR_FINAL] = near >= 0 && otp_fd_room();
        if (near >= 0) otp_close(near);
        otp_fd_final(false);
    }
    (void)!write(out, r, sizeof r);
    _exit(0);
}

int main(void)
{
    int p[2];
    if (pipe(p) != 0) return 1;
    /* The pipe's ends above 2 whatever the harness left open. */
    int rd = fcntl(p[0], F_DUPFD_CLOEXEC, 10), wr = fcntl(p[1], F_DUPFD_CLOEXEC, 10);
    close(p[0]);
    close(p[1]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(rd);
        child(wr);
    }
    close(wr);
    char r[R_N];
    memset(r, 0, sizeof r);
    ssize_t n = read(rd, r, sizeof r);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_NAMED("the child reported", n == (ssize_t)sizeof r && WIFEXITED(status));
    CHECK_NAMED("otp_open with 0-2 closed returns a number above 2", r[R_OPEN_HIGH]);
    CHECK_NAMED("and leaves 0 closed", r[R_OPEN_LOW_FREE]);
    CHECK_NAMED("held: 0, 1 and 2 are placeholders (O_PATH)", r[R_HELD_ALL]);
    CHECK_NAMED("held: a read of 0 fails with EBADF, as when closed", r[R_HELD_READ_EBADF]);
    CHECK_NAMED("held: a write to 2 fails with EBADF, as when closed", r[R_HELD_WRITE_EBADF]);
    CHECK_NAMED("held: a socket made meanwhile lands above 2", r[R_SOCKET_HIGH]);
    CHECK_NAMED("released: 0 and 2 are closed again", r[R_RELEASE_CLOSED]);
    CHECK_NAMED("released: the app's dup2 of /dev/null onto 1 stays", r[R_DUP2_KEPT]);
    CHECK_NAMED("nested: the inner release keeps the placeholders", r[R_NEST_KEPT]);
    CHECK_NAMED("nested: the outer release closes them", r[R_NEST_FREED]);
    CHECK_NAMED("another thread's hold and release leave the owner's placeholders", r[R_OTHER_KEPT]);
    CHECK_NAMED("a fork child closes the placeholders it inherited; the parent keeps its own",
                r[R_FORK_DROPPED]);
    CHECK_NAMED("nothing closed: the hold opens nothing", r[R_OPEN_ALL_SAME]);
    CHECK_NAMED("within the reserve of RLIMIT_NOFILE: refused with EMFILE, the descriptor closed",
                r[R_NEAR_REFUSED]);
    CHECK_NAMED("then no room for a while", r[R_NEAR_PAUSED]);
    CHECK_NAMED("the final export may use the reserve", r[R_NEAR_FINAL]);
    CHECK_NAMED("otp_open's descriptor is marked as the agent's, and the only one found", r[R_OWN_MARKED]);
    CHECK_NAMED("otp_close unmarks it and closes it", r[R_OWN_UNMARKED]);
    CHECK_NAMED("a number given up to the app is left open by otp_close", r[R_GIVEN_LEFT]);
    CHECK_NAMED("a fork child closes every descriptor marked and starts with no open under way; the parent "
                "keeps them",
                r[R_FORK_CLOSED]);
    CHECK_NAMED("an app's close meeting an open of the agent's that hangs waits for it about 100 ms",
                r[R_CLOSE_WAITS]);
    CHECK_NAMED("and the app's next close does not wait again: 100 ms in all", r[R_CLOSE_ONCE]);
    return check_done();
}
