/*
 * Separate debug information, as Debian's -dbgsym and -dbg packages
 * install it: by GNU build id under <root>/.build-id/xx/yyyy.debug, and by
 * the object's .gnu_debuglink name (CRC-checked) beside the object, in its
 * .debug/ directory and under <root> plus the object's directory. <root>
 * is /usr/lib/debug (OTP_TEST_DEBUG_ROOT names another, for tests; ignored
 * under secure execution). Flusher thread only.
 */
#ifndef OTP_DEBUGFILE_H
#define OTP_DEBUGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opens the debug file of the object at obj_path; build_id (hex) and link
 * may be NULL or empty. With check_crc, a debuglink match must have the
 * CRC-32 crc. Returns an O_CLOEXEC fd and its path in out, or -1. */
int otp_debugfile_open(const char *obj_path, const char *build_id, const char *link, uint32_t crc, bool check_crc,
                       char *out, size_t cap);

/* Opens a dwz alternate file (the shared part of several debug files,
 * named by .gnu_debugaltlink: a path, absolute or relative to the debug
 * file's directory, and a build id), where libdw would look: by build id
 * under <root>, then by name. Returns an O_CLOEXEC fd and its path in out,
 * or -1. The caller checks the build id. */
int otp_debugfile_open_alt(const char *debug_path, const char *name, const uint8_t *build_id, size_t id_len,
                           char *out, size_t cap);

#endif
