/*
 * What the flusher hands to the sinks each interval, and the sinks'
 * lifecycle. Everything here runs on the flusher thread.
 */
#ifndef OTP_EXPORT_H
#define OTP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "symbols.h"

typedef struct otp_batch {
    const otp_profile_t *cpu;  /* NULL when CPU profiling is off or empty */
    const otp_profile_t *heap; /* NULL when heap profiling is off or empty */
    otp_symbolizer_t *sym;
    uint32_t seq;              /* 0, 1, 2 ... per process */
    bool final;                /* last batch before exit */
} otp_batch_t;

/* Longest service name part of a file name. */
#define OTP_STEM_MAX 160

/* The service name as file names use it: characters other than letters,
 * digits and -_.+@ (a '/' above all) become '_', as does a leading '.';
 * cut to OTP_STEM_MAX; never empty. */
void otp_export_file_stem(const char *service, char *out, size_t cap);

/* Sets up the sinks from the config (no network, no heavy loading). */
void otp_export_init(void);
/* Constructor: a relative export.output_dir becomes the path from the
 * directory the process starts in (export.c says why). */
void otp_export_anchor_dir(void);
/* Writes/enqueues one batch. b->cpu and b->heap may have no samples when
 * only kept intervals are to be written (otp_export_pending). */
void otp_export_batch(const otp_batch_t *b);
/* Intervals whose file could not be written wait in memory: the flusher
 * must hand over a batch (with empty profiles if need be)
 * even when the interval has no samples of its own, so they are retried
 * and, at exit, not lost. */
bool otp_export_pending(void);
/* Non-blocking progress of pending network work; called every flusher tick. */
void otp_export_tick(void);
/* Finishes pending work by deadline (CLOCK_MONOTONIC ns), then stops. */
void otp_export_shutdown(int64_t deadline_ns);
/* The first sequence number of this process image's files (0), at its
 * first export. Files an earlier image of the same pid (before exec, or
 * an old process) left in output_dir are never overwritten: a batch whose
 * name is taken has this image's numbers moved past the highest there. */
uint32_t otp_export_next_seq(void);
/* Fork child: forget the parent's pending exports and connections. */
void otp_export_atfork_child(void);

#endif
