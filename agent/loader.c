/*
 * The agent's loader calls and fork: see loader.h.
 *
 * A handshake of two flags: the agent's side counts its calls under way
 * and rechecks the fork flag after counting itself in; fork's side sets
 * the flag and waits for the count to drain. Sequentially consistent
 * atomics, so that one side always sees the other.
 */
#include "loader.h"

#include <stdatomic.h>

#include "fds.h"
#include "log.h"
#include "sys.h"

/* How long fork waits for an agent's loader call to end. A call blocked
 * on a loader lock that the forking thread itself holds (a fork from a
 * library's constructor, inside dlopen) never ends: then the child is
 * marked as one that makes no loader call. */
#define FORK_WAIT_MS 250

static _Atomic int in_loader;
static _Atomic int forking;              /* forks under way: two threads may fork at once */
static __thread bool child_unsafe;       /* decided in prepare, for this thread's child */
static _Atomic bool unsafe;

bool otp_loader_unsafe(void)
{
    return atomic_load(&unsafe);
}

bool otp_loader_enter(int wait_ms)
{
    if (atomic_load(&unsafe)) {
        static atomic_flag said = ATOMIC_FLAG_INIT;
        if (wait_ms > 0)
            otp_log_once(&said, OTP_LOG_INFO,
                         "this fork child's parent had other threads, which may have held the loader's locks: "
                         "no library is loaded for the agent in it (no source lines, no OTLP export if it was "
                         "not loaded before the fork)");
        return false;
    }
    int64_t deadline = wait_ms > 0 ? otp_mono_ns() + (int64_t)wait_ms * 1000000 : 0;
    for (;;) {
        while (atomic_load(&forking)) {
            if (otp_mono_ns() >= deadline)
                return false;
            otp_pause_us(200);
        }
        atomic_fetch_add(&in_loader, 1);
        if (!atomic_load(&forking)) {
            /* The loader opens and maps files on descriptors the agent
             * cannot mark as its own: while it does, the app's closes and
             * dup2s wait as for the agent's own opens (fds.h). An app
             * that dup2'd onto the number the loader had open for a
             * library of libdw's made it map the app's data file, and the
             * process died of SIGBUS in the loader. */
            otp_fd_open_begin();
            return true;
        }
        atomic_fetch_sub(&in_loader, 1);
    }
}

void otp_loader_leave(void)
{
    otp_fd_open_end();
    atomic_fetch_sub(&in_loader, 1);
}

void otp_loader_fork_prepare(bool others)
{
    atomic_fetch_add(&forking, 1);
    int64_t deadline = otp_mono_ns() + (int64_t)FORK_WAIT_MS * 1000000;
    while (atomic_load(&in_loader) > 0 && otp_mono_ns() < deadline)
        otp_pause_us(100);
    child_unsafe = others || atomic_load(&in_loader) > 0;
}

void otp_loader_fork_parent(void)
{
    atomic_fetch_sub(&forking, 1);
}

void otp_loader_fork_child(void)
{
    atomic_store(&in_loader, 0);
    atomic_store(&forking, 0);
    if (child_unsafe)
        atomic_store(&unsafe, true);
}
