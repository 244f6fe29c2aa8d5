/*
 * Host and environment detectors for the resource (see detect.h).
 *
 * Kubernetes: there is no standard variable for the downward API, so the
 * agent reads the names in use (first set one wins):
 *   k8s.pod.uid         K8S_POD_UID, POD_UID, OTEL_RESOURCE_ATTRIBUTES_POD_UID
 *   k8s.pod.name        K8S_POD_NAME, POD_NAME, OTEL_RESOURCE_ATTRIBUTES_POD_NAME
 *   k8s.namespace.name  K8S_NAMESPACE_NAME, POD_NAMESPACE
 * K8S_* follow the attribute names (and the collector charts' K8S_POD_NAME),
 * POD_* are the Kubernetes documentation's downward-API example, and
 * OTEL_RESOURCE_ATTRIBUTES_POD_* are what the OpenTelemetry operator
 * injects. OTEL_RESOURCE_ATTRIBUTES always works and wins over all of them.
 */
#include "detect.h"

#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "sys.h"

static bool read_trimmed(const char *path, char *out, size_t cap)
{
    char buf[256];
    if (otp_read_file(path, buf, sizeof buf) <= 0)
        return false;
    size_t s = strspn(buf, " \t\r\n");
    size_t n = strcspn(buf + s, " \t\r\n");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, buf + s, n);
    out[n] = '\0';
    return true;
}

bool otp_detect_host_id(char *out, size_t cap)
{
    const char *test = getauxval(AT_SECURE) ? NULL : getenv("OTP_TEST_MACHINE_ID_FILE");
    if (test && *test)
        return read_trimmed(test, out, cap);
    return read_trimmed("/etc/machine-id", out, cap) ||
           read_trimmed("/var/lib/dbus/machine-id", out, cap);
}

const char *otp_detect_host_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "x86";
#elif defined(__arm__)
    return "arm32";
#elif defined(__powerpc64__)
    return "ppc64";
#elif defined(__s390x__)
    return "s390x";
#else
    return NULL;
#endif
}

const char *otp_detect_os_type(void)
{
    return "linux";
}

size_t otp_detect_k8s(otp_k8s_var_t out[3])
{
    static const struct {
        const char *attr;
        const char *vars[3];
    } tab[3] = {
        { "k8s.pod.uid", { "K8S_POD_UID", "POD_UID", "OTEL_RESOURCE_ATTRIBUTES_POD_UID" } },
        { "k8s.pod.name", { "K8S_POD_NAME", "POD_NAME", "OTEL_RESOURCE_ATTRIBUTES_POD_NAME" } },
        { "k8s.namespace.name", { "K8S_NAMESPACE_NAME", "POD_NAMESPACE", NULL } },
    };
    size_t n = 0;
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < 3 && tab[i].vars[j]; j++) {
            const char *v = getenv(tab[i].vars[j]);
            if (v && *v) {
                out[n++] = (otp_k8s_var_t){ tab[i].attr, v, tab[i].vars[j] };
                break;
            }
        }
    }
    return n;
}

size_t otp_detect_cmdline(char *buf, size_t cap, size_t *len)
{
    *len = 0;
    if (cap < 2)
        return 0;
    ssize_t n = otp_read_file("/proc/self/cmdline", buf, cap);
    if (n <= 0)
        return 0;
    /* otp_read_file NUL-terminates within cap: keep whole arguments only */
    size_t end = (size_t)n;
    if (end >= cap - 1)
        while (end > 0 && buf[end - 1] != '\0')
            end--;
    size_t count = 0;
    for (size_t i = 0; i < end; i++)
        count += buf[i] == '\0';
    *len = end;
    return count;
}
