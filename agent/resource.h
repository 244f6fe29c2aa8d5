/*
 * The process's OTLP Resource (service.*, process.*, host.name and
 * OTEL_RESOURCE_ATTRIBUTES) and InstrumentationScope (otprof, version).
 * Flusher thread only.
 */
#ifndef OTP_RESOURCE_H
#define OTP_RESOURCE_H

#include <stdbool.h>

#include "otlp_profiles_service.pb-c.h"

typedef Opentelemetry__Proto__Resource__V1__Resource otp_pb_resource_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope otp_pb_scope_t;

/* Builds both from the config and the environment. 0. */
int otp_resource_build(void);
void otp_resource_reset(void);
bool otp_resource_ready(void);
/* Updates process.pid (fork child). */
void otp_resource_refresh_pid(void);
/* At each export: merges the app's process context anew when it was
 * published or changed since, and (agent.publish_process_context)
 * publishes or updates the agent's own, unless the app has one. */
void otp_resource_tick(void);
/* Valid until the next build/reset. */
otp_pb_resource_t *otp_resource_get(void);
otp_pb_scope_t *otp_resource_scope(void);

#endif
