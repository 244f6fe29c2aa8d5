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

#include <stdbool.h>

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
/* A fork child inherits the placeholders of an export in progress. */
void otp_std_atfork_child(void);

#endif
