/*
 * Demangling on the flusher. C++ goes to the C++ runtime's own demangler
 * (a full Itanium ABI demangler is large and already on every C++ system);
 * libstdc++ is only dlopen'ed once a `_Z` name shows up, so C programs
 * never load it, nor do programs that export __cxa_demangle themselves.
 * Rust legacy names (`_ZN...17h<16 hex>E`) are decoded here: the C++
 * demangler would keep the hash and the `$LT$`-style escapes.
 * Rust v0 names (`_R...`) are decoded by rustv0.c.
 */
#include "demangle.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "log.h"
#include "mem.h"
#include "rustv0.h"

typedef char *(*cxa_demangle_fn)(const char *, char *, size_t *, int *);

static cxa_demangle_fn cxa_demangle;
static bool cxa_tried;

static cxa_demangle_fn get_cxa_demangle(void)
{
    if (cxa_tried) return cxa_demangle;
    if (!otp_loader_enter(1000)) return NULL; /* names stay mangled; tried again later */
    cxa_tried = true;
    void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
    if (h) *(void **)&cxa_demangle = dlsym(h, "__cxa_demangle");
    /* A program that exports a demangler of its own (GCC's compilers,
     * with libiberty's, the code libstdc++'s is built from): loading
     * libstdc++ would cost its exit ~2 ms (3261 symbol relocations, and
     * libgcc_s), more than all the rest of a small compile's export. */
    if (!cxa_demangle) *(void **)&cxa_demangle = dlsym(RTLD_DEFAULT, "__cxa_demangle");
    if (!cxa_demangle && (h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL)) != NULL)
        *(void **)&cxa_demangle = dlsym(h, "__cxa_demangle");
    otp_loader_leave();
    if (!cxa_demangle) OTP_INFO("symbols: no __cxa_demangle in libstdc++.so.6; C++ names stay mangled");
    return cxa_demangle;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = otp_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Appends one Rust legacy identifier with its escapes decoded. */
static bool rust_ident(const char *p, size_t n, char *out, size_t *o, size_t cap)
{
    static const struct {
        const char *esc, *rep;
    } escs[] = {{"$SP$", "@"}, {"$BP$", "*"}, {"$RF$", "&"}, {"$LT$", "<"}, {"$GT$", ">"},
                {"$LP$", "("}, {"$RP$", ")"}, {"$C$", ","}};
    size_t i = 0;
    if (n >= 2 && p[0] == '_' && p[1] == '$') i = 1; /* a leading '$' is escaped with '_' */
    while (i < n) {
        const char *rep = NULL;
        size_t skip = 1;
        char one[2] = {p[i], 0};
        if (p[i] == '.' && i + 1 < n && p[i + 1] == '.') {
            rep = "::";
            skip = 2;
        } else if (p[i] == '$') {
            for (size_t k = 0; k < sizeof escs / sizeof escs[0] && !rep; k++) {
                size_t el = strlen(escs[k].esc);
                if (el <= n - i && memcmp(p + i, escs[k].esc, el) == 0) rep = escs[k].rep, skip = el;
            }
            if (!rep && i + 4 < n && p[i + 1] == 'u' && is_hex(p[i + 2]) && is_hex(p[i + 3]) && p[i + 4] == '$') {
                one[0] = (char)strtol((char[]){p[i + 2], p[i + 3], 0}, NULL, 16);
                rep = one;
                skip = 5;
            }
            if (!rep) return false;
        }
        if (!rep) rep = one;
        size_t rl = strlen(rep);
        if (*o + rl >= cap) return false;
        memcpy(out + *o, rep, rl);
        *o += rl;
        i += skip;
    }
    return true;
}

/* `_ZN` (<decimal length><identifier>)+ `E`, the last identifier being
 * `h` and 16 hex digits. NULL when `s` is not such a name. */
static char *rust_legacy(const char *s, size_t len)
{
    if (len < 4 + 20 || strncmp(s, "_ZN", 3) != 0 || s[len - 1] != 'E') return NULL;
    const char *h = s + len - 1 - 17;
    if (strncmp(h - 2, "17h", 3) != 0) return NULL;
    for (int i = 1; i <= 16; i++)
        if (!is_hex(h[i])) return NULL;
    size_t cap = len + 1, o = 0;
    char *out = otp_malloc(cap);
    if (!out) return NULL;
    const char *p = s + 3, *end = h - 2; /* identifiers before the hash */
    while (p < end) {
        size_t n = 0;
        if (*p < '1' || *p > '9') goto bad;
        while (p < end && *p >= '0' && *p <= '9') n = n * 10 + (size_t)(*p++ - '0');
        if (n > (size_t)(end - p)) goto bad;
        if (o) {
            if (o + 2 >= cap) goto bad;
            out[o++] = ':';
            out[o++] = ':';
        }
        if (!rust_ident(p, n, out, &o, cap)) goto bad;
        p += n;
    }
    if (o == 0) goto bad;
    out[o] = '\0';
    return out;
bad:
    otp_free(out);
    return NULL;
}

char *otp_demangle(const char *sys)
{
    if (!sys || !*sys) return NULL;
    const char *at = strchr(sys + 1, '@');
    if (at && at[at[1] == '@' ? 2 : 1] == '\0') at = NULL; /* no version after it */
    size_t len = at ? (size_t)(at - sys) : strlen(sys);
    if (len > 2 && sys[0] == '_' && sys[1] == 'R') {
        char *r = otp_rust_v0_demangle(sys, len);
        if (r) return r;
    }
    if (len > 4 && sys[0] == '_' && sys[1] == 'Z') {
        char *r = rust_legacy(sys, len);
        if (r) return r;
        cxa_demangle_fn dm = get_cxa_demangle();
        char *base = at ? dup_n(sys, len) : NULL;
        int status = -1;
        char *d = dm ? dm(base ? base : sys, NULL, NULL, &status) : NULL;
        otp_free(base);
        if (d && status == 0) {
            r = dup_n(d, strlen(d));
            free(d); /* the C++ runtime allocated it with malloc */
            if (r) return r;
        } else {
            free(d);
        }
    }
    return at ? dup_n(sys, len) : NULL;
}
