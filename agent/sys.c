/*
 * OS helpers. The async-signal-safe ones use only syscalls and the vDSO.
 */
#include "sys.h"
#include "fds.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <link.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <string.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

pid_t otp_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

int64_t otp_clock_ns(clockid_t clk)
{
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t otp_mono_ns(void)
{
    return otp_clock_ns(CLOCK_MONOTONIC);
}

size_t otp_page_size(void)
{
    static size_t ps OTP_STARTUP_DATA;
    if (OTP_UNLIKELY(!ps)) {
        long p = sysconf(_SC_PAGESIZE);
        ps = p > 0 ? (size_t)p : 4096;
    }
    return ps;
}

int64_t otp_mono_coarse_ns(void)
{
    return otp_clock_ns(CLOCK_MONOTONIC_COARSE);
}

int64_t otp_real_ns(void)
{
    return otp_clock_ns(CLOCK_REALTIME);
}

void otp_pause_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    syscall(SYS_nanosleep, &ts, NULL);
}

const char *otp_strerror(int e)
{
    const char *s = strerrordesc_np(e);
    return s ? s : "unknown error";
}

/* The kernel's sigset for the rt_sig* system calls: 64 signals. */
#define KSIGSET_BYTES 8

/* Around a write or truncate of the agent's: SIGXFSZ blocked on this
 * thread, and whether the app had it blocked and pending already. Raw
 * system calls: no wrapper of the app's mask (SIGPROF's virtual mask is
 * not touched) and no cancellation point. */
typedef struct xfsz_guard {
    bool was_blocked;
    bool was_pending;
} xfsz_guard_t;

static void xfsz_hold(xfsz_guard_t *g)
{
    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, SIGXFSZ);
    sigemptyset(&old);
    g->was_blocked = syscall(SYS_rt_sigprocmask, SIG_BLOCK, &one, &old, KSIGSET_BYTES) == 0 &&
                     sigismember(&old, SIGXFSZ);
    g->was_pending = false;
    if (g->was_blocked) {
        sigset_t pend;
        sigemptyset(&pend);
        g->was_pending = syscall(SYS_rt_sigpending, &pend, KSIGSET_BYTES) == 0 && sigismember(&pend, SIGXFSZ);
    }
}

static void xfsz_release(const xfsz_guard_t *g, int rc)
{
    int e = errno;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGXFSZ);
    if (rc == -EFBIG && !g->was_pending) {
        struct timespec zero = {0, 0};
        syscall(SYS_rt_sigtimedwait, &one, NULL, &zero, KSIGSET_BYTES);
    }
    if (!g->was_blocked)
        syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &one, NULL, KSIGSET_BYTES);
    errno = e;
}

int otp_write_all(int fd, const void *buf, size_t len)
{
    xfsz_guard_t g;
    xfsz_hold(&g);
    const char *p = buf;
    int rc = 0;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    xfsz_release(&g, rc);
    return rc;
}

int otp_ftruncate(int fd, off_t len)
{
    xfsz_guard_t g;
    xfsz_hold(&g);
    int rc = ftruncate(fd, len) == 0 ? 0 : -errno;
    xfsz_release(&g, rc);
    return rc;
}

bool otp_thread_comm(pid_t tid, char *out, size_t cap)
{
    char path[64], buf[32];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
    ssize_t n = otp_read_file(path, buf, sizeof buf);
    if (n <= 0 || cap == 0)
        return false;
    if (buf[n - 1] == '\n')
        n--;
    size_t len = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
    memcpy(out, buf, len);
    out[len] = '\0';
    return true;
}

ssize_t otp_read_file(const char *path, char *buf, size_t cap)
{
    if (cap == 0)
        return -EINVAL;
    int fd = otp_open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            otp_close(fd);
            return -e;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    otp_close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

size_t otp_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    size_t k = n < cap ? n : cap - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
    return n;
}

static char exe_path[PATH_MAX];
static _Atomic int exe_state OTP_STARTUP_DATA; /* 0 unknown, 1 resolved */

const char *otp_exe_path(void)
{
    if (atomic_load(&exe_state) == 0) {
        char tmp[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", tmp, sizeof tmp - 1);
        tmp[n > 0 ? n : 0] = '\0';
        /* The string only: the rest of exe_path is zero already, and
         * writing it would touch one more page at every start. */
        memcpy(exe_path, tmp, (size_t)(n > 0 ? n : 0) + 1);
        atomic_store(&exe_state, 1);
    }
    return exe_path;
}

/* The main executable's ELF header, as mapped (the first PT_LOAD from file
 * offset 0, found through the program headers the kernel passed). */
static const ElfW(Ehdr) *main_ehdr(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    size_t n = getauxval(AT_PHNUM);
    uintptr_t bias = 0;
    bool found = false;
    for (size_t i = 0; ph && i < n; i++)
        if (ph[i].p_type == PT_PHDR) {
            bias = (uintptr_t)ph - ph[i].p_vaddr;
            found = true;
        }
    for (size_t i = 0; found && i < n; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
            return (const ElfW(Ehdr) *)(bias + ph[i].p_vaddr);
    return NULL;
}

/* AT_EXECFN when it is certainly the running executable (otp_exe_path_cheap),
 * else NULL. Looked at once. */
static const char *execfn_exe OTP_STARTUP_DATA;
static _Atomic int execfn_state OTP_STARTUP_DATA; /* 0 not looked at, 1 done */

static const char *execfn_if_exe(void)
{
    if (atomic_load(&execfn_state) == 0) {
        const char *fn = (const char *)getauxval(AT_EXECFN);
        const ElfW(Ehdr) *eh = main_ehdr();
        struct stat st;
        if (fn && fn[0] == '/' && strncmp(fn, "/dev/", 5) != 0 && strncmp(fn, "/proc/", 6) != 0 &&
            eh && eh->e_shoff != 0 && lstat(fn, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size == (uint64_t)eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize)
            execfn_exe = fn;
        atomic_store(&execfn_state, 1);
    }
    return execfn_exe;
}

const char *otp_exe_path_cheap(void)
{
    const char *fn = execfn_if_exe();
    return fn ? fn : otp_exe_path();
}

const char *otp_exe_name(void)
{
    const char *p = otp_exe_path();
    const char *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

/* The name the program was run by: the basename of the path given to
 * execve (AT_EXECFN) when that path reaches the same file as
 * /proc/self/exe through symlinks (redis-server -> redis-check-rdb keeps
 * "redis-server"); else (a script run through its interpreter, a path
 * that no longer resolves) the executable's own name. When AT_EXECFN is
 * certainly the executable itself (execfn_if_exe), both are its basename:
 * no look into /proc. */
static char run_name[NAME_MAX + 1] OTP_STARTUP_DATA;
static _Atomic int run_state OTP_STARTUP_DATA;

const char *otp_run_name(void)
{
    if (atomic_load(&run_state) == 0) {
        const char *fn = execfn_if_exe();
        if (fn) {
            otp_strlcpy(run_name, strrchr(fn, '/') + 1, sizeof run_name);
            atomic_store(&run_state, 1);
            return run_name;
        }
        fn = (const char *)getauxval(AT_EXECFN);
        const char *name = otp_exe_name();
        const char *slash = fn ? strrchr(fn, '/') : NULL;
        const char *base = slash ? slash + 1 : fn;
        struct stat a, b;
        /* The stats only when the names differ (the usual case is the
         * same name, whichever the answer). */
        if (base && *base && strcmp(base, name) != 0 && stat(fn, &a) == 0 &&
            stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            name = base;
        otp_strlcpy(run_name, name, sizeof run_name);
        atomic_store(&run_state, 1);
    }
    return run_name;
}

/* Called again after fork/exec would be wrong only for exec, and exec
 * gives a fresh image, so the cache never goes stale. */

static int dir_walk(int fd, void (*fn)(void *ctx, const char *name), void *ctx)
{
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            fn(ctx, d->d_name);
        }
    }
    int rc = n < 0 ? -errno : 0;
    otp_close(fd);
    return rc;
}

int otp_dir_foreach(const char *path, void (*fn)(void *ctx, const char *name), void *ctx)
{
    int fd = otp_open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return dir_walk(fd, fn, ctx);
}

int otp_dir_foreach_at(int dirfd, void (*fn)(void *ctx, const char *name), void *ctx)
{
    /* A fresh descriptor: the caller's keeps its own offset. */
    int fd = otp_openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    return dir_walk(fd, fn, ctx);
}

uint64_t otp_random64(void)
{
    uint64_t v;
    if (syscall(SYS_getrandom, &v, sizeof v, 1 /* GRND_NONBLOCK */) == (long)sizeof v)
        return v;
    /* No entropy (early boot, or a seccomp filter): unpredictable enough
     * for a temp name, which O_EXCL protects anyway. */
    static _Atomic uint64_t counter;
    v = (uint64_t)otp_real_ns() ^ ((uint64_t)otp_gettid() << 32) ^
        (atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ULL);
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    v ^= v >> 33;
    return v;
}

/* mkdir, then the exact mode (the umask only narrows it, and group bits
 * were asked for), set through a descriptor that cannot be a symlink
 * swapped in meanwhile. */
static int make_dir(const char *path, int mode)
{
    if (mkdir(path, (mode_t)mode) != 0)
        return errno == EEXIST ? 0 : -errno;
    if ((mode & 077) != 0) {
        int fd = otp_open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            fchmod(fd, (mode_t)mode);
            otp_close(fd);
        }
    }
    return 0;
}

int otp_mkdirs(const char *path, int mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    int rc;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if ((rc = make_dir(buf, mode)) != 0)
            return rc;
        *p = '/';
    }
    if ((rc = make_dir(buf, mode)) != 0)
        return rc;
    struct stat st;
    if (stat(buf, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* An object is asked for by a substring of its path. */
typedef struct text_query {
    const char *name;
    uintptr_t lo, hi;
} text_query_t;

static int find_text(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    text_query_t *q = data;
    bool match = info->dlpi_name && strstr(info->dlpi_name, q->name);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_flags & PF_X) {
            lo = a < lo ? a : lo;
            hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
        }
    }
    if (!match || hi == 0)
        return 0;
    q->lo = lo;
    q->hi = hi;
    return 1;
}

void otp_ldso_text(uintptr_t *lo, uintptr_t *hi)
{
    static uintptr_t range[2];
    static bool found;
    if (!found) {
        text_query_t q = {"/ld-linux", 0, 0};
        dl_iterate_phdr(find_text, &q);
        range[0] = q.lo;
        range[1] = q.hi;
        found = true;
    }
    *lo = range[0];
    *hi = range[1];
}

static void swap_bytes(char *a, char *b, size_t size)
{
    char t[256];
    memcpy(t, a, size);
    memcpy(a, b, size);
    memcpy(b, t, size);
}

static void sift(char *v, size_t root, size_t n, size_t size, bool (*less)(const void *, const void *))
{
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            return;
        if (c + 1 < n && less(v + c * size, v + (c + 1) * size))
            c++;
        if (!less(v + root * size, v + c * size))
            return;
        swap_bytes(v + root * size, v + c * size, size);
        root = c;
    }
}

void otp_heapsort(void *base, size_t n, size_t size, bool (*less)(const void *, const void *))
{
    char *v = base;
    if (size > 256)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sift(v, i, n, size, less);
    for (size_t i = n; i-- > 1;) {
        swap_bytes(v, v + i * size, size);
        sift(v, 0, i, size, less);
    }
}

void otp_sigset_async(sigset_t *set)
{
    sigfillset(set);
    sigdelset(set, SIGSEGV);
    sigdelset(set, SIGBUS);
    sigdelset(set, SIGILL);
    sigdelset(set, SIGFPE);
    sigdelset(set, SIGTRAP);
    sigdelset(set, SIGSYS);
}
