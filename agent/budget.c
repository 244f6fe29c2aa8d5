/*
 * Overhead budget: see budget.h.
 *
 * Window: ten flusher ticks (~1 s) and at least MIN_PROC_NS of process
 * CPU. The export interval (10 s by default, up to an hour) would react
 * far too late to a burst; a single 100 ms tick holds too few heap
 * samples and too little process CPU for a stable ratio. Sums decay by
 * half per window and restart after each change, so one window decides
 * after a change and calmer stretches average over a few.
 *
 * Lowering: after two windows in a row over (one alone may be start-up
 * or an export), by as many doublings as the overshoot asks for (at most
 * four per window; more for a lever whose last lowering cut less than
 * its factor, see lower()), on the heap while it is at least a quarter
 * of the cost, else on the CPU. Ticks lower sooner: the samplers'
 * overshoot is summed over consecutive ticks over the budget (each
 * tick's excess in ticks' worth of budget, at most MAX_TICK_DEBT, so
 * that one tick, such as the unwinder's first walks, never decides
 * alone), and once it reaches DEBT_TICKS the load is lowered the same way
 * at once: three times the budget for two ticks, twice it for four.
 * Waiting for two windows let a 1.3-second program that allocates
 * heavily run all its life at three times the default budget. Ticks
 * need FAST_PROC_NS of process CPU each to count. The agent thread's
 * cost does not count there (an export is one spike, and the rates would
 * not shrink it). For AFTER_TICKS ticks after a lowering, DEBT_AFTER is
 * enough (1.5 times the budget for two ticks): that lowering fell short
 * (the cost did not fall with the rate), and waiting for the window cost
 * the bench's 6-second run a second at three times its budget. A
 * lowering aims at AIM of the budget, not at the budget itself, so that
 * the overshoot before it is made up for and the run as a whole stays
 * within it. Raising: only the last lowered lever, one
 * doubling, after CALM_WINDOWS windows in which the cost with that
 * lever's share doubled would still stay under RAISE_MARGIN of the
 * budget; so a steady load settles instead of oscillating.
 *
 * Not counted: the unsampled fast path (a subtraction per allocation and
 * a byte load per free, too cheap to time) and exporting threads other
 * than the flusher (there are none today).
 */
#include "budget.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

#include "config.h"
#include "cpu.h"
#include "heap.h"
#include "internal.h"
#include "log.h"
#include "summary.h"
#include "sys.h"

#define WINDOW_TICKS 10
#define MIN_PROC_NS 20000000.0
#define DECAY 0.5
#define CALM_WINDOWS 3
#define OVER_WINDOWS 2
#define RAISE_MARGIN 0.6
#define DEBT_TICKS 4.0
#define DEBT_AFTER 1.0
#define MAX_TICK_DEBT 2.0
#define FAST_TICKS 2
#define FAST_PROC_NS 50000000.0
#define AFTER_TICKS 20
#define AIM 0.8

void otp_budget_ctl_init(otp_budget_ctl_t *c, double budget, int heap_max, int cpu_max)
{
    *c = (otp_budget_ctl_t){0};
    c->budget = budget;
    c->heap_max = heap_max;
    c->cpu_max = cpu_max;
    c->elastic = 1.0;
}

/* After a step down, one more window over is trend enough to go on. */
static void restart(otp_budget_ctl_t *c, bool lowered)
{
    c->heap = c->sig = c->own = c->proc = 0;
    c->calm = 0;
    c->over = lowered ? OVER_WINDOWS - 1 : 0;
    c->hot = 0;
    c->debt = 0;
    c->after_lower = lowered ? AFTER_TICKS : 0;
    c->changes++;
    if (!lowered) {
        c->last_steps = 0;
        c->elastic = 1.0;
    }
}

#define MIN_ELASTIC 0.25

/* Moves a shift up by up to steps doublings (a lower rate); the
 * doublings it took. */
static int add_shift(int *shift, int max, int steps)
{
    int to = *shift + steps < max ? *shift + steps : max;
    steps = to - *shift;
    *shift = to;
    return steps;
}

/* Lowers by as many doublings as ratio / budget asks for (1..4), the
 * heap first when heap_first (it is a quarter of the cost or more), else
 * the CPU; whichever is left once the other is as low as it goes.
 * The cost does not always halve with the rate: part of it (filter
 * positives, the live table, the flusher's fixed work) falls more
 * slowly. A second lowering of the same lever therefore scales its
 * doublings by how much the first one actually cut (log of the ratios
 * over log of its factor, at least MIN_ELASTIC): the bench's 5% budget
 * took four windows over it where two do now. */
static bool lower(otp_budget_ctl_t *c, double ratio, bool heap_first)
{
    heap_first = heap_first || c->cpu_shift >= c->cpu_max;
    int lever = heap_first && c->heap_shift < c->heap_max ? 1
                : c->cpu_shift < c->cpu_max                ? 2
                : c->heap_shift < c->heap_max              ? 1
                                                            : 0;
    if (!lever)
        return false; /* everything is as low as it goes */
    if (c->last_steps > 0 && c->last_lever == lever && c->last_ratio > ratio) {
        double e = log(c->last_ratio / ratio) / (c->last_steps * log(2.0));
        c->elastic = e < MIN_ELASTIC ? MIN_ELASTIC : e > 1.0 ? 1.0 : e;
    } else if (c->last_steps > 0 && c->last_lever == lever) {
        c->elastic = MIN_ELASTIC; /* the last lowering cut nothing */
    } else {
        c->elastic = 1.0;
    }
    double need = log(ratio / (AIM * c->budget)) / (log(2.0) * c->elastic);
    int steps = 1;
    while (steps < 4 && steps < need)
        steps++;
    steps = lever == 1 ? add_shift(&c->heap_shift, c->heap_max, steps)
                       : add_shift(&c->cpu_shift, c->cpu_max, steps);
    restart(c, true);
    c->last_ratio = ratio;
    c->last_steps = steps;
    c->last_lever = lever;
    return true;
}

bool otp_budget_ctl_tick(otp_budget_ctl_t *c, double heap_ns, double sig_ns, double proc_ns)
{
    double cost = heap_ns + sig_ns, allowed = c->budget * proc_ns;
    double need = c->after_lower > 0 ? DEBT_AFTER : DEBT_TICKS;
    if (c->after_lower > 0)
        c->after_lower--;
    if (c->budget <= 0 || proc_ns < FAST_PROC_NS || cost <= allowed) {
        c->hot = 0;
        c->debt = 0;
        return false;
    }
    double excess = (cost - allowed) / allowed;
    c->debt += excess < MAX_TICK_DEBT ? excess : MAX_TICK_DEBT;
    if (++c->hot < FAST_TICKS || c->debt < need)
        return false;
    return lower(c, cost / proc_ns, heap_ns >= 0.25 * cost);
}

bool otp_budget_ctl_step(otp_budget_ctl_t *c, double heap_ns, double sig_ns, double own_ns,
                         double proc_ns)
{
    if (c->budget <= 0)
        return false;
    c->heap = c->heap * DECAY + heap_ns;
    c->sig = c->sig * DECAY + sig_ns;
    c->own = c->own * DECAY + own_ns;
    c->proc = c->proc * DECAY + proc_ns;
    if (c->proc < MIN_PROC_NS)
        return false; /* an idle process: too little to judge */
    double cost = c->heap + c->sig + c->own;
    double ratio = cost / c->proc;
    if (ratio > c->budget && heap_ns + sig_ns + own_ns > c->budget * proc_ns) {
        c->calm = 0;
        /* One window over (start-up: the unwinder's first walks; an
         * export) is not yet a trend. */
        if (++c->over < OVER_WINDOWS)
            return false;
        return lower(c, ratio, c->heap >= 0.25 * cost);
    }
    c->over = 0;
    double grown;
    if (c->cpu_shift > 0)
        grown = cost + c->sig;
    else if (c->heap_shift > 0)
        grown = cost + c->heap;
    else
        return false;
    if (grown > RAISE_MARGIN * c->budget * c->proc) {
        c->calm = 0;
        return false;
    }
    if (++c->calm < CALM_WINDOWS)
        return false;
    if (c->cpu_shift > 0)
        c->cpu_shift--;
    else
        c->heap_shift--;
    restart(c, false);
    return true;
}

/* ---- the agent's side ---------------------------------------------------- */

static otp_budget_ctl_t ctl OTP_STARTUP_DATA;
static int ticks;
/* Written by otp_budget_started at every start. */
static bool primed OTP_STARTUP_DATA;
static uint64_t last_cyc OTP_STARTUP_DATA, last_sig OTP_STARTUP_DATA, last_tsc OTP_STARTUP_DATA;
static int64_t last_own OTP_STARTUP_DATA, last_proc OTP_STARTUP_DATA, last_mono OTP_STARTUP_DATA;
static double iv_start OTP_STARTUP_DATA, iv_cost OTP_STARTUP_DATA, run_cost OTP_STARTUP_DATA;
static double cyc_per_ns = 1.0;
static double w_heap, w_sig, w_own, w_proc;   /* this window */
static double k_heap, k_sig, k_proc;          /* this tick */
static double iv_proc, run_proc; /* this interval, whole run (and the costs above) */
static double iv_heap, iv_sig, iv_own;
static int64_t (*own_clock)(void) OTP_STARTUP_DATA;
static char note[640];

/* Takes what was spent since the last call into the window and the
 * totals. Counters that went backwards (a fork child: new process and
 * thread clocks, inherited slot counters) just restart the count. */
static void account(void)
{
    uint64_t cyc = otp_heap_cost_cycles(), sig = otp_cpu_cost_ns(), tsc = __builtin_ia32_rdtsc();
    int64_t own = own_clock ? own_clock() : 0, proc = otp_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    if (proc < 0)
        proc = 0;
    int64_t mono = otp_mono_ns();
    bool ok = primed && cyc >= last_cyc && sig >= last_sig && own >= last_own && proc >= last_proc &&
              mono > last_mono && tsc > last_tsc;
    if (ok) {
        /* The cycle counter's rate, from the same stretch of time. */
        double r = (double)(tsc - last_tsc) / (double)(mono - last_mono);
        if (r > 0.01 && r < 100.0)
            cyc_per_ns = cyc_per_ns == 1.0 ? r : 0.8 * cyc_per_ns + 0.2 * r;
        double h = (double)(cyc - last_cyc) / cyc_per_ns, s = (double)(sig - last_sig);
        double o = (double)(own - last_own), p = (double)(proc - last_proc);
        /* Sampled allocations are timed by the cycle counter, which also
         * runs while their thread is preempted: with more busy threads
         * than cores their sum can pass the process's CPU. They cannot
         * have used more than the app's threads did. */
        if (h > p - o - s)
            h = p - o - s > 0 ? p - o - s : 0;
        w_heap += h;
        k_heap += h;
        k_sig += s;
        k_proc += p;
        w_sig += s;
        w_own += o;
        w_proc += p;
        iv_cost += h + s + o;
        iv_heap += h;
        iv_sig += s;
        iv_own += o;
        iv_proc += p;
        run_cost += h + s + o;
        run_proc += p;
    }
    primed = true;
    last_cyc = cyc;
    last_sig = sig;
    last_tsc = tsc;
    last_own = own;
    last_proc = proc;
    last_mono = mono;
}

/* "heap: one sample per N bytes on average (configured M); CPU: F Hz
 * (configured G)", "off" for a sampler that does not run. */
static void rates(char *out, size_t cap)
{
    char h[128], c[96];
    if (otp_heap_configured_mean() > 0)
        snprintf(h, sizeof h, "one sample per %lld bytes on average (configured %lld)",
                 (long long)otp_heap_mean(), (long long)otp_heap_configured_mean());
    else
        snprintf(h, sizeof h, "off");
    if (otp_cpu_period_ns() > 0)
        snprintf(c, sizeof c, "%.4g Hz (configured %d)", 1e9 / (double)otp_cpu_period_ns(),
                 otp_cfg.cpu_frequency_hz);
    else
        snprintf(c, sizeof c, "off");
    snprintf(out, cap, "heap: %s; CPU: %s", h, c);
}

static double pct(double part, double whole)
{
    return whole > 0 ? 100.0 * part / whole : 0.0;
}

static void summary_section(void)
{
    account(); /* up to now: the final export included */
    char b[32];
    snprintf(b, sizeof b, "%g%%", otp_cfg.max_overhead_milli / 1000.0);
    char r[256];
    rates(r, sizeof r);
    OTP_INFO("overhead: the agent used %.3f%% of the process's CPU (%.1f of %.1f ms; budget %s); "
             "rates changed %llu times, now: %s",
             pct(run_cost, run_proc), run_cost / 1e6, run_proc / 1e6,
             otp_cfg.max_overhead_milli ? b : "off", (unsigned long long)ctl.changes, r);
}

void otp_budget_init(void)
{
    /* The strategies are the samplers' switches under other names. */
    if (otp_cfg.cpu_sampling == OTP_CPU_SAMPLING_OFF)
        otp_cfg.cpu_enabled = false;
    if (otp_cfg.memory_sampling == OTP_MEM_SAMPLING_OFF)
        otp_cfg.memory_enabled = false;
    /* sampling = every means every allocation: the budget leaves it. */
    int heap_max = otp_cfg.memory_sampling == OTP_MEM_SAMPLING_EVERY || otp_cfg.memory_sample_bytes <= 1
                       ? 0
                       : OTP_BUDGET_HEAP_MAX_SHIFT;
    int cpu_max = OTP_BUDGET_CPU_MAX_SHIFT;
    while (cpu_max > 0 && otp_cfg.cpu_frequency_hz >> cpu_max < 1)
        cpu_max--;
    otp_budget_ctl_init(&ctl, otp_cfg.max_overhead_milli / 100000.0, heap_max, cpu_max);
    otp_summary_add_section(summary_section);
}

void otp_budget_tick(void)
{
    account();
    double h = w_heap, s = w_sig, o = w_own, p = w_proc;
    bool fast = otp_budget_ctl_tick(&ctl, k_heap, k_sig, k_proc);
    k_heap = k_sig = k_proc = 0;
    if (!fast && ++ticks < WINDOW_TICKS)
        return;
    ticks = 0;
    w_heap = w_sig = w_own = w_proc = 0;
    if (!fast && !otp_budget_ctl_step(&ctl, h, s, o, p))
        return;
    otp_heap_set_shift(ctl.heap_shift);
    otp_cpu_set_shift(ctl.cpu_shift);
    char r[256];
    rates(r, sizeof r);
    OTP_DEBUG("overhead budget: %.3f%% in the last window; now %s", p > 0 ? 100.0 * (h + s + o) / p : 0.0, r);
}

void otp_budget_set_own_clock(int64_t (*fn)(void))
{
    own_clock = fn;
}

void otp_budget_started(int64_t startup_ns)
{
    /* Every interval is measured, the first one included (a run without
     * an agent thread has only that one), against the process's CPU since
     * exec: every counter starts at zero, so priming needs no system call
     * at start-up. */
    primed = true;
    last_cyc = last_sig = 0;
    last_own = last_proc = 0;
    last_tsc = __builtin_ia32_rdtsc();
    last_mono = otp_mono_ns();
    if (startup_ns > 0) {
        iv_start += (double)startup_ns;
        iv_cost += (double)startup_ns;
        run_cost += (double)startup_ns;
    }
}

const char *otp_budget_note(void)
{
    account();
    char b[32];
    snprintf(b, sizeof b, "%g%%", otp_cfg.max_overhead_milli / 1000.0);
    char r[256];
    rates(r, sizeof r);
    snprintf(note, sizeof note,
             "otprof overhead: %.3f%% of the process's CPU in this interval (sampled allocations "
             "%.3f%%, signal handler %.3f%%, agent thread %.3f%%, start-up %.3f%%), %.3f%% overall (budget %s); %s",
             pct(iv_cost, iv_proc), pct(iv_heap, iv_proc), pct(iv_sig, iv_proc), pct(iv_own, iv_proc),
             pct(iv_start, iv_proc), pct(run_cost, run_proc), otp_cfg.max_overhead_milli ? b : "off", r);
    iv_cost = iv_proc = iv_heap = iv_sig = iv_own = iv_start = 0;
    return note;
}

const char *otp_budget_last_note(void)
{
    return note;
}
