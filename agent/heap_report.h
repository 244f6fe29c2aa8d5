/*
 * The heap part of the exit summary (agent.summary): sample counts, the
 * top sites still live at exit by function, and the suspected leaks.
 * Flusher thread only.
 */
#ifndef OTP_HEAP_REPORT_H
#define OTP_HEAP_REPORT_H

#include "symbols.h"

/* Adds the heap section to the summary (once heap profiling is on). */
void otp_heap_report_init(void);
/* At the final export, after the last collect: names the live sites. */
void otp_heap_report_build(otp_symbolizer_t *sym);
/* Fork child: the parent's report is left behind (not freed). */
void otp_heap_report_atfork_child(void);

#endif
