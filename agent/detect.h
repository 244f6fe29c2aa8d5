/*
 * Resource detectors for the host and the process's surroundings, each
 * giving one semantic-conventions value: host.id, host.arch, os.type,
 * the Kubernetes pod from downward-API variables, and the command line.
 * No allocation; flusher thread (they read files).
 */
#ifndef OTP_DETECT_H
#define OTP_DETECT_H

#include <stdbool.h>
#include <stddef.h>

/* host.id: /etc/machine-id (else /var/lib/dbus/machine-id), trimmed;
 * OTP_TEST_MACHINE_ID_FILE names another file (tests). */
bool otp_detect_host_id(char *out, size_t cap);
/* host.arch in the conventions' spelling (amd64, arm64, ...). */
const char *otp_detect_host_arch(void);
/* os.type: "linux". */
const char *otp_detect_os_type(void);

/* k8s.pod.uid, k8s.pod.name, k8s.namespace.name: the first set variable
 * of each attribute's list (see detect.c); NULL if none. */
typedef struct otp_k8s_var {
    const char *attr;
    const char *value;
    const char *var; /* which variable gave it */
} otp_k8s_var_t;
/* Fills out[0..3); returns how many attributes were found. */
size_t otp_detect_k8s(otp_k8s_var_t out[3]);

/* /proc/self/cmdline as its NUL-separated arguments: copies at most cap
 * bytes of whole arguments into buf; returns the number of arguments
 * copied (0 if unreadable). */
size_t otp_detect_cmdline(char *buf, size_t cap, size_t *len);

#endif
