/*
 * glibc's own profiling (programs built with -pg, and callers of profil):
 * monstartup and profil install their SIGPROF counter with the C
 * library's internal sigaction, past the wrapper in preload.c, and took
 * SIGPROF from the agent for real. gprof's counter then counted the
 * agent's timer signals as its own (gprof reported 9.7 s of a 5.4 s run)
 * and the agent's profile stayed empty. After each of these entry points
 * the engine takes SIGPROF back (otp_cpu_retake): the counter becomes the
 * app's handler and still gets every SIGPROF of its ITIMER_PROF.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/gmon.h>
#include <sys/profil.h>
#include <unistd.h>

#include "eng.h"
#include "internal.h"
#include "next.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT void __monstartup(unsigned long lowpc, unsigned long highpc);
EXPORT void monstartup(unsigned long lowpc, unsigned long highpc);
EXPORT void moncontrol(int mode);
EXPORT int profil(unsigned short *buf, size_t size, size_t offset, unsigned int scale);
EXPORT int sprofil(struct prof *profp, int profcnt, struct timeval *tvp, unsigned int flags);

/* `stopped`: the call turned the counter off, and put back the handler
 * it had found (the agent's, for real). */
static void retake(bool stopped)
{
    const otp_engine_t *e = otp_eng;
    if (!e || otp_tls_in_agent || !e->running())
        return;
    int saved = errno;
    e->cpu_retake(stopped);
    errno = saved;
}

typedef void (*mon_fn)(unsigned long, unsigned long);
static mon_fn real_monstartup, real_gnu_monstartup;

/* monstartup is __monstartup's other name: one body for both. */
static void mon(mon_fn *real, const char *name, unsigned long lowpc, unsigned long highpc)
{
    OTP_RESOLVE(*real, name);
    if (*real)
        (*real)(lowpc, highpc);
    retake(false);
}

EXPORT void __monstartup(unsigned long lowpc, unsigned long highpc)
{
    mon(&real_gnu_monstartup, "__monstartup", lowpc, highpc);
}

EXPORT void monstartup(unsigned long lowpc, unsigned long highpc)
{
    mon(&real_monstartup, "monstartup", lowpc, highpc);
}

typedef void (*moncontrol_fn)(int);
static moncontrol_fn real_moncontrol;

EXPORT void moncontrol(int mode)
{
    OTP_RESOLVE(real_moncontrol, "moncontrol");
    if (real_moncontrol)
        real_moncontrol(mode);
    retake(mode == 0);
}

typedef int (*profil_fn)(unsigned short *, size_t, size_t, unsigned int);
static profil_fn real_profil;

EXPORT int profil(unsigned short *buf, size_t size, size_t offset, unsigned int scale)
{
    OTP_RESOLVE(real_profil, "profil");
    if (!real_profil)
        return -1;
    /* NULL turns it off; <unistd.h> declares buf nonnull all the same,
     * so the compiler must not see the test folded away. */
    unsigned short *b = buf;
    __asm__("" : "+r"(b));
    int rc = real_profil(buf, size, offset, scale);
    retake(b == NULL);
    return rc;
}

typedef int (*sprofil_fn)(struct prof *, int, struct timeval *, unsigned int);
static sprofil_fn real_sprofil;

EXPORT int sprofil(struct prof *profp, int profcnt, struct timeval *tvp, unsigned int flags)
{
    OTP_RESOLVE(real_sprofil, "sprofil");
    if (!real_sprofil)
        return -1;
    int rc = real_sprofil(profp, profcnt, tvp, flags);
    retake(profcnt == 0);
    return rc;
}
