/*
 * Directory size limit for the file sink. The directory is listed once
 * per export (getdents64, then one fstatat per name that is ours), sorted
 * oldest first with a heap sort (glibc's qsort may call the app's
 * malloc), and trimmed with unlinkat on the directory's descriptor.
 */
#include "dirlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "sys.h"

typedef struct ours {
    int64_t mtime_ns;
    uint64_t bytes;
    uint32_t pid, seq;
    bool heap;
} ours_t;

typedef struct scan {
    int dirfd;
    const char *stem;
    uid_t uid;
    ours_t *v;
    size_t n, cap;
    bool oom;
} scan_t;

/* A canonical decimal (no sign, no leading zero) ending at '.'. */
static const char *parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && p - s < 10)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == s || *p != '.' || (*s == '0' && p - s > 1) || v > UINT32_MAX)
        return NULL;
    *out = (uint32_t)v;
    return p + 1;
}

bool otp_dirlimit_parse(const char *stem, const char *name, uint32_t *pid, uint32_t *seq,
                        bool *heap)
{
    size_t sl = strlen(stem);
    if (strncmp(name, stem, sl) != 0 || name[sl] != '.')
        return false;
    uint32_t p, q;
    const char *s = parse_u32(name + sl + 1, &p);
    if (s)
        s = parse_u32(s, &q);
    if (!s)
        return false;
    bool h;
    if (strcmp(s, "cpu.pb.gz") == 0)
        h = false;
    else if (strcmp(s, "heap.pb.gz") == 0)
        h = true;
    else
        return false;
    if (pid)
        *pid = p;
    if (seq)
        *seq = q;
    if (heap)
        *heap = h;
    return true;
}

static void collect(void *ctx, const char *name)
{
    scan_t *sc = ctx;
    ours_t o;
    if (sc->oom || !otp_dirlimit_parse(sc->stem, name, &o.pid, &o.seq, &o.heap))
        return;
    struct stat st;
    /* Files the agent wrote are regular and the writer's: anything else
     * with such a name (a link, another user's file) is not ours. */
    if (fstatat(sc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != sc->uid)
        return;
    o.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    o.bytes = (uint64_t)st.st_size;
    if (sc->n == sc->cap) {
        size_t ncap = sc->cap ? sc->cap * 2 : 256;
        ours_t *nv = otp_realloc(sc->v, ncap * sizeof *nv);
        if (!nv) {
            sc->oom = true;
            return;
        }
        sc->v = nv;
        sc->cap = ncap;
    }
    sc->v[sc->n++] = o;
}

static bool older(const ours_t *a, const ours_t *b)
{
    if (a->mtime_ns != b->mtime_ns)
        return a->mtime_ns < b->mtime_ns;
    if (a->seq != b->seq)
        return a->seq < b->seq;
    if (a->pid != b->pid)
        return a->pid < b->pid;
    return !a->heap && b->heap;
}

static void sift(ours_t *v, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && older(&v[c], &v[c + 1]))
            c++;
        if (!older(&v[i], &v[c]))
            return;
        ours_t t = v[i];
        v[i] = v[c];
        v[c] = t;
        i = c;
    }
}

static void sort_oldest_first(ours_t *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(v, i, n);
    for (size_t end = n; end > 1; end--) {
        ours_t t = v[0];
        v[0] = v[end - 1];
        v[end - 1] = t;
        sift(v, 0, end - 1);
    }
}

int otp_dirlimit_enforce(int dirfd, const char *stem, int64_t limit, pid_t keep_pid,
                         uint32_t keep_seq, otp_dirlimit_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (limit <= 0)
        return 0;
    scan_t sc = {.dirfd = dirfd, .stem = stem, .uid = geteuid()};
    int rc = otp_dir_foreach_at(dirfd, collect, &sc);
    if (rc == 0 && sc.oom)
        rc = -ENOMEM;
    uint64_t total = 0;
    for (size_t i = 0; i < sc.n; i++)
        total += sc.v[i].bytes;
    res->files = sc.n;
    res->bytes = total;
    if (rc == 0 && total > (uint64_t)limit) {
        sort_oldest_first(sc.v, sc.n);
        for (size_t i = 0; i < sc.n && total > (uint64_t)limit; i++) {
            const ours_t *o = &sc.v[i];
            if (o->pid == (uint32_t)keep_pid && o->seq == keep_seq)
                continue;
            char name[400];
            int n = snprintf(name, sizeof name, "%s.%u.%u.%s.pb.gz", stem, o->pid, o->seq,
                             o->heap ? "heap" : "cpu");
            if (n < 0 || (size_t)n >= sizeof name)
                continue;
            if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) {
                total -= o->bytes;
                res->deleted++;
                res->deleted_bytes += o->bytes;
            }
        }
    }
    otp_free(sc.v);
    return rc;
}
