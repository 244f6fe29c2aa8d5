/*
 * libunwind, bound privately. Debian's libunwind.so.8 exports the
 * _Unwind_* family; loading it RTLD_LOCAL keeps those out of the global
 * scope so the app's C++ exceptions keep using libgcc. RTLD_NOW resolves
 * everything up front: no lazy binding may happen in a signal handler.
 * Only unw_backtrace is used: its fast path caches frame shapes per thread
 * and takes no lock (the unw_step cursor path takes a global cache lock).
 */
#include "unwind.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>

#include "internal.h"
#include "log.h"

typedef int (*backtrace_fn)(void **, int);
static backtrace_fn unw_bt;
/* The cursor interface (x86-64 names), for walks without the per-thread
 * frame cache. libunwind's context is a ucontext_t on x86-64; its cursor
 * is 127 words (UNW_TDEP_CURSOR_LEN), RIP is register 16. */
typedef struct { uint64_t opaque[127]; } unw_cursor_buf_t;
typedef int (*getcontext_fn)(ucontext_t *);
typedef int (*init_local_fn)(unw_cursor_buf_t *, ucontext_t *);
typedef int (*step_fn)(unw_cursor_buf_t *);
typedef int (*get_reg_fn)(unw_cursor_buf_t *, int, uint64_t *);
#define UNW_X86_64_RIP 16
static getcontext_fn unw_getcontext_p;
static init_local_fn unw_init_local_p;
static step_fn unw_step_p;
static get_reg_fn unw_get_reg_p;
static _Atomic int state; /* 0 not tried, 1 ready, -1 failed */
/* libunwind's TLS module: it is dlopen'ed, so each thread's block of its
 * thread-locals is allocated (with malloc) on first access. That must not
 * happen inside a signal handler, so each thread touches it first in
 * normal context (otp_unwind_warm) and the handler unwinds only threads
 * that did. */
static size_t tls_modid;
static OTP_TLS int warm;
static OTP_TLS int unwinding; /* inside unw_backtrace on this thread */

typedef struct tls_index {
    unsigned long module, offset;
} tls_index_t;
extern void *__tls_get_addr(tls_index_t *ti);

int otp_unwind_init(void)
{
    int s = atomic_load(&state);
    if (s)
        return s > 0 ? 0 : -1;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (h)
        unw_bt = (backtrace_fn)dlsym(h, "unw_backtrace");
    if (!unw_bt) {
        OTP_WARN("libunwind.so.8 not usable (%s); stacks hold only the sampled PC",
                 h ? "no unw_backtrace" : dlerror());
        atomic_store(&state, -1);
        return -1;
    }
    unw_getcontext_p = (getcontext_fn)dlsym(h, "_Ux86_64_getcontext");
    unw_init_local_p = (init_local_fn)dlsym(h, "_ULx86_64_init_local");
    unw_step_p = (step_fn)dlsym(h, "_ULx86_64_step");
    unw_get_reg_p = (get_reg_fn)dlsym(h, "_ULx86_64_get_reg");
    if (dlinfo(h, RTLD_DI_TLS_MODID, &tls_modid) != 0)
        tls_modid = 0;
    atomic_store_explicit(&state, 1, memory_order_release);
    otp_unwind_warm();
    return 0;
}

bool otp_unwind_ready(void)
{
    return atomic_load_explicit(&state, memory_order_acquire) > 0;
}

void otp_unwind_warm(void)
{
    if (warm || !otp_unwind_ready())
        return;
    /* Only the thread-locals: libunwind's 256 KiB per-thread frame cache
     * is created on the first real walk, so idle threads never pay it. */
    if (tls_modid) {
        tls_index_t ti = {tls_modid, 0};
        __tls_get_addr(&ti);
    }
    warm = 1;
}

int otp_unwind_signal(const ucontext_t *uc, uint64_t *out, int max)
{
    uint64_t pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    if (max <= 0)
        return 0;
    out[0] = pc;
    if (!warm || !otp_unwind_ready() || max == 1)
        return 1;
    /* The walk starts in this handler and crosses the kernel's signal
     * frame; everything up to the interrupted PC is ours and dropped. */
    void *buf[OTP_MAX_FRAMES + 16];
    int lim = max + 16 < (int)OTP_ARRAY_LEN(buf) ? max + 16 : (int)OTP_ARRAY_LEN(buf);
    unwinding = 1;
    int n = unw_bt(buf, lim);
    unwinding = 0;
    for (int i = 0; i < n && i < 16; i++) {
        if ((uint64_t)buf[i] != pc)
            continue;
        int k = 0;
        for (int j = i; j < n && k < max; j++)
            out[k++] = (uint64_t)buf[j];
        return k;
    }
    return 1;
}

int otp_unwind_here(uint64_t *out, int max, int skip)
{
    if (!otp_unwind_ready() || max <= 0)
        return 0;
    otp_unwind_warm();
    void *buf[OTP_MAX_FRAMES + 16];
    int lim = max + skip + 1;
    if (lim > (int)OTP_ARRAY_LEN(buf))
        lim = (int)OTP_ARRAY_LEN(buf);
    unwinding = 1;
    int n = unw_bt(buf, lim);
    unwinding = 0;
    int k = 0;
    /* +1: this function's own frame. */
    for (int i = skip + 1; i < n && k < max; i++)
        out[k++] = (uint64_t)buf[i];
    return k;
}

int otp_unwind_here_uncached(uint64_t *out, int max, int skip)
{
    if (!otp_unwind_ready() || !unw_getcontext_p || !unw_init_local_p || !unw_step_p || !unw_get_reg_p)
        return -1;
    if (max <= 0)
        return 0;
    otp_unwind_warm();
    ucontext_t uc;
    unw_cursor_buf_t cur;
    if (unw_getcontext_p(&uc) != 0)
        return 0;
    unwinding = 1;
    int k = 0;
    if (unw_init_local_p(&cur, &uc) == 0) {
        /* Frame 0 is this function, as in otp_unwind_here. */
        for (int i = 0; k < max && i < OTP_MAX_FRAMES + 16; i++) {
            uint64_t ip;
            if (unw_get_reg_p(&cur, UNW_X86_64_RIP, &ip) != 0 || ip == 0)
                break;
            if (i > skip)
                out[k++] = ip;
            if (unw_step_p(&cur) <= 0)
                break;
        }
    }
    unwinding = 0;
    return k;
}

/* libunwind (1.6) passes its struct dwarf_callback_data, whose first
 * member is the instruction address it looks for. */
int otp_unwind_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data,
                            int (*real)(int (*)(struct dl_phdr_info *, size_t, void *), void *))
{
    if (!unwinding)
        return real ? real(cb, data) : 0;
    uintptr_t ip = *(const uintptr_t *)data;
    struct dl_find_object fo;
    if (_dl_find_object((void *)ip, &fo) != 0 || !fo.dlfo_link_map)
        return 0;
    /* The object's first mapping starts with its ELF header. */
    const ElfW(Ehdr) *eh = fo.dlfo_map_start;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(ElfW(Phdr)))
        return 0;
    struct dl_phdr_info info;
    memset(&info, 0, sizeof info);
    info.dlpi_addr = fo.dlfo_link_map->l_addr;
    info.dlpi_name = fo.dlfo_link_map->l_name;
    info.dlpi_phdr = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
    info.dlpi_phnum = eh->e_phnum;
    return cb(&info, sizeof info, data);
}
