/*
 * The interposed allocation entry points (preload/malloc.c), compiled into
 * this test binary so that they are its malloc family: resolution of the
 * next allocator, and the bootstrap pool that serves allocations made
 * while resolution is under way (dlsym may allocate): pool blocks are
 * aligned and sized, free() ignores them, realloc() copies them out,
 * malloc_usable_size() knows them, and calloc overflow is refused.
 * Heap sampling is off here (the agent is not initialised): the hooks
 * just forward. Calls go through volatile function pointers so the
 * compiler (which builds this file with builtins on) cannot reason about
 * them as malloc and free.
 */
#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer owns malloc in this process: test the same code under
 * other names instead of interposing it (the next allocator found is
 * then ASan's). */
#define malloc otp_test_malloc
#define free otp_test_free
#define calloc otp_test_calloc
#define realloc otp_test_realloc
#define reallocarray otp_test_reallocarray
#define posix_memalign otp_test_posix_memalign
#define aligned_alloc otp_test_aligned_alloc
#define memalign otp_test_memalign
#define valloc otp_test_valloc
#define pvalloc otp_test_pvalloc
#define malloc_usable_size otp_test_malloc_usable_size
#define NEXT_LIB "asan"
#else
#define NEXT_LIB "libc.so"
#endif
#include "../../preload/malloc.c"

#include <dlfcn.h>

#include "check.h"

/* What the shim defines (preload/shim.c): no engine, not decided yet. */
const otp_engine_t *otp_eng;
bool otp_eng_none;
bool otp_eng_second;

static void *(*volatile f_malloc)(size_t) = malloc;
static void (*volatile f_free)(void *) = free;
static void *(*volatile f_calloc)(size_t, size_t) = calloc;
static void *(*volatile f_realloc)(void *, size_t) = realloc;
static void *(*volatile f_reallocarray)(void *, size_t, size_t) = reallocarray;
static int (*volatile f_posix_memalign)(void **, size_t, size_t) = posix_memalign;
static void *(*volatile f_memalign)(size_t, size_t) = memalign;

int main(void)
{
    /* The next malloc family is libc's (ASan's in a sanitizer build). */
    void *volatile first = f_malloc(10);
    CHECK(first != NULL);
    f_free(first);
    CHECK_EQ_INT(atomic_load(&resolve_state), 2);
    Dl_info di;
    CHECK(dladdr((void *)real.malloc, &di) && di.dli_fname && strstr(di.dli_fname, NEXT_LIB));
    CHECK(real.free && real.calloc && real.realloc && real.posix_memalign && real.aligned_alloc &&
          real.memalign && real.valloc && real.pvalloc && real.malloc_usable_size);

    /* The pool itself. */
    char *a = pool_alloc(16, 100);
    CHECK(a && is_pool(a) && ((uintptr_t)a & 15) == 0);
    CHECK_EQ_INT(malloc_usable_size(a), 100);
    char *b = pool_alloc(4096, 10);
    CHECK(b && is_pool(b) && ((uintptr_t)b & 4095) == 0);
    errno = 0;
    CHECK(pool_alloc(16, POOL_BYTES) == NULL && errno == ENOMEM);
    CHECK(pool_alloc(24, 8) == NULL); /* not a power of two */
    memset(a, 7, 100);
    f_free(a); /* ignored: pool blocks are never reused */
    CHECK(a[99] == 7);
    char *c = f_realloc(a, 1000); /* moves to the real allocator */
    CHECK(c && !is_pool(c) && c[0] == 7 && c[99] == 7);
    f_free(c);
    CHECK(f_realloc(b, 0) == NULL);

    /* Allocations while resolution is under way come from the pool. */
    real_fns_t saved = real;
    memset(&real, 0, sizeof real);
    atomic_store(&resolve_state, 1);
    char *volatile p = f_malloc(50);
    unsigned char *volatile z = f_calloc(10, 10);
    void *volatile al = NULL;
    int rc = f_posix_memalign((void **)&al, 64, 100);
    void *volatile m = f_memalign(256, 30);
    size_t zsum = 0;
    for (int i = 0; z && i < 100; i++)
        zsum += z[i];
    int p_pool = is_pool(p), z_pool = is_pool(z), al_pool = is_pool(al), m_pool = is_pool(m);
    f_free(p);
    f_free(z);
    f_free(NULL);
    char *volatile r = f_realloc(p, 80); /* still in the pool: copied within it */
    int r_pool = is_pool(r);
    real = saved;
    atomic_store(&resolve_state, 2);
    CHECK(p && p_pool);
    CHECK(z && z_pool && zsum == 0);
    CHECK(rc == 0 && al_pool && ((uintptr_t)al & 63) == 0);
    CHECK(m && m_pool && ((uintptr_t)m & 255) == 0);
    CHECK(r && r_pool);

    /* Overflow checks happen before any allocator is asked. */
    errno = 0;
    size_t volatile huge = SIZE_MAX / 2;
    CHECK(f_calloc(huge, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(f_reallocarray(NULL, huge, 3) == NULL && errno == ENOMEM);

    /* While the engine is loaded, the loader's allocations come from the
     * pool and never reach the real allocator; afterwards they do again. */
    otp_preload_pool_only(true);
    char *volatile lp = f_malloc(300);
    unsigned char *volatile lz = f_calloc(20, 20);
    void *volatile la = NULL;
    int lrc = f_posix_memalign((void **)&la, 128, 64);
    if (lp)
        memset(lp, 9, 300);
    char *volatile lr = f_realloc(lp, 600); /* a pool block, copied within the pool */
    char *volatile ln = f_realloc(NULL, 40);
    int lp_pool = is_pool(lp), lz_pool = is_pool(lz), la_pool = is_pool(la), lr_pool = is_pool(lr),
        ln_pool = is_pool(ln);
    f_free(lr);
    otp_preload_pool_only(false);
    CHECK(lp && lp_pool && lz && lz_pool && lz[399] == 0);
    CHECK(lrc == 0 && la_pool && ((uintptr_t)la & 127) == 0);
    CHECK(lr && lr_pool && lr[0] == 9 && lr[299] == 9);
    CHECK(ln && ln_pool);
    char *volatile after = f_malloc(300);
    CHECK(after && !is_pool(after));
    f_free(after);

    /* After the bootstrap window, everything works normally. */
    char *volatile n = f_malloc(5000);
    CHECK(n && !is_pool(n) && malloc_usable_size(n) >= 5000);
    f_free(n);
    return check_done();
}
