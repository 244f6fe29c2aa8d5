/*
 * The agent's own report at exit (agent.summary = true): top functions by
 * CPU samples over the whole run, handler cost, drops and the agent's own
 * footprint. Data is collected on the flusher thread.
 */
#ifndef OTP_SUMMARY_H
#define OTP_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "symbols.h"

/* Flusher: one CPU sample (weight) whose leaf PC is pc. */
void otp_summary_add_cpu(uint64_t pc, int64_t weight);
/* Flusher, at the final export: resolves the collected PCs to names. */
void otp_summary_symbolize(otp_symbolizer_t *sym);
/* Exiting thread, after the flusher finished: prints the table. */
void otp_summary_print(void);
/* Extra lines from other modules (heap leak report), printed after the
 * CPU table; called on the flusher thread before otp_summary_print. */
typedef void (*otp_summary_section_fn)(void);
void otp_summary_add_section(otp_summary_section_fn fn);
void otp_summary_atfork_child(void);

/* "12 B", "3.4 KiB", "5.6 MiB": sizes in summary lines. */
void otp_fmt_bytes(char *buf, size_t cap, double b);

#endif
