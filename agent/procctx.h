/*
 * The OpenTelemetry process context (OTEP 4719): a process publishes its
 * resource in a mapping named OTEL_CTX, so that readers outside it (an
 * eBPF profiler) know its service. This module reads a context the app
 * (or its OTel SDK) published, and publishes the agent's own when asked
 * to (agent.publish_process_context). Flusher thread only.
 */
#ifndef OTP_PROCCTX_H
#define OTP_PROCCTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp_process_context.pb-c.h"

typedef Opentelemetry__Proto__Processcontext__V1development__ProcessContext otp_pb_procctx_t;

/* The context another part of this process published (never the agent's
 * own), decoded; NULL if there is none or it cannot be read consistently.
 * *published_at: its timestamp (changes on every update). Free the result
 * with otp_procctx_free. */
otp_pb_procctx_t *otp_procctx_read(uint64_t *published_at);
void otp_procctx_free(otp_pb_procctx_t *c);

/* Whether a context that is not the agent's is published now, and its
 * timestamp (cheap: one pass over /proc/self/maps and 32 bytes). */
bool otp_procctx_peek(uint64_t *published_at);

/* Publishes (or updates) the agent's context with this resource: 0 or
 * -errno. */
int otp_procctx_publish(const Opentelemetry__Proto__Resource__V1__Resource *res);
/* Removes the agent's context (the app published its own). */
void otp_procctx_drop(void);
bool otp_procctx_published(void);
/* Fork child: the mapping was not inherited (MADV_DONTFORK); forget it.
 * No system call. */
void otp_procctx_atfork_child(void);

#endif
