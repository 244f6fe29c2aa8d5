/*
 * container.id detection. The id is the runtime's 64-hex container id,
 * found as a path component:
 *   cgroup v1   12:pids:/docker/<id>
 *               11:cpu:/kubepods/besteffort/pod<uid>/<id>
 *   cgroup v2   0::/system.slice/docker-<id>.scope
 *               0::/kubepods.slice/.../cri-containerd-<id>.scope
 *               0::/.../crio-<id>.scope, 0::/machine.slice/libpod-<id>.scope
 * With a private cgroup namespace (the default for cgroup v2) the line is
 * just "0::/"; the runtime's bind mounts still name the container:
 *   docker      /var/lib/docker/containers/<id>/hostname /etc/hostname ...
 *   podman      /var/lib/containers/storage/overlay-containers/<id>/userdata/hostname ...
 * A containerd/CRI sandbox's mounts (".../sandboxes/<id>/...") name the
 * pod sandbox, not this container, and are skipped. CRI-O's conmon cgroup
 * ("crio-conmon-<id>.scope") is the monitor's, also skipped.
 */
#include "container.h"

#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "sys.h"

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* An id occupying exactly [s, s+64). */
static bool take_id(const char *s, const char *end, char *out)
{
    if (end - s != OTP_CONTAINER_ID_LEN)
        return false;
    for (const char *p = s; p < end; p++)
        if (!is_hex(*p))
            return false;
    memcpy(out, s, OTP_CONTAINER_ID_LEN);
    out[OTP_CONTAINER_ID_LEN] = '\0';
    return true;
}

/* One path component of a cgroup path: "<id>", "<prefix>-<id>" or
 * "<prefix>-<id>.scope" for the runtimes' known prefixes. */
static bool id_of_component(const char *s, const char *end, char *out)
{
    static const char scope[] = ".scope";
    size_t sl = sizeof scope - 1;
    if ((size_t)(end - s) > sl && memcmp(end - sl, scope, sl) == 0)
        end -= sl;
    static const char *const prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-",
                                            "containerd-", "" };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t pl = strlen(prefixes[i]);
        if ((size_t)(end - s) > pl && memcmp(s, prefixes[i], pl) == 0 &&
            take_id(s + pl, end, out))
            return true;
    }
    return false;
}

bool otp_container_id_from_cgroup(const char *text, char *out)
{
    static const char conmon[] = "crio-conmon-";
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        /* hierarchy-ID:controllers:path; the path is after the 2nd ':' */
        const char *c1 = memchr(line, ':', (size_t)(end - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        bool found = false;
        /* the last component naming an id wins: the innermost cgroup */
        for (const char *p = c2 ? c2 + 1 : end; p < end;) {
            const char *slash = memchr(p, '/', (size_t)(end - p));
            const char *ce = slash ? slash : end;
            bool is_conmon = (size_t)(ce - p) >= sizeof conmon - 1 &&
                             memcmp(p, conmon, sizeof conmon - 1) == 0;
            char id[OTP_CONTAINER_ID_LEN + 1];
            if (!is_conmon && id_of_component(p, ce, id)) {
                memcpy(out, id, sizeof id);
                found = true;
            }
            p = slash ? slash + 1 : end;
        }
        if (found)
            return true;
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

bool otp_container_id_from_mountinfo(const char *text, char *out)
{
    static const char containers[] = "containers/";
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        /* fields: id parent maj:min root mountpoint ...; the root (4th)
         * is the source path inside the host's filesystem */
        const char *f = line;
        for (int i = 0; i < 3 && f; i++) {
            f = memchr(f, ' ', (size_t)(end - f));
            f = f ? f + 1 : NULL;
        }
        const char *fe = f ? memchr(f, ' ', (size_t)(end - f)) : NULL;
        if (f && fe) {
            size_t n = (size_t)(fe - f);
            bool hostfile = false;
            static const char *const names[] = { "/hostname", "/hosts", "/resolv.conf" };
            for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                size_t nl = strlen(names[i]);
                hostfile |= n > nl && memcmp(fe - nl, names[i], nl) == 0;
            }
            /* ".../containers/<id>/..." or podman's ".../overlay-containers/<id>/..." */
            const char *c = f;
            while (hostfile && !memmem(f, n, "/sandboxes/", 11) &&
                   (c = memmem(c, (size_t)(fe - c), containers, sizeof containers - 1))) {
                const char *s = c + sizeof containers - 1;
                const char *se = memchr(s, '/', (size_t)(fe - s));
                if (se && take_id(s, se, out))
                    return true;
                c = s;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

static const char *test_path(const char *var, const char *real)
{
    const char *p = getauxval(AT_SECURE) ? NULL : getenv(var);
    return p && *p ? p : real;
}

bool otp_container_id(char *out)
{
    /* mountinfo of a busy process can be large; only its first 64 KiB are
     * read, where the runtime's own bind mounts sit. Static: flusher only. */
    static char buf[64 * 1024];
    if (otp_read_file(test_path("OTP_TEST_CGROUP_FILE", "/proc/self/cgroup"), buf, sizeof buf) > 0 &&
        otp_container_id_from_cgroup(buf, out))
        return true;
    if (otp_read_file(test_path("OTP_TEST_MOUNTINFO_FILE", "/proc/self/mountinfo"), buf,
                      sizeof buf) > 0 &&
        otp_container_id_from_mountinfo(buf, out))
        return true;
    return false;
}
