/*
 * mlockall and munlockall: the agent's own memory is kept out of the
 * app's locking (agent/vmlock.h).
 */
#include <errno.h>
#include <sys/mman.h>

#include "eng.h"
#include "internal.h"
#include "next.h"

static int (*real_mlockall)(int);
static int (*real_munlockall)(void);

OTP_EXPORT int mlockall(int flags)
{
    OTP_RESOLVE(real_mlockall, "mlockall");
    if (!real_mlockall) {
        errno = ENOSYS;
        return -1;
    }
    const otp_engine_t *e = otp_eng;
    return otp_tls_in_agent || !e ? real_mlockall(flags) : e->vm_lock_all(flags, real_mlockall);
}

OTP_EXPORT int munlockall(void)
{
    OTP_RESOLVE(real_munlockall, "munlockall");
    if (!real_munlockall) {
        errno = ENOSYS;
        return -1;
    }
    const otp_engine_t *e = otp_eng;
    return otp_tls_in_agent || !e ? real_munlockall() : e->vm_unlock_all(real_munlockall);
}
