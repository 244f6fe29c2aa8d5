/*
 * The interposed allocation entry points. Each forwards to the next
 * definition in the lookup order (dlsym RTLD_NEXT: glibc, or a tcmalloc /
 * jemalloc the app preloads after the agent), so the app's blocks always
 * come from the app's allocator; the agent's own memory never does (it
 * has a private jemalloc, agent/mem.h).
 *
 * Fast paths: an allocation subtracts its size from a thread-local
 * countdown and calls agent/heap.c only when that goes negative; free()
 * reads one bit of the live-heap filter (agent/live.h) and looks further
 * only when it is set. Everything else happens in the agent.
 *
 * Bootstrap: dlsym may allocate (its error state on older glibc, an
 * error message on any), re-entering these functions before the real
 * ones are known: such allocations come from a small static pool; free()
 * ignores pool blocks and realloc() copies them out.
 *
 * This file is compiled with -fno-builtin and includes no header that
 * declares the malloc family, so the compiler assumes nothing about these
 * functions (e.g. never turns malloc+memset into a call to calloc).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "eng.h"
#include "heap.h"
#include "next.h"
#include "internal.h"
#include "sys.h"
#include "live.h"

#define EXPORT __attribute__((visibility("default")))
#define CALLER ((uintptr_t)__builtin_return_address(0))

/* Our own declarations: the libc headers' carry attributes (leaf,
 * malloc) that would let the compiler reorder around these calls. */
EXPORT void *malloc(size_t n);
EXPORT void free(void *p);
EXPORT void *calloc(size_t nmemb, size_t size);
EXPORT void *realloc(void *p, size_t n);
EXPORT void *reallocarray(void *p, size_t nmemb, size_t size);
EXPORT int posix_memalign(void **out, size_t align, size_t n);
EXPORT void *aligned_alloc(size_t align, size_t n);
EXPORT void *memalign(size_t align, size_t n);
EXPORT void *valloc(size_t n);
EXPORT void *pvalloc(size_t n);
EXPORT size_t malloc_usable_size(void *p);

typedef struct real_fns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
} real_fns_t;

static real_fns_t real;
static const void *app_malloc;
static _Atomic int resolve_state; /* 0 not started, 1 in progress, 2 done */

/* glibc's own names for its allocator: used only if RTLD_NEXT finds
 * nothing (weak, so the agent never requires them). */
extern void *__libc_malloc(size_t) __attribute__((weak));
extern void __libc_free(void *) __attribute__((weak));
extern void *__libc_calloc(size_t, size_t) __attribute__((weak));
extern void *__libc_realloc(void *, size_t) __attribute__((weak));
extern void *__libc_memalign(size_t, size_t) __attribute__((weak));
extern void *__libc_valloc(size_t) __attribute__((weak));
extern void *__libc_pvalloc(size_t) __attribute__((weak));

#define LOAD(f) __atomic_load_n(&real.f, __ATOMIC_ACQUIRE)

/* ---- bootstrap pool ---------------------------------------------------- */

#define POOL_BYTES (64 * 1024)
static char pool[POOL_BYTES] OTP_BIG_BSS __attribute__((aligned(4096)));
static _Atomic size_t pool_used;

static inline int is_pool(const void *p)
{
    return (uintptr_t)p - (uintptr_t)pool < POOL_BYTES;
}

/* Blocks carry their size in the word before them. Pool memory is static
 * and never reused, so it is zero: calloc needs nothing more. */
static void *pool_alloc(size_t align, size_t n)
{
    if (align & (align - 1)) {
        errno = EINVAL;
        return NULL;
    }
    if (align < 16)
        align = 16;
    size_t used = atomic_load(&pool_used);
    for (;;) {
        uintptr_t start = (uintptr_t)pool + used + sizeof(size_t);
        uintptr_t p = (start + align - 1) & ~(uintptr_t)(align - 1);
        size_t end = p - (uintptr_t)pool + n;
        if (n > POOL_BYTES || end > POOL_BYTES) {
            errno = ENOMEM;
            return NULL;
        }
        if (atomic_compare_exchange_weak(&pool_used, &used, end)) {
            ((size_t *)p)[-1] = n;
            return (void *)p;
        }
    }
}

static size_t pool_size(const void *p)
{
    return ((const size_t *)p)[-1];
}

static inline int valid_align(size_t a)
{
    return a != 0 && (a & (a - 1)) == 0;
}

static int pool_posix_memalign(void **out, size_t align, size_t n)
{
    if (!valid_align(align) || align % sizeof(void *) != 0)
        return EINVAL;
    void *p = pool_alloc(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

/* Set while the constructor loads the engine: the dynamic loader's
 * allocations for it come from the pool, so the app's heap (which a
 * process that never allocates has not even set up) stays as it would be
 * without the agent. Every allocation takes the slow path meanwhile. */
static OTP_TLS int pool_only;
static OTP_TLS int64_t pool_saved_left;

void otp_preload_pool_only(bool on)
{
    if (on) {
        pool_saved_left = otp_tls_heap_left;
        otp_tls_heap_left = INT64_MIN / 2;
    } else {
        otp_tls_heap_left = pool_saved_left;
    }
    pool_only = on;
}

/* ---- resolution ------------------------------------------------------ */

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* Looks everything up once. Allocations dlsym makes meanwhile (on this
 * thread, or on another that gets here first) are served by the pool. */
static void resolve(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&resolve_state, &expect, 1))
        return;
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    real_fns_t r;
    r.malloc = (void *(*)(size_t))next("malloc");
    r.free = (void (*)(void *))next("free");
    r.calloc = (void *(*)(size_t, size_t))next("calloc");
    r.realloc = (void *(*)(void *, size_t))next("realloc");
    r.posix_memalign = (int (*)(void **, size_t, size_t))next("posix_memalign");
    r.aligned_alloc = (void *(*)(size_t, size_t))next("aligned_alloc");
    r.memalign = (void *(*)(size_t, size_t))next("memalign");
    r.valloc = (void *(*)(size_t))next("valloc");
    r.pvalloc = (void *(*)(size_t))next("pvalloc");
    r.malloc_usable_size = (size_t(*)(void *))next("malloc_usable_size");
    if (!r.malloc || !r.free || !r.calloc || !r.realloc) {
        r.malloc = __libc_malloc;
        r.free = __libc_free;
        r.calloc = __libc_calloc;
        r.realloc = __libc_realloc;
    }
    if (!r.memalign)
        r.memalign = __libc_memalign;
    if (!r.valloc)
        r.valloc = __libc_valloc;
    if (!r.pvalloc)
        r.pvalloc = __libc_pvalloc;
    /* free first, malloc last: no block of the real allocator exists
     * before the real free is known. */
    __atomic_store_n(&real.free, r.free, __ATOMIC_RELEASE);
    __atomic_store_n(&real.malloc_usable_size, r.malloc_usable_size, __ATOMIC_RELEASE);
    __atomic_store_n(&real.realloc, r.realloc, __ATOMIC_RELEASE);
    __atomic_store_n(&real.posix_memalign, r.posix_memalign, __ATOMIC_RELEASE);
    __atomic_store_n(&real.aligned_alloc, r.aligned_alloc, __ATOMIC_RELEASE);
    __atomic_store_n(&real.memalign, r.memalign, __ATOMIC_RELEASE);
    __atomic_store_n(&real.valloc, r.valloc, __ATOMIC_RELEASE);
    __atomic_store_n(&real.pvalloc, r.pvalloc, __ATOMIC_RELEASE);
    __atomic_store_n(&real.calloc, r.calloc, __ATOMIC_RELEASE);
    __atomic_store_n(&real.malloc, r.malloc, __ATOMIC_RELEASE);
    app_malloc = (const void *)r.malloc;
    const otp_engine_t *e = otp_eng;
    if (e)
        e->note_allocator(app_malloc);
    otp_tls_in_agent = saved;
    atomic_store(&resolve_state, 2);
}

const void *otp_preload_app_malloc(void)
{
    return app_malloc;
}

void otp_preload_resolve_allocator(void)
{
    /* An executable with a malloc of its own (a static allocator) never
     * calls ours: nothing to learn here, and the agent must not take the
     * C library's malloc, which the next lookup finds, for the app's. */
    struct dl_find_object first, self;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (!m || _dl_find_object(m, &first) != 0 ||
        _dl_find_object((void *)otp_preload_resolve_allocator, &self) != 0 ||
        first.dlfo_map_start != self.dlfo_map_start)
        return;
    if (atomic_load(&resolve_state) == 0)
        resolve();
}

/* ---- helpers ----------------------------------------------------------- */

/* The countdown: true when this allocation of n bytes must go through
 * the slow path. */
static inline __attribute__((always_inline)) int heap_take(size_t n)
{
    int64_t left = otp_tls_heap_left - (int64_t)n;
    otp_tls_heap_left = left;
    return OTP_UNLIKELY(left < 0);
}

/* ---- entry points ---------------------------------------------------- */

/* malloc, calloc and free keep everything but the common case out of
 * line, so their fast path needs no stack frame: a few instructions and a
 * tail call. The slow functions are themselves reached by tail calls, so
 * their return address is still the app's call site. */

static __attribute__((noinline)) void *malloc_slow(size_t n, void *(*f)(size_t))
{
    uintptr_t ra = CALLER;
    if (OTP_UNLIKELY(pool_only))
        return pool_alloc(16, n);
    if (!f) {
        resolve();
        if (!LOAD(malloc))
            return pool_alloc(16, n);
        return malloc(n);
    }
    return eng_heap_sampled(f(n), n, ra);
}

EXPORT void *malloc(size_t n)
{
    void *(*f)(size_t) = LOAD(malloc);
    if (OTP_LIKELY(f != NULL) && OTP_LIKELY(!heap_take(n)))
        return f(n);
    return malloc_slow(n, f);
}

static __attribute__((noinline)) void free_slow(void *p, void (*f)(void *))
{
    if (is_pool(p))
        return;
    if (otp_live_maybe((uintptr_t)p) && otp_eng)
        otp_eng->heap_freed(p);
    if (!f) {
        if (!p)
            return;
        resolve();
        if (!(f = LOAD(free)))
            return; /* cannot happen; leaking beats crashing */
    }
    f(p);
}

EXPORT void free(void *p)
{
    uintptr_t a = (uintptr_t)p;
    void (*f)(void *) = LOAD(free);
    if (OTP_LIKELY(a - (uintptr_t)pool >= POOL_BYTES) && OTP_LIKELY(!otp_live_maybe(a)) &&
        OTP_LIKELY(f != NULL))
        return f(p);
    free_slow(p, f);
}

static __attribute__((noinline)) void *calloc_slow(size_t nmemb, size_t size, void *(*f)(size_t, size_t))
{
    uintptr_t ra = CALLER;
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (OTP_UNLIKELY(pool_only))
        return pool_alloc(16, n);
    if (!f) {
        resolve();
        if (!LOAD(calloc))
            return pool_alloc(16, n);
        return calloc(nmemb, size);
    }
    return eng_heap_sampled(f(nmemb, size), n, ra);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
    size_t n;
    void *(*f)(size_t, size_t) = LOAD(calloc);
    /* An overflowing request goes to the slow path, which fails it with
     * ENOMEM; its countdown change is harmless. */
    if (OTP_LIKELY(!__builtin_mul_overflow(nmemb, size, &n)) && OTP_LIKELY(f != NULL) &&
        OTP_LIKELY(!heap_take(n)))
        return f(nmemb, size);
    return calloc_slow(nmemb, size, f);
}

static inline __attribute__((always_inline)) void *do_realloc(void *p, size_t n, uintptr_t caller)
{
    void *(*f)(void *, size_t) = LOAD(realloc);
    if (OTP_UNLIKELY(!f)) {
        resolve();
        f = LOAD(realloc);
    }
    if (OTP_UNLIKELY(is_pool(p) || !f || (pool_only && !p))) {
        /* A pool block moves to the real allocator (the pool keeps it),
         * unless the pool is still the only allocator. */
        if (!f || pool_only) {
            void *q = pool_alloc(16, n);
            if (q && p)
                memcpy(q, p, pool_size(p) < n ? pool_size(p) : n);
            return q;
        }
        if (n == 0)
            return NULL;
        void *q = malloc(n);
        if (q)
            memcpy(q, p, pool_size(p) < n ? pool_size(p) : n);
        return q;
    }
    uint64_t token = 0;
    if (OTP_UNLIKELY(otp_live_maybe((uintptr_t)p)) && p && otp_eng)
        token = otp_eng->heap_untrack(p);
    int slow = heap_take(n);
    void *q = f(p, n);
    if (OTP_UNLIKELY(token) && !q && n)
        otp_eng->heap_retrack(p, token); /* failed: p is still there */
    if (OTP_LIKELY(!slow))
        return q;
    return eng_heap_sampled(q, n, caller);
}

EXPORT void *realloc(void *p, size_t n)
{
    return do_realloc(p, n, CALLER);
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    /* Not forwarded to the next reallocarray: glibc's calls realloc,
     * which is this file's, and would count the block twice. */
    return do_realloc(p, n, CALLER);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    int (*f)(void **, size_t, size_t) = LOAD(posix_memalign);
    if (OTP_UNLIKELY(!f)) {
        resolve();
        if (!(f = LOAD(posix_memalign)))
            return pool_posix_memalign(out, align, n);
    }
    if (OTP_LIKELY(!heap_take(n)))
        return f(out, align, n);
    if (OTP_UNLIKELY(pool_only))
        return pool_posix_memalign(out, align, n);
    int rc = f(out, align, n);
    eng_heap_sampled(rc == 0 ? *out : NULL, n, CALLER);
    return rc;
}

/* aligned_alloc, memalign, valloc, pvalloc: the same shape. */
#define ALIGNED_ENTRY(name, params, args, size, pool_align)                                        \
    EXPORT void *name params                                                                       \
    {                                                                                              \
        __typeof__(real.name) f = LOAD(name);                                                      \
        if (OTP_UNLIKELY(!f)) {                                                                    \
            resolve();                                                                             \
            if (!(f = LOAD(name)))                                                                 \
                return pool_alloc((pool_align), (size));                                           \
        }                                                                                          \
        if (OTP_LIKELY(!heap_take(size)))                                                          \
            return f args;                                                                         \
        if (OTP_UNLIKELY(pool_only))                                                               \
            return pool_alloc((pool_align), (size));                                               \
        return eng_heap_sampled(f args, (size), CALLER);                                           \
    }

ALIGNED_ENTRY(aligned_alloc, (size_t align, size_t n), (align, n), n, align)
ALIGNED_ENTRY(memalign, (size_t align, size_t n), (align, n), n, align)
ALIGNED_ENTRY(valloc, (size_t n), (n), n, otp_page_size())
ALIGNED_ENTRY(pvalloc, (size_t n), (n), n, otp_page_size())

EXPORT size_t malloc_usable_size(void *p)
{
    if (OTP_UNLIKELY(is_pool(p)))
        return pool_size(p);
    size_t (*f)(void *) = LOAD(malloc_usable_size);
    if (OTP_UNLIKELY(!f)) {
        resolve();
        if (!(f = LOAD(malloc_usable_size)))
            return 0;
    }
    return f(p);
}
