/*
 * The engine's side of engine.h: its entry point and the table the shim
 * calls it through.
 */
#include "engine.h"

#include "agent.h"
#include "altstack.h"
#include "cpu.h"
#include "heap.h"
#include "internal.h"
#include "otprof.h"
#include "sandbox.h"
#include "termsig.h"
#include "unwind.h"
#include "vmask.h"
#include "vmlock.h"

#define ENTRY __attribute__((visibility("default")))

static void engine_init(const otp_engine_start_t *start)
{
    if (start->app_malloc)
        otp_unwind_note_allocator(start->app_malloc);
    otp_agent_init();
}

static pid_t engine_pid(void)
{
    return otp_agent_pid;
}

static const otp_engine_t engine = {
    .abi_tag = OTP_ABI_TAG,
    .init = engine_init,
    .exit = otp_agent_exit,
    .shutdown = otp_agent_shutdown,
    .running = otp_agent_running,
    .running_here = otp_agent_sampling,
    .pid = engine_pid,
    .thread_prepare = otp_agent_thread_prepare,
    .thread_begin = otp_agent_thread_begin,
    .thread_failed = otp_agent_thread_failed,
    .thread_limited = otp_agent_thread_limited,
    .timer_limited = otp_agent_timer_limited,
    .unload_begin = otp_agent_unload_begin,
    .unload_end = otp_agent_unload_end,
    .fork_prepare = otp_agent_fork_prepare,
    .fork_parent = otp_agent_fork_parent,
    .fork_child = otp_agent_fork_child,
    .before_exec = otp_agent_before_exec,
    .after_failed_exec = otp_agent_after_failed_exec,
    .before_new_root = otp_agent_before_new_root,
    .quiesce = otp_agent_quiesce,
    .resume = otp_agent_resume,
    .cpu_owns_sigprof = otp_cpu_owns_sigprof,
    .cpu_app_sigaction = otp_cpu_app_sigaction,
    .cpu_retake = otp_cpu_retake,
    .termsig_covers = otp_termsig_covers,
    .termsig_active = otp_termsig_active,
    .termsig_app_sigaction = otp_termsig_app_sigaction,
    .vmask_owned = otp_vmask_owned,
    .vmask_change = otp_vmask_change,
    .vmask_prof_blocked = otp_vmask_prof_blocked,
    .unwind_absorb_mask = otp_unwind_absorb_mask,
    .altstack_app = otp_altstack_app,
    .iterate_phdr = otp_unwind_iterate_phdr,
    .thread_note_name = otp_thread_note_name,
    .sandbox_before_seccomp = otp_sandbox_before_seccomp,
    .sandbox_before_root = otp_sandbox_before_root,
    .heap_sampled = otp_heap_sampled,
    .heap_freed = otp_heap_freed,
    .heap_untrack = otp_heap_untrack,
    .heap_retrack = otp_heap_retrack,
    .note_allocator = otp_unwind_note_allocator,
    .vm_lock_all = otp_vm_lock_all,
    .vm_unlock_all = otp_vm_unlock_all,
    .set_trace_context = otprof_set_trace_context,
    .clear_trace_context = otprof_clear_trace_context,
};

ENTRY const otp_engine_t *otp_engine_entry(void)
{
    return &engine;
}
