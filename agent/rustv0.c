/*
 * A recursive-descent decoder of the v0 grammar. Back-references point
 * into the already-read part of the name and are followed by re-reading
 * there, so they must point strictly backwards (no loops), and nesting is
 * bounded: a hostile symbol table cannot make the flusher recurse deeply
 * or allocate much. Output is capped; anything unexpected gives NULL.
 */
#include "rustv0.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"

#define V0_MAX_OUT 4096
#define V0_MAX_DEPTH 64
#define V0_MAX_IDENT_CHARS 256

typedef struct v0 {
    const char *s; /* after "_R": back-references count from here */
    size_t len, pos;
    char *out;
    size_t olen;
    int depth;
    int mute;                 /* > 0: parse without printing */
    uint64_t bound_lifetimes; /* lifetimes bound by enclosing binders */
    bool bad;
} v0_t;

static void emit_n(v0_t *v, const char *p, size_t n)
{
    if (v->mute || v->bad)
        return;
    if (v->olen + n >= V0_MAX_OUT) {
        v->bad = true;
        return;
    }
    memcpy(v->out + v->olen, p, n);
    v->olen += n;
}

static void emit(v0_t *v, const char *p)
{
    emit_n(v, p, strlen(p));
}

static char peek(const v0_t *v)
{
    return v->pos < v->len ? v->s[v->pos] : '\0';
}

static bool eat(v0_t *v, char c)
{
    if (peek(v) != c || v->bad)
        return false;
    v->pos++;
    return true;
}

/* base-62-number: "_" is 0, else digits then "_" for the number + 1. */
static uint64_t base62(v0_t *v)
{
    if (eat(v, '_'))
        return 0;
    uint64_t x = 0;
    for (;;) {
        char c = peek(v);
        uint64_t d;
        if (c >= '0' && c <= '9')
            d = (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'z')
            d = 10 + (uint64_t)(c - 'a');
        else if (c >= 'A' && c <= 'Z')
            d = 36 + (uint64_t)(c - 'A');
        else
            break;
        if (x > (UINT64_MAX - d) / 62) {
            v->bad = true;
            return 0;
        }
        x = x * 62 + d;
        v->pos++;
    }
    if (!eat(v, '_')) {
        v->bad = true;
        return 0;
    }
    return x + 1;
}

/* An optional tagged base-62 number: absent 0, else the number + 1. */
static uint64_t opt_base62(v0_t *v, char tag)
{
    if (!eat(v, tag))
        return 0;
    uint64_t x = base62(v);
    return v->bad ? 0 : x + 1;
}

static uint64_t decimal(v0_t *v)
{
    char c = peek(v);
    if (c < '0' || c > '9') {
        v->bad = true;
        return 0;
    }
    v->pos++;
    if (c == '0')
        return 0;
    uint64_t x = (uint64_t)(c - '0');
    while ((c = peek(v)) >= '0' && c <= '9') {
        if (x > (UINT64_MAX - 9) / 10) {
            v->bad = true;
            return 0;
        }
        x = x * 10 + (uint64_t)(c - '0');
        v->pos++;
    }
    return x;
}

typedef struct ident {
    const char *p;
    size_t n;
    bool puny;
} ident_t;

/* undisambiguated-identifier = ["u"] decimal-number ["_"] bytes */
static ident_t raw_ident(v0_t *v)
{
    ident_t id = { NULL, 0, eat(v, 'u') };
    uint64_t n = decimal(v);
    eat(v, '_'); /* separates the length from bytes starting with a digit or '_' */
    if (v->bad || n > v->len - v->pos) {
        v->bad = true;
        return id;
    }
    id.p = v->s + v->pos;
    id.n = (size_t)n;
    v->pos += (size_t)n;
    return id;
}

static void emit_utf8(v0_t *v, uint32_t c)
{
    char b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xc0 | c >> 6);
        b[1] = (char)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xe0 | c >> 12);
        b[1] = (char)(0x80 | (c >> 6 & 0x3f));
        b[2] = (char)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | c >> 18);
        b[1] = (char)(0x80 | (c >> 12 & 0x3f));
        b[2] = (char)(0x80 | (c >> 6 & 0x3f));
        b[3] = (char)(0x80 | (c & 0x3f));
        n = 4;
    }
    emit_n(v, b, n);
}

/* Punycode (RFC 3492) with '_' as the delimiter, as v0 writes it. */
static bool punycode(v0_t *v, const char *p, size_t n)
{
    enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700 };
    uint32_t cps[V0_MAX_IDENT_CHARS];
    size_t ncp = 0, delim = 0, start = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '_')
            delim = i + 1;
    if (delim) {
        if (delim - 1 > V0_MAX_IDENT_CHARS)
            return false;
        for (size_t i = 0; i + 1 < delim; i++)
            cps[ncp++] = (unsigned char)p[i];
        start = delim;
    }
    uint64_t cp = 128, i = 0, bias = 72;
    size_t q = start;
    while (q < n) {
        uint64_t oldi = i, w = 1;
        for (uint64_t k = BASE;; k += BASE) {
            if (q >= n)
                return false;
            char c = p[q++];
            uint64_t d;
            if (c >= 'a' && c <= 'z')
                d = (uint64_t)(c - 'a');
            else if (c >= '0' && c <= '9')
                d = 26 + (uint64_t)(c - '0');
            else
                return false;
            if (d > (UINT32_MAX - i) / w)
                return false;
            i += d * w;
            uint64_t t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
            if (d < t)
                break;
            if (w > UINT32_MAX / (BASE - t))
                return false;
            w *= BASE - t;
        }
        /* adapt the bias */
        uint64_t delta = oldi == 0 ? (i - oldi) / DAMP : (i - oldi) / 2;
        delta += delta / (ncp + 1);
        uint64_t k = 0;
        while (delta > ((BASE - TMIN) * TMAX) / 2) {
            delta /= BASE - TMIN;
            k += BASE;
        }
        bias = k + (BASE - TMIN + 1) * delta / (delta + SKEW);
        cp += i / (ncp + 1);
        i %= ncp + 1;
        if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000) || ncp >= V0_MAX_IDENT_CHARS)
            return false;
        memmove(cps + i + 1, cps + i, (ncp - i) * sizeof *cps);
        cps[i++] = (uint32_t)cp;
        ncp++;
    }
    for (size_t k = 0; k < ncp; k++)
        emit_utf8(v, cps[k]);
    return true;
}

static void emit_ident(v0_t *v, ident_t id)
{
    if (!id.puny) {
        emit_n(v, id.p, id.n);
        return;
    }
    if (v->mute)
        return;
    if (!punycode(v, id.p, id.n))
        v->bad = true;
}

static void path(v0_t *v, bool in_value);
static void type(v0_t *v);

/* Follows a back-reference: parses what it points at with fn. */
static bool backref(v0_t *v, void (*fn)(v0_t *, bool), bool arg)
{
    size_t at = v->pos;
    if (!eat(v, 'B'))
        return false;
    uint64_t target = base62(v);
    if (v->bad || target >= at || ++v->depth > V0_MAX_DEPTH) {
        v->bad = true;
        return true;
    }
    size_t back = v->pos;
    v->pos = (size_t)target;
    fn(v, arg);
    v->pos = back;
    v->depth--;
    return true;
}

static void lifetime_name(v0_t *v, uint64_t idx)
{
    if (idx == 0) {
        emit(v, "'_");
        return;
    }
    if (idx > v->bound_lifetimes) {
        v->bad = true;
        return;
    }
    uint64_t depth = v->bound_lifetimes - idx;
    char b[32];
    if (depth < 26) {
        b[0] = '\'';
        b[1] = (char)('a' + depth);
        b[2] = '\0';
    } else {
        /* deeper than the alphabet: numbered */
        size_t n = 0;
        char digits[24];
        do
            digits[n++] = (char)('0' + depth % 10);
        while ((depth /= 10) > 0);
        b[0] = '\'';
        b[1] = '_';
        for (size_t k = 0; k < n; k++)
            b[2 + k] = digits[n - 1 - k];
        b[2 + n] = '\0';
    }
    emit(v, b);
}

/* binder = "G" base-62-number: that many + 1 lifetimes bound here. */
static uint64_t binder(v0_t *v)
{
    uint64_t n = opt_base62(v, 'G');
    if (n > 64) {
        v->bad = true;
        return 0;
    }
    if (n) {
        emit(v, "for<");
        for (uint64_t k = 1; k <= n; k++) {
            if (k > 1)
                emit(v, ", ");
            v->bound_lifetimes++;
            lifetime_name(v, 1);
        }
        emit(v, "> ");
    }
    return n;
}

static const char *basic_type(char c)
{
    switch (c) {
    case 'a': return "i8";
    case 'b': return "bool";
    case 'c': return "char";
    case 'd': return "f64";
    case 'e': return "str";
    case 'f': return "f32";
    case 'h': return "u8";
    case 'i': return "isize";
    case 'j': return "usize";
    case 'l': return "i32";
    case 'm': return "u32";
    case 'n': return "i128";
    case 'o': return "u128";
    case 's': return "i16";
    case 't': return "u16";
    case 'u': return "()";
    case 'v': return "...";
    case 'x': return "i64";
    case 'y': return "u64";
    case 'z': return "!";
    case 'p': return "_";
    default: return NULL;
    }
}

static void const_backref_fn(v0_t *v, bool unused);

/* const = type const-data | "p" | backref; const-data = ["n"] hex* "_" */
static void konst(v0_t *v)
{
    if (eat(v, 'p')) {
        emit(v, "_");
        return;
    }
    if (backref(v, const_backref_fn, false))
        return;
    char t = peek(v);
    v->pos++;
    bool neg = eat(v, 'n');
    uint64_t x = 0;
    size_t digits = 0;
    for (char c; (c = peek(v)) != '_'; v->pos++, digits++) {
        uint64_t d;
        if (c >= '0' && c <= '9')
            d = (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = 10 + (uint64_t)(c - 'a');
        else {
            v->bad = true;
            return;
        }
        if (digits >= 16) { /* wider than 64 bits: not printed here */
            v->bad = true;
            return;
        }
        x = x << 4 | d;
    }
    v->pos++; /* '_' */
    char b[32];
    size_t n = 0;
    switch (t) {
    case 'b':
        if (x > 1 || neg)
            v->bad = true;
        else
            emit(v, x ? "true" : "false");
        return;
    case 'c':
        if (neg || x > 0x10ffff || (x >= 0xd800 && x < 0xe000)) {
            v->bad = true;
            return;
        }
        emit(v, "'");
        emit_utf8(v, (uint32_t)x);
        emit(v, "'");
        return;
    case 'a': case 'h': case 'i': case 'j': case 'l': case 'm': case 'n': case 'o':
    case 's': case 't': case 'x': case 'y':
        if (neg)
            emit(v, "-");
        do
            b[n++] = (char)('0' + x % 10);
        while ((x /= 10) > 0);
        while (n)
            emit_n(v, &b[--n], 1);
        return;
    default:
        v->bad = true;
    }
}

static void const_backref_fn(v0_t *v, bool unused)
{
    (void)unused;
    konst(v);
}

static void generic_arg(v0_t *v)
{
    if (eat(v, 'L'))
        lifetime_name(v, base62(v));
    else if (eat(v, 'K'))
        konst(v);
    else
        type(v);
}

/* {generic-arg} "E", printed "a, b" */
static void generic_args(v0_t *v)
{
    for (int k = 0; !v->bad && !eat(v, 'E'); k++) {
        if (v->pos >= v->len) {
            v->bad = true;
            return;
        }
        if (k)
            emit(v, ", ");
        generic_arg(v);
    }
}

static void type_fn(v0_t *v, bool unused)
{
    (void)unused;
    type(v);
}

static void fn_sig(v0_t *v)
{
    uint64_t saved = v->bound_lifetimes;
    binder(v);
    if (eat(v, 'U'))
        emit(v, "unsafe ");
    if (eat(v, 'K')) {
        emit(v, "extern \"");
        if (eat(v, 'C')) {
            emit(v, "C");
        } else {
            ident_t abi = raw_ident(v);
            if (v->bad || abi.puny) {
                v->bad = true;
                return;
            }
            for (size_t k = 0; k < abi.n; k++)
                emit_n(v, abi.p[k] == '_' ? "-" : &abi.p[k], 1);
        }
        emit(v, "\" ");
    }
    emit(v, "fn(");
    for (int k = 0; !v->bad && !eat(v, 'E'); k++) {
        if (v->pos >= v->len) {
            v->bad = true;
            return;
        }
        if (k)
            emit(v, ", ");
        type(v);
    }
    emit(v, ")");
    if (eat(v, 'u')) {
        /* returns (): not written, as in Rust */
    } else {
        emit(v, " -> ");
        type(v);
    }
    v->bound_lifetimes = saved;
}

/* A trait path whose generic list stays open, so associated type bindings
 * can join it: Fn<(), Output = ()>. Returns whether a '<' is open. */
static bool path_open(v0_t *v);

static void path_open_fn(v0_t *v, bool unused);
static bool open_result;

static void path_open_fn(v0_t *v, bool unused)
{
    (void)unused;
    open_result = path_open(v);
}

static bool path_open(v0_t *v)
{
    if (peek(v) == 'B') {
        open_result = false;
        backref(v, path_open_fn, false);
        return open_result;
    }
    if (eat(v, 'I')) {
        path(v, false);
        emit(v, "<");
        generic_args(v);
        return true;
    }
    path(v, false);
    return false;
}

static void dyn_bounds(v0_t *v)
{
    uint64_t saved = v->bound_lifetimes;
    binder(v);
    emit(v, "dyn ");
    for (int k = 0; !v->bad && !eat(v, 'E'); k++) {
        if (v->pos >= v->len) {
            v->bad = true;
            return;
        }
        if (k)
            emit(v, " + ");
        bool open = path_open(v);
        while (!v->bad && eat(v, 'p')) {
            emit(v, open ? ", " : "<");
            open = true;
            ident_t name = raw_ident(v);
            emit_ident(v, name);
            emit(v, " = ");
            type(v);
        }
        if (open)
            emit(v, ">");
    }
    v->bound_lifetimes = saved;
}

static void type(v0_t *v)
{
    if (v->bad)
        return;
    if (++v->depth > V0_MAX_DEPTH) {
        v->bad = true;
        return;
    }
    const char *basic = basic_type(peek(v));
    if (basic) {
        v->pos++;
        emit(v, basic);
    } else if (eat(v, 'A')) {
        emit(v, "[");
        type(v);
        emit(v, "; ");
        konst(v);
        emit(v, "]");
    } else if (eat(v, 'S')) {
        emit(v, "[");
        type(v);
        emit(v, "]");
    } else if (eat(v, 'T')) {
        emit(v, "(");
        int k = 0;
        for (; !v->bad && !eat(v, 'E'); k++) {
            if (v->pos >= v->len) {
                v->bad = true;
                break;
            }
            if (k)
                emit(v, ", ");
            type(v);
        }
        emit(v, k == 1 ? ",)" : ")");
    } else if (peek(v) == 'R' || peek(v) == 'Q') {
        bool mut = peek(v) == 'Q';
        v->pos++;
        emit(v, "&");
        if (eat(v, 'L')) {
            uint64_t lt = base62(v);
            if (lt) {
                lifetime_name(v, lt);
                emit(v, " ");
            }
        }
        if (mut)
            emit(v, "mut ");
        type(v);
    } else if (eat(v, 'P')) {
        emit(v, "*const ");
        type(v);
    } else if (eat(v, 'O')) {
        emit(v, "*mut ");
        type(v);
    } else if (eat(v, 'F')) {
        fn_sig(v);
    } else if (eat(v, 'D')) {
        dyn_bounds(v);
        if (!eat(v, 'L')) {
            v->bad = true;
        } else {
            uint64_t lt = base62(v);
            if (lt) {
                emit(v, " + ");
                lifetime_name(v, lt);
            }
        }
    } else if (!backref(v, type_fn, false)) {
        path(v, false);
    }
    v->depth--;
}

static void path_fn(v0_t *v, bool in_value)
{
    path(v, in_value);
}

/* in_value: a value's path (generic arguments as ::<>), not a type's. */
static void path(v0_t *v, bool in_value)
{
    if (v->bad)
        return;
    if (++v->depth > V0_MAX_DEPTH) {
        v->bad = true;
        return;
    }
    if (eat(v, 'C')) {
        opt_base62(v, 's'); /* the crate's hash: not for people */
        emit_ident(v, raw_ident(v));
    } else if (eat(v, 'M') || peek(v) == 'X') {
        bool trait = eat(v, 'X');
        /* impl-path: where the impl is; only there to tell impls apart */
        opt_base62(v, 's');
        v->mute++;
        path(v, false);
        v->mute--;
        emit(v, "<");
        type(v);
        if (trait) {
            emit(v, " as ");
            path(v, false);
        }
        emit(v, ">");
    } else if (eat(v, 'Y')) {
        emit(v, "<");
        type(v);
        emit(v, " as ");
        path(v, false);
        emit(v, ">");
    } else if (eat(v, 'N')) {
        char ns = peek(v);
        if (!((ns >= 'a' && ns <= 'z') || (ns >= 'A' && ns <= 'Z'))) {
            v->bad = true;
        } else {
            v->pos++;
            path(v, in_value);
            uint64_t dis = opt_base62(v, 's');
            ident_t id = raw_ident(v);
            if (ns >= 'A' && ns <= 'Z') {
                emit(v, "::{");
                emit(v, ns == 'C' ? "closure" : ns == 'S' ? "shim" : (char[]){ ns, 0 });
                if (id.n) {
                    emit(v, ":");
                    emit_ident(v, id);
                }
                char b[24];
                size_t n = 0;
                do
                    b[n++] = (char)('0' + dis % 10);
                while ((dis /= 10) > 0);
                emit(v, "#");
                while (n)
                    emit_n(v, &b[--n], 1);
                emit(v, "}");
            } else if (id.n) {
                emit(v, "::");
                emit_ident(v, id);
            }
        }
    } else if (eat(v, 'I')) {
        path(v, in_value);
        emit(v, in_value ? "::<" : "<");
        generic_args(v);
        emit(v, ">");
    } else if (!backref(v, path_fn, in_value)) {
        v->bad = true;
    }
    v->depth--;
}

char *otp_rust_v0_demangle(const char *sym, size_t len)
{
    if (len < 3 || sym[0] != '_' || sym[1] != 'R')
        return NULL;
    v0_t v = { .s = sym + 2, .len = len - 2 };
    /* An encoding version other than v0's (none) is not this grammar. */
    if (peek(&v) >= '0' && peek(&v) <= '9')
        return NULL;
    v.out = otp_malloc(V0_MAX_OUT);
    if (!v.out)
        return NULL;
    path(&v, true);
    /* The instantiating crate, if any, says where a generic was compiled. */
    if (!v.bad && v.pos < v.len && v.s[v.pos] != '.' && v.s[v.pos] != '$') {
        v.mute++;
        path(&v, false);
        v.mute--;
    }
    /* A vendor suffix: LLVM's ".llvm.N" is noise, others (.cold) are kept. */
    if (!v.bad && v.pos < v.len) {
        if (v.len - v.pos >= 6 && memcmp(v.s + v.pos, ".llvm.", 6) == 0)
            v.pos = v.len;
        else if (v.s[v.pos] == '.' || v.s[v.pos] == '$') {
            emit_n(&v, v.s + v.pos, v.len - v.pos);
            v.pos = v.len;
        }
    }
    if (v.bad || v.pos != v.len || v.olen == 0) {
        otp_free(v.out);
        return NULL;
    }
    v.out[v.olen] = '\0';
    return v.out;
}
