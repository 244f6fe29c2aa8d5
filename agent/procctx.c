/*
 * OTEP 4719 process context, both directions. The record (§ "Header" of
 * the OTEP; little-endian as the reference implementation writes it on
 * x86-64 and arm64):
 *
 *   off  0  char[8]  signature "OTEL_CTX" (no NUL)
 *   off  8  uint32   version, 2
 *   off 12  uint32   payload_size
 *   off 16  uint64   monotonic_published_at_ns (CLOCK_BOOTTIME; 0 = being
 *                    updated; changes on every update)
 *   off 24  uint64   payload address in the publisher's address space
 *
 * and the payload, a protobuf ProcessContext { Resource resource = 1;
 * repeated KeyValue attributes = 2; }.
 *
 * Reading: the mapping is found by name in /proc/self/maps
 * ("[anon_shmem:OTEL_CTX]", "[anon:OTEL_CTX]" or "/memfd:OTEL_CTX"), and
 * read through /proc/self/mem, not by dereferencing: the app may unmap or
 * rewrite it at any time, and a bad pointer in it must cost an error, not
 * a crash. Timestamp, fence, payload, fence, timestamp again; a change
 * means an update raced us, retried up to 3 times (as the eBPF profiler
 * does).
 *
 * Publishing follows the OTEP: a memfd named OTEL_CTX (sealable, no exec;
 * else an anonymous mapping), mapped private, MADV_DONTFORK, every field
 * written before the timestamp with a full fence between, then named with
 * prctl(PR_SET_VMA_ANON_NAME) (errors ignored: kernels before 5.17). An
 * update zeroes the timestamp, rewrites, and sets a larger one.
 */
#include "procctx.h"
#include "fds.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "vmlock.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif
#ifndef PR_SET_VMA_ANON_NAME
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

#define OTP_CTX_SIG "OTEL_CTX"
#define OTP_CTX_VERSION 2
#define OTP_CTX_HDR 32
#define OTP_CTX_MAX_PAYLOAD 65536 /* what the eBPF profiler accepts */
#define OTP_CTX_RETRIES 3

typedef struct ctx_hdr {
    char sig[8];
    uint32_t version;
    uint32_t payload_size;
    uint64_t published_at;
    uint64_t payload;
} ctx_hdr_t;

_Static_assert(sizeof(ctx_hdr_t) == OTP_CTX_HDR, "OTEP 4719 header is 32 bytes");

/* The agent's own published context. */
static struct {
    uint8_t *map;
    size_t len;
} self_ctx;

/* ---- reading ----------------------------------------------------------- */

static bool ctx_name(const char *name)
{
    static const char *const names[] = { "[anon_shmem:OTEL_CTX]", "[anon:OTEL_CTX]" };
    for (size_t i = 0; i < 2; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    static const char memfd[] = "/memfd:OTEL_CTX";
    size_t n = sizeof memfd - 1;
    return strncmp(name, memfd, n) == 0 && (name[n] == '\0' || strcmp(name + n, " (deleted)") == 0);
}

/* A /proc/<pid>/maps line "start-end perms offset dev inode   name":
 * its start and name ("" for none), or NULL. By hand: sscanf may
 * allocate, on the app's heap. */
static const char *maps_line(const char *s, uint64_t *start)
{
    uint64_t v = 0;
    int digits = 0;
    for (; *s && *s != '-'; s++, digits++) {
        char c = *s;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0 || digits >= 16)
            return NULL;
        v = v << 4 | (uint64_t)d;
    }
    if (*s != '-' || !digits)
        return NULL;
    for (int field = 0; field < 5; field++) { /* range, perms, offset, dev, inode */
        while (*s && *s != ' ')
            s++;
        while (*s == ' ')
            s++;
    }
    *start = v;
    return s;
}

/* The start address of the first OTEL_CTX mapping that is not ours, or 0.
 * /proc/self/maps is read in chunks: a large process has megabytes. */
static uint64_t find_mapping(void)
{
    int fd = otp_open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    static char buf[8192 + 1];
    size_t have = 0;
    uint64_t found = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 && have == 0)
            break;
        have += n > 0 ? (size_t)n : 0;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf))) || (n <= 0 && *line)) {
            if (nl)
                *nl = '\0';
            uint64_t start;
            const char *name = maps_line(line, &start);
            if (name && ctx_name(name) && (uint8_t *)(uintptr_t)start != self_ctx.map) {
                found = start;
                break;
            }
            line = nl ? nl + 1 : line + strlen(line);
        }
        if (found || n <= 0)
            break;
        /* keep a partial last line; a line longer than the buffer is skipped */
        size_t rest = have - (size_t)(line - buf);
        if (rest == sizeof buf - 1)
            rest = 0;
        memmove(buf, line, rest);
        have = rest;
    }
    otp_close(fd);
    return found;
}

static int mem_fd(void)
{
    return otp_open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
}

static bool read_at(int fd, uint64_t addr, void *out, size_t n)
{
    return pread(fd, out, n, (off_t)addr) == (ssize_t)n;
}

static bool read_hdr(int fd, uint64_t at, ctx_hdr_t *h)
{
    return read_at(fd, at, h, sizeof *h) && memcmp(h->sig, OTP_CTX_SIG, 8) == 0 &&
           h->version == OTP_CTX_VERSION;
}

bool otp_procctx_peek(uint64_t *published_at)
{
    uint64_t at = find_mapping();
    if (!at)
        return false;
    int fd = mem_fd();
    if (fd < 0)
        return false;
    ctx_hdr_t h;
    bool ok = read_hdr(fd, at, &h) && h.published_at != 0;
    otp_close(fd);
    if (ok)
        *published_at = h.published_at;
    return ok;
}

otp_pb_procctx_t *otp_procctx_read(uint64_t *published_at)
{
    uint64_t at = find_mapping();
    if (!at)
        return NULL;
    int fd = mem_fd();
    if (fd < 0)
        return NULL;
    otp_pb_procctx_t *c = NULL;
    uint8_t *payload = NULL;
    for (int i = 0; i < OTP_CTX_RETRIES && !c; i++) {
        ctx_hdr_t h, h2;
        if (!read_hdr(fd, at, &h))
            break;
        if (h.published_at == 0 || h.payload_size > OTP_CTX_MAX_PAYLOAD) {
            /* being updated, or not something we accept */
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        atomic_thread_fence(memory_order_seq_cst);
        otp_free(payload);
        payload = otp_malloc(h.payload_size ? h.payload_size : 1);
        if (!payload || !read_at(fd, h.payload, payload, h.payload_size))
            break;
        atomic_thread_fence(memory_order_seq_cst);
        if (!read_hdr(fd, at, &h2) || h2.published_at != h.published_at)
            continue;
        ProtobufCAllocator a = { otp_pb_alloc, otp_pb_free, NULL };
        c = opentelemetry__proto__processcontext__v1development__process_context__unpack(
            &a, h.payload_size, payload);
        if (c)
            *published_at = h.published_at;
        else
            break;
    }
    otp_free(payload);
    otp_close(fd);
    return c;
}

void otp_procctx_free(otp_pb_procctx_t *c)
{
    if (!c)
        return;
    ProtobufCAllocator a = { otp_pb_alloc, otp_pb_free, NULL };
    opentelemetry__proto__processcontext__v1development__process_context__free_unpacked(c, &a);
}

/* ---- publishing ----------------------------------------------------------- */

static uint8_t *new_mapping(size_t len)
{
    otp_fd_open_begin();
    int fd = (int)syscall(SYS_memfd_create, "OTEL_CTX",
                          MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if (fd < 0) /* kernels before 6.3 refuse MFD_NOEXEC_SEAL */
        fd = (int)syscall(SYS_memfd_create, "OTEL_CTX", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    fd = otp_fd_high(fd);
    otp_fd_open_end();
    void *m = MAP_FAILED;
    if (fd >= 0 && otp_ftruncate(fd, (off_t)len) == 0)
        m = otp_vm_map(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (fd >= 0)
        otp_close(fd);
    if (m == MAP_FAILED) /* no memfd (seccomp, old kernel): anonymous, named below */
        m = otp_vm_map(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    /* a fork child is another process: it publishes its own */
    madvise(m, len, MADV_DONTFORK);
    return m;
}

int otp_procctx_publish(const Opentelemetry__Proto__Resource__V1__Resource *res)
{
    otp_pb_procctx_t c;
    opentelemetry__proto__processcontext__v1development__process_context__init(&c);
    c.resource = (Opentelemetry__Proto__Resource__V1__Resource *)res;
    size_t n = opentelemetry__proto__processcontext__v1development__process_context__get_packed_size(&c);
    if (n > OTP_CTX_MAX_PAYLOAD)
        return -E2BIG;
    size_t page = otp_page_size();
    size_t need = (OTP_CTX_HDR + n + page - 1) / page * page;
    uint8_t *m = self_ctx.map;
    bool update = m && need <= self_ctx.len;
    if (!update) {
        otp_procctx_drop();
        m = new_mapping(need);
        if (!m)
            return -ENOMEM;
        self_ctx.map = m;
        self_ctx.len = need;
    }
    volatile ctx_hdr_t *h = (volatile ctx_hdr_t *)m;
    uint64_t before = h->published_at;
    if (update) {
        h->published_at = 0;
        atomic_thread_fence(memory_order_seq_cst);
    }
    opentelemetry__proto__processcontext__v1development__process_context__pack(&c, m + OTP_CTX_HDR);
    memcpy((void *)h->sig, OTP_CTX_SIG, 8);
    h->version = OTP_CTX_VERSION;
    h->payload_size = (uint32_t)n;
    h->payload = (uint64_t)(uintptr_t)(m + OTP_CTX_HDR);
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t now = (uint64_t)otp_clock_ns(CLOCK_BOOTTIME);
    h->published_at = now > before ? now : before + 1;
    prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)m, self_ctx.len, "OTEL_CTX");
    return 0;
}

void otp_procctx_drop(void)
{
    if (!self_ctx.map)
        return;
    otp_vm_unmap(self_ctx.map, self_ctx.len);
    self_ctx.map = NULL;
    self_ctx.len = 0;
}

bool otp_procctx_published(void)
{
    return self_ctx.map != NULL;
}

void otp_procctx_atfork_child(void)
{
    self_ctx.map = NULL;
    self_ctx.len = 0;
}
