/*
 * SIGEV_THREAD notifications (notify.h). The trampoline needs the app's
 * function and value, and a sigevent carries one value: they are kept in
 * a record whose address the trampoline gets instead. The C library may
 * start a notification's thread after the app deleted its timer, so
 * records are never freed; one per distinct function and value, in a
 * fixed table. Past it (an app that makes timers with ever-new values),
 * notifications go through unchanged, and the agent says so once.
 */
#include "notify.h"

#include <aio.h>
#include <errno.h>
#include <mqueue.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "eng.h"
#include "internal.h"
#include "log.h"
#include "next.h"

#define EXPORT __attribute__((visibility("default")))

typedef void (*notify_fn)(union sigval);

typedef struct rec {
    _Atomic int state; /* 0 empty, 1 being filled, 2 ready */
    notify_fn fn;
    union sigval value;
} rec_t;

#define RECS 4096
#define PROBES 64
/* 96 KiB a process without such notifications never touches. */
static rec_t recs[RECS] OTP_BIG_BSS;
static atomic_flag full_said = ATOMIC_FLAG_INIT;

static const rec_t *rec_for(notify_fn fn, union sigval value)
{
    uintptr_t h = ((uintptr_t)fn ^ (uintptr_t)value.sival_ptr * 31) * 0x9e3779b97f4a7c15ull;
    for (uint32_t k = 0, i = (uint32_t)(h >> 52) % RECS; k < PROBES; k++, i = (i + 1) % RECS) {
        rec_t *r = &recs[i];
        int st = atomic_load_explicit(&r->state, memory_order_acquire);
        if (st == 2 && r->fn == fn && r->value.sival_ptr == value.sival_ptr)
            return r;
        int empty = 0;
        if (st == 0 && atomic_compare_exchange_strong(&r->state, &empty, 1)) {
            r->fn = fn;
            r->value = value;
            atomic_store_explicit(&r->state, 2, memory_order_release);
            return r;
        }
    }
    otp_log_once(&full_said, OTP_LOG_WARN,
                 "more than %d distinct timer or message-queue callbacks (SIGEV_THREAD): the threads of "
                 "the others run unprofiled",
                 RECS);
    return NULL;
}

/* The thread the C library started for a notification, registered as
 * pthread_create's would be; its stack's bounds from the thread itself
 * (the app's notification attributes may have set its size). */
static void adopt(notify_fn fn)
{
    const otp_engine_t *e = otp_eng;
    if (!e || otp_tls_in_agent || otp_tls_thread != NULL || !e->running())
        return;
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return;
    /* The app's function stands for the thread's start (only its address
     * is used). */
    otp_thread_t *t = e->thread_prepare((void *(*)(void *))(uintptr_t)fn, NULL, &a);
    pthread_attr_destroy(&a);
    if (t)
        e->thread_begin(t);
}

static void trampoline(union sigval v)
{
    const rec_t *r = v.sival_ptr;
    int saved = errno;
    adopt(r->fn);
    errno = saved;
    r->fn(r->value);
}

const struct sigevent *otp_notify_sigevent(const struct sigevent *sev, struct sigevent *copy)
{
    if (!sev || sev->sigev_notify != SIGEV_THREAD || !sev->sigev_notify_function ||
        sev->sigev_notify_function == trampoline || otp_tls_in_agent || !eng_running())
        return sev;
    const rec_t *r = rec_for(sev->sigev_notify_function, sev->sigev_value);
    if (!r)
        return sev;
    *copy = *sev;
    copy->sigev_notify_function = trampoline;
    copy->sigev_value.sival_ptr = (void *)(uintptr_t)r;
    return copy;
}

typedef int (*mq_notify_fn)(mqd_t, const struct sigevent *);
static mq_notify_fn real_mq_notify;

EXPORT int mq_notify(mqd_t mq, const struct sigevent *sev)
{
    OTP_RESOLVE(real_mq_notify, "mq_notify");
    if (!real_mq_notify) {
        errno = ENOSYS;
        return -1;
    }
    struct sigevent copy;
    return real_mq_notify(mq, otp_notify_sigevent(sev, &copy));
}

/* POSIX AIO: glibc reads a request's sigevent from the app's own control
 * block when the request completes, so a trampoline would have to be
 * written into the app's memory. Its SIGEV_THREAD callbacks stay
 * unprofiled; the agent says so once instead of leaving a hole in the
 * profile unexplained. */
static atomic_flag aio_said = ATOMIC_FLAG_INIT;

static void aio_note(const struct sigevent *sev)
{
    if (sev && sev->sigev_notify == SIGEV_THREAD && !otp_tls_in_agent && eng_running())
        otp_log_once(&aio_said, OTP_LOG_WARN,
                     "POSIX AIO completions with SIGEV_THREAD run their callbacks in threads the C library "
                     "starts itself: their CPU is not in the profile");
}

/* One wrapper: `note` looks at the request's sigevents, then the C
 * library's call. */
#define AIO_WRAP(name, params, args, note)                                                         \
    EXPORT int name params;                                                                        \
    EXPORT int name params                                                                         \
    {                                                                                              \
        static int(*real) params;                                                                  \
        OTP_RESOLVE(real, #name);                                                                  \
        if (!real) {                                                                               \
            errno = ENOSYS;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
        note;                                                                                      \
        return real args;                                                                          \
    }
/* cb and list are declared nonnull; NULL still reaches glibc, as bare. */
#define NOTE_CB(type, cb)                                                                          \
    do {                                                                                           \
        type *c_ = (cb);                                                                           \
        __asm__("" : "+r"(c_));                                                                    \
        if (c_)                                                                                    \
            aio_note(&c_->aio_sigevent);                                                           \
    } while (0)
#define NOTE_LIST(type, list, n, sev)                                                              \
    do {                                                                                           \
        type *const *l_ = (list);                                                                  \
        __asm__("" : "+r"(l_));                                                                    \
        aio_note(sev);                                                                             \
        for (int i_ = 0; l_ && i_ < (n); i_++)                                                     \
            if (l_[i_])                                                                            \
                aio_note(&l_[i_]->aio_sigevent);                                                   \
    } while (0)

AIO_WRAP(aio_read, (struct aiocb * cb), (cb), NOTE_CB(struct aiocb, cb))
AIO_WRAP(aio_write, (struct aiocb * cb), (cb), NOTE_CB(struct aiocb, cb))
AIO_WRAP(aio_read64, (struct aiocb64 * cb), (cb), NOTE_CB(struct aiocb64, cb))
AIO_WRAP(aio_write64, (struct aiocb64 * cb), (cb), NOTE_CB(struct aiocb64, cb))
AIO_WRAP(aio_fsync, (int op, struct aiocb *cb), (op, cb), NOTE_CB(struct aiocb, cb))
AIO_WRAP(aio_fsync64, (int op, struct aiocb64 *cb), (op, cb), NOTE_CB(struct aiocb64, cb))
AIO_WRAP(lio_listio, (int mode, struct aiocb *const list[], int n, struct sigevent *sev), (mode, list, n, sev),
         NOTE_LIST(struct aiocb, list, n, sev))
AIO_WRAP(lio_listio64, (int mode, struct aiocb64 *const list[], int n, struct sigevent *sev), (mode, list, n, sev),
         NOTE_LIST(struct aiocb64, list, n, sev))
