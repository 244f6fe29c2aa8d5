/*
 * vfork, interposed so that the sampled-allocation path tells a vfork
 * child from its parent without a system call. The child shares the
 * parent thread's memory and TLS, and glibc's vfork runs no fork
 * handlers, so nothing the agent keeps can tell them apart afterwards;
 * getpid() could, but costs a system call per sample. Instead this
 * wrapper raises a thread-local flag before the system call: the child
 * returns with it set (it is the parent's TLS), and the parent, which
 * resumes only once the child has exec'd or exited, clears it.
 *
 * Written in assembly like glibc's own: the child returns through the
 * parent's stack, so nothing may be kept on it across the system call
 * (the return address is held in a register, not on the stack). A C
 * wrapper would hand the parent a frame the child has already used.
 *
 * Not covered: glibc's posix_spawn and raw clone(CLONE_VM) children, which
 * do not go through this symbol; glibc's spawn child never allocates, and
 * a raw clone child that did would only record into rings no flusher
 * drains (bounded, and never exported).
 */
#include <errno.h>

#include "heap.h"

#if defined(__x86_64__)

/* Parent side of a failed vfork: errno, -1. */
long otp_vfork_failed(long err);
__attribute__((visibility("hidden"), used)) long otp_vfork_failed(long err)
{
    errno = (int)err;
    return -1;
}

__asm__(".text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        ".p2align 4\n"
        "vfork:\n"
        "    movq otp_tls_vforked@gottpoff(%rip), %rcx\n"
        "    movl $1, %fs:(%rcx)\n"
        "    popq %rdi\n"          /* return address, off the shared stack */
        "    movl $58, %eax\n"     /* SYS_vfork */
        "    syscall\n"
        "    pushq %rdi\n"
        "    testq %rax, %rax\n"
        "    je 1f\n"              /* child: returns 0, flag still set */
        "    movq otp_tls_vforked@gottpoff(%rip), %rcx\n"
        "    movl $0, %fs:(%rcx)\n"
        "    cmpq $-4095, %rax\n"
        "    jae 2f\n"
        "1:  ret\n"
        "2:  negq %rax\n"
        "    movq %rax, %rdi\n"
        "    jmp otp_vfork_failed\n"
        ".size vfork, .-vfork\n");

#endif
