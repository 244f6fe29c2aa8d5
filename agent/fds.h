/*
 * The agent's descriptors and the app's standard streams: none of the
 * agent's ever takes the number 0, 1 or 2 of a stream the app closed.
 * Behind those numbers the app's own reads and writes, which fail when
 * they are closed, would reach the agent's files and sockets instead
 * (an app writing to its closed stdout into curl's socket pair died of
 * SIGPIPE), and an app reopening them (a daemon's open of /dev/null,
 * expected to be 0) would get another number.
 */
#ifndef OTP_FDS_H
#define OTP_FDS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Every descriptor the agent opens goes through these: one that took a
 * number from 0 to 2 is moved above them at once, and one within
 * OTP_FD_RESERVE of the app's RLIMIT_NOFILE is closed again (EMFILE,
 * said once): the app keeps its last descriptors. -1 with errno when
 * either happens: the agent does without rather than hold one. */
#define OTP_FD_RESERVE 16
/* False for a second after such a refusal: open nothing meanwhile. */
bool otp_fd_room(void);
/* On during the final export (exit, exec): the app is done opening, and
 * what waited in memory may use the reserve. */
void otp_fd_final(bool on);
int otp_fd_high(int fd);
int otp_open(const char *path, int flags);
int otp_openat(int dirfd, const char *path, int flags, int mode);
int otp_socket(int domain, int type, int protocol); /* close-on-exec */

/* The numbers the agent holds open, so that the app's calls that name
 * numbers it never opened pass them by (preload/fdguard.c): a bulk close
 * (close_range(3, ~0U), closefrom, a loop of close) leaves them, and a
 * dup2 onto one waits for the agent to be done with it. Without that, an
 * app that closed everything and opened its data file got the number of
 * the agent's temp file: the agent's close closed the app's file and its
 * profile went into the app's data, or the app's record into the
 * profile. Numbers from OTP_FD_TRACKED up are not tracked. Defined in
 * shared.c: the shim's wrappers and both objects' opens share them. */
#define OTP_FD_TRACKED 65536
extern _Atomic uint64_t otp_fd_owned_bits[OTP_FD_TRACKED / 64];
extern _Atomic int otp_fd_owned_n;
/* Numbers the app took from the agent (fds.c, otp_fd_give_up). */
extern _Atomic uint64_t otp_fd_given_bits[OTP_FD_TRACKED / 64];

static inline bool otp_fd_owned(int fd)
{
    return atomic_load_explicit(&otp_fd_owned_n, memory_order_relaxed) > 0 && fd >= 0 && fd < OTP_FD_TRACKED &&
           ((atomic_load_explicit(&otp_fd_owned_bits[fd >> 6], memory_order_acquire) >> (fd & 63)) & 1);
}
/* glibc's fcntl under another name: the agent's own calls do not go
 * through the shim's fcntl, which hides the agent's numbers from the app. */
int __fcntl(int fd, int cmd, ...);
/* Marks fd as the agent's (what the otp_open family returns is marked
 * already); a library's descriptor made on the agent's thread too. */
void otp_fd_own(int fd);
/* Closes fd, then unmarks it (a number given up to the app is only
 * unmarked): every descriptor the agent marked is closed with this (or
 * with close on the agent's thread, which comes here). */
int otp_close(int fd);
/* The gap between the kernel giving the agent a number and the mark:
 * an app's bulk close there would close the descriptor unmarked, and its
 * next open take the number. The agent's opens, from the system call to
 * the mark, go between otp_fd_open_begin and _end; the app's calls that
 * close or replace numbers (preload/fdguard.c) between
 * otp_fd_close_begin and _end. Neither side starts while the other is
 * under way (the agent gives way); each waits a bounded time (the app
 * until 100 ms after its first close that met the agent's opens, the
 * agent 1 s: an app's close can block, on a socket that lingers or a
 * network file) and then goes ahead. */
extern _Atomic int otp_fd_opening, otp_fd_closing;
/* The agent's closes between the close itself and the number's unmarking
 * (otp_close). Meanwhile the kernel may already have given the number to
 * an app's open: an app's close, bulk close or dup2 from a marked
 * number waits for this to drop (at most 1 s: the agent's thread may be
 * preempted there, or its close flush a network file system's writes)
 * before it takes the number for the agent's. Without the wait,
 * chromium's close of a descriptor it had just opened failed with EBADF
 * and chromium aborted, and bash's "exec 4>file" (an open, then a dup2
 * from it) failed in one run of 20 ("cannot duplicate fd"). */
extern _Atomic int otp_fd_releasing;
void otp_fd_settle(void);
/* Coarse monotonic ns: when the first app close met the agent's opens
 * under way; 0: none has yet. */
extern _Atomic int64_t otp_fd_opening_since;
void otp_fd_open_begin(void);
void otp_fd_open_end(void); /* the _end calls leave errno as it is */
void otp_fd_close_begin(void);
/* The same without the wait, for a dup2 onto one of the placeholders of
 * otp_std_hold, a number no open of the agent's or the loader's can take
 * meanwhile. The loader's opens count for the whole of a dlopen (loader.h),
 * and a daemon's dup2 onto its closed stdout waited for all of libcurl's
 * loading (20 ms). */
void otp_fd_close_begin_held(void);
void otp_fd_close_end(void);
/* Either side is under way: the app's close must take the slow path. */
static inline bool otp_fd_busy(void)
{
    return atomic_load_explicit(&otp_fd_owned_n, memory_order_relaxed) > 0 ||
           atomic_load_explicit(&otp_fd_opening, memory_order_relaxed) > 0;
}
/* The app put its own descriptor on fd, which the agent still held (a
 * dup2 that waited too long): unmarked, and the agent's otp_close of it
 * closes nothing. */
void otp_fd_give_up(int fd);
/* The lowest number the agent holds in [lo, hi], or -1. */
int otp_fd_owned_next(unsigned lo, unsigned hi);
/* A fork child: what the parent's agent held open (an export under way
 * on its thread) is not the child's; closed and forgotten. */
void otp_fd_atfork_child(void);

/* Held while the agent's thread exports or loads a library: the numbers
 * from 0 to 2 that the app has closed are filled with placeholders of
 * the agent's (O_PATH descriptors of /: reads and writes fail with EBADF
 * as on a closed one), so that what the libraries it calls open
 * meanwhile (curl's sockets and socket pairs, the loader's files,
 * OpenSSL's configuration, libdw's .dwz file) lands above them. Only
 * around that work: while held, the app's own check of whether 0-2 are
 * open sees them open.
 * Released, a placeholder is closed only if it is still the agent's.
 * Costs three fcntl calls when nothing is closed. Nests; one thread owns
 * the placeholders at a time (another's hold meanwhile does nothing). */
void otp_std_hold(void);
void otp_std_release(void);

#endif
