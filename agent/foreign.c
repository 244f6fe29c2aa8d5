/*
 * CPU time of the threads the agent does not sample (foreign.h).
 */
#include "foreign.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "log.h"
#include "mem.h"
#include "profile.h"
#include "summary.h"
#include "sys.h"
#include "thread.h"

typedef struct ent {
    pid_t tid;
    uint32_t gen;      /* the last scan that listed it */
    bool agent;        /* one of the agent's own threads */
    bool counted;      /* seen twice (or at the end): its time is reported */
    int64_t reported;  /* of its CPU clock, the part already reported */
    int64_t rest;      /* reported time not yet a whole sample period */
    char name[16];
} ent_t;

/* More at once than this: the rest are counted in the summary only. */
#define MAX_ENTS 256
static ent_t ents[MAX_ENTS] OTP_BIG_BSS;
static int nents;
static uint32_t gen;
static long last_tasks;
static int64_t last_scan_ns;

static uint64_t n_threads, n_untracked;
static int64_t total_ns;
static bool section_added;
static atomic_flag said = ATOMIC_FLAG_INIT;

typedef struct scan {
    const pid_t *known;
    size_t nknown;
    pid_t self;
    bool final;
    int64_t period;
    otp_foreign_fn fn;
    void *ctx;
} scan_t;

static int cmp_tid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

static void section(void)
{
    if (n_threads == 0 && n_untracked == 0)
        return;
    OTP_INFO("threads the agent could not sample (not started by the app's pthread_create: a raw "
             "clone, the C library's AIO workers, io_uring's): %llu, with %.2f s of CPU, in the profile "
             "without stacks under " OTP_FOREIGN_NAME "%s",
             (unsigned long long)n_threads, (double)total_ns / 1e9,
             n_untracked ? "; more than 256 at once, and the others not counted" : "");
}

static void report(scan_t *s, ent_t *e, int64_t ns)
{
    if (!e->counted) {
        e->counted = true;
        n_threads++;
        otp_log_once(&said, OTP_LOG_INFO,
                     "thread %d (%s) was not started by the app's pthread_create and cannot be "
                     "sampled: its CPU time goes into the profile without stacks",
                     (int)e->tid, e->name);
        if (!section_added) {
            otp_summary_add_section(section);
            section_added = true;
        }
    }
    if (ns < e->reported)
        e->reported = 0; /* its tid was taken again, by a thread just as foreign */
    int64_t d = ns - e->reported;
    if (d <= 0)
        return;
    e->reported = ns;
    total_ns += d;
    e->rest += d;
    int64_t count = e->rest / s->period;
    e->rest -= count * s->period;
    s->fn(s->ctx, e->tid, e->name, d, count);
}

static void visit(void *ctx, const char *name)
{
    scan_t *s = ctx;
    char *end;
    long v = strtol(name, &end, 10);
    if (*end || v <= 0)
        return;
    pid_t tid = (pid_t)v;
    if (tid == s->self || bsearch(&tid, s->known, s->nknown, sizeof *s->known, cmp_tid))
        return;
    ent_t *e = NULL;
    bool fresh = false;
    for (int i = 0; i < nents && !e; i++)
        if (ents[i].tid == tid)
            e = &ents[i];
    if (!e) {
        if (nents == MAX_ENTS) {
            n_untracked++;
            return;
        }
        e = &ents[nents++];
        memset(e, 0, sizeof *e);
        fresh = true;
        e->tid = tid;
        otp_thread_comm(tid, e->name, sizeof e->name);
        e->agent = strcmp(e->name, OTP_AGENT_THREAD_NAME) == 0;
    }
    e->gen = gen;
    if (e->agent)
        return;
    int64_t ns = otp_clock_ns(otp_thread_cpuclock(tid));
    if (ns < 0)
        return; /* gone since the listing */
    /* At first sight, only noted: counted from the next scan on, if
     * still here then, with everything its clock says. */
    if (!fresh || s->final)
        report(s, e, ns);
}

void otp_foreign_scan(pid_t self, bool final, int64_t period_ns, otp_foreign_fn fn, void *ctx)
{
    struct stat st;
    if (period_ns <= 0 || stat("/proc/self/task", &st) != 0)
        return;
    /* The directory links its parent, itself and each thread. */
    long tasks = (long)st.st_nlink - 2;
    int high = otp_thread_high();
    /* The caller, and the app's threads the table has as running. */
    long known_running = 1;
    for (int i = 0; i < high; i++) {
        otp_thread_t *t = otp_thread_at(i);
        if (atomic_load_explicit(&t->state, memory_order_relaxed) == OTP_SLOT_ACTIVE &&
            atomic_load_explicit(&t->tid, memory_order_relaxed) != self)
            known_running++;
    }
    if (tasks <= known_running && nents == 0)
        return;
    /* A listing costs about 0.3 us a thread: in a large process, once a
     * second unless its number of threads changed. A foreign thread that
     * ends between two scans loses the time it ran since the first. */
    int64_t now = otp_mono_ns();
    if (!final && tasks > 64 && tasks == last_tasks && now - last_scan_ns < 1000000000)
        return;
    last_tasks = tasks;
    last_scan_ns = now;
    /* Every tid the table holds or held: a thread of the app's that the
     * agent knows, or one that has just ended (its slot's tid stays until
     * the slot is claimed again) whose task the kernel still lists. */
    pid_t *known = high > 0 ? otp_malloc((size_t)high * sizeof *known) : NULL;
    size_t nknown = 0;
    for (int i = 0; known && i < high; i++) {
        pid_t t = atomic_load_explicit(&otp_thread_at(i)->tid, memory_order_relaxed);
        if (t > 0)
            known[nknown++] = t;
    }
    if (high > 0 && !known)
        return;
    qsort(known, nknown, sizeof *known, cmp_tid);
    gen++;
    scan_t s = {known, nknown, self, final, period_ns, fn, ctx};
    otp_dir_foreach("/proc/self/task", visit, &s);
    otp_free(known);
    /* Threads no longer listed have ended; their time since the last
     * scan is not known any more. */
    int w = 0;
    for (int i = 0; i < nents; i++)
        if (ents[i].gen == gen)
            ents[w++] = ents[i];
    nents = w;
}

void otp_foreign_atfork_child(void)
{
    nents = 0;
    last_tasks = 0;
    n_threads = 0;
    n_untracked = 0;
    total_ns = 0;
}
