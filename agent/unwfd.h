/*
 * libunwind's memory check without file descriptors.
 *
 * libunwind tests whether an address is readable by writing a byte of it
 * into a pipe of its own, opened once and kept: two descriptors the app
 * never asked for. An app that then takes those numbers (a shell's
 * `exec 4>file`, a daemon closing every descriptor and opening its own)
 * gets libunwind's byte written into its file, or its descriptor closed
 * when libunwind reopens the pipe. This points libunwind's own calls of
 * pipe2/pipe/read/write/syscall/close (its relocation slots only) at
 * stand-ins: the pipe is two numbers that are never descriptors, and the
 * write is a one-byte process_vm_readv of the address, which fails the
 * same way for unreadable memory.
 */
#ifndef OTP_UNWFD_H
#define OTP_UNWFD_H

/* Called right after dlopen of libunwind, before its first use: 0, or
 * -errno if the slots could not be found or changed (libunwind then keeps
 * its pipe). Not signal-safe. */
int otp_unwfd_confine(void *handle);

#endif
