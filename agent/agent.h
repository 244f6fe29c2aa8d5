/*
 * Agent lifecycle, called from preload/: process start and exit, thread
 * start and exit, fork, exec.
 */
#ifndef OTP_AGENT_H
#define OTP_AGENT_H

#include <stdbool.h>

#include "thread.h"

/* Constructor. Never fails: on trouble the agent turns features off. */
void otp_agent_init(void);
/* Destructor: final flush within the configured bounded time. */
void otp_agent_shutdown(void);
/* True once init ran with the agent enabled, in the process it ran in. */
bool otp_agent_running(void);
/* The same for the sampled-allocation path, without otp_agent_running's
 * getpid() system call: the agent runs and the caller is no vfork child
 * (otp_tls_vforked). A child of a fork that ran no fork handlers (_Fork,
 * a raw clone) passes too; it only fills rings no flusher drains. */
bool otp_agent_sampling(void);

/* Flusher, shortly after start-up: loads the unwinder, arms the main
 * thread's timer and those of threads that predate the agent. */
void otp_agent_late_start(void);
#define OTP_LATE_START_MS 2
/* Flusher, every interval: retires slots of pre-existing threads that
 * have exited. */
void otp_agent_reap_early(void);

/* pthread_create wrapper: slot for the new thread (NULL: not profiled). */
otp_thread_t *otp_agent_thread_prepare(void *(*fn)(void *), void *arg);
/* First thing the new thread runs; returns what to call. */
void otp_agent_thread_begin(otp_thread_t *t);

/* exec wrappers. */
void otp_agent_before_exec(void);
void otp_agent_after_failed_exec(void);

#endif
