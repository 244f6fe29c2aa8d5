/*
 * Thin wrappers over the OS: ids, clocks, whole-file reads, paths.
 * Functions marked async-signal-safe may be used in the SIGPROF handler.
 */
#ifndef OTP_SYS_H
#define OTP_SYS_H

#include <stddef.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* async-signal-safe */
pid_t otp_gettid(void);

/* A loaded object's dynamic-section pointer (d_ptr) as an address: glibc
 * has moved most by the load address `base` in place, not the vDSO's. */
static inline uintptr_t otp_dyn_ptr(uintptr_t base, uint64_t v)
{
    return v < base ? base + v : v;
}
/* The CPU clock of thread `tid` (the kernel's MAKE_THREAD_CPUCLOCK with
 * CPUCLOCK_SCHED), usable from threads other than that one. */
static inline clockid_t otp_thread_cpuclock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid) << 3) | 6;
}
/* async-signal-safe: clock `clk` in ns (vDSO for the system clocks), or
 * -1 (a thread CPU clock of a thread that is gone). */
int64_t otp_clock_ns(clockid_t clk);
/* async-signal-safe: CLOCK_MONOTONIC / CLOCK_REALTIME in ns (vDSO). */
int64_t otp_mono_ns(void);
/* CLOCK_MONOTONIC_COARSE: a clock tick behind at most, and a third of
 * the cost; for deadlines tested on hot paths. */
int64_t otp_mono_coarse_ns(void);
int64_t otp_real_ns(void);
/* A sleep that is not a cancellation point (nanosleep is), for waits
 * inside the app's calls: its close, dup2 or pthread_create wait with
 * it, and a thread cancelled there would leave the agent's opens waiting
 * (preload/fdguard.c) or cancel a call that is no cancellation point
 * bare. */
void otp_pause_us(long us);
/* The page size, cached at its first call (start-up): async-signal-safe
 * after that, and cheap enough for the sampled-allocation path. */
size_t otp_page_size(void);
/* async-signal-safe: write all of buf, retrying on EINTR/short writes.
 * 0 or -errno. Past the process's RLIMIT_FSIZE it fails with -EFBIG and
 * the SIGXFSZ the kernel sends the writing thread (whose default action
 * kills the app) is taken back: see otp_ftruncate. */
int otp_write_all(int fd, const void *buf, size_t len);
/* ftruncate that, like otp_write_all, never leaves the SIGXFSZ of a
 * length past RLIMIT_FSIZE to the app (`ulimit -f`, sandboxes that set
 * it to 0: /bin/true died of it at the agent's start). 0 or -errno. */
int otp_ftruncate(int fd, off_t len);

/* An errno's English text. Not strerror: its translation lookup takes a
 * lock that setlocale holds while it allocates, so a message from the
 * malloc path could deadlock the app there. */
const char *otp_strerror(int e);

/* Copies src into dst[cap] (cap > 0), cut to fit and terminated; returns
 * strlen(src), so a result >= cap means it was cut. On the start-up path
 * instead of snprintf("%s"): printf's code is pages a process that only
 * starts and exits would not touch. async-signal-safe. */
size_t otp_strlcpy(char *dst, const char *src, size_t cap);

/* Reads a whole (small) file into buf, NUL-terminated. Returns bytes read
 * or -errno. No malloc. */
ssize_t otp_read_file(const char *path, char *buf, size_t cap);
/* The name of this process's thread tid (its comm, without the newline)
 * into out[cap]; false when it cannot be read (the thread is gone). */
bool otp_thread_comm(pid_t tid, char *out, size_t cap);

/* Path of the running executable (/proc/self/exe); "" if unknown. */
const char *otp_exe_path(void);
/* A path of the executable good for finding files beside it, without
 * reading /proc (the first look there costs a process 15-30 us): the path
 * it was run by (AT_EXECFN) when that is certainly the running program:
 * absolute, not under /dev or /proc (fexecve), not a symbolic link itself
 * (directories on the way may be: the file beside it is the same), and a
 * regular file the size the program's own ELF header implies (its section
 * headers end the file), which a script (run by its interpreter) or a
 * binary with data appended is not. Otherwise otp_exe_path(). */
const char *otp_exe_path_cheap(void);
/* Basename of otp_exe_path(). */
const char *otp_exe_name(void);
/* The name the user ran: basename of AT_EXECFN when it is a symlink to
 * (or is) the executable, else otp_exe_name(). For the service name. */
const char *otp_run_name(void);

/* Calls fn(ctx, name) for each entry of a directory (".", ".." too).
 * getdents64 rather than opendir: nothing on the app's heap. 0 or -errno. */
int otp_dir_foreach(const char *path, void (*fn)(void *ctx, const char *name), void *ctx);

/* The same over an open directory (the descriptor stays the caller's). */
int otp_dir_foreach_at(int dirfd, void (*fn)(void *ctx, const char *name), void *ctx);

/* 64 random bits (getrandom; a time/tid mix if that fails). */
uint64_t otp_random64(void);

/* mkdir -p, every directory it creates with mode; 0 or -errno. */
int otp_mkdirs(const char *path, int mode);

/* In-place heapsort of n elements of `size` bytes (at most 256) by
 * less(a, b): no allocation (glibc's qsort may call the app's malloc for
 * its merge buffer). */
void otp_heapsort(void *base, size_t n, size_t size, bool (*less)(const void *, const void *));

/* The dynamic loader's executable segment [lo, hi): code interrupted or
 * called from there may hold the loader's locks mid-update. Found once. */
void otp_ldso_text(uintptr_t *lo, uintptr_t *hi);
/* Every signal but the synchronous faults (SEGV, BUS, ILL, FPE, TRAP,
 * SYS), which must stay deliverable while the rest are held off.
 * async-signal-safe. */
void otp_sigset_async(sigset_t *set);

#endif
