/*
 * Unit tests of what the file sink keeps when a write fails (retain.h),
 * the directory limit (dirlimit.h) and file-name sanitizing: kept
 * intervals merge into the next profile (CPU summed, heap alloc_* summed
 * with inuse_* from the newest only), the byte budget drops the oldest
 * first, the agent's own file names are told from everything else, the
 * oldest files go first, and a service name never escapes its directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dirlimit.h"
#include "export.h"
#include "retain.h"

static uint64_t st_a[] = {0x1000, 0x2000, 0x3000}, st_b[] = {0x1000, 0x2001}, st_c[] = {0x4000};

static otp_sample_t sample(uint64_t *pcs, uint32_t n, uint32_t tid, int64_t v0, int64_t v1, int64_t v2,
                           int64_t v3)
{
    otp_sample_t s = {.pcs = pcs, .npcs = n, .tid = tid, .thread_name = "worker",
                      .values = {v0, v1, v2, v3}};
    return s;
}

static const otp_sample_t *find(const otp_profile_t *p, const uint64_t *pcs, uint32_t n)
{
    for (size_t i = 0; i < p->nsamples; i++)
        if (p->samples[i].npcs == n && memcmp(p->samples[i].pcs, pcs, n * sizeof *pcs) == 0)
            return &p->samples[i];
    return NULL;
}

static void test_cpu(void)
{
    otp_sample_t s1[] = {sample(st_a, 3, 5, 2, 20, 0, 0), sample(st_b, 2, 5, 1, 10, 0, 0)};
    s1[1].has_link = true;
    memset(s1[1].trace_id, 0xab, 16);
    memset(s1[1].span_id, 0xcd, 8);
    otp_profile_t p1 = {.kind = OTP_PROFILE_CPU, .time_ns = 1000, .duration_ns = 100, .nvalues = 2,
                        .nsamples = 2, .samples = s1, .dropped = 3};
    otp_profile_t out;
    int iv;
    /* Nothing kept: the profile itself. */
    CHECK(otp_retain_merge(&p1, &out, &iv) == &p1);
    CHECK_EQ_INT(iv, 1);
    CHECK_EQ_INT(otp_retain_failed(&p1, 1 << 20), 0);
    CHECK_EQ_INT(otp_retain_pending(OTP_PROFILE_CPU), 1);
    CHECK_EQ_INT(otp_retain_pending(OTP_PROFILE_HEAP), 0);

    otp_sample_t s2[] = {sample(st_a, 3, 5, 3, 30, 0, 0), sample(st_c, 1, 6, 1, 10, 0, 0)};
    otp_profile_t p2 = {.kind = OTP_PROFILE_CPU, .time_ns = 1100, .duration_ns = 100, .nvalues = 2,
                        .nsamples = 2, .samples = s2, .dropped = 1};
    const otp_profile_t *m = otp_retain_merge(&p2, &out, &iv);
    CHECK(m == &out);
    CHECK_EQ_INT(iv, 2);
    CHECK_EQ_INT(m->nsamples, 3);
    CHECK_EQ_INT(m->time_ns, 1000);
    CHECK_EQ_INT(m->duration_ns, 200);
    CHECK_EQ_INT(m->dropped, 4);
    const otp_sample_t *a = find(m, st_a, 3), *b = find(m, st_b, 2), *c = find(m, st_c, 1);
    CHECK(a && a->values[0] == 5 && a->values[1] == 50 && a->tid == 5);
    CHECK(b && b->values[0] == 1 && b->has_link && b->trace_id[15] == 0xab && b->span_id[7] == 0xcd);
    CHECK(c && c->values[0] == 1 && c->tid == 6 && c->thread_name && !strcmp(c->thread_name, "worker"));

    /* Failing again: both intervals stay kept. */
    CHECK_EQ_INT(otp_retain_failed(&p2, 1 << 20), 0);
    CHECK_EQ_INT(otp_retain_pending(OTP_PROFILE_CPU), 2);
    otp_profile_t p3 = {.kind = OTP_PROFILE_CPU, .time_ns = 1200, .duration_ns = 100, .nvalues = 2};
    m = otp_retain_merge(&p3, &out, &iv);
    CHECK_EQ_INT(iv, 3);
    a = m ? find(m, st_a, 3) : NULL;
    CHECK(a && a->values[0] == 5 && a->values[1] == 50);
    CHECK_EQ_INT(m ? m->duration_ns : 0, 300);

    /* Written: forgotten. */
    otp_retain_written(OTP_PROFILE_CPU);
    CHECK_EQ_INT(otp_retain_pending(OTP_PROFILE_CPU), 0);
    CHECK(otp_retain_merge(&p3, &out, &iv) == &p3);

    /* The budget: the kept data goes first, then the new interval. */
    CHECK_EQ_INT(otp_retain_failed(&p1, 1 << 20), 0);
    CHECK_EQ_INT(otp_retain_failed(&p2, 500), 2); /* p1's two samples dropped */
    m = otp_retain_merge(&p3, &out, &iv);
    CHECK_EQ_INT(iv, 2);
    CHECK(m && find(m, st_b, 2) == NULL && find(m, st_c, 1) != NULL);
    CHECK(m && find(m, st_a, 3) && find(m, st_a, 3)->values[0] == 3);
    otp_retain_written(OTP_PROFILE_CPU);
    CHECK_EQ_INT(otp_retain_failed(&p2, 10), 2); /* too big alone */
    CHECK_EQ_INT(otp_retain_pending(OTP_PROFILE_CPU), 0);
    CHECK_EQ_INT(otp_retain_failed(&p2, 0), 2); /* export.max_queue_bytes = 0 */
    CHECK_EQ_INT(otp_retain_pending(OTP_PROFILE_CPU), 0);
}

static void test_heap(void)
{
    /* alloc_* sums; inuse_* is a snapshot: the newest interval's only. */
    otp_sample_t s1[] = {sample(st_a, 3, 0, 4, 400, 2, 200), sample(st_b, 2, 0, 0, 0, 7, 700)};
    otp_profile_t p1 = {.kind = OTP_PROFILE_HEAP, .time_ns = 1, .duration_ns = 1, .nvalues = 4,
                        .nsamples = 2, .samples = s1};
    CHECK_EQ_INT(otp_retain_failed(&p1, 1 << 20), 0);
    otp_sample_t s2[] = {sample(st_a, 3, 0, 1, 100, 3, 300)};
    otp_profile_t p2 = {.kind = OTP_PROFILE_HEAP, .time_ns = 2, .duration_ns = 1, .nvalues = 4,
                        .nsamples = 1, .samples = s2};
    otp_profile_t out;
    int iv;
    const otp_profile_t *m = otp_retain_merge(&p2, &out, &iv);
    CHECK_EQ_INT(iv, 2);
    const otp_sample_t *a = m ? find(m, st_a, 3) : NULL;
    CHECK(a && a->values[0] == 5 && a->values[1] == 500 && a->values[2] == 3 && a->values[3] == 300);
    /* A site only live back then (no allocation in it) is not carried. */
    CHECK(m && find(m, st_b, 2) == NULL);
    CHECK_EQ_INT(m ? m->nsamples : 0, 1);
    otp_retain_written(OTP_PROFILE_HEAP);
}

static void test_names(void)
{
    uint32_t pid, seq;
    bool heap;
    CHECK(otp_dirlimit_parse("svc", "svc.12.0.cpu.pb.gz", &pid, &seq, &heap));
    CHECK(pid == 12 && seq == 0 && !heap);
    CHECK(otp_dirlimit_parse("svc", "svc.1.4294967295.heap.pb.gz", &pid, &seq, &heap));
    CHECK(pid == 1 && seq == 4294967295u && heap);
    CHECK(otp_dirlimit_parse("my.app", "my.app.3.7.heap.pb.gz", NULL, NULL, NULL));
    static const char *const not_ours[] = {
        "svc2.1.0.cpu.pb.gz", "xsvc.1.0.cpu.pb.gz", "svc.1.0.mem.pb.gz", "svc.1.0.cpu.pb.gz.bak",
        ".svc.1.0.cpu.pb.gz.tmp.1", "svc.01.0.cpu.pb.gz", "svc.1.00.cpu.pb.gz", "svc.1.x.cpu.pb.gz",
        "svc..0.cpu.pb.gz", "svc.1.0.cpu.pb", "svc.1.0.cpu.pb.gzz", "svc.1.4294967296.cpu.pb.gz",
        "svc.-1.0.cpu.pb.gz", "svc.1.0.0.cpu.pb.gz", "svc", "notes.txt", "svc.1.cpu.pb.gz",
    };
    for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
        bool ours = otp_dirlimit_parse("svc", not_ours[i], NULL, NULL, NULL);
        if (ours)
            printf("      taken for ours: %s\n", not_ours[i]);
        CHECK_NAMED("a name not of the agent's form is not ours", !ours);
    }
    /* "my" must not take "my.app"'s files, nor the reverse. */
    CHECK(!otp_dirlimit_parse("my", "my.app.3.7.heap.pb.gz", NULL, NULL, NULL));
    CHECK(!otp_dirlimit_parse("my.app", "my.3.7.heap.pb.gz", NULL, NULL, NULL));

    char stem[OTP_STEM_MAX + 1];
    otp_export_file_stem("team/api v2", stem, sizeof stem);
    CHECK_EQ_STR(stem, "team_api_v2");
    otp_export_file_stem("../../etc/passwd", stem, sizeof stem);
    CHECK_EQ_STR(stem, "_._.._etc_passwd");
    otp_export_file_stem("", stem, sizeof stem);
    CHECK_EQ_STR(stem, "unknown_service");
    otp_export_file_stem("a\nb\x01\xc3\xa9-c_d.e+f@g", stem, sizeof stem);
    CHECK_EQ_STR(stem, "a_b___-c_d.e+f@g");
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    otp_export_file_stem(longname, stem, sizeof stem);
    CHECK_EQ_INT(strlen(stem), OTP_STEM_MAX);
}

static void make_file(int dfd, const char *name, size_t bytes, time_t mtime)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    static char zeros[4096];
    if (fd < 0 || write(fd, zeros, bytes) != (ssize_t)bytes)
        exit(2);
    struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
    futimens(fd, ts);
    close(fd);
}

static void test_limit(void)
{
    char dir[] = "/tmp/otprof-test-retain.XXXXXX";
    if (!mkdtemp(dir))
        exit(2);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    /* Same mtime for seq 1..3 of pid 10: seq breaks the tie; pid 9's old
     * file goes before everything; the current batch (10, 5) stays even
     * if it is over the limit alone. */
    make_file(dfd, "s.10.1.cpu.pb.gz", 1000, 2000);
    make_file(dfd, "s.10.2.cpu.pb.gz", 1000, 2000);
    make_file(dfd, "s.10.3.cpu.pb.gz", 1000, 2000);
    make_file(dfd, "s.10.4.heap.pb.gz", 1000, 3000);
    make_file(dfd, "s.10.5.cpu.pb.gz", 1000, 4000);
    make_file(dfd, "s.9.77.cpu.pb.gz", 1000, 1000);
    make_file(dfd, "other.1.0.cpu.pb.gz", 4000, 10);
    make_file(dfd, "s.10.0.cpu.pb.gz.bak", 4000, 10);
    symlinkat("s.10.1.cpu.pb.gz", dfd, "s.10.6.cpu.pb.gz");
    /* Named like ours but another user's (root can make one): not ours. */
    bool root = geteuid() == 0;
    if (root) {
        make_file(dfd, "s.10.7.cpu.pb.gz", 1000, 500);
        if (fchownat(dfd, "s.10.7.cpu.pb.gz", 65534, 65534, 0) != 0)
            exit(2);
    }
    otp_dirlimit_result_t r;
    CHECK_EQ_INT(otp_dirlimit_enforce(dfd, "s", 3500, 10, 5, &r), 0);
    CHECK_EQ_INT(r.files, 6);
    CHECK_EQ_INT(r.bytes, 6000);
    CHECK_EQ_INT(r.deleted, 3);
    CHECK(faccessat(dfd, "s.9.77.cpu.pb.gz", F_OK, 0) != 0);
    CHECK(faccessat(dfd, "s.10.1.cpu.pb.gz", F_OK, 0) != 0);
    CHECK(faccessat(dfd, "s.10.2.cpu.pb.gz", F_OK, 0) != 0);
    CHECK(faccessat(dfd, "s.10.3.cpu.pb.gz", F_OK, 0) == 0);
    CHECK(faccessat(dfd, "s.10.4.heap.pb.gz", F_OK, 0) == 0);
    CHECK(faccessat(dfd, "other.1.0.cpu.pb.gz", F_OK, 0) == 0);
    CHECK(faccessat(dfd, "s.10.0.cpu.pb.gz.bak", F_OK, 0) == 0);
    CHECK(faccessat(dfd, "s.10.6.cpu.pb.gz", F_OK, AT_SYMLINK_NOFOLLOW) == 0);
    if (root)
        CHECK(faccessat(dfd, "s.10.7.cpu.pb.gz", F_OK, 0) == 0);
    /* Limit below the current batch: everything else goes, it stays. */
    CHECK_EQ_INT(otp_dirlimit_enforce(dfd, "s", 10, 10, 5, &r), 0);
    CHECK_EQ_INT(r.deleted, 2);
    CHECK(faccessat(dfd, "s.10.5.cpu.pb.gz", F_OK, 0) == 0);
    /* 0: no limit, nothing even listed. */
    CHECK_EQ_INT(otp_dirlimit_enforce(dfd, "s", 0, 10, 6, &r), 0);
    CHECK_EQ_INT(r.deleted, 0);
    CHECK(faccessat(dfd, "s.10.5.cpu.pb.gz", F_OK, 0) == 0);
    close(dfd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("      could not remove %s\n", dir);
}

int main(void)
{
    test_cpu();
    test_heap();
    test_names();
    test_limit();
    return check_done();
}
