/*
 * The agent's own mappings, kept out of the app's mlockall.
 *
 * mlockall(MCL_CURRENT) locks, and faults in, every mapping of the
 * process; without CAP_IPC_LOCK it fails with ENOMEM when the whole
 * address space is larger than RLIMIT_MEMLOCK. The agent's mappings (its
 * two objects, rings, stacks, allocator) made a small program's mlockall
 * fail that succeeds bare, and with enough limit they were locked and
 * filled: +37 MiB resident for a program of 15. So the app's mlockall is
 * done here: the limit is checked against the address space without the
 * agent's mappings, and each of the app's mappings is locked on its own.
 * MCL_FUTURE is the kernel's (every later mapping is locked): the agent's
 * later mappings are made inaccessible first (the kernel does not fault
 * those in), unlocked, then opened.
 *
 * otp_vm_map and otp_vm_unmap are async-signal-safe: the agent's mappings
 * are kept in a fixed table of ranges, claimed lock-free.
 */
#ifndef OTP_VMLOCK_H
#define OTP_VMLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* mmap and munmap for the agent's own memory (jemalloc's too). */
void *otp_vm_map(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int otp_vm_unmap(void *addr, size_t len);

/* The agent's thread's stack (glibc's mapping): the agent's while the
 * thread runs; under MCL_FUTURE unlocked, and its untouched part given
 * back. Called by that thread first and last. */
void otp_vm_own_stack(void);
void otp_vm_disown_stack(void);

/* The app's mlockall and munlockall (preload/mlock.c). */
int otp_vm_lock_all(int flags, int (*real)(int));
int otp_vm_unlock_all(int (*real)(void));

/* The app's MCL_FUTURE is in force: what other libraries map for the
 * agent (libelf's whole debug files) would be locked and filled. */
bool otp_vm_future_locked(void);

/* After an app's pthread_create failed with EAGAIN: under its MCL_FUTURE
 * a new thread's stack is locked as it is mapped, and the failure is
 * RLIMIT_MEMLOCK's (as bare) when a stack of the default size cannot be
 * mapped now, not the app's limit of tasks, for which the agent's thread
 * would give way. */
bool otp_vm_stack_refused(void);

/* A fork child's mappings are not locked, nor will its later ones be. */
void otp_vm_atfork_child(void);

#endif
