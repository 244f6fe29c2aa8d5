/*
 * Atomic file writes for the pprof sink: the data goes to a hidden temp
 * file in the target directory (same filesystem, so rename is atomic)
 * and is renamed into place, so a reader polling the directory never sees
 * a partial profile. No stdio, no malloc. Flusher thread only.
 */
#include "sink_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "sys.h"

int otp_file_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[4096], dst[4096];
    if (!dir || !*dir || !name || !*name) return -EINVAL;
    int rc = otp_mkdirs(dir, 0755);
    if (rc < 0) return rc;
    /* The pid in the temp name keeps a forked child from clobbering its
     * parent's half-written file. */
    int nt = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%d", dir, name, (int)getpid());
    int nd = snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    if (nt < 0 || nd < 0 || (size_t)nt >= sizeof(tmp) || (size_t)nd >= sizeof(dst)) return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    rc = otp_write_all(fd, data, len);
    if (close(fd) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, dst) != 0) rc = -errno;
    if (rc != 0) unlink(tmp);
    return rc;
}
