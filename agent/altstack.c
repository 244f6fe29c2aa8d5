/*
 * The agent's per-thread stacks (see altstack.h). Layout of a mapping:
 * [guard][unwind stack][guard][signal stack].
 */
#include "altstack.h"
#include "internal.h"
#include "sys.h"
#include "vmlock.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's, not the app's view of it (preload/sigstack.c). */
static int sys_sigaltstack(const stack_t *ss, stack_t *old)
{
    return (int)syscall(SYS_sigaltstack, ss, old);
}

static size_t map_bytes(void)
{
    return 2 * otp_page_size() + OTP_UNWSTACK_BYTES + OTP_ALTSTACK_BYTES;
}

size_t otp_altstack_map_size(void)
{
    return map_bytes();
}

static char *sig_base(void *mem)
{
    return (char *)mem + 2 * otp_page_size() + OTP_UNWSTACK_BYTES;
}

int otp_altstack_map(void **mem)
{
    if (*mem)
        return 0;
    size_t pg = otp_page_size();
    char *m = otp_vm_map(NULL, map_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        return -1;
    /* Stacks grow down: an overflow faults on a guard page instead of
     * writing into whatever lies below. */
    if (mprotect(m, pg, PROT_NONE) != 0 || mprotect(m + pg + OTP_UNWSTACK_BYTES, pg, PROT_NONE) != 0) {
        otp_vm_unmap(m, map_bytes());
        return -1;
    }
    *mem = m;
    return 0;
}

int otp_altstack_install(void **mem)
{
    stack_t cur;
    if (sys_sigaltstack(NULL, &cur) != 0)
        return -1;
    if (!(cur.ss_flags & SS_DISABLE))
        return 0;
    if (otp_altstack_map(mem) != 0)
        return -1;
    stack_t ss;
    ss.ss_sp = sig_base(*mem);
    ss.ss_size = OTP_ALTSTACK_BYTES;
    ss.ss_flags = 0;
    return sys_sigaltstack(&ss, NULL) == 0 ? 1 : -1;
}

void otp_altstack_release(void *mem)
{
    if (!mem)
        return;
    stack_t cur;
    if (sys_sigaltstack(NULL, &cur) != 0)
        return;
    if (!(cur.ss_flags & SS_DISABLE) && cur.ss_sp == sig_base(mem)) {
        /* Never while running on it (the kernel refuses anyway). */
        if (cur.ss_flags & SS_ONSTACK)
            return;
        stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        if (sys_sigaltstack(&off, NULL) != 0)
            return;
    }
    /* Not installed on this thread any more, and this thread is the only
     * one that runs on either region: nothing can be using them. */
    size_t pg = otp_page_size();
    madvise((char *)mem + pg, OTP_UNWSTACK_BYTES, MADV_DONTNEED);
    madvise(sig_base(mem), OTP_ALTSTACK_BYTES, MADV_DONTNEED);
}

int otp_altstack_app(void **mem, const stack_t *ss, stack_t *old, int (*real)(const stack_t *, stack_t *))
{
    stack_t cur;
    if (real(NULL, &cur) != 0)
        return -1;
    bool ours = *mem && !(cur.ss_flags & SS_DISABLE) && cur.ss_sp == sig_base(*mem);
    if (ss) {
        if (ss->ss_flags == SS_DISABLE && !(cur.ss_flags & SS_ONSTACK)) {
            if (!ours) {
                stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
                if (real(&off, NULL) != 0)
                    return -1;
                otp_altstack_install(mem);
            }
        } else if (real(ss, NULL) != 0) {
            return -1;
        }
    }
    if (old) {
        *old = cur;
        if (ours && !(cur.ss_flags & SS_ONSTACK)) {
            old->ss_sp = NULL;
            old->ss_size = 0;
            old->ss_flags = SS_DISABLE;
        }
    }
    return 0;
}

void *otp_altstack_unwind_top(void *mem)
{
    if (!mem)
        return NULL;
    return (char *)mem + otp_page_size() + OTP_UNWSTACK_BYTES;
}
