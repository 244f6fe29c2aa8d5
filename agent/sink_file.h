/*
 * The pprof file sink: <dir>/<service>.<pid>.<seq>.<kind>.pb.gz, gzipped,
 * written to a temp file and renamed so readers never see a partial file.
 */
#ifndef OTP_SINK_FILE_H
#define OTP_SINK_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Writes `data` atomically to dir/name. 0 or -errno. Creates dir. */
int otp_file_write_atomic(const char *dir, const char *name, const void *data, size_t len);

#endif
