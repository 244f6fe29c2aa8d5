/*
 * Resource detection pieces: SHA-256 and htlhash against known digests,
 * the container.id parsers on real-format /proc/<pid>/cgroup and
 * mountinfo lines (cgroup v1 and v2; docker, containerd under Kubernetes,
 * CRI-O, podman), host.id from a test file, the Kubernetes variables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "container.h"
#include "detect.h"
#include "htlhash.h"

#define ID "8f7c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7"
#define ID2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_sha256(void)
{
    uint8_t d[32];
    char hex[65];
    otp_sha256("abc", 3, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* 56 bytes: the padding spills into a second block */
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    otp_sha256(m, strlen(m), d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    CHECK_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_htlhash(void)
{
    /* Expected values: Python's hashlib.sha256(b[:4096] + b[-4096:] +
     * struct.pack('>Q', len(b))).hexdigest()[:32] for the same bytes. */
    static uint8_t b[10000];
    for (size_t i = 0; i < sizeof b; i++) b[i] = (uint8_t)(i * 7 + 3);
    char h[33];
    otp_htlhash(b, sizeof b, h);
    CHECK_EQ_STR(h, "2ca07b427f49027278dbe1cf19e34b38");
    otp_htlhash(b, 100, h); /* shorter than a page: the pieces overlap */
    CHECK_EQ_STR(h, "e259c8c51316b8eaffdc6cf6d58fe122");
    otp_htlhash(b, 0, h);
    CHECK_EQ_STR(h, "af5570f5a1810b7af78caf4bc70a660f");
}

static void cg(const char *text, const char *want)
{
    char out[OTP_CONTAINER_ID_LEN + 1] = "";
    bool ok = otp_container_id_from_cgroup(text, out);
    CHECK_NAMED(text, want ? ok && strcmp(out, want) == 0 : !ok);
    if (want && (!ok || strcmp(out, want)))
        printf("      got \"%s\"\n", out);
}

static void mi(const char *text, const char *want)
{
    char out[OTP_CONTAINER_ID_LEN + 1] = "";
    bool ok = otp_container_id_from_mountinfo(text, out);
    CHECK_NAMED(text, want ? ok && strcmp(out, want) == 0 : !ok);
    if (want && (!ok || strcmp(out, want)))
        printf("      got \"%s\"\n", out);
}

static void test_cgroup(void)
{
    /* cgroup v1, docker */
    cg("12:pids:/docker/" ID "\n11:memory:/docker/" ID "\n0::/system.slice/containerd.service\n", ID);
    /* v1 under Kubernetes (docker or containerd) */
    cg("11:cpu,cpuacct:/kubepods/besteffort/pod5f0c1a7e-3b2d-4c1e-9f4a-2b7d8e9f0a1b/" ID "\n", ID);
    /* v1, systemd driver, containerd */
    cg("3:cpuset:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f0c1a7e_3b2d.slice/"
       "cri-containerd-" ID ".scope\n", ID);
    /* v2, docker with the host's cgroup namespace */
    cg("0::/system.slice/docker-" ID ".scope\n", ID);
    /* v2, CRI-O; its conmon scope beside is not the container */
    cg("0::/kubepods.slice/kubepods-pod1.slice/crio-" ID ".scope\n", ID);
    cg("0::/machine.slice/crio-conmon-" ID2 ".scope\n", NULL);
    /* v2, podman (libpod), and a nested container scope */
    cg("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope/container\n", ID);
    /* the innermost id wins */
    cg("0::/docker/" ID2 "/docker/" ID "\n", ID);
    /* private cgroup namespace, host processes, look-alikes */
    cg("0::/\n", NULL);
    cg("0::/user.slice/user-1000.slice/session-3.scope\n", NULL);
    cg("0::/docker/" "0123456789abcdef\n", NULL);
    cg("0::/docker-" ID "x.scope\n", NULL);
    cg("12:pids:/docker/" "8F7C1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7\n", NULL);
    cg("", NULL);
    cg("garbage without colons /docker/" ID "\n", NULL);
}

static void test_mountinfo(void)
{
    /* docker, cgroup v2 with a private namespace: /etc/hostname etc. */
    mi("1160 1159 0:77 / / rw,relatime master:306 - overlay overlay rw,lowerdir=/x\n"
       "1172 1160 254:1 /var/lib/docker/containers/" ID "/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n"
       "1173 1160 254:1 /var/lib/docker/containers/" ID "/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n",
       ID);
    /* podman */
    mi("712 700 0:45 /containers/storage/overlay-containers/" ID "/userdata/hostname /etc/hostname "
       "rw,nosuid,nodev - tmpfs tmpfs rw\n", ID);
    /* containerd/CRI: the sandbox's files are the pod's, not ours */
    mi("1450 1440 254:1 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" ID2 "/hostname "
       "/etc/hostname rw,relatime - ext4 /dev/vda1 rw\n", NULL);
    /* a host process */
    mi("22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
       "25 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n", NULL);
    /* an id-looking path that is no runtime file */
    mi("30 22 254:1 /srv/containers/" ID "/data /data rw - ext4 /dev/vda1 rw\n", NULL);
}

static void test_files(void)
{
    char dir[] = "/tmp/otprof-test-resource.XXXXXX";
    if (!mkdtemp(dir)) exit(2);
    char path[128], cgp[128], mip[128];
    snprintf(path, sizeof path, "%s/machine-id", dir);
    FILE *f = fopen(path, "w");
    fputs("  4c4c4544003510388052b4c04f4b4d32\n", f);
    fclose(f);
    setenv("OTP_TEST_MACHINE_ID_FILE", path, 1);
    char id[64];
    CHECK(otp_detect_host_id(id, sizeof id));
    CHECK_EQ_STR(id, "4c4c4544003510388052b4c04f4b4d32");
    CHECK(!otp_detect_host_id(id, 8)); /* too long for the buffer: none */
    unlink(path);
    CHECK(!otp_detect_host_id(id, sizeof id)); /* the named file is missing: none */
    unsetenv("OTP_TEST_MACHINE_ID_FILE");

    /* container.id through the test hooks: cgroup first, then mountinfo */
    snprintf(cgp, sizeof cgp, "%s/cgroup", dir);
    snprintf(mip, sizeof mip, "%s/mountinfo", dir);
    f = fopen(cgp, "w");
    fputs("0::/\n", f);
    fclose(f);
    f = fopen(mip, "w");
    fputs("1173 1160 254:1 /var/lib/docker/containers/" ID2 "/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n", f);
    fclose(f);
    setenv("OTP_TEST_CGROUP_FILE", cgp, 1);
    setenv("OTP_TEST_MOUNTINFO_FILE", mip, 1);
    char cid[OTP_CONTAINER_ID_LEN + 1];
    CHECK(otp_container_id(cid));
    CHECK_EQ_STR(cid, ID2);
    f = fopen(cgp, "w");
    fputs("0::/system.slice/docker-" ID ".scope\n", f);
    fclose(f);
    CHECK(otp_container_id(cid));
    CHECK_EQ_STR(cid, ID);
    unsetenv("OTP_TEST_CGROUP_FILE");
    unsetenv("OTP_TEST_MOUNTINFO_FILE");
    unlink(cgp);
    unlink(mip);
    rmdir(dir);

    CHECK_EQ_STR(otp_detect_host_arch(), "amd64");
    CHECK_EQ_STR(otp_detect_os_type(), "linux");
}

static void test_k8s(void)
{
    otp_k8s_var_t k[3];
    unsetenv("K8S_POD_UID");
    unsetenv("POD_UID");
    unsetenv("OTEL_RESOURCE_ATTRIBUTES_POD_UID");
    unsetenv("K8S_POD_NAME");
    unsetenv("POD_NAME");
    unsetenv("OTEL_RESOURCE_ATTRIBUTES_POD_NAME");
    unsetenv("K8S_NAMESPACE_NAME");
    unsetenv("POD_NAMESPACE");
    CHECK_EQ_INT(otp_detect_k8s(k), 0);
    setenv("POD_NAME", "web-1", 1);
    setenv("K8S_POD_NAME", "web-2", 1); /* K8S_* first */
    setenv("POD_NAMESPACE", "shop", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES_POD_UID", "5f0c1a7e", 1);
    CHECK_EQ_INT(otp_detect_k8s(k), 3);
    CHECK_EQ_STR(k[0].attr, "k8s.pod.uid");
    CHECK_EQ_STR(k[0].value, "5f0c1a7e");
    CHECK_EQ_STR(k[1].attr, "k8s.pod.name");
    CHECK_EQ_STR(k[1].value, "web-2");
    CHECK_EQ_STR(k[1].var, "K8S_POD_NAME");
    CHECK_EQ_STR(k[2].attr, "k8s.namespace.name");
    CHECK_EQ_STR(k[2].value, "shop");
}

static void test_cmdline(void)
{
    char buf[4096];
    size_t len;
    size_t n = otp_detect_cmdline(buf, sizeof buf, &len);
    CHECK_EQ_INT(n, 1);
    CHECK(strstr(buf, "test_resource") != NULL);
    CHECK_EQ_INT(len, strlen(buf) + 1);
    /* too small for the first argument: nothing */
    CHECK_EQ_INT(otp_detect_cmdline(buf, 4, &len), 0);
}

int main(void)
{
    test_sha256();
    test_htlhash();
    test_cgroup();
    test_mountinfo();
    test_files();
    test_k8s();
    test_cmdline();
    return check_done();
}
