/*
 * The pprof file sink: <dir>/<stem>.<pid>.<seq>.<kind>.pb.gz, gzipped,
 * written to a temp file and renamed so readers never see a partial file.
 * Files are 0600 and created directories 0700 unless export.file_mode
 * asks for group/other bits.
 */
#ifndef OTP_SINK_FILE_H
#define OTP_SINK_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Mode of the directories the agent creates for files of file_mode:
 * 0700, plus r-x for group/others that may read the files. */
int otp_file_dir_mode(int file_mode);

/* Opens dir, creating it and missing parents with dir_mode. A dir that is
 * a symlink is followed only if the caller's euid or root owns the link;
 * otherwise -ELOOP. Returns the descriptor or -errno. */
int otp_file_open_dir(const char *dir, int dir_mode);

/* Writes data atomically to dirfd/name with mode file_mode: a temp file
 * with a random name, created exclusively (O_EXCL|O_NOFOLLOW), renamed
 * over name (an entry already there, symlink or not, is replaced, never
 * followed). 0 or -errno. */
int otp_file_write_at(int dirfd, const char *name, const void *data, size_t len, int file_mode);

/* Whether a filesystem of this statfs type may leave a write hanging on
 * a server (NFS, SMB/CIFS, FUSE, 9p, Ceph, AFS, ...): such directories
 * are written only from a thread that exit can abandon at its deadline. */
bool otp_file_fs_remote(long f_type);
/* dir exists on a filesystem that is not remote (see above). */
bool otp_file_dir_local(const char *dir);

/* The two above with 0700 and 0600. 0 or -errno. */
int otp_file_write_atomic(const char *dir, const char *name, const void *data, size_t len);

#endif
