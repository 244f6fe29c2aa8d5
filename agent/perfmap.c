/*
 * The perf map is appended to by the JIT as it emits code, so it is
 * stat'ed at each refresh (once per export) and re-read whole when it
 * changed; for its trampolines alone, also once a second between
 * exports. It lives in /tmp, where anyone may create files: only a
 * regular file owned by this process's user (or root), opened without
 * following a symlink, is read, and at most OTP_PERFMAP_MAX bytes of it.
 */
#include "perfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"
#include "log.h"
#include "mem.h"
#include "stackwalk.h"
#include "sys.h"

#define OTP_PERFMAP_MAX (64u << 20)

typedef struct pm_ent {
    uint64_t start, end;
    uint32_t seq; /* line number: later lines win */
    const char *name;
} pm_ent_t;

struct otp_perfmap {
    pid_t pid;
    uint64_t dev, ino, size;
    struct timespec mtime;
    char *text;   /* the file; names point into it */
    pm_ent_t *ents;
    size_t n;
};

otp_perfmap_t *otp_perfmap_new(void)
{
    return otp_calloc(1, sizeof(otp_perfmap_t));
}

static void drop(otp_perfmap_t *m)
{
    otp_free(m->text);
    otp_free(m->ents);
    m->text = NULL;
    m->ents = NULL;
    m->n = 0;
}

void otp_perfmap_free(otp_perfmap_t *m)
{
    if (!m) return;
    drop(m);
    otp_free(m);
}

static bool ent_less(const void *va, const void *vb)
{
    const pm_ent_t *a = va, *b = vb;
    return a->start != b->start ? a->start < b->start : a->seq < b->seq;
}

static char *read_all(int fd, size_t size, size_t *len)
{
    char *buf = otp_malloc(size + 1);
    size_t n = 0;
    while (buf && n < size) {
        ssize_t r = read(fd, buf + n, size - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

/* Python's perf trampolines (stackwalk.h), for the stack walker. The
 * arrays replaced stay allocated for RETIRED more publications (at most
 * one a second, and one per export, each for a changed file): a walk that
 * read the old pointer has long ended. */
#define PY_TRAMP_SIZE 11
#define RETIRED 4
static otp_tramps_t *retired[RETIRED];
static size_t n_published;

static void publish_tramps(const otp_perfmap_t *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        n += m->ents[i].end - m->ents[i].start == PY_TRAMP_SIZE && strncmp(m->ents[i].name, "py::", 4) == 0;
    if (n == 0)
        return; /* none yet, or a map that lost them: the last ones stay */
    otp_tramps_t *t = otp_malloc(sizeof *t + n * sizeof t->start[0]);
    if (!t)
        return;
    t->n = 0;
    for (size_t i = 0; i < m->n; i++) {
        const pm_ent_t *e = &m->ents[i];
        /* Ascending: the entries are sorted by start; a repeated one once. */
        if (e->end - e->start == PY_TRAMP_SIZE && strncmp(e->name, "py::", 4) == 0 &&
            (t->n == 0 || t->start[t->n - 1] != e->start))
            t->start[t->n++] = e->start;
    }
    otp_stackwalk_set_tramps(t);
    size_t slot = n_published++ % RETIRED;
    otp_free(retired[slot]);
    retired[slot] = t;
    OTP_DEBUG("stack walks: %zu Python perf trampolines", t->n);
}

/* "START SIZE name": the name is the rest of the line (it may hold
 * spaces). A last line without its newline is still being written. */
static void parse(otp_perfmap_t *m, char *text, size_t len)
{
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += text[i] == '\n';
    m->ents = otp_malloc(cap * sizeof(pm_ent_t));
    if (!m->ents) return;
    size_t k = 0;
    uint32_t seq = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        char *p = line, *end;
        uint64_t start = strtoull(p, &end, 16);
        if (end != p && *end == ' ') {
            p = end + 1;
            uint64_t size = strtoull(p, &end, 16);
            if (end != p && *end == ' ' && end[1] && size > 0 && start + size > start)
                m->ents[k++] = (pm_ent_t){start, start + size, seq++, end + 1};
        }
        line = nl + 1;
    }
    otp_heapsort(m->ents, k, sizeof m->ents[0], ent_less);
    m->n = k;
    publish_tramps(m);
}

/* The map's descriptor, stat'ed, when it may be read; -1 otherwise. */
static int open_map(struct stat *st)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    int fd = otp_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd >= 0 && (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || (st->st_uid != geteuid() && st->st_uid != 0))) {
        otp_close(fd);
        fd = -1;
    }
    return fd;
}

static bool same_file(const otp_perfmap_t *m, const struct stat *st)
{
    return m->pid == getpid() && m->dev == st->st_dev && m->ino == st->st_ino && m->size == (uint64_t)st->st_size &&
           m->mtime.tv_sec == st->st_mtim.tv_sec && m->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Reads the file into m (dropped first) and parses it. */
static void load(otp_perfmap_t *m, int fd, const struct stat *st)
{
    drop(m);
    size_t len = 0, want = (size_t)st->st_size < OTP_PERFMAP_MAX ? (size_t)st->st_size : OTP_PERFMAP_MAX;
    m->text = read_all(fd, want, &len);
    otp_close(fd);
    if (!m->text) return;
    m->pid = getpid();
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->size = (uint64_t)st->st_size;
    m->mtime = st->st_mtim;
    parse(m, m->text, len);
}

void otp_perfmap_refresh(otp_perfmap_t *m)
{
    if (!m) return;
    struct stat st;
    int fd = open_map(&st);
    if (fd < 0) {
        drop(m);
        return;
    }
    if (m->text && same_file(m, &st)) {
        otp_close(fd);
        return;
    }
    load(m, fd, &st);
    OTP_DEBUG("symbols: %zu entries in the perf map", m->n);
}

void otp_perfmap_tick(void)
{
    static int64_t next_ns;
    static otp_perfmap_t seen; /* the file's identity; its text is not kept */
    int64_t now = otp_mono_ns();
    if (now < next_ns) return;
    next_ns = now + 1000000000;
    struct stat st;
    int fd = open_map(&st);
    if (fd < 0) return;
    if (same_file(&seen, &st)) {
        otp_close(fd);
        return;
    }
    load(&seen, fd, &st);
    drop(&seen); /* the identity stays */
}

const char *otp_perfmap_lookup(const otp_perfmap_t *m, uint64_t addr)
{
    if (!m || !m->n) return NULL;
    size_t lo = 0, hi = m->n;
    while (lo < hi) { /* first entry starting above addr */
        size_t mid = lo + (hi - lo) / 2;
        if (m->ents[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Code blocks are small and rarely overlap: look back a few entries
     * for the latest one that holds addr. */
    const pm_ent_t *best = NULL;
    for (size_t i = lo, k = 0; i-- > 0 && k < 64; k++)
        if (addr < m->ents[i].end && (!best || m->ents[i].seq > best->seq)) best = &m->ents[i];
    return best ? best->name : NULL;
}
