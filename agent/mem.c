/*
 * The agent's allocator: one arena of the private jemalloc copy
 * (otpje_*, built by scripts/build-jemalloc), without a thread cache so
 * memory returns to the arena promptly. Created on first use.
 */
#include "mem.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "fds.h"
#include "internal.h"
#include "log.h"
#include "sys.h"
#include "vmlock.h"

/* The renamed jemalloc API (see scripts/build-jemalloc). */
void *otpje_mallocx(size_t size, int flags);
void *otpje_rallocx(void *ptr, size_t size, int flags);
void otpje_dallocx(void *ptr, int flags);
int otpje_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

/* jemalloc's own defaults for this copy: small footprint, no background
 * threads, no thread caches. Overrides the archive's weak definition. */
const char *otpje_malloc_conf = "narenas:1,tcache:false,background_thread:false,dirty_decay_ms:0,muzzy_decay_ms:0";

#define OTPJE_MALLOCX_ARENA(a) ((int)(((unsigned)(a) + 1) << 20))
#define OTPJE_MALLOCX_TCACHE_NONE (((unsigned)(-1 + 2)) << 8)
#define OTPJE_MALLOCX_ZERO ((int)0x40)

/* jemalloc 5's radix tree of 4 KiB pages: a leaf of 2^18 8-byte entries
 * for each GiB of address space it manages (see otp_mem_stats). */
#define RTREE_LEAF_BYTES ((size_t)2 << 20)

/* Every agent allocation uses jemalloc's arena 0 without a thread cache.
 * The whole jemalloc copy is private to the agent, so arena 0 is a
 * private arena already: creating another would only add its metadata
 * (about a megabyte resident) to the agent's footprint. */
#define ARENA_FLAGS (OTPJE_MALLOCX_ARENA(0) | (int)OTPJE_MALLOCX_TCACHE_NONE)

/* The set-up (jemalloc's own, about 0.45 ms) runs under init_mu, which a
 * fork's prepare step takes too: a fork from another thread waits for
 * the set-up to end instead of copying it half done (jemalloc's init lock
 * held by a thread the child does not have: the child's first allocation,
 * its exit's export, then waits for ever). init_tid is the thread inside
 * the set-up, so that it never waits for itself. */
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic pid_t init_tid;
static _Atomic int arena_used;
static _Atomic bool hold_pages;

/* jemalloc's fork handlers. Its set-up would register them with the C
 * library; scripts/build-jemalloc points that call here instead, so that
 * they run at the one place in the agent's fork steps where they belong
 * (otp_mem_prefork), and also at a fork whose prepare phase had already
 * begun when they were registered (the C library runs the parent and
 * child handlers of such a registration without its prepare handler). */
static void (*je_prepare)(void), (*je_parent)(void), (*je_child)(void);
static OTP_TLS bool fork_locked, fork_prepared; /* per forking thread: two may fork at once */

int otpje_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));
int otpje_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    if (je_prepare || je_parent || je_child)
        return pthread_atfork(prepare, parent, child);
    je_prepare = prepare;
    je_parent = parent;
    je_child = child;
    return 0;
}

/* jemalloc's mappings are the agent's (agent/vmlock.h). */
void *otpje_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *otpje_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return otp_vm_map(addr, len, prot, flags, fd, off);
}

int otpje_munmap(void *addr, size_t len);
int otpje_munmap(void *addr, size_t len)
{
    return otp_vm_unmap(addr, len);
}

static bool in_fork_child;

/* jemalloc reads its configuration variable through here while its
 * set-up holds its init lock. OTP_TEST_MEM_INIT_DELAY_MS (tests only,
 * ignored under secure execution) stretches that moment, so that a test
 * can fork inside it. Not in fork children: one that owes a sample sets
 * up at its exit, and the forking thread that waits for it would miss
 * the parent's stretched moment the test forks in. */
char *otpje_secure_getenv(const char *name);
char *otpje_secure_getenv(const char *name)
{
    const char *delay = in_fork_child ? NULL : secure_getenv("OTP_TEST_MEM_INIT_DELAY_MS");
    int ms = delay ? atoi(delay) : 0;
    if (ms > 0 && ms <= 10000) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    return secure_getenv(name);
}

/* jemalloc's purge delay for arena 0: -1 never, 0 at once (our default). */
static void apply_hold(bool on)
{
    ssize_t ms = on ? -1 : 0;
    otpje_mallctl("arena.0.dirty_decay_ms", NULL, NULL, &ms, sizeof ms);
}

void otp_mem_hold_pages(bool on)
{
    if (atomic_exchange(&hold_pages, on) == on)
        return;
    /* Not yet initialised: the set-up applies it (and a process that
     * never allocated is not made to initialise jemalloc here). */
    if (atomic_load(&arena_used))
        apply_hold(on);
}

/* The first allocation's slow path. Asynchronous signals are blocked
 * meanwhile: an app's handler may fork (servers do), and its prepare
 * step would wait for this very thread. Returns -1 only on the set-up's
 * own thread re-entering it (a fault handler's export). */
static __attribute__((noinline)) int set_up(void)
{
    pid_t self = otp_gettid();
    if (atomic_load(&init_tid) == self)
        return -1;
    sigset_t all, old;
    otp_sigset_async(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    /* Nor may the thread be cancelled inside (the set-up's system calls
     * include cancellation points): init_mu would stay locked for good. */
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&init_mu);
    if (!atomic_load(&arena_used)) {
        atomic_store(&init_tid, self);
        int64_t t0 = otp_mono_ns();
        /* Any mallctl initialises jemalloc. Its set-up reads two kernel
         * settings (overcommit, transparent huge pages) on descriptors of
         * its own: the app's closes and dup2s wait meanwhile, as for the
         * agent's opens (fds.h). An app that dup2'd onto the number had
         * its data file read and closed by jemalloc, and its next write
         * failed. */
        unsigned narenas = 0;
        size_t len = sizeof narenas;
        otp_fd_open_begin();
        otpje_mallctl("arenas.narenas", &narenas, &len, NULL, 0);
        otp_fd_open_end();
        if (atomic_load(&hold_pages))
            apply_hold(true);
        atomic_store(&init_tid, 0);
        atomic_store_explicit(&arena_used, 1, memory_order_release);
        OTP_DEBUG("allocator set up in %lld us on thread %d", (long long)((otp_mono_ns() - t0) / 1000), (int)self);
    }
    pthread_mutex_unlock(&init_mu);
    pthread_setcancelstate(cancel_state, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}

static inline int flags(void)
{
    if (OTP_LIKELY(atomic_load_explicit(&arena_used, memory_order_acquire)))
        return ARENA_FLAGS;
    return set_up() == 0 ? ARENA_FLAGS : -1;
}

void otp_mem_prefork(bool alone)
{
    fork_locked = fork_prepared = false;
    if (alone || atomic_load(&init_tid) == otp_gettid())
        return;
    pthread_mutex_lock(&init_mu);
    fork_locked = true;
    if (atomic_load(&arena_used) && je_prepare) {
        je_prepare();
        fork_prepared = true;
    }
}

void otp_mem_postfork_parent(void)
{
    if (fork_prepared && je_parent)
        je_parent();
    if (fork_locked)
        pthread_mutex_unlock(&init_mu);
    fork_locked = fork_prepared = false;
}

void otp_mem_postfork_child(void)
{
    if (fork_prepared && je_child)
        je_child();
    if (fork_locked) {
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        memcpy(&init_mu, &m, sizeof m);
    }
    fork_locked = fork_prepared = false;
    in_fork_child = true;
}

#if defined(__SANITIZE_ADDRESS__)
/* Under AddressSanitizer (make sanitize: unit tests only) the agent's
 * memory comes from the sanitizer's malloc, so that an overflow of an
 * agent buffer is caught instead of landing in a neighbouring jemalloc
 * region. */
#include <stdlib.h>
#define otpje_mallocx(n, f) ((f) & OTPJE_MALLOCX_ZERO ? calloc(1, (n)) : malloc(n))
#define otpje_rallocx(p, n, f) ((void)(f), realloc((p), (n)))
#define otpje_dallocx(p, f) ((void)(f), free(p))
#endif

void *otp_malloc(size_t n)
{
    int f = flags();
    return f < 0 ? NULL : otpje_mallocx(n ? n : 1, f);
}

void *otp_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total))
        return NULL;
    int f = flags();
    return f < 0 ? NULL : otpje_mallocx(total ? total : 1, f | OTPJE_MALLOCX_ZERO);
}

void *otp_realloc(void *p, size_t n)
{
    if (!p)
        return otp_malloc(n);
    if (n == 0) {
        otp_free(p);
        return NULL;
    }
    return otpje_rallocx(p, n, ARENA_FLAGS);
}

void otp_free(void *p)
{
    if (p)
        otpje_dallocx(p, ARENA_FLAGS);
}

char *otp_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = otp_malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

char *otp_strdup(const char *s)
{
    return otp_strndup(s, strlen(s));
}

void *otp_pb_alloc(void *data, size_t n)
{
    (void)data;
    return otp_malloc(n);
}

void otp_pb_free(void *data, void *p)
{
    (void)data;
    otp_free(p);
}

void otp_mem_stats(otp_mem_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!atomic_load(&arena_used))
        return;
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    otpje_mallctl("epoch", &epoch, &len, &epoch, len);
    size_t v = 0;
    len = sizeof v;
    if (otpje_mallctl("stats.allocated", &v, &len, NULL, 0) == 0)
        out->allocated = v;
    len = sizeof v;
    if (otpje_mallctl("stats.resident", &v, &len, NULL, 0) == 0)
        out->resident = v;
    size_t active = 0, meta = 0;
    len = sizeof active;
    if (otpje_mallctl("stats.active", &active, &len, NULL, 0) != 0)
        active = out->resident;
    len = sizeof meta;
    if (otpje_mallctl("stats.metadata", &meta, &len, NULL, 0) != 0)
        meta = 0;
    out->footprint = active + (meta > RTREE_LEAF_BYTES ? meta - RTREE_LEAF_BYTES : meta / 4);
}

/* The private jemalloc never profiles (its configuration variable is
 * renamed and nobody sets it), so its libgcc unwinder hooks are inert.
 * Stubs keep libgcc_s out of the agent's dependencies. */
int otpje__Unwind_Backtrace(void *fn, void *arg);
uintptr_t otpje__Unwind_GetIP(void *ctx);
int otpje__Unwind_Backtrace(void *fn, void *arg)
{
    (void)fn;
    (void)arg;
    return 5; /* _URC_END_OF_STACK */
}
uintptr_t otpje__Unwind_GetIP(void *ctx)
{
    (void)ctx;
    return 0;
}
