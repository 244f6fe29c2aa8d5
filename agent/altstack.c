/*
 * The agent's per-thread stacks (see altstack.h). Layout of a mapping:
 * [guard][unwind stack][guard][signal stack].
 */
#include "altstack.h"

#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

static size_t map_bytes(void)
{
    return 2 * page_size() + OTP_UNWSTACK_BYTES + OTP_ALTSTACK_BYTES;
}

static char *sig_base(void *mem)
{
    return (char *)mem + 2 * page_size() + OTP_UNWSTACK_BYTES;
}

int otp_altstack_map(void **mem)
{
    if (*mem)
        return 0;
    size_t pg = page_size();
    char *m = mmap(NULL, map_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        return -1;
    /* Stacks grow down: an overflow faults on a guard page instead of
     * writing into whatever lies below. */
    if (mprotect(m, pg, PROT_NONE) != 0 || mprotect(m + pg + OTP_UNWSTACK_BYTES, pg, PROT_NONE) != 0) {
        munmap(m, map_bytes());
        return -1;
    }
    *mem = m;
    return 0;
}

int otp_altstack_install(void **mem)
{
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0)
        return -1;
    if (!(cur.ss_flags & SS_DISABLE))
        return 0;
    if (otp_altstack_map(mem) != 0)
        return -1;
    stack_t ss;
    ss.ss_sp = sig_base(*mem);
    ss.ss_size = OTP_ALTSTACK_BYTES;
    ss.ss_flags = 0;
    return sigaltstack(&ss, NULL) == 0 ? 1 : -1;
}

void otp_altstack_release(void *mem)
{
    if (!mem)
        return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0)
        return;
    if (!(cur.ss_flags & SS_DISABLE) && cur.ss_sp == sig_base(mem)) {
        /* Never while running on it (the kernel refuses anyway). */
        if (cur.ss_flags & SS_ONSTACK)
            return;
        stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        if (sigaltstack(&off, NULL) != 0)
            return;
    }
    /* Not installed on this thread any more, and this thread is the only
     * one that runs on either region: nothing can be using them. */
    size_t pg = page_size();
    madvise((char *)mem + pg, OTP_UNWSTACK_BYTES, MADV_DONTNEED);
    madvise(sig_base(mem), OTP_ALTSTACK_BYTES, MADV_DONTNEED);
}

void *otp_altstack_unwind_top(void *mem)
{
    if (!mem)
        return NULL;
    return (char *)mem + page_size() + OTP_UNWSTACK_BYTES;
}
