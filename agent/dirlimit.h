/*
 * export.max_dir_mb: the output directory holds at most that many bytes
 * of this service's profile files. Only names of exactly the agent's own
 * form for this service, <stem>.<pid>.<seq>.<cpu|heap>.pb.gz (any pid,
 * canonical decimals), that are regular files owned by the caller's euid
 * are counted or ever deleted; everything else is left alone.
 * Flusher thread only; memory from otp_malloc.
 */
#ifndef OTP_DIRLIMIT_H
#define OTP_DIRLIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct otp_dirlimit_result {
    uint64_t files, bytes;     /* this service's files before deleting */
    uint64_t deleted, deleted_bytes;
} otp_dirlimit_result_t;

/* True if name is one of the agent's file names for stem; fills the
 * parts (any may be NULL). */
bool otp_dirlimit_parse(const char *stem, const char *name, uint32_t *pid, uint32_t *seq,
                        bool *heap);

/* When the files of stem in dirfd exceed limit bytes, deletes the oldest
 * (by mtime, then seq) until they fit, never those of (keep_pid,
 * keep_seq): the interval just written. 0 or -errno. */
int otp_dirlimit_enforce(int dirfd, const char *stem, int64_t limit, pid_t keep_pid,
                         uint32_t keep_seq, otp_dirlimit_result_t *res);

#endif
