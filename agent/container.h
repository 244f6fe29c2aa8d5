/*
 * container.id of this process (semantic conventions: the container's
 * 64-hex id as the runtime names it), from /proc/self/cgroup and, when
 * cgroup namespaces hide it there (cgroup v2 shows "0::/"), from the
 * bind mounts the runtime made into the container (/proc/self/mountinfo).
 * Docker, containerd (also under Kubernetes), CRI-O and podman styles.
 * No allocation; flusher thread.
 */
#ifndef OTP_CONTAINER_H
#define OTP_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>

#define OTP_CONTAINER_ID_LEN 64

/* The id in /proc/<pid>/cgroup text (v1 or v2 lines), or false. out must
 * hold OTP_CONTAINER_ID_LEN + 1 bytes. */
bool otp_container_id_from_cgroup(const char *text, char *out);
/* The id in /proc/<pid>/mountinfo text, or false. */
bool otp_container_id_from_mountinfo(const char *text, char *out);
/* This process's: /proc/self/cgroup, then /proc/self/mountinfo.
 * OTP_TEST_CGROUP_FILE and OTP_TEST_MOUNTINFO_FILE name other files (tests;
 * ignored under secure execution). */
bool otp_container_id(char *out);

#endif
