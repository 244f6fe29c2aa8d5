/*
 * Symbolizer: names for functions of this PIE test binary, of libc and of
 * the vDSO; build ids as readelf reports them; unknown addresses; a
 * library dlopen'd after the snapshot (found only after a refresh); a
 * deleted library; a fixed-address (non-PIE) executable segment; libc
 * locals from its distro debug file; that refreshes reuse the parsed
 * ELF data; and that the three ways to answer a lookup (scanning the
 * symbol table, answering a prepared batch in one pass, the sorted table)
 * give the same names.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "symbols.h"

static __attribute__((noinline, noclone, used)) int sym_test_alpha(int x)
{
    volatile int v = x;
    for (int i = 0; i < x; i++) v += i * 3;
    return v;
}

static __attribute__((noinline, noclone, used)) long sym_test_beta(long x)
{
    volatile long v = x;
    for (long i = 0; i < x; i++) v ^= i << 2;
    return v + 7;
}


int main(void);

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void test_own_binary(otp_symbolizer_t *s)
{
    int mi = -2;
    const char *name = otp_sym_lookup(s, (uint64_t)(uintptr_t)sym_test_alpha + 1, &mi);
    CHECK_EQ_STR(name, "sym_test_alpha");
    CHECK(mi >= 0);
    /* Mid-function, as for a return address minus one. */
    name = otp_sym_lookup(s, (uint64_t)(uintptr_t)sym_test_beta + 6, NULL);
    CHECK_EQ_STR(name, "sym_test_beta");
    CHECK_EQ_STR(otp_sym_lookup(s, (uint64_t)(uintptr_t)main, NULL), "main");

    const otp_mapping_t *m = otp_sym_mapping(s, (size_t)(mi >= 0 ? mi : 0));
    char exe[4096] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    CHECK(m != NULL);
    if (!m) return;
    CHECK_EQ_STR(m->path, exe);
    CHECK(m->start <= (uintptr_t)sym_test_alpha && (uintptr_t)sym_test_alpha < m->limit);
    char want[600];
    readelf_build_id(exe, want, sizeof(want));
    CHECK_EQ_INT(strlen(want), 40);
    CHECK_EQ_STR(m->build_id, want);
}

static void test_libc(otp_symbolizer_t *s)
{
    void *fp = dlsym(RTLD_DEFAULT, "getpid");
    int mi = -1;
    const char *name = otp_sym_lookup(s, (uint64_t)(uintptr_t)fp, &mi);
    /* Aliases share the address; the public spelling is preferred. */
    CHECK_EQ_STR(name, "getpid");
    const otp_mapping_t *m = mi >= 0 ? otp_sym_mapping(s, (size_t)mi) : NULL;
    CHECK(m && strstr(m->path, "libc.so"));
    char want[600];
    if (m) readelf_build_id(m->path, want, sizeof(want));
    CHECK(m && strcmp(m->build_id, want) == 0 && strlen(want) == 40);

    /* A mid-function address (a return address minus one). */
    void *mp = dlsym(RTLD_DEFAULT, "malloc");
    name = otp_sym_lookup(s, (uint64_t)(uintptr_t)mp + 5, NULL);
    CHECK(name && dlsym(RTLD_DEFAULT, name) == mp);
}

/* With a distro debug file for libc (libc6-dbg), libc's local functions
 * get names too; nm gives the independent answer. */
static void test_debug_file(otp_symbolizer_t *s)
{
    Dl_info di;
    int mi = -1;
    void *fp = dlsym(RTLD_DEFAULT, "getpid");
    otp_sym_lookup(s, (uint64_t)(uintptr_t)fp, &mi);
    const otp_mapping_t *m = mi >= 0 ? otp_sym_mapping(s, (size_t)mi) : NULL;
    if (!m || strlen(m->build_id) != 40 || !dladdr(fp, &di)) return;
    char dbg[200], cmd[400], line[256];
    snprintf(dbg, sizeof(dbg), "/usr/lib/debug/.build-id/%.2s/%s.debug", m->build_id, m->build_id + 2);
    if (access(dbg, R_OK) != 0) {
        printf("      note: no debug file for libc, skipping local-symbol check\n");
        return;
    }
    snprintf(cmd, sizeof(cmd), "nm '%s' 2>/dev/null | grep -E ' [tT] _int_malloc$'", dbg);
    FILE *f = popen(cmd, "r");
    unsigned long long vaddr = 0;
    if (f && fgets(line, sizeof(line), f)) sscanf(line, "%llx", &vaddr);
    if (f) pclose(f);
    CHECK(vaddr != 0);
    uint64_t addr = (uint64_t)(uintptr_t)di.dli_fbase + vaddr + 3;
    CHECK_EQ_STR(otp_sym_lookup(s, addr, NULL), "_int_malloc");
}

/* Maps the executable segment of a fixed-address (ET_EXEC) file where its
 * program header puts it, the way the loader would, so link-time address
 * == runtime address. Returns the mapping or MAP_FAILED. */
static void *map_exec_segment(const char *path, size_t *len)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    void *at = MAP_FAILED;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || eh.e_type != ET_EXEC) goto out;
    for (int i = 0; i < eh.e_phnum; i++) {
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) != sizeof(ph)) break;
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
        uint64_t pg = 4096, va = ph.p_vaddr & ~(pg - 1), off = ph.p_offset & ~(pg - 1);
        *len = ph.p_vaddr + ph.p_filesz - va;
        at = mmap((void *)(uintptr_t)va, *len, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd,
                  (off_t)off);
        if (at != MAP_FAILED && at != (void *)(uintptr_t)va) {
            munmap(at, *len);
            at = MAP_FAILED;
        }
        break;
    }
out:
    if (fd >= 0) close(fd);
    return at;
}

static void test_non_pie(otp_symbolizer_t *s)
{
    char dir[] = "/tmp/otp_nopie_XXXXXX", cmd[600], line[256], bin[64];
    if (!mkdtemp(dir)) return;
    snprintf(bin, sizeof(bin), "%s/nopie", dir);
    snprintf(cmd, sizeof(cmd),
             "printf 'int nopie_fn(int x){return x*3+1;}\\nint main(void){return nopie_fn(2);}\\n' | "
             "cc -no-pie -O1 -x c - -o %s 2>/dev/null",
             bin);
    if (system(cmd) != 0) {
        printf("      note: no C compiler for a non-PIE binary, skipping\n");
        return;
    }
    snprintf(cmd, sizeof(cmd), "nm %s | grep -E ' T nopie_fn$'", bin);
    FILE *f = popen(cmd, "r");
    unsigned long long va = 0;
    if (f && fgets(line, sizeof(line), f)) sscanf(line, "%llx", &va);
    if (f) pclose(f);
    size_t len = 0;
    void *at = map_exec_segment(bin, &len);
    CHECK(va != 0);
    if (at == MAP_FAILED) {
        printf("      note: fixed address of the non-PIE segment is taken, skipping\n");
    } else {
        CHECK_EQ_INT(otp_sym_refresh(s), 0);
        int mi = -1;
        CHECK_EQ_STR(otp_sym_lookup(s, va + 1, &mi), "nopie_fn");
        CHECK(mi >= 0 && strcmp(otp_sym_mapping(s, (size_t)mi)->path, bin) == 0);
        munmap(at, len);
    }
    unlink(bin);
    rmdir(dir);
}

static void test_unknown(otp_symbolizer_t *s)
{
    int mi = 5;
    CHECK(otp_sym_lookup(s, 0x1000, &mi) == NULL);
    CHECK_EQ_INT(mi, -1);
    mi = 5;
    CHECK(otp_sym_lookup(s, UINT64_MAX - 5, &mi) == NULL);
    CHECK_EQ_INT(mi, -1);
}

static void test_vdso(otp_symbolizer_t *s)
{
    uint64_t base = getauxval(AT_SYSINFO_EHDR);
    const otp_mapping_t *vm = NULL;
    for (size_t i = 0; i < otp_sym_mapping_count(s); i++)
        if (otp_sym_mapping(s, i)->start == base) vm = otp_sym_mapping(s, i);
    CHECK(vm && strcmp(vm->path, "[vdso]") == 0);
    if (!vm) return;
    bool found = false;
    for (uint64_t a = vm->start; a < vm->limit && !found; a += 4) {
        const char *n = otp_sym_lookup(s, a, NULL);
        found = n && strstr(n, "clock_gettime");
    }
    CHECK_NAMED("a vDSO address resolves to clock_gettime", found);
}

static void test_dlopen_refresh(otp_symbolizer_t *s)
{
    void *h = dlopen("libcrypt.so.1", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL);
    if (!h) return;
    void *fp = dlsym(h, "crypt");
    int mi = 0;
    /* Not in the snapshot yet. */
    CHECK(otp_sym_lookup(s, (uint64_t)(uintptr_t)fp, &mi) == NULL);
    CHECK_EQ_INT(mi, -1);

    const char *before = otp_sym_lookup(s, (uint64_t)(uintptr_t)sym_test_alpha, NULL);
    CHECK_EQ_INT(otp_sym_refresh(s), 0);
    CHECK_EQ_STR(otp_sym_lookup(s, (uint64_t)(uintptr_t)fp + 1, &mi), "crypt");
    CHECK(mi >= 0 && strstr(otp_sym_mapping(s, (size_t)mi)->path, "libcrypt"));
    /* Same pointer: the binary's ELF data was reused, not parsed again. */
    CHECK(otp_sym_lookup(s, (uint64_t)(uintptr_t)sym_test_alpha, NULL) == before);
    /* zlib ships stripped: names come from .dynsym. */
    void *zh = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    void *df = zh ? dlsym(zh, "deflate") : NULL;
    CHECK(df != NULL);
    CHECK_EQ_INT(otp_sym_refresh(s), 0);
    CHECK_EQ_STR(otp_sym_lookup(s, (uint64_t)(uintptr_t)df + 2, NULL), "deflate");

    int64_t t0 = now_ns();
    for (int i = 0; i < 10; i++) otp_sym_refresh(s);
    double ms = (double)(now_ns() - t0) / 1e7;
    printf("      cached refresh: %.3f ms each\n", ms);
    CHECK(ms < 20);
}

static void test_deleted(otp_symbolizer_t *s)
{
    char dir[] = "/tmp/otp_symtest_XXXXXX", path[128], cmd[512];
    if (!mkdtemp(dir)) return;
    snprintf(path, sizeof(path), "%s/libcopy.so", dir);
    snprintf(cmd, sizeof(cmd), "cp /lib/x86_64-linux-gnu/libz.so.1 %s 2>/dev/null || cp /usr/lib/libz.so.1 %s", path,
             path);
    CHECK(system(cmd) == 0);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL);
    unlink(path);
    rmdir(dir);
    if (!h) return;
    void *fp = dlsym(h, "inflate");
    int mi = -1;
    CHECK_EQ_INT(otp_sym_refresh(s), 0);
    const char *name = otp_sym_lookup(s, (uint64_t)(uintptr_t)fp + 1, &mi);
    /* The mapping stays; a name needs /proc/self/map_files (privileged). */
    CHECK(mi >= 0 && strcmp(otp_sym_mapping(s, (size_t)mi)->path, path) == 0);
    CHECK(name == NULL || strcmp(name, "inflate") == 0);
    printf("      deleted library: name %s\n", name ? name : "(none)");
}

/* Addresses across libc's text (every 64 bytes from getpid's page on, so
 * many fall between functions, on aliases and on size-0 symbols): names
 * from fresh symbolizers, by scanning and by a prepared batch, against a
 * symbolizer whose tables were sorted (after OTP_SYM_SCANS lookups). */
static void test_lookup_modes(void)
{
    enum { N = 600, SCANS = 32 };
    uint64_t base = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "getpid") & ~4095ULL;
    static uint64_t addrs[N];
    for (int i = 0; i < N; i++) addrs[i] = base + (uint64_t)i * 64 + (uint64_t)(i % 7);
    otp_symbolizer_t *sorted = otp_sym_new();
    for (int i = 0; i < SCANS + 1; i++) otp_sym_lookup(sorted, addrs[0], NULL);
    otp_symbolizer_t *batch = otp_sym_new();
    otp_sym_prepare(batch, addrs, N);
    int same_batch = 0, same_scan = 0, named = 0;
    for (int i = 0; i < N; i++) {
        const char *want = otp_sym_lookup(sorted, addrs[i], NULL);
        const char *b = otp_sym_lookup(batch, addrs[i], NULL);
        same_batch += (want == NULL && b == NULL) || (want && b && strcmp(want, b) == 0);
        named += want != NULL;
    }
    for (int i = 0; i < N; i += SCANS / 2) {
        otp_symbolizer_t *scan = otp_sym_new(); /* a fresh one scans its first lookups */
        for (int j = i; j < i + SCANS / 2 && j < N; j++) {
            const char *want = otp_sym_lookup(sorted, addrs[j], NULL);
            const char *b = otp_sym_lookup(scan, addrs[j], NULL);
            same_scan += (want == NULL && b == NULL) || (want && b && strcmp(want, b) == 0);
        }
        otp_sym_free(scan);
    }
    /* The same addresses, each twice and in another order (a profile's
     * stacks repeat frames): the batch drops the repeats, same names. */
    static uint64_t twice[2 * N];
    for (int i = 0; i < N; i++) {
        twice[2 * i] = addrs[N - 1 - i];
        twice[2 * i + 1] = addrs[(i * 7) % N];
    }
    otp_symbolizer_t *rep = otp_sym_new();
    otp_sym_prepare(rep, twice, 2 * N);
    int same_rep = 0;
    for (int i = 0; i < N; i++) {
        const char *want = otp_sym_lookup(sorted, addrs[i], NULL);
        const char *b = otp_sym_lookup(rep, addrs[i], NULL);
        same_rep += (want == NULL && b == NULL) || (want && b && strcmp(want, b) == 0);
    }
    CHECK_EQ_INT(same_rep, N);
    otp_sym_free(rep);
    printf("      %d of %d addresses named; batch agrees on %d, scan on %d\n", named, N, same_batch, same_scan);
    CHECK(named > N / 2);
    CHECK_EQ_INT(same_batch, N);
    CHECK_EQ_INT(same_scan, N);
    otp_sym_free(sorted);
    otp_sym_free(batch);
}

int main(void)
{
    test_lookup_modes();
    int64_t t0 = now_ns();
    otp_symbolizer_t *s = otp_sym_new();
    printf("      first snapshot: %.3f ms, %zu mappings\n", (double)(now_ns() - t0) / 1e6,
           otp_sym_mapping_count(s));
    CHECK(s != NULL);
    if (!s) return check_done();
    CHECK(otp_sym_mapping_count(s) > 5);
    CHECK(otp_sym_mapping(s, otp_sym_mapping_count(s)) == NULL);
    test_own_binary(s);
    test_libc(s);
    test_debug_file(s);
    test_unknown(s);
    test_non_pie(s);
    test_vdso(s);
    test_dlopen_refresh(s);
    test_deleted(s);
    otp_sym_free(s);
    otp_sym_free(NULL);
    CHECK(otp_sym_lookup(NULL, 0x1234, NULL) == NULL);
    return check_done();
}
