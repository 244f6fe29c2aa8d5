/*
 * sigaltstack, as the app sees it: profiled threads that had no alternate
 * signal stack run with one of the agent's (agent/altstack.h), which the
 * app must not see or lose.
 */
#include <dlfcn.h>
#include <signal.h>

#include "eng.h"
#include "internal.h"
#include "thread.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*sigaltstack_fn)(const stack_t *, stack_t *);
static sigaltstack_fn real_sigaltstack;

EXPORT int sigaltstack(const stack_t *ss, stack_t *old)
{
    if (__builtin_expect(!real_sigaltstack, 0)) {
        int saved = otp_tls_in_agent;
        otp_tls_in_agent = 1;
        real_sigaltstack = (sigaltstack_fn)dlsym(RTLD_NEXT, "sigaltstack");
        otp_tls_in_agent = saved;
    }
    otp_thread_t *t = otp_tls_thread;
    const otp_engine_t *e = otp_eng;
    if (!t || t == OTP_THREAD_GONE || !e || !e->vmask_owned() || !e->running())
        return real_sigaltstack(ss, old);
    return e->altstack_app(&t->altstack, ss, old, real_sigaltstack);
}
