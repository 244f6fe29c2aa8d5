/*
 * pprof encoder, gzip and the atomic file writer. Profiles point at real
 * functions of this binary; the bytes are decoded with the generated
 * unpacker and, gzipped, read by `go tool pprof` (a parser we did not
 * write). Also times the encode of 10k distinct 30-frame stacks.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "testutil.h"
#include "mem.h"
#include "pprof.h"
#include "profile.pb-c.h"
#include "sink_file.h"
#include "symbols.h"

typedef Perftools__Profiles__Profile pb_t;

static __attribute__((noinline, noclone, used)) int pp_leaf_fn(int x)
{
    volatile int v = x;
    for (int i = 0; i < x; i++) v += i * 5;
    return v;
}

static __attribute__((noinline, noclone, used)) long pp_mid_fn(long x)
{
    volatile long v = x;
    for (long i = 0; i < x; i++) v ^= i << 3;
    return v + pp_leaf_fn((int)x);
}

static __attribute__((noinline, noclone, used)) long pp_root_fn(long x)
{
    volatile long v = x * 11;
    for (long i = 0; i < x; i++) v -= i;
    return v + pp_mid_fn(x);
}

#define ADDR(f, off) ((uint64_t)(uintptr_t)(f) + (off))

static char tmpdir[] = "/tmp/otp_pprof_test_XXXXXX";

/* ---- decoded-profile helpers ---- */

static const char *str(const pb_t *p, int64_t i)
{
    return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "<bad index>";
}

static const Perftools__Profiles__Location *loc(const pb_t *p, uint64_t id)
{
    if (id == 0 || id > p->n_location || p->location[id - 1]->id != id) return NULL;
    return p->location[id - 1];
}

/* Function name of a location id, "" when unnamed, NULL when ids break. */
static const char *loc_name(const pb_t *p, uint64_t id)
{
    const Perftools__Profiles__Location *l = loc(p, id);
    if (!l) return NULL;
    if (l->n_line == 0) return "";
    uint64_t f = l->line[0]->function_id;
    if (f == 0 || f > p->n_function || p->function[f - 1]->id != f) return NULL;
    return str(p, p->function[f - 1]->name);
}

static const Perftools__Profiles__Label *label(const pb_t *p, const Perftools__Profiles__Sample *s, const char *k)
{
    for (size_t i = 0; i < s->n_label; i++)
        if (strcmp(str(p, s->label[i]->key), k) == 0) return s->label[i];
    return NULL;
}

static bool ids_consistent(const pb_t *p)
{
    for (size_t i = 0; i < p->n_mapping; i++)
        if (p->mapping[i]->id != i + 1) return false;
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id != i + 1) return false;
    for (size_t i = 0; i < p->n_location; i++) {
        const Perftools__Profiles__Location *l = p->location[i];
        if (l->id != i + 1 || l->mapping_id > p->n_mapping) return false;
        for (size_t j = 0; j < l->n_line; j++)
            if (l->line[j]->function_id == 0 || l->line[j]->function_id > p->n_function) return false;
    }
    for (size_t i = 0; i < p->n_sample; i++)
        for (size_t j = 0; j < p->sample[i]->n_location_id; j++)
            if (!loc(p, p->sample[i]->location_id[j])) return false;
    return true;
}

static bool has_comment(const pb_t *p, const char *c)
{
    for (size_t i = 0; i < p->n_comment; i++)
        if (strcmp(str(p, p->comment[i]), c) == 0) return true;
    return false;
}


/* ---- fixtures ---- */

static const uint64_t *stack3(void)
{
    static uint64_t pcs[3];
    /* leaf: an exact pc; callers: return addresses inside the function. */
    pcs[0] = ADDR(pp_leaf_fn, 1);
    pcs[1] = ADDR(pp_mid_fn, 5);
    pcs[2] = ADDR(pp_root_fn, 5);
    return pcs;
}

static void fill_cpu(otp_profile_t *prof, otp_sample_t *s)
{
    static const char *comments[] = {"suspected leak: none"};
    static uint64_t pcs1[2], pcs2[2];
    pcs1[0] = ADDR(pp_mid_fn, 2), pcs1[1] = ADDR(pp_root_fn, 5);
    pcs2[0] = 0x1000, pcs2[1] = ADDR(pp_leaf_fn, 4);
    memset(s, 0, 3 * sizeof(*s));
    s[0] = (otp_sample_t){.pcs = stack3(), .npcs = 3, .tid = 1234, .thread_name = "worker-1",
                          .values = {3, 30000000}, .has_link = true};
    for (int i = 0; i < 16; i++) s[0].trace_id[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 8; i++) s[0].span_id[i] = (uint8_t)(0xa1 + i);
    s[1] = (otp_sample_t){.pcs = pcs1, .npcs = 2, .tid = 1235, .values = {1, 10000000}};
    s[2] = (otp_sample_t){.pcs = pcs2, .npcs = 2, .tid = 1236, .thread_name = "", .values = {2, 20000000}};
    *prof = (otp_profile_t){.kind = OTP_PROFILE_CPU, .time_ns = 1700000000123456789LL,
                            .duration_ns = 10000000000LL, .period = 10000000, .nvalues = 2,
                            .nsamples = 3, .samples = s, .dropped = 7, .comments = comments,
                            .ncomments = 1};
}

static size_t n_repacked, n_differ;

static pb_t *encode_decode(const otp_profile_t *prof, otp_symbolizer_t *sym, uint8_t **raw, size_t *len)
{
    int rc = otp_pprof_encode(prof, sym, raw, len);
    CHECK_EQ_INT(rc, 0);
    if (rc) return NULL;
    pb_t *p = perftools__profiles__profile__unpack(NULL, *len, *raw);
    CHECK(p != NULL);
    if (p) repack_check(&p->base, *raw, *len, &n_repacked, &n_differ);
    return p;
}

/* ---- tests ---- */

static void check_cpu_header(const pb_t *p)
{
    CHECK(p->n_string_table > 0 && strcmp(p->string_table[0], "") == 0);
    CHECK_EQ_INT(p->n_sample_type, 2);
    if (p->n_sample_type == 2) {
        CHECK_EQ_STR(str(p, p->sample_type[0]->type), "samples");
        CHECK_EQ_STR(str(p, p->sample_type[0]->unit), "count");
        CHECK_EQ_STR(str(p, p->sample_type[1]->type), "cpu");
        CHECK_EQ_STR(str(p, p->sample_type[1]->unit), "nanoseconds");
    }
    CHECK(p->period_type != NULL);
    if (p->period_type) {
        CHECK_EQ_STR(str(p, p->period_type->type), "cpu");
        CHECK_EQ_STR(str(p, p->period_type->unit), "nanoseconds");
    }
    CHECK_EQ_INT(p->period, 10000000);
    CHECK_EQ_INT(p->time_nanos, 1700000000123456789LL);
    CHECK_EQ_INT(p->duration_nanos, 10000000000LL);
    CHECK(has_comment(p, "dropped 7 samples"));
    CHECK(has_comment(p, "suspected leak: none"));
    CHECK(ids_consistent(p));
}

static void check_cpu_samples(const pb_t *p)
{
    CHECK_EQ_INT(p->n_sample, 3);
    if (p->n_sample != 3) return;
    const Perftools__Profiles__Sample *s0 = p->sample[0], *s1 = p->sample[1], *s2 = p->sample[2];
    CHECK_EQ_INT(s0->n_location_id, 3);
    CHECK(s0->n_value == 2 && s0->value[0] == 3 && s0->value[1] == 30000000);
    if (s0->n_location_id == 3) {
        CHECK_EQ_STR(loc_name(p, s0->location_id[0]), "pp_leaf_fn");
        CHECK_EQ_STR(loc_name(p, s0->location_id[1]), "pp_mid_fn");
        CHECK_EQ_STR(loc_name(p, s0->location_id[2]), "pp_root_fn");
        const Perftools__Profiles__Location *l0 = loc(p, s0->location_id[0]), *l1 = loc(p, s0->location_id[1]);
        /* Leaf as captured, callers moved into the call instruction. */
        CHECK(l0 && l0->address == ADDR(pp_leaf_fn, 1));
        CHECK(l1 && l1->address == ADDR(pp_mid_fn, 4));
    }
    const Perftools__Profiles__Label *l = label(p, s0, "thread_id");
    CHECK(l && l->num == 1234 && l->str == 0);
    l = label(p, s0, "thread_name");
    CHECK(l && strcmp(str(p, l->str), "worker-1") == 0);
    l = label(p, s0, "trace_id");
    CHECK(l && strcmp(str(p, l->str), "0102030405060708090a0b0c0d0e0f10") == 0);
    l = label(p, s0, "span_id");
    CHECK(l && strcmp(str(p, l->str), "a1a2a3a4a5a6a7a8") == 0);
    CHECK(label(p, s0, "bytes") == NULL);
    /* Same root frame, one location. */
    CHECK(s1->n_location_id == 2 && s1->location_id[1] == s0->location_id[2]);
    CHECK(label(p, s1, "thread_name") == NULL && label(p, s1, "trace_id") == NULL);
    CHECK(label(p, s2, "thread_name") == NULL);
    const Perftools__Profiles__Label *t2 = label(p, s2, "thread_id");
    CHECK(t2 && t2->num == 1236);
    /* An address outside every mapping still gets a location. */
    const Perftools__Profiles__Location *lu = s2->n_location_id ? loc(p, s2->location_id[0]) : NULL;
    CHECK(lu && lu->address == 0x1000 && lu->mapping_id == 0 && lu->n_line == 0);
}

static void check_mapping(const pb_t *p)
{
    char exe[4096] = "", want[600];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    readelf_build_id(exe, want, sizeof(want));
    const Perftools__Profiles__Location *l = p->n_sample ? loc(p, p->sample[0]->location_id[0]) : NULL;
    CHECK(l && l->mapping_id > 0);
    if (!l || !l->mapping_id) return;
    const Perftools__Profiles__Mapping *m = p->mapping[l->mapping_id - 1];
    CHECK_EQ_STR(str(p, m->filename), exe);
    CHECK_EQ_INT(strlen(want), 40);
    CHECK_EQ_STR(str(p, m->build_id), want);
    CHECK(m->has_functions);
    CHECK(m->memory_start <= l->address && l->address < m->memory_limit);
    /* Only mappings that samples use are emitted. */
    CHECK_EQ_INT(p->n_mapping, 1);
}

/* Runs `go tool pprof` on a file; returns its exit status, output in out. */
static int go_pprof(const char *args, const char *file, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "HOME=${HOME:-/tmp} go tool pprof %s '%s' 2>&1", args, file);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    return pclose(f);
}

static void check_with_go(const uint8_t *raw, size_t len, const char *name, const char *args, const char *want)
{
    if (system("command -v go >/dev/null 2>&1") != 0) {
        printf("      note: go not installed, skipping go tool pprof check\n");
        return;
    }
    uint8_t *gz = NULL;
    size_t gzlen = 0;
    CHECK_EQ_INT(otp_gzip(raw, len, &gz, &gzlen), 0);
    CHECK_EQ_INT(otp_file_write_atomic(tmpdir, name, gz, gzlen), 0);
    otp_free(gz);
    char path[256], out[16384];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    int st = go_pprof(args, path, out, sizeof(out));
    CHECK_EQ_INT(st, 0);
    CHECK_NAMED(want, strstr(out, want) != NULL);
    if (st != 0 || !strstr(out, want)) printf("%s\n", out);
}

static void test_cpu(otp_symbolizer_t *sym)
{
    otp_profile_t prof;
    otp_sample_t s[3];
    fill_cpu(&prof, s);
    uint8_t *raw = NULL;
    size_t len = 0;
    pb_t *p = encode_decode(&prof, sym, &raw, &len);
    if (p) {
        check_cpu_header(p);
        check_cpu_samples(p);
        check_mapping(p);
        perftools__profiles__profile__free_unpacked(p, NULL);
    }
    check_with_go(raw, len, "cpu.pb.gz", "-top -symbolize=none", "pp_leaf_fn");
    check_with_go(raw, len, "cpu.pb.gz", "-traces -symbolize=none", "0102030405060708090a0b0c0d0e0f10");
    otp_free(raw);
}

static void test_heap(otp_symbolizer_t *sym)
{
    otp_sample_t s = {.pcs = stack3(), .npcs = 3, .tid = 77, .values = {4, 4096, 2, 2048}, .alloc_size = 1024};
    otp_profile_t prof = {.kind = OTP_PROFILE_HEAP, .period = 524288, .nvalues = 4, .nsamples = 1, .samples = &s};
    uint8_t *raw = NULL;
    size_t len = 0;
    pb_t *p = encode_decode(&prof, sym, &raw, &len);
    if (p) {
        static const char *names[4][2] = {
            {"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
        CHECK_EQ_INT(p->n_sample_type, 4);
        for (size_t i = 0; i < 4 && i < p->n_sample_type; i++) {
            CHECK_EQ_STR(str(p, p->sample_type[i]->type), names[i][0]);
            CHECK_EQ_STR(str(p, p->sample_type[i]->unit), names[i][1]);
        }
        CHECK(p->period_type && strcmp(str(p, p->period_type->type), "space") == 0
              && strcmp(str(p, p->period_type->unit), "bytes") == 0);
        CHECK_EQ_INT(p->period, 524288);
        CHECK_EQ_INT(p->n_comment, 0);
        const Perftools__Profiles__Sample *ps = p->n_sample == 1 ? p->sample[0] : NULL;
        CHECK(ps && ps->n_value == 4 && ps->value[1] == 4096 && ps->value[3] == 2048);
        const Perftools__Profiles__Label *l = ps ? label(p, ps, "bytes") : NULL;
        CHECK(l && l->num == 1024);
        CHECK(ps && strcmp(loc_name(p, ps->location_id[0]), "pp_leaf_fn") == 0);
        CHECK(ids_consistent(p));
        perftools__profiles__profile__free_unpacked(p, NULL);
    }
    check_with_go(raw, len, "heap.pb.gz", "-top -symbolize=none -sample_index=alloc_space", "pp_mid_fn");
    otp_free(raw);
}

/* otp_gzip of in[0..m) inflates back to it. */
static void gzip_round_trip(const uint8_t *in, size_t m, uint8_t *back, size_t cap)
{
    uint8_t *gz = NULL;
    size_t gzlen = 0;
    CHECK_EQ_INT(otp_gzip(in, m, &gz, &gzlen), 0);
    CHECK(gz && gzlen > 18 && gz[0] == 0x1f && gz[1] == 0x8b);
    z_stream zs = {0};
    CHECK_EQ_INT(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = gz;
    zs.avail_in = (uInt)gzlen;
    zs.next_out = back;
    zs.avail_out = (uInt)cap;
    CHECK_EQ_INT(inflate(&zs, Z_FINISH), Z_STREAM_END);
    CHECK(zs.total_out == m && memcmp(in, back, m) == 0);
    inflateEnd(&zs);
    otp_free(gz);
}

static void test_gzip(void)
{
    size_t n = 200000;
    uint8_t *in = malloc(n), *gz = NULL, *back = malloc(n + 16);
    for (size_t i = 0; i < n; i++) in[i] = (uint8_t)((i * 7) ^ (i >> 5));
    gzip_round_trip(in, n, back, n + 16);
    size_t gzlen = 0;
    CHECK_EQ_INT(otp_gzip(in, 0, &gz, &gzlen), 0);
    CHECK(gz && gzlen >= 20);
    otp_free(gz);
    /* Sizes around the window sizes chosen for small inputs (2^9..2^15). */
    static const size_t sizes[] = {1, 511, 512, 513, 2000, 4097, 32768, 32769, 70000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        gzip_round_trip(in, sizes[k], back, n + 16);
    free(in);
    free(back);
}

static bool temp_left(const char *dir)
{
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && (e = readdir(d));) found |= strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return found;
}

static void test_file_write(void)
{
    char dir[256], path[300], buf[64];
    snprintf(dir, sizeof(dir), "%s/a/b", tmpdir);
    static const char data[] = "first\0with nul";
    CHECK_EQ_INT(otp_file_write_atomic(dir, "x.pb.gz", data, sizeof(data)), 0);
    CHECK_EQ_INT(otp_file_write_atomic(dir, "x.pb.gz", "new", 3), 0); /* replaces */
    snprintf(path, sizeof(path), "%s/x.pb.gz", dir);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    if (fd >= 0) close(fd);
    CHECK(n == 3 && memcmp(buf, "new", 3) == 0);
    CHECK_NAMED("no temp file left behind", !temp_left(dir));
    CHECK(otp_file_write_atomic("/proc/otprof-no-such-dir", "x", "a", 1) < 0);
    CHECK_EQ_INT(otp_file_write_atomic("/etc/passwd/sub", "x", "a", 1), -ENOTDIR);
    /* A directory where the final file should go: rename fails, temp removed. */
    snprintf(path, sizeof(path), "%s/isdir", dir);
    mkdir(path, 0755);
    int rc = otp_file_write_atomic(dir, "isdir", "abc", 3);
    CHECK(rc < 0);
    CHECK_NAMED("no temp file after a failed rename", !temp_left(dir));
}

/* Which output directories the exiting thread may write itself (a write
 * to a network filesystem can hang: the agent's thread does it then). */
static void test_fs_remote(void)
{
    CHECK_NAMED("NFS is remote", otp_file_fs_remote(0x6969));
    CHECK_NAMED("CIFS is remote", otp_file_fs_remote(0xFF534D42L));
    CHECK_NAMED("FUSE is remote", otp_file_fs_remote(0x65735546));
    CHECK_NAMED("ext4 is local", !otp_file_fs_remote(0xEF53));
    CHECK_NAMED("tmpfs is local", !otp_file_fs_remote(0x01021994));
    CHECK_NAMED("/tmp here is local", otp_file_dir_local("/tmp"));
    CHECK_NAMED("a directory not made yet: its parent's filesystem", otp_file_dir_local("/tmp/no/such/otprof-dir"));
    CHECK_NAMED("a relative one too", otp_file_dir_local("otprof-out-not-made-yet/sub"));
    CHECK_NAMED("no directory is not", !otp_file_dir_local(""));
}

/* ns stacks of nf frames into pcs, drawn from a pool of pool_n text
 * addresses of this binary and libc. false if those are not found. */
static bool text_stacks(otp_symbolizer_t *sym, uint64_t *pool, int pool_n, uint64_t *pcs, int ns, int nf)
{
    int m1 = -1, m2 = -1;
    otp_sym_lookup(sym, ADDR(pp_leaf_fn, 0), &m1);
    otp_sym_lookup(sym, (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "malloc"), &m2);
    CHECK(m1 >= 0 && m2 >= 0);
    if (m1 < 0 || m2 < 0) return false;
    random_stacks(otp_sym_mapping(sym, (size_t)m1), otp_sym_mapping(sym, (size_t)m2), pool, pool_n, pcs, ns, nf);
    return true;
}

/* 10k distinct stacks of 30 frames over a pool of real text addresses
 * (this binary and libc), like a busy interval of a large program: the
 * encoding stays consistent at that size. (Its speed is measured by
 * scripts/bench-export, not here.) */
static void test_large(otp_symbolizer_t *sym)
{
    enum { NS = 10000, NF = 30, POOL = 4000 };
    static uint64_t pool[POOL], pcs[NS][NF];
    static otp_sample_t s[NS];
    if (!text_stacks(sym, pool, POOL, &pcs[0][0], NS, NF)) return;
    for (int i = 0; i < NS; i++) {
        s[i] = (otp_sample_t){.pcs = pcs[i], .npcs = NF, .tid = (uint32_t)(100 + i % 8), .thread_name = "w",
                              .values = {1, 10000000}, .has_link = i % 3 == 0};
        s[i].trace_id[0] = (uint8_t)i;
        s[i].trace_id[1] = (uint8_t)(i >> 8);
    }
    otp_profile_t prof = {.kind = OTP_PROFILE_CPU, .period = 10000000, .nvalues = 2, .nsamples = NS, .samples = s};
    uint8_t *raw = NULL;
    size_t len = 0;
    CHECK_EQ_INT(otp_pprof_encode(&prof, sym, &raw, &len), 0);
    pb_t *p = raw ? perftools__profiles__profile__unpack(NULL, len, raw) : NULL;
    CHECK(p && p->n_sample == NS && p->n_location <= 2 * POOL && ids_consistent(p));
    if (p) perftools__profiles__profile__free_unpacked(p, NULL);
    otp_free(raw);
}

/* More distinct addresses than the location table starts with room for
 * (it is sized for at most 4096 and grows): every sample still names
 * its own addresses, leaf as is, callers minus one. */
static void test_many_locations(otp_symbolizer_t *sym)
{
    enum { NS = 1500, NF = 20, POOL = 24000 };
    static uint64_t pool[POOL], pcs[NS][NF];
    static otp_sample_t s[NS];
    if (!text_stacks(sym, pool, POOL, &pcs[0][0], NS, NF)) return;
    for (int i = 0; i < NS; i++)
        s[i] = (otp_sample_t){.pcs = pcs[i], .npcs = NF, .tid = 7, .values = {i + 1, 10000000}};
    otp_profile_t prof = {.kind = OTP_PROFILE_CPU, .period = 10000000, .nvalues = 2, .nsamples = NS, .samples = s};
    uint8_t *raw = NULL;
    size_t len = 0;
    CHECK_EQ_INT(otp_pprof_encode(&prof, sym, &raw, &len), 0);
    pb_t *p = raw ? perftools__profiles__profile__unpack(NULL, len, raw) : NULL;
    CHECK(p && p->n_sample == NS && ids_consistent(p));
    if (!p) {
        otp_free(raw);
        return;
    }
    printf("      %zu locations\n", p->n_location);
    CHECK(p->n_location > 8192);
    size_t right = 0;
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *ps = p->sample[i];
        int k = (int)ps->value[0] - 1;
        bool ok = k >= 0 && k < NS && ps->n_location_id == NF;
        for (size_t j = 0; ok && j < NF; j++) {
            uint64_t id = ps->location_id[j];
            ok = id >= 1 && id <= p->n_location && p->location[id - 1]->address == (j ? pcs[k][j] - 1 : pcs[k][j]);
        }
        right += ok;
    }
    CHECK_EQ_INT(right, NS);
    perftools__profiles__profile__free_unpacked(p, NULL);
    otp_free(raw);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) return 1;
    otp_symbolizer_t *sym = otp_sym_new();
    CHECK(sym != NULL);
    test_cpu(sym);
    test_heap(sym);
    test_gzip();
    test_file_write();
    test_fs_remote();
    test_large(sym);
    test_many_locations(sym);
    /* Without a symbolizer, locations carry addresses only. */
    otp_profile_t prof;
    otp_sample_t s[3];
    fill_cpu(&prof, s);
    uint8_t *raw = NULL;
    size_t len = 0;
    pb_t *p = encode_decode(&prof, NULL, &raw, &len);
    CHECK(p && p->n_mapping == 0 && p->n_function == 0 && p->n_location == 6 && ids_consistent(p));
    if (p) perftools__profiles__profile__free_unpacked(p, NULL);
    otp_free(raw);
    otp_sym_free(sym);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("      note: could not remove %s\n", tmpdir);
    printf("      %zu profiles re-packed by protobuf-c, %zu differ\n", n_repacked, n_differ);
    CHECK_NAMED("every profile is byte for byte what protobuf-c packs", n_repacked >= 3 && n_differ == 0);
    return check_done();
}
