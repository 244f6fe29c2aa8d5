/*
 * The agent comes in two objects. The shim (libotprof_agent.so: preload/,
 * the configuration, the log) is what LD_PRELOAD names: it holds every
 * interposed entry point and reads the configuration. Only when that
 * says the agent is enabled does it load the engine (libotprof_engine.so,
 * beside it: everything else, with its private jemalloc) with dlopen, so
 * a process with the agent disabled maps and relocates the small object
 * only.
 *
 * This is the whole interface between them: the engine's entry point
 * returns this table, and the shim calls the engine through it and
 * nothing else. What both must see (the thread-local flags and countdown,
 * the live-heap filter, the configuration, jemalloc's thread state:
 * agent/shared.c) is defined in the shim and bound by the engine at load.
 */
#ifndef OTP_ENGINE_H
#define OTP_ENGINE_H

#include <link.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "thread.h"

/* A shim and an engine refuse each other unless built from the same
 * headers (the Makefile's tag of them): the table and every shared layout
 * (otp_config_t, otp_thread_t) must be the same on both sides. */
#ifndef OTP_ABI_TAG
#define OTP_ABI_TAG "untagged"
#endif
#define OTP_ENGINE_ENTRY "otp_engine_entry"

typedef int (*otp_mask_fn)(int, const sigset_t *, sigset_t *);
typedef int (*otp_phdr_cb)(struct dl_phdr_info *, size_t, void *);
typedef int (*otp_phdr_fn)(otp_phdr_cb, void *);

typedef struct otp_engine_start {
    const void *app_malloc;  /* the app's malloc as the shim resolved it, or NULL */
} otp_engine_start_t;

typedef struct otp_engine {
    const char *abi_tag; /* first in every build: OTP_ABI_TAG */
    /* Lifecycle (agent.h). */
    void (*init)(const otp_engine_start_t *start);
    void (*exit)(void);
    void (*shutdown)(void);
    bool (*running)(void);
    /* The same without its getpid() system call, for wrappers the app may
     * call at a high rate (the signal mask's): a vfork child is told by
     * its TLS flag; a child of a fork glibc did not see keeps a copy of
     * its parent's state, its own to change. */
    bool (*running_here)(void);
    pid_t (*pid)(void);
    otp_thread_t *(*thread_prepare)(void *(*fn)(void *), void *arg, const void *attr);
    void (*thread_begin)(otp_thread_t *t);
    void (*thread_failed)(otp_thread_t *t);
    bool (*thread_limited)(void);
    bool (*timer_limited)(void);
    void *(*unload_begin)(void);
    void (*unload_end)(void *before);
    void (*fork_prepare)(void);
    void (*fork_parent)(void);
    void (*fork_child)(void);
    void (*before_exec)(void);
    void (*after_failed_exec)(void);
    void (*before_new_root)(uintptr_t ra);
    int (*quiesce)(void);
    void (*resume)(int token);
    /* Signals (cpu.h, termsig.h, vmask.h, altstack.h, unwind.h). */
    bool (*cpu_owns_sigprof)(void);
    int (*cpu_app_sigaction)(const struct sigaction *act, struct sigaction *old);
    void (*cpu_retake)(bool stopped);
    bool (*termsig_covers)(int sig);
    bool (*termsig_active)(void);
    int (*termsig_app_sigaction)(int sig, const struct sigaction *act, struct sigaction *old);
    bool (*vmask_owned)(void);
    int (*vmask_change)(int how, const sigset_t *set, sigset_t *old, otp_mask_fn real);
    bool (*vmask_prof_blocked)(void);
    bool (*unwind_absorb_mask)(const void *ra, sigset_t *old);
    int (*altstack_app)(void **mem, const stack_t *ss, stack_t *old,
                        int (*real)(const stack_t *, stack_t *));
    int (*iterate_phdr)(otp_phdr_cb cb, void *data, otp_phdr_fn real);
    /* Threads, sandboxes, the heap (thread.h, sandbox.h, heap.h). */
    void (*thread_note_name)(otp_thread_t *t, const char *name);
    void (*sandbox_before_seccomp)(int mode);
    void (*sandbox_before_root)(int how, const char *path, int fd, int nstype);
    void *(*heap_sampled)(void *p, size_t size, uintptr_t ra);
    void (*heap_freed)(void *p);
    uint64_t (*heap_untrack)(void *p);
    void (*heap_retrack)(void *p, uint64_t token);
    void (*note_allocator)(const void *real_malloc);
    int (*vm_lock_all)(int flags, int (*real)(int));
    int (*vm_unlock_all)(int (*real)(void));
    /* The public API (otprof.h). */
    void (*set_trace_context)(const uint8_t trace_id[16], const uint8_t span_id[8]);
    void (*clear_trace_context)(void);
} otp_engine_t;

/* The engine's one exported symbol. */
const otp_engine_t *otp_engine_entry(void);

#endif
