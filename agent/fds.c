#include "fds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "log.h"
#include "sys.h"

/* glibc's close itself. close is the shim's (preload/fdguard.c): it
 * refuses the app the numbers still marked, and while an open of the
 * agent's is under way it waits for that open, which in here is ours. */
extern int __close(int fd);

static atomic_flag near_limit_said = ATOMIC_FLAG_INIT;
/* After a refusal the agent opens nothing for a while: each try holds
 * one of the app's last descriptors for a moment. */
#define NEAR_LIMIT_PAUSE_NS 1000000000LL
/* These and closing_stuck are read or written by every start's config
 * reads: kept on the page of data that start dirties anyway (a page of
 * their own cost it two page faults). */
static _Atomic int64_t paused_until_ns OTP_STARTUP_DATA;
static _Atomic bool final_export OTP_STARTUP_DATA;

void otp_fd_final(bool on)
{
    atomic_store(&final_export, on);
}

bool otp_fd_room(void)
{
    /* No pause (the usual case): no clock read, which at start would be
     * the process's first, two page faults (the clock's code and data). */
    int64_t until = atomic_load_explicit(&paused_until_ns, memory_order_relaxed);
    return atomic_load(&final_export) || until == 0 || otp_mono_coarse_ns() >= until;
}

void otp_fd_own(int fd)
{
    if (fd < 0 || fd >= OTP_FD_TRACKED)
        return;
    uint64_t bit = 1ULL << (fd & 63);
    if (!(atomic_fetch_or(&otp_fd_owned_bits[fd >> 6], bit) & bit))
        atomic_fetch_add(&otp_fd_owned_n, 1);
}

static void disown(int fd)
{
    if (fd < 0 || fd >= OTP_FD_TRACKED)
        return;
    uint64_t bit = 1ULL << (fd & 63);
    if (atomic_fetch_and(&otp_fd_owned_bits[fd >> 6], ~bit) & bit)
        atomic_fetch_sub(&otp_fd_owned_n, 1);
}

/* Closed before it is unmarked: an app's dup2 waiting for the number
 * (preload/fdguard.c) must not find it free while the agent's
 * descriptor is still there. The other way round, an app's close could
 * be refused a descriptor it opened in between: that needs its open and
 * close to fit between two instructions here. */
/* Forgets that fd was given up to the app; true if it was. */
static bool ungive(int fd)
{
    if (fd < 0 || fd >= OTP_FD_TRACKED)
        return false;
    uint64_t bit = 1ULL << (fd & 63);
    return atomic_fetch_and(&otp_fd_given_bits[fd >> 6], ~bit) & bit;
}

void otp_fd_settle(void)
{
    for (int i = 0; i < 50000 && atomic_load_explicit(&otp_fd_releasing, memory_order_acquire) > 0; i++)
        otp_pause_us(20);
}

int otp_close(int fd)
{
    if (ungive(fd)) {
        disown(fd);
        return 0;
    }
    atomic_fetch_add(&otp_fd_releasing, 1);
    int rc = __close(fd);
    disown(fd);
    atomic_fetch_sub(&otp_fd_releasing, 1);
    return rc;
}

void otp_fd_give_up(int fd)
{
    if (fd < 0 || fd >= OTP_FD_TRACKED)
        return;
    atomic_fetch_or(&otp_fd_given_bits[fd >> 6], 1ULL << (fd & 63));
    disown(fd);
}

int otp_fd_owned_next(unsigned lo, unsigned hi)
{
    if (atomic_load_explicit(&otp_fd_owned_n, memory_order_relaxed) <= 0 || lo >= OTP_FD_TRACKED)
        return -1;
    if (hi >= OTP_FD_TRACKED)
        hi = OTP_FD_TRACKED - 1;
    for (unsigned w = lo >> 6; w <= hi >> 6; w++) {
        uint64_t v = atomic_load_explicit(&otp_fd_owned_bits[w], memory_order_acquire);
        if (w == lo >> 6)
            v &= ~0ULL << (lo & 63);
        if (!v)
            continue;
        unsigned fd = w * 64 + (unsigned)__builtin_ctzll(v);
        return fd <= hi ? (int)fd : -1;
    }
    return -1;
}

int otp_fd_high(int fd)
{
    if (fd < 0)
        return fd;
    if (fd <= 2) {
        int h = __fcntl(fd, F_DUPFD_CLOEXEC, 3);
        int e = errno;
        __close(fd);
        errno = e;
        if (h < 0)
            return -1;
        fd = h;
    }
    otp_fd_own(fd);
    /* The kernel gives the lowest free number: one this close to the app's
     * limit says the app has (nearly) all the others open, and taking one
     * would make its own next open or accept fail. */
    struct rlimit rl;
    if (!atomic_load(&final_export) && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)fd + OTP_FD_RESERVE >= rl.rlim_cur) {
        otp_close(fd);
        atomic_store_explicit(&paused_until_ns, otp_mono_coarse_ns() + NEAR_LIMIT_PAUSE_NS, memory_order_relaxed);
        otp_log_once(&near_limit_said, OTP_LOG_WARN,
                     "the app is near its limit of open files (RLIMIT_NOFILE %llu): the agent leaves it the "
                     "last %d and opens nothing there (profiles wait in memory)",
                     (unsigned long long)rl.rlim_cur, OTP_FD_RESERVE);
        errno = EMFILE;
        return -1;
    }
    return fd;
}

/* An app's close that never ended (its thread left it for a signal
 * handler that did not return): waited for once, not at every open. */
static _Atomic bool closing_stuck OTP_STARTUP_DATA;

void otp_fd_open_begin(void)
{
    int64_t until = 0;
    for (;;) {
        /* Timed by the first close that waits for it (otp_fd_close_begin):
         * most opens meet none, and read no clock. */
        if (atomic_fetch_add(&otp_fd_opening, 1) == 0)
            atomic_store(&otp_fd_opening_since, 0);
        if (atomic_load(&otp_fd_closing) == 0) {
            atomic_store_explicit(&closing_stuck, false, memory_order_relaxed);
            return;
        }
        if (atomic_load_explicit(&closing_stuck, memory_order_relaxed))
            return;
        /* The app closes: give way (both waiting would stall both). */
        atomic_fetch_sub(&otp_fd_opening, 1);
        if (!until)
            until = otp_mono_coarse_ns() + 1000000000LL;
        while (atomic_load(&otp_fd_closing) > 0 && otp_mono_coarse_ns() < until)
            otp_pause_us(20);
        if (otp_mono_coarse_ns() >= until) {
            atomic_store_explicit(&closing_stuck, true, memory_order_relaxed);
            atomic_fetch_add(&otp_fd_opening, 1);
            return;
        }
    }
}

void otp_fd_open_end(void)
{
    atomic_fetch_sub(&otp_fd_opening, 1);
}

/* The wait is counted from the first close that met the agent's opens
 * under way, not from each close: an open that hangs (an output directory
 * on a stuck network file system) holds up the app's closes 100 ms in
 * all, not each of them. */
void otp_fd_close_begin(void)
{
    atomic_fetch_add(&otp_fd_closing, 1);
    if (atomic_load(&otp_fd_opening) == 0)
        return;
    int64_t since = 0, now = otp_mono_coarse_ns();
    if (!atomic_compare_exchange_strong(&otp_fd_opening_since, &since, now))
        now = since;
    while (atomic_load(&otp_fd_opening) > 0 && otp_mono_coarse_ns() < now + 100000000LL)
        otp_pause_us(20);
}

void otp_fd_close_begin_held(void)
{
    atomic_fetch_add(&otp_fd_closing, 1);
}

void otp_fd_close_end(void)
{
    atomic_fetch_sub(&otp_fd_closing, 1);
}

int otp_openat(int dirfd, const char *path, int flags, int mode)
{
    if (!otp_fd_room()) {
        errno = EMFILE;
        return -1;
    }
    otp_fd_open_begin();
    int fd = otp_fd_high(openat(dirfd, path, flags, (mode_t)mode));
    otp_fd_open_end();
    return fd;
}

int otp_socket(int domain, int type, int protocol)
{
    if (!otp_fd_room()) {
        errno = EMFILE;
        return -1;
    }
    otp_fd_open_begin();
    int fd = otp_fd_high(socket(domain, type | SOCK_CLOEXEC, protocol));
    otp_fd_open_end();
    return fd;
}

int otp_open(const char *path, int flags)
{
    return otp_openat(AT_FDCWD, path, flags, 0);
}

/* The placeholders in place: at most one per standard number, owned by
 * one thread at a time. A second thread that holds meanwhile (an exit
 * path while an abandoned flusher still works) finds the numbers taken
 * already and needs none of its own. */
static _Atomic pid_t owner;
static struct {
    int depth;
    int n;
    int fd[3];
    dev_t dev[3];
    ino_t ino[3];
} held;

static bool std_closed(void)
{
    for (int i = 0; i < 3; i++)
        if (__fcntl(i, F_GETFD) < 0 && errno == EBADF)
            return true;
    return false;
}

void otp_std_hold(void)
{
    pid_t me = otp_gettid(), none = 0;
    if (atomic_load(&owner) == me) {
        held.depth++;
        return;
    }
    if (!atomic_compare_exchange_strong(&owner, &none, me))
        return;
    held.depth = 1;
    int e = errno;
    /* Each round fills the lowest free number with an O_PATH descriptor
     * of the root directory: one descriptor, no other end that could
     * take a number for a moment; reads and writes fail with EBADF as on
     * a closed one. */
    for (int round = 0; round < 3 && std_closed(); round++) {
        struct stat st;
        otp_fd_open_begin();
        int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        otp_fd_own(fd);
        otp_fd_open_end();
        if (fd < 0)
            break;
        if (fd > 2 || fstat(fd, &st) != 0) {
            otp_close(fd);
            break;
        }
        held.fd[held.n] = fd;
        held.dev[held.n] = st.st_dev;
        held.ino[held.n] = st.st_ino;
        held.n++;
    }
    errno = e;
}

void otp_std_release(void)
{
    if (atomic_load(&owner) != otp_gettid() || --held.depth > 0)
        return;
    int e = errno;
    for (int i = 0; i < held.n; i++) {
        struct stat st;
        /* The app may have put its own descriptor there meanwhile (a
         * daemon's dup2 of /dev/null, which preload/fdguard.c lets
         * through at once: a placeholder is no one's file): then it is
         * not ours to close. */
        int fl = __fcntl(held.fd[i], F_GETFL);
        if (fl >= 0 && (fl & O_PATH) && fstat(held.fd[i], &st) == 0 && st.st_dev == held.dev[i] &&
            st.st_ino == held.ino[i]) {
            otp_close(held.fd[i]);
        } else {
            disown(held.fd[i]);
            ungive(held.fd[i]);
        }
    }
    held.n = 0;
    atomic_store(&owner, 0);
    errno = e;
}

void otp_fd_atfork_child(void)
{
    int e = errno;
    /* Only the forking thread lives on: no open of the agent's nor close
     * of another thread's is under way here, whatever the parent's
     * counters said at the fork. */
    atomic_store(&otp_fd_opening, 0);
    atomic_store(&otp_fd_closing, 0);
    atomic_store(&closing_stuck, false);
    for (int fd; (fd = otp_fd_owned_next(0, OTP_FD_TRACKED - 1)) >= 0;)
        otp_close(fd);
    /* The owner may have been another thread of the parent's: its
     * placeholders went with the rest. */
    held.n = 0;
    held.depth = 0;
    atomic_store(&owner, 0);
    errno = e;
}
