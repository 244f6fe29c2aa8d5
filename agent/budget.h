/*
 * The overhead budget (agent.max_overhead_percent) and the sampling
 * strategies (cpu.sampling, memory.sampling).
 *
 * The agent's cost is measured, not estimated: time in the SIGPROF
 * handler and in sampled allocations on the app's threads (per-slot
 * counters, cpu.c and heap.c) plus the CPU clock of the agent's own
 * thread, against the process's CPU clock, over windows of about a
 * second. Over budget, the heap is sampled more sparsely first, then the
 * CPU less often; well under, the last lowered rate is raised one step at
 * a time. Each sample carries the rate it was taken at, so profiles stay
 * unbiased across changes.
 */
#ifndef OTP_BUDGET_H
#define OTP_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* Steps: the heap's mean gap is sample_bytes << heap_shift, the CPU
 * period 1 s / frequency_hz << cpu_shift. */
#define OTP_BUDGET_HEAP_MAX_SHIFT 15
#define OTP_BUDGET_CPU_MAX_SHIFT 3

/* The controller, apart from the clocks (unit-tested with a simulated
 * cost). Costs and process CPU are nanoseconds of one window each. */
typedef struct otp_budget_ctl {
    double budget;          /* fraction of the process's CPU; 0 = off */
    int heap_max, cpu_max;  /* 0 where a lever must not move */
    int heap_shift, cpu_shift;
    int calm;               /* consecutive windows well under */
    int over;               /* consecutive windows over */
    int hot;                /* consecutive ticks over */
    double debt;            /* their overshoot, in ticks' worth of budget */
    int after_lower;        /* ticks left in which a lowering may be judged short */
    double heap, sig, own, proc; /* decayed sums since the last change */
    /* How the cost answered the last lowering: the ratio that asked for
     * it, its doublings and lever (0: none since the last raise), and
     * the cost's elasticity learnt from that (1: halves per doubling). */
    double last_ratio, elastic;
    int last_steps, last_lever;
    uint64_t changes;
} otp_budget_ctl_t;

void otp_budget_ctl_init(otp_budget_ctl_t *c, double budget, int heap_max, int cpu_max);
/* One window. Returns true when a shift changed. */
bool otp_budget_ctl_step(otp_budget_ctl_t *c, double heap_ns, double sig_ns, double own_ns,
                         double proc_ns);

/* One tick (a tenth of a window) of the samplers' own cost (heap_ns,
 * sig_ns) against the process's CPU: a load that has overshot the budget
 * by a few ticks' worth is lowered at once, without waiting for the
 * window's end. Returns true when a shift changed (the caller then
 * starts a new window). */
bool otp_budget_ctl_tick(otp_budget_ctl_t *c, double heap_ns, double sig_ns, double proc_ns);

/* Constructor, after the config is loaded and before the samplers
 * start: maps the strategies onto the samplers' switches, sets up the
 * controller. */
void otp_budget_init(void);
/* The agent's own threads' CPU clock, all of them (any thread may ask). */
void otp_budget_set_own_clock(int64_t (*fn)(void));
/* End of the constructor: measuring starts (against the process's CPU
 * since exec), with the constructor's time (startup_ns) as the first
 * interval's start-up cost. */
void otp_budget_started(int64_t startup_ns);
/* Flusher thread, every tick. */
void otp_budget_tick(void);
/* Flusher thread, once per export: one comment line for the profiles
 * (overhead in this interval and overall, rates in force and
 * configured); starts the next interval. The string stays valid until
 * the next call; otp_budget_last_note returns it again ("" before). */
const char *otp_budget_note(void);
const char *otp_budget_last_note(void);

#endif
