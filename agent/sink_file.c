/*
 * Atomic file writes for the pprof sink: the data goes to a hidden temp
 * file in the target directory (same filesystem, so rename is atomic)
 * and is renamed into place, so a reader polling the directory never sees
 * a partial profile. No stdio, no malloc. Flusher thread only.
 *
 * The output directory may be shared with other users (a /tmp path): the
 * temp file gets an unpredictable name and is created exclusively
 * (O_EXCL never follows a symlink), the rename replaces whatever entry
 * holds the final name without following it, and every step works on the
 * directory's descriptor, so nothing planted in the directory can make
 * the agent write anywhere else.
 */
#include "sink_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fds.h"
#include "sys.h"

int otp_file_dir_mode(int file_mode)
{
    int m = 0700;
    if (file_mode & 040)
        m |= 050;
    if (file_mode & 004)
        m |= 005;
    return m;
}

int otp_file_open_dir(const char *dir, int dir_mode)
{
    if (!dir || !*dir)
        return -EINVAL;
    /* Almost always there already: one open, not a mkdir per component
     * (~40 us of a short process's exit). */
    int fd = otp_open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int rc = otp_mkdirs(dir, dir_mode);
    if (rc < 0)
        return rc;
    fd = otp_open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    if (errno != ELOOP && errno != ENOTDIR)
        return -errno;
    /* The directory is a symlink: followed only if ours or root's (the
     * rule the kernel's protected_symlinks applies in sticky directories),
     * never one another user planted where we would have created it. */
    struct stat st;
    if (lstat(dir, &st) != 0)
        return -errno;
    if (!S_ISLNK(st.st_mode))
        return -ENOTDIR;
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return -ELOOP;
    fd = otp_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int otp_file_write_at(int dirfd, const char *name, const void *data, size_t len, int file_mode)
{
    char tmp[320];
    if (dirfd < 0 || !name || !*name)
        return -EINVAL;
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 8; attempt++) {
        int n = snprintf(tmp, sizeof tmp, ".%s.tmp.%016llx", name,
                         (unsigned long long)otp_random64());
        if (n < 0 || (size_t)n >= sizeof tmp)
            return -ENAMETOOLONG;
        fd = otp_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            return -errno;
    }
    if (fd < 0)
        return -EEXIST;
    int rc = 0;
    /* The mode asked for, whatever the umask; 0600 needs no change. */
    if ((file_mode & 0777) != 0600 && fchmod(fd, (mode_t)(file_mode & 0666)) != 0)
        rc = -errno;
    if (rc == 0)
        rc = otp_write_all(fd, data, len);
    if (otp_close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && renameat(dirfd, tmp, dirfd, name) != 0)
        rc = -errno;
    if (rc != 0)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

int otp_file_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    if (!dir || !*dir || !name || !*name)
        return -EINVAL;
    int dfd = otp_file_open_dir(dir, 0700);
    if (dfd < 0)
        return dfd;
    int rc = otp_file_write_at(dfd, name, data, len, 0600);
    otp_close(dfd);
    return rc;
}

bool otp_file_fs_remote(long f_type)
{
    /* statfs f_type magic numbers (linux/magic.h and the filesystems' own). */
    static const unsigned long remote[] = {
        0x6969UL,     /* NFS */
        0x517BUL,     /* SMB */
        0xFF534D42UL, /* CIFS */
        0xFE534D42UL, /* SMB2 */
        0x65735546UL, /* FUSE (sshfs, s3fs, ...) */
        0x01021997UL, /* 9p */
        0x00C36400UL, /* Ceph */
        0x5346414FUL, /* AFS */
        0x6B414653UL, /* kAFS */
        0x73757245UL, /* Coda */
        0x564CUL,     /* NCP */
        0x47504653UL, /* GPFS */
        0x0BD00BD0UL, /* Lustre */
    };
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
        if ((unsigned long)(unsigned int)f_type == remote[i])
            return true;
    return false;
}

bool otp_file_dir_local(const char *dir)
{
    if (!dir || !dir[0])
        return false;
    /* A directory not made yet will be made on its nearest existing
     * ancestor's filesystem. */
    char p[4096];
    int n = snprintf(p, sizeof p, "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof p)
        return false;
    struct statfs st;
    while (statfs(p, &st) != 0) {
        if (errno != ENOENT)
            return false;
        char *slash = strrchr(p, '/');
        if (strcmp(p, ".") == 0 || strcmp(p, "/") == 0)
            return false; /* the working directory is gone */
        if (!slash)
            snprintf(p, sizeof p, ".");
        else if (slash == p)
            p[1] = '\0';
        else
            *slash = '\0';
    }
    return !otp_file_fs_remote((long)st.f_type);
}
