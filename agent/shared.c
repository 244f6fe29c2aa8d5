/*
 * What the shim and the engine share on their fast paths (engine.h): the
 * thread-local state every wrapper reads, the live-heap filter free()
 * reads and the configuration. Defined here, linked into the shim (and into the unit tests'
 * core library), never into the engine, which binds to the shim's at
 * load: the shim is loaded at start-up, so its TLS is in the static
 * block every thread has, which initial-exec access needs.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "fds.h"
#include "heap.h"
#include "internal.h"
#include "live.h"
#include "thread.h"

#define SHARED __attribute__((visibility("default")))

SHARED __thread int otp_tls_in_agent;
SHARED __thread int64_t otp_tls_heap_left;
SHARED __thread int otp_tls_vforked;
SHARED __thread otp_thread_t *otp_tls_thread;
/* The two objects' code (internal.h). */
SHARED otp_code_range_t otp_agent_code[2] OTP_STARTUP_DATA;
/* The configuration the shim read: the engine runs on it as it is. */
SHARED otp_config_t otp_cfg;
/* 32 KiB a process that samples nothing never touches. */
SHARED _Atomic uint64_t otp_live_bits[(1u << OTP_LIVE_FILTER_BITS) / 64] OTP_BIG_BSS;
/* The agent's open descriptors (fds.h): 8 KiB, touched only where they
 * are. */
SHARED _Atomic uint64_t otp_fd_owned_bits[OTP_FD_TRACKED / 64] OTP_BIG_BSS;
SHARED _Atomic int otp_fd_owned_n;
SHARED _Atomic int otp_fd_opening, otp_fd_closing;
SHARED _Atomic int otp_fd_releasing;
SHARED _Atomic int64_t otp_fd_opening_since;
SHARED _Atomic uint64_t otp_fd_given_bits[OTP_FD_TRACKED / 64] OTP_BIG_BSS;
