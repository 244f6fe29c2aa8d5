/*
 * Per-thread state. Slots live in a static array that is never freed, so
 * the signal handler can dereference a slot pointer at any time; a slot of
 * an exited thread is drained by the flusher and then recycled.
 *
 * Slot life: FREE -> CLAIMED (pthread_create wrapper, before the thread
 * runs) -> ACTIVE (thread running) -> RETIRED (thread exited, samples not
 * yet drained) -> FREE.
 */
#ifndef OTP_THREAD_H
#define OTP_THREAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <time.h>
#include <sys/types.h>

#include "fold.h"
#include "internal.h"
#include "ring.h"

enum { OTP_SLOT_FREE = 0, OTP_SLOT_CLAIMED, OTP_SLOT_ACTIVE, OTP_SLOT_RETIRED };

typedef struct otp_thread {
    _Atomic int state;
    _Atomic pid_t tid;
    otp_ring_t *cpu_ring;  /* created lazily, kept across recycling */
    otp_ring_t *heap_ring;
    otp_fold_t *fold;      /* the CPU ring's overflow (fold.h); NULL: none */
    bool fold_ok;          /* may fold: has a table, or maps one at its first overflow */
    _Atomic int drainer;   /* OTP_DRAIN_*: who consumes cpu_ring and fold now */
    timer_t timer;
    _Atomic int has_timer;
    clockid_t clk;         /* the thread's CPU clock */
    int64_t win_ns;        /* start of the period holding next_ns, on clk */
    int64_t next_ns;       /* next scheduled sample, on clk */
    int64_t period_ns;     /* length of the period holding next_ns */
    int64_t base_ns;       /* the mean period period_ns was drawn around */
    int64_t ival_ns;       /* the timer's reload interval as last set */
    int phase_left;        /* samples left before the phase is drawn again */
    uint64_t rng;          /* draws the periods between samples */
    void *altstack;        /* agent's signal stack mapping, kept with the slot */
    bool stale;            /* a fork child's copy of its parent's slot: rings and fold
                            * hold the parent's samples until the slot is claimed */
    bool parent_prof;      /* the creating thread had SIGPROF blocked (app's view) */
    char name[16];         /* refreshed by the flusher from /proc */
    /* The agent's time on this thread, for the overhead budget; each
     * written only by the thread itself, kept across recycling. */
    _Atomic uint64_t heap_cycles; /* sampled allocations, TSC cycles */
    _Atomic uint64_t sig_ns;      /* SIGPROF handler, monotonic ns */
    /* The thread has walked with libunwind's per-thread frame cache
     * (for the memory cap's account; set by the thread itself). */
    _Atomic int unw_cached;
    /* pthread_create trampoline */
    void *(*start_fn)(void *);
    void *start_arg;
    /* The new thread's stack as its attributes say (stackwalk.h). */
    size_t stack_size;
    uintptr_t stack_user;
} otp_thread_t;

/* The CPU ring has two possible consumers: the flusher, and the thread's
 * own handler folding it (fold.h). Whoever takes the flag with
 * otp_thread_drain_begin holds the ring's consumer side and the fold
 * table until otp_thread_drain_end; the other one skips (the flusher
 * comes back next tick, the handler leaves the ring as it is). Never
 * waited on, so usable from the handler. */
enum { OTP_DRAIN_FREE = 0, OTP_DRAIN_HANDLER, OTP_DRAIN_FLUSHER };

static inline bool otp_thread_drain_begin(otp_thread_t *t, int who)
{
    int expect = OTP_DRAIN_FREE;
    return atomic_compare_exchange_strong(&t->drainer, &expect, who);
}

static inline void otp_thread_drain_end(otp_thread_t *t)
{
    atomic_store_explicit(&t->drainer, OTP_DRAIN_FREE, memory_order_release);
}

/* Marker stored in the TLS slot pointer once the thread is exiting. */
#define OTP_THREAD_GONE ((otp_thread_t *)1)

/* The calling thread's slot pointer (NULL: unknown, GONE: exiting). */
extern __thread otp_thread_t *otp_tls_thread;

/* Claims a FREE slot and creates its rings; NULL if none left or mmap
 * failed (counted, warned once). Not signal-safe. */
otp_thread_t *otp_thread_claim(void);
/* The same, with *cpu_ring (if not NULL) as the CPU ring of a slot that
 * has none yet (a slot keeps its rings when recycled): the slot then owns
 * it and *cpu_ring is set to NULL. */
otp_thread_t *otp_thread_claim_ring(otp_ring_t **cpu_ring);
/* Marks a slot as run by the calling thread (sets tid, TLS, ACTIVE) and
 * gives the thread an alternate signal stack if it has none. */
void otp_thread_activate(otp_thread_t *t);
/* The calling thread: its slot, or, for threads we did not create (found
 * by tid among slots registered from /proc/self/task), the matching one.
 * async-signal-safe; NULL if the thread has no slot or is exiting. */
otp_thread_t *otp_thread_self(void);
/* Registers an existing thread by tid (constructor, /proc/self/task). */
otp_thread_t *otp_thread_register_tid(pid_t tid);
/* Thread exit: deletes the timer, marks RETIRED, sets TLS to GONE; on the
 * exiting thread itself, also takes back the agent's signal stack. */
void otp_thread_retire(otp_thread_t *t);
/* Releases a CLAIMED slot whose pthread_create failed. */
void otp_thread_unclaim(otp_thread_t *t);

/* Flusher: iterate over all slots ever used (index < otp_thread_high). */
otp_thread_t *otp_thread_at(int i);
int otp_thread_high(void);
/* Flusher: RETIRED and fully drained -> FREE. */
void otp_thread_recycle(otp_thread_t *t);

/* Fork child: only the calling thread survives; every other slot is
 * discarded with its unflushed samples (they belong to the parent), and
 * the caller's rings and fold table are emptied. The caller gets a fold
 * table if it had none: the child has no flusher until it needs one. */
void otp_thread_atfork_child(void);

/* The app named a thread (prctl PR_SET_NAME, pthread_setname_np): t is
 * its slot, NULL for the calling thread. A thread that renames itself and
 * ends before the next export keeps the name it chose. */
void otp_thread_note_name(otp_thread_t *t, const char *name);

/* Counters for the summary. */
uint64_t otp_thread_unprofiled(void); /* threads that got no slot */

#endif
