/*
 * The frame shape at one instruction, read from the loaded object's own
 * call-frame information (.eh_frame_hdr's sorted table, then .eh_frame),
 * in memory: what the stack walker needs to step from a frame to its
 * caller on x86-64. Only the shapes compilers emit for ordinary code are
 * answered (the CFA from rsp or rbp plus an offset, rbp saved at an
 * offset from it, the return address at CFA-8, the PLT's expression, the
 * C library's signal trampoline); anything else is OTP_CFI_OTHER and the
 * caller unwinds some other way.
 *
 * async-signal-safe: reads mapped, read-only data of loaded objects and
 * calls _dl_find_object, which takes no lock.
 */
#ifndef OTP_CFI_H
#define OTP_CFI_H

#include <stdint.h>

enum {
    OTP_CFI_STEP = 0, /* an ordinary frame: cfa_rbp, cfa_off, rbp_off */
    OTP_CFI_END,      /* the return address is undefined: the outermost frame */
    OTP_CFI_PLT,      /* a PLT entry: CFA = rsp + 8, + 8 from instruction plt_k of 16 on */
    OTP_CFI_SIGNAL,   /* the signal trampoline: the registers are in the ucontext at rsp */
    OTP_CFI_OTHER,    /* a shape this reader does not follow */
};

typedef struct otp_cfi {
    int kind;
    int cfa_rbp;     /* the CFA is rbp + cfa_off, else rsp + cfa_off */
    int32_t cfa_off;
    int32_t rbp_off; /* rbp was saved at CFA + rbp_off; 0: rbp unchanged */
    int plt_k;
} otp_cfi_t;

/* The shape in force at `pc` (for a return address, pass it minus one).
 * Returns 0, or -1 when no loaded object has call-frame information for
 * pc (JIT code, an object without a sorted table). */
int otp_cfi_find(uintptr_t pc, otp_cfi_t *out);

#endif
