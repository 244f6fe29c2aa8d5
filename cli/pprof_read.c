/*
 * pprof files in and out. gzread reads gzip'd and plain files alike, which
 * is what pprof accepts too.
 */
#include "pprof_read.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Profiles of a long run are tens of MB at most; past this a file is not
 * a profile (or would not fit the protobuf-c unpack anyway). */
#define MAX_PROFILE_BYTES ((size_t)1 << 30)

pb_prof_t *otp_pprof_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "otprof: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        fprintf(stderr, "otprof: %s: out of memory\n", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    const char *why = NULL;
    while (buf) {
        if (n == cap) {
            if (cap >= MAX_PROFILE_BYTES) {
                why = "larger than 1 GiB: not a profile";
                break;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        int r = gzread(gz, buf + n, (unsigned)(cap - n));
        if (r < 0) {
            int zerr;
            const char *m = gzerror(gz, &zerr);
            why = zerr == Z_ERRNO ? strerror(errno) : m;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    gzclose(gz);
    if (!buf || why) {
        fprintf(stderr, "otprof: %s: %s\n", path,
                why ? (strcmp(why, "") ? why : "cannot decompress") : "out of memory");
        free(buf);
        return NULL;
    }
    pb_prof_t *p = n ? perftools__profiles__profile__unpack(NULL, n, buf) : NULL;
    free(buf);
    if (!p) {
        fprintf(stderr, "otprof: %s: not a pprof profile (%s)\n", path,
                n ? "cannot decode it as perftools.profiles.Profile" : "empty file");
        return NULL;
    }
    if (p->n_sample_type == 0) {
        fprintf(stderr, "otprof: %s: not a pprof profile (no sample types)\n", path);
        otp_pprof_free(p);
        return NULL;
    }
    return p;
}

void otp_pprof_free(pb_prof_t *p)
{
    if (p)
        perftools__profiles__profile__free_unpacked(p, NULL);
}

int otp_pprof_write(const char *path, const pb_prof_t *p)
{
    size_t len = perftools__profiles__profile__get_packed_size(p);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        fprintf(stderr, "otprof: %s: out of memory\n", path);
        return -1;
    }
    perftools__profiles__profile__pack(p, buf);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(buf);
        fprintf(stderr, "otprof: %s: out of memory\n", path);
        return -1;
    }
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "otprof: %s: cannot create a file beside it: %s\n", path, strerror(errno));
        free(buf);
        free(tmp);
        return -1;
    }
    /* mkostemp makes 0600; a profile written by hand is the user's file. */
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(fd, 0666 & ~um);
    gzFile gz = gzdopen(fd, "wb");
    int ok = gz != NULL;
    const uint8_t *q = buf;
    size_t left = len;
    while (ok && left > 0) {
        unsigned chunk = left > (1u << 30) ? 1u << 30 : (unsigned)left;
        int w = gzwrite(gz, q, chunk);
        if (w <= 0)
            ok = 0;
        else {
            q += w;
            left -= (size_t)w;
        }
    }
    int saved = errno;
    if (gz) {
        if (gzclose(gz) != Z_OK)
            ok = 0;
    } else {
        close(fd);
    }
    free(buf);
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            saved = errno;
        fprintf(stderr, "otprof: %s: cannot write it: %s\n", path, strerror(saved ? saved : EIO));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

const char *otp_pprof_str(const pb_prof_t *p, int64_t i)
{
    return i >= 0 && (size_t)i < p->n_string_table && p->string_table[i] ? p->string_table[i] : "";
}

int otp_pprof_sample_index(const pb_prof_t *p, const char *name)
{
    if (!name) {
        if (p->default_sample_type) {
            const char *d = otp_pprof_str(p, p->default_sample_type);
            for (size_t i = 0; i < p->n_sample_type; i++)
                if (strcmp(otp_pprof_str(p, p->sample_type[i]->type), d) == 0)
                    return (int)i;
        }
        return (int)p->n_sample_type - 1;
    }
    for (size_t i = 0; i < p->n_sample_type; i++)
        if (strcmp(otp_pprof_str(p, p->sample_type[i]->type), name) == 0)
            return (int)i;
    return -1;
}

void otp_pprof_type_list(const pb_prof_t *p, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->n_sample_type && n < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "",
                         otp_pprof_str(p, p->sample_type[i]->type));
        if (w < 0)
            break;
        n += (size_t)w;
    }
}
