/*
 * The agent's allocator: one arena of the private jemalloc copy
 * (otpje_*, built by scripts/build-jemalloc), without a thread cache so
 * memory returns to the arena promptly. Created on first use.
 */
#include "mem.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/types.h>

#include "log.h"
#include "sys.h"

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

static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static int arena_flags; /* MALLOCX_ARENA(ours) | TCACHE_NONE, or 0 */
static _Atomic int arena_used;
static _Atomic bool hold_pages;

/* jemalloc's purge delay for arena 0: -1 never, 0 at once (our default). */
static void apply_hold(bool on)
{
    ssize_t ms = on ? -1 : 0;
    otpje_mallctl("arena.0.dirty_decay_ms", NULL, NULL, &ms, sizeof ms);
}

/* The whole jemalloc copy is private to the agent, so its arena 0 is a
 * private arena already: creating another would only add its metadata
 * (about a megabyte resident) to the agent's footprint. */
static void (*init_hook)(void);

void otp_mem_set_init_hook(void (*fn)(void))
{
    init_hook = fn;
}

bool otp_mem_initialized(void)
{
    return atomic_load(&arena_used) != 0;
}

void otp_mem_hold_pages(bool on)
{
    if (atomic_exchange(&hold_pages, on) == on)
        return;
    /* Not yet initialised: arena_create applies it (and a process that
     * never allocated is not made to initialise jemalloc here). */
    if (atomic_load(&arena_used))
        apply_hold(on);
}

static void arena_create(void)
{
    arena_flags = OTPJE_MALLOCX_ARENA(0) | (int)OTPJE_MALLOCX_TCACHE_NONE;
    /* Initialise jemalloc now (any mallctl does), so that it registers
     * its fork handlers before the hook registers the agent's later ones. */
    unsigned narenas = 0;
    size_t len = sizeof narenas;
    otpje_mallctl("arenas.narenas", &narenas, &len, NULL, 0);
    atomic_store(&arena_used, 1);
    if (atomic_load(&hold_pages))
        apply_hold(true);
    if (init_hook)
        init_hook();
}

static inline int flags(void)
{
    pthread_once(&arena_once, arena_create);
    return arena_flags;
}

void otp_mem_init_now(void)
{
    if (atomic_load(&arena_used))
        return;
    sigset_t all, old;
    otp_sigset_async(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    (void)flags();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
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
    return otpje_mallocx(n ? n : 1, flags());
}

void *otp_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total))
        return NULL;
    return otpje_mallocx(total ? total : 1, flags() | OTPJE_MALLOCX_ZERO);
}

void *otp_realloc(void *p, size_t n)
{
    if (!p)
        return otp_malloc(n);
    if (n == 0) {
        otp_free(p);
        return NULL;
    }
    return otpje_rallocx(p, n, flags());
}

void otp_free(void *p)
{
    if (p)
        otpje_dallocx(p, flags());
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
