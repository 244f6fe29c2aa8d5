#include "debugfile.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fds.h"

static const char *debug_root(void)
{
    const char *r = secure_getenv("OTP_TEST_DEBUG_ROOT");
    return r && r[0] == '/' ? r : "/usr/lib/debug";
}

static int open_regular(const char *path)
{
    int fd = otp_open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        otp_close(fd);
        fd = -1;
    }
    return fd;
}

static bool crc_matches(int fd, uint32_t want)
{
    unsigned char buf[65536];
    uLong crc = crc32(0L, Z_NULL, 0);
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) crc = crc32(crc, buf, (uInt)r);
    lseek(fd, 0, SEEK_SET);
    return r == 0 && (uint32_t)crc == want;
}

/* <root>/.build-id/xx/yyyy.debug for a hex build id, or -1. */
static int open_by_build_id(const char *hex, char *out, size_t cap)
{
    if (!hex || strlen(hex) < 4) return -1;
    int n = snprintf(out, cap, "%s/.build-id/%.2s/%s.debug", debug_root(), hex, hex + 2);
    return n < 0 || (size_t)n >= cap ? -1 : open_regular(out);
}

int otp_debugfile_open_alt(const char *debug_path, const char *name, const uint8_t *build_id, size_t id_len,
                           char *out, size_t cap)
{
    int fd;
    if (id_len >= 2 && id_len <= 64) {
        char hex[130];
        for (size_t i = 0; i < id_len; i++)
            snprintf(hex + 2 * i, 3, "%02x", build_id[i]);
        if ((fd = open_by_build_id(hex, out, cap)) >= 0) return fd;
    }
    if (!name || !name[0]) return -1;
    int n;
    if (name[0] == '/') {
        n = snprintf(out, cap, "%s", name);
    } else {
        const char *slash = debug_path ? strrchr(debug_path, '/') : NULL;
        if (!slash) return -1;
        n = snprintf(out, cap, "%.*s/%s", (int)(slash - debug_path), debug_path, name);
    }
    if (n < 0 || (size_t)n >= cap) return -1;
    return open_regular(out);
}

int otp_debugfile_open(const char *obj_path, const char *build_id, const char *link, uint32_t crc, bool check_crc,
                       char *out, size_t cap)
{
    const char *root = debug_root();
    int fd;
    if ((fd = open_by_build_id(build_id, out, cap)) >= 0) return fd;
    if (!link || !link[0] || strchr(link, '/') || !obj_path || obj_path[0] != '/') return -1;
    const char *slash = strrchr(obj_path, '/');
    int dirlen = (int)(slash - obj_path);
    for (int i = 0; i < 3; i++) {
        int n = i == 0   ? snprintf(out, cap, "%.*s/%s", dirlen, obj_path, link)
                : i == 1 ? snprintf(out, cap, "%.*s/.debug/%s", dirlen, obj_path, link)
                         : snprintf(out, cap, "%s%.*s/%s", root, dirlen, obj_path, link);
        if (n < 0 || (size_t)n >= cap || strcmp(out, obj_path) == 0) continue;
        if ((fd = open_regular(out)) < 0) continue;
        if (!check_crc || crc_matches(fd, crc)) return fd;
        otp_close(fd);
    }
    return -1;
}
