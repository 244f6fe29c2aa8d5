/*
 * Frames with DWARF (this test is built -O2 -g): a function's file, line
 * and first line; an inlined function as its own frame before its caller;
 * cached answers identical to fresh ones; objects dropped once unmapped.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "symbols.h"
#include "testutil.h"

static volatile int sink;

static int decl_line_plain = __LINE__ + 1;
static __attribute__((noinline, used)) void sf_plain(int n)
{
    for (int i = 0; i < n; i++) sink += i;
}

static int line_inner = __LINE__ + 3;
static inline __attribute__((always_inline)) void sf_inner(int n)
{
    sink += n * 7; /* the inlined body */
}

static __attribute__((noinline, used)) void sf_outer(int n)
{
    sf_inner(n);
    sink ^= n;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = s ? strlen(s) : 0, b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int main(void)
{
    otp_symbolizer_t *s = otp_sym_new();
    wait_for_big_dwarf();
    CHECK(s != NULL);
    if (!s) return check_done();
    sf_plain(3);
    sf_outer(3);
    otp_frame_t f[OTP_SYM_MAX_FRAMES], g[OTP_SYM_MAX_FRAMES];
    int mi = -1;
    int n = otp_sym_frames(s, (uint64_t)(uintptr_t)sf_plain, &mi, f, OTP_SYM_MAX_FRAMES);
    CHECK_EQ_INT(n, 1);
    CHECK(mi >= 0);
    CHECK_EQ_STR(f[0].name, "sf_plain");
    CHECK(ends_with(f[0].file, "tests/unit/test_symframes.c"));
    CHECK(f[0].file && f[0].file[0] == '/');
    CHECK_EQ_INT((int)f[0].start_line, decl_line_plain);

    /* Some instruction of sf_outer lies in the inlined sf_inner. */
    int found = 0;
    for (uint64_t a = (uint64_t)(uintptr_t)sf_outer; a < (uint64_t)(uintptr_t)sf_outer + 64 && !found; a++) {
        n = otp_sym_frames(s, a, NULL, f, OTP_SYM_MAX_FRAMES);
        if (n == 2 && f[0].name && strcmp(f[0].name, "sf_inner") == 0) {
            found = 1;
            CHECK_EQ_STR(f[1].name, "sf_outer");
            CHECK_EQ_INT((int)f[0].line, line_inner);
            CHECK(f[1].line > (uint32_t)line_inner);
            /* Asked again: from the cache, the same frames. */
            int n2 = otp_sym_frames(s, a, NULL, g, OTP_SYM_MAX_FRAMES);
            CHECK_EQ_INT(n2, 2);
            CHECK(memcmp(f, g, 2 * sizeof f[0]) == 0);
        }
    }
    CHECK_NAMED("an address in sf_outer has the inline frame sf_inner", found);

    /* A library is opened once an address falls in it, and dropped at
     * the next refresh after it is dlclose'd. */
    /* (libdw and its libraries were loaded meanwhile) */
    CHECK_EQ_INT(otp_sym_refresh(s), 0);
    size_t before = otp_sym_object_count(s);
    void *h = dlopen("libcrypt.so.1", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL);
    if (h) {
        CHECK_EQ_INT(otp_sym_refresh(s), 0);
        CHECK(otp_sym_object_count(s) == before); /* mapped, not looked at yet */
        void *fn = dlsym(h, "crypt");
        CHECK_EQ_STR(fn ? otp_sym_lookup(s, (uint64_t)(uintptr_t)fn, NULL) : NULL, "crypt");
        CHECK(otp_sym_object_count(s) == before + 1);
        dlclose(h);
        CHECK_EQ_INT(otp_sym_refresh(s), 0);
        CHECK(otp_sym_object_count(s) == before);
    }
    otp_sym_free(s);

    /* Code of the agent's own objects (internal.h) keeps its symbol-table
     * names only: here this test's executable stands for one of them. */
    struct dl_find_object fo;
    CHECK_EQ_INT(_dl_find_object((void *)(uintptr_t)sf_plain, &fo), 0);
    otp_agent_code[1] = (otp_code_range_t){(uintptr_t)fo.dlfo_map_start, (uintptr_t)fo.dlfo_map_end};
    s = otp_sym_new();
    n = s ? otp_sym_frames(s, (uint64_t)(uintptr_t)sf_plain + 4, NULL, f, OTP_SYM_MAX_FRAMES) : 0;
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_STR(f[0].name, "sf_plain");
        CHECK_NAMED("the agent's code: no file or line from its DWARF", f[0].file == NULL && f[0].line == 0);
    }
    otp_agent_code[1] = (otp_code_range_t){0, 0};
    otp_sym_free(s);
    return check_done();
}
