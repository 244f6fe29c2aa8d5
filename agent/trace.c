/*
 * Trace correlation: which trace and span the current thread is in, read
 * by the SIGPROF handler and the sampled-malloc path of that same thread.
 *
 * Three sources, most specific first:
 *  1. otprof_set_trace_context() (agent/otprof.h): a thread-local record
 *     of ours. Two buffers and an index: the writer fills the buffer not
 *     in use and then publishes its index with one store, so a signal
 *     landing mid-update reads either the old or the new context, never a
 *     mix. The reader is the interrupted thread itself, so compiler
 *     fences suffice; no CPU barriers, no atomics RMW.
 *  2. The OpenTelemetry thread-context record (OTEP 4947): the app or its
 *     SDK exports a TLS pointer `otel_thread_ctx_v1` to a record
 *     {trace_id[16], span_id[8], valid u8, ...}. dlsym on a TLS symbol
 *     yields the calling thread's instance, so each thread resolves its
 *     own address outside signal context (otp_trace_thread_start, from the
 *     pthread_create trampoline) and caches it in our initial-exec TLS.
 *     When the first such thread finds its instance at the same offset
 *     from its thread pointer as the main thread's, the variable lives in
 *     static TLS and every thread (also ones we never saw start) can
 *     compute its address from the thread pointer, with no lookup at all.
 *  3. TRACEPARENT at start: a process-wide default.
 *
 * otp_trace_current is async-signal-safe; the rest runs in normal context.
 */
#include "trace.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>

#include "config.h"
#include "internal.h"
#include "log.h"
#include "otprof.h"
#include "sys.h"

#define OTEL_CTX_SYMBOL "otel_thread_ctx_v1"
#define OTEL_CTX_VALID_OFF 24

typedef struct ids {
    uint8_t trace[16];
    uint8_t span[8];
} ids_t;

/* API record: api_cur is 0 (none) or 1 + the index of the live buffer. */
static OTP_TLS ids_t api_rec[2];
static OTP_TLS volatile uint8_t api_cur;

enum { OTEL_NONE = 0, OTEL_PER_THREAD, OTEL_STATIC };
static _Atomic int otel_mode OTP_STARTUP_DATA;
static _Atomic bool otel_dynamic_seen;
static intptr_t otel_tp_delta;
/* This thread's &otel_thread_ctx_v1 (a pointer to the TLS pointer). */
static OTP_TLS void *const volatile *otel_slot;

static bool default_ctx;
static ids_t default_ids;

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

void otprof_set_trace_context(const uint8_t trace_id[16], const uint8_t span_id[8])
{
    if (!trace_id || all_zero(trace_id, 16)) {
        api_cur = 0;
        return;
    }
    int next = api_cur == 1 ? 1 : 0;
    memcpy(api_rec[next].trace, trace_id, 16);
    if (span_id) memcpy(api_rec[next].span, span_id, 8);
    else memset(api_rec[next].span, 0, 8);
    atomic_signal_fence(memory_order_release);
    api_cur = (uint8_t)(next + 1);
}

void otprof_clear_trace_context(void)
{
    api_cur = 0;
}

static int hexnib(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* W3C: lowercase only */
}

static bool hex_bytes(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexnib(s[2 * i]), lo = hexnib(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

bool otp_trace_parse_traceparent(const char *s, uint8_t trace_id[16], uint8_t span_id[8])
{
    /* version "-" trace-id "-" parent-id "-" flags; later versions may
     * append fields after another "-". */
    uint8_t ver;
    if (!s || strlen(s) < 55 || !hex_bytes(s, &ver, 1) || ver == 0xff || s[2] != '-' ||
        s[35] != '-' || s[52] != '-')
        return false;
    uint8_t flags;
    if (!hex_bytes(s + 3, trace_id, 16) || !hex_bytes(s + 36, span_id, 8) ||
        !hex_bytes(s + 53, &flags, 1))
        return false;
    if (ver == 0 && s[55] != '\0') return false;
    if (ver != 0 && s[55] != '\0' && s[55] != '-') return false;
    return !all_zero(trace_id, 16) && !all_zero(span_id, 8);
}

static intptr_t tp_offset(const void *addr)
{
    return (intptr_t)((const char *)addr - (const char *)__builtin_thread_pointer());
}

void otp_trace_thread_start(void)
{
    int mode = atomic_load_explicit(&otel_mode, memory_order_acquire);
    if (mode == OTEL_NONE || otel_slot) return;
    if (mode == OTEL_STATIC) {
        otel_slot = (void *const volatile *)((char *)__builtin_thread_pointer() + otel_tp_delta);
        return;
    }
    void *a = dlsym(RTLD_DEFAULT, OTEL_CTX_SYMBOL);
    if (!a) return;
    otel_slot = a;
    if (!atomic_load(&otel_dynamic_seen)) {
        if (tp_offset(a) == otel_tp_delta)
            atomic_store_explicit(&otel_mode, OTEL_STATIC, memory_order_release);
        else
            atomic_store(&otel_dynamic_seen, true);
    }
}

/* ---- is the symbol there at all? ---------------------------------------
 * dlsym for a name nothing defines builds an error message with malloc
 * (and dlerror another): in the constructor, that would be the app's heap
 * set up, a brk moved and a block left before main. So the loaded objects'
 * hash tables are asked first, which allocates nothing. */

typedef struct sym_query {
    const char *name;
    uint32_t gnu, elf; /* the name's hashes */
    bool found;
} sym_query_t;

static uint32_t hash_gnu(const char *s)
{
    uint32_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (uint8_t)*s;
    return h;
}

static uint32_t hash_elf(const char *s)
{
    uint32_t h = 0;
    for (; *s; s++) {
        h = (h << 4) + (uint8_t)*s;
        uint32_t g = h & 0xf0000000u;
        if (g)
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

static bool sym_is(const ElfW(Sym) *sym, const char *strtab, const char *name)
{
    return sym->st_shndx != SHN_UNDEF && strcmp(strtab + sym->st_name, name) == 0;
}

static bool in_gnu_hash(const uint32_t *gh, const ElfW(Sym) *symtab, const char *strtab,
                        const sym_query_t *q)
{
    uint32_t nbuckets = gh[0], symoffset = gh[1], bloom_size = gh[2], shift = gh[3];
    if (nbuckets == 0 || bloom_size == 0)
        return false;
    const ElfW(Addr) *bloom = (const ElfW(Addr) *)(gh + 4);
    const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    const unsigned bits = sizeof(ElfW(Addr)) * 8;
    ElfW(Addr) word = bloom[(q->gnu / bits) % bloom_size];
    ElfW(Addr) mask = ((ElfW(Addr))1 << (q->gnu % bits)) | ((ElfW(Addr))1 << ((q->gnu >> shift) % bits));
    if ((word & mask) != mask)
        return false;
    uint32_t i = buckets[q->gnu % nbuckets];
    if (i < symoffset)
        return false;
    for (;; i++) {
        uint32_t h = chain[i - symoffset];
        if ((h | 1) == (q->gnu | 1) && sym_is(&symtab[i], strtab, q->name))
            return true;
        if (h & 1)
            return false;
    }
}

static bool in_elf_hash(const uint32_t *eh, const ElfW(Sym) *symtab, const char *strtab,
                        const sym_query_t *q)
{
    uint32_t nbucket = eh[0], nchain = eh[1];
    if (nbucket == 0)
        return false;
    const uint32_t *bucket = eh + 2, *chain = bucket + nbucket;
    for (uint32_t i = bucket[q->elf % nbucket], n = 0; i != STN_UNDEF && i < nchain && n < nchain;
         i = chain[i], n++)
        if (sym_is(&symtab[i], strtab, q->name))
            return true;
    return false;
}

static int find_sym(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    sym_query_t *q = arg;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (!dyn)
        return 0;
    const uint32_t *gh = NULL, *eh = NULL;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        uintptr_t a = otp_dyn_ptr(info->dlpi_addr, dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_GNU_HASH)
            gh = (const uint32_t *)a;
        else if (dyn->d_tag == DT_HASH)
            eh = (const uint32_t *)a;
        else if (dyn->d_tag == DT_SYMTAB)
            symtab = (const ElfW(Sym) *)a;
        else if (dyn->d_tag == DT_STRTAB)
            strtab = (const char *)a;
    }
    if (!symtab || !strtab)
        return 0;
    if (gh ? in_gnu_hash(gh, symtab, strtab, q) : eh && in_elf_hash(eh, symtab, strtab, q)) {
        q->found = true;
        return 1;
    }
    return 0;
}

static bool defined_anywhere(const char *name)
{
    sym_query_t q = {name, hash_gnu(name), hash_elf(name), false};
    dl_iterate_phdr(find_sym, &q);
    return q.found;
}

void otp_trace_init(void)
{
    static atomic_flag bad_tp = ATOMIC_FLAG_INIT;
    if (otp_cfg.traceparent[0]) {
        if (otp_trace_parse_traceparent(otp_cfg.traceparent, default_ids.trace, default_ids.span))
            default_ctx = true;
        else
            otp_log_once(&bad_tp, OTP_LOG_WARN,
                         "TRACEPARENT is not a valid W3C traceparent; ignoring it");
    }
    if (atomic_load(&otel_mode) != OTEL_NONE || !defined_anywhere(OTEL_CTX_SYMBOL)) return;
    void *a = dlsym(RTLD_DEFAULT, OTEL_CTX_SYMBOL);
    if (!a) {
        (void)dlerror();
        return;
    }
    otel_slot = a;
    otel_tp_delta = tp_offset(a);
    atomic_store_explicit(&otel_mode, OTEL_PER_THREAD, memory_order_release);
    OTP_INFO("reading the OpenTelemetry thread context (%s)", OTEL_CTX_SYMBOL);
}

/* async-signal-safe */
static bool read_otel(uint8_t trace_id[16], uint8_t span_id[8])
{
    void *const volatile *slot = otel_slot;
    if (!slot) {
        if (atomic_load_explicit(&otel_mode, memory_order_relaxed) != OTEL_STATIC) return false;
        slot = (void *const volatile *)((char *)__builtin_thread_pointer() + otel_tp_delta);
    }
    const volatile uint8_t *rec = *slot;
    if (!rec || rec[OTEL_CTX_VALID_OFF] != 1) return false;
    atomic_signal_fence(memory_order_acquire);
    for (int i = 0; i < 16; i++) trace_id[i] = rec[i];
    for (int i = 0; i < 8; i++) span_id[i] = rec[16 + i];
    return !all_zero(trace_id, 16);
}

/* async-signal-safe */
bool otp_trace_current(uint8_t trace_id[16], uint8_t span_id[8])
{
    uint8_t cur = api_cur;
    atomic_signal_fence(memory_order_acquire);
    if (cur == 1 || cur == 2) {
        memcpy(trace_id, api_rec[cur - 1].trace, 16);
        memcpy(span_id, api_rec[cur - 1].span, 8);
        return true;
    }
    if (atomic_load_explicit(&otel_mode, memory_order_relaxed) != OTEL_NONE &&
        read_otel(trace_id, span_id))
        return true;
    if (default_ctx) {
        memcpy(trace_id, default_ids.trace, 16);
        memcpy(span_id, default_ids.span, 8);
        return true;
    }
    memset(trace_id, 0, 16);
    memset(span_id, 0, 8);
    return false;
}
