/*
 * A program that restricts its own system calls halfway through, as
 * sandboxed programs do. Before: CPU work and 1000 kept allocations of
 * 100 bytes (before_burn, before_alloc). Then, by mode:
 *   kill-timer    filter (prctl): timer_create kills the process
 *   eperm-openat  filter (seccomp syscall, TSYNC): openat fails, EPERM
 *   kill-sigaction filter (prctl): rt_sigaction kills the process
 *   libseccomp    filter loaded with libseccomp: timer_create kills
 *   refused       a filter the kernel refuses (EACCES: no no_new_privs,
 *                 CAP_SYS_ADMIN dropped): nothing is restricted
 *   landlock      a landlock ruleset that allows no file access at all
 *                 (opens fail with EACCES; -2: no landlock here)
 *   strict        one thread enters strict mode (read, write, exit,
 *                 sigreturn only), computes, allocates from its warmed
 *                 arena, writes its result and exits with SYS_exit
 * After a filter: threads (the main thread for kill-sigaction) that burn
 * CPU and allocate (after_burn, after_alloc), a fork, an open attempt;
 * then exit. Prints results only
 * (the same with or without a profiler).
 * Usage: seccomp_app MODE
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *keep[1000];

__attribute__((noinline)) static uint64_t burn(uint64_t rounds)
{
    uint64_t x = rounds | 1;
    for (uint64_t i = 0; i < rounds; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

__attribute__((noinline)) static uint64_t before_burn(void)
{
    return burn(150000000);
}

__attribute__((noinline)) static void before_alloc(void)
{
    for (int i = 0; i < 1000; i++) {
        keep[i] = malloc(100);
        memset(keep[i], i, 100);
    }
}

__attribute__((noinline)) static uint64_t after_alloc(int n)
{
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *p = malloc(64 + (size_t)(i % 512));
        if (!p)
            return 0;
        p[0] = (unsigned char)i;
        sum += p[0];
        free(p);
    }
    return sum;
}

/* Before strict mode: the thread's arena gets its memory. */
__attribute__((noinline)) static uint64_t before_warm(int n)
{
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *p = malloc(64 + (size_t)(i % 512));
        if (!p)
            return 0;
        p[0] = (unsigned char)i;
        sum += p[0];
        free(p);
    }
    return sum;
}

__attribute__((noinline)) static uint64_t after_burn(void)
{
    return burn(40000000);
}

static void *after_thread(void *arg)
{
    (void)arg;
    uint64_t r = after_burn() ^ after_alloc(20000);
    return (void *)(uintptr_t)(r & 1);
}

/* libseccomp (loaded at run time: no build dependency), as most programs
 * do it: it probes the kernel, sets no_new_privs and loads the filter
 * with the seccomp syscall. */
#define SCMP_ACT_KILL_PROCESS 0x80000000U
#define SCMP_ACT_ALLOW 0x7fff0000U
static int install_libseccomp(int nr)
{
    void *h = dlopen("libseccomp.so.2", RTLD_NOW);
    if (!h)
        return -2;
    void *(*init)(uint32_t) = (void *(*)(uint32_t))dlsym(h, "seccomp_init");
    int (*rule_add)(void *, uint32_t, int, unsigned, ...) =
        (int (*)(void *, uint32_t, int, unsigned, ...))dlsym(h, "seccomp_rule_add");
    int (*load)(void *) = (int (*)(void *))dlsym(h, "seccomp_load");
    void (*release)(void *) = (void (*)(void *))dlsym(h, "seccomp_release");
    if (!init || !rule_add || !load || !release)
        return -2;
    void *ctx = init(SCMP_ACT_ALLOW);
    if (!ctx)
        return -3;
    int rc = rule_add(ctx, SCMP_ACT_KILL_PROCESS, nr, 0);
    if (rc == 0)
        rc = load(ctx);
    release(ctx);
    return rc;
}

/* Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses a
 * filter (EACCES). */
static int install_filter_refused(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &hdr, data) != 0)
        return -2;
    data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
    if (syscall(SYS_capset, &hdr, data) != 0)
        return -2;
    struct sock_filter f[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)};
    struct sock_fprog prog = {1, f};
    int rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
    return rc == -1 && errno == EACCES ? -13 : rc;
}

/* Every file access of landlock's first ABI handled, and no rule: only
 * descriptors already open stay usable. */
static int install_landlock(void)
{
    struct landlock_ruleset_attr attr = {.handled_access_fs = (1ULL << 13) - 1};
    int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (fd < 0)
        return -2;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    int rc = (int)syscall(SYS_landlock_restrict_self, fd, 0);
    close(fd);
    return rc;
}

static int install_filter(int nr, unsigned action, int via_syscall)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    if (via_syscall)
        return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

static int strict_pipe[2];

/* Strict mode: only read, write, exit and sigreturn from here on. */
static void *strict_thread(void *arg)
{
    (void)arg;
    uint64_t w = before_warm(2000);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) != 0)
        return NULL;
    uint64_t r = after_burn() ^ after_alloc(2000) ^ w;
    char msg[] = "strict thread: done x\n";
    msg[sizeof msg - 3] = (char)('0' + (r & 1));
    if (write(strict_pipe[1], msg, sizeof msg - 1) < 0)
        r = 0;
    syscall(SYS_exit, 0);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    before_alloc();
    printf("before: %llu\n", (unsigned long long)(before_burn() & 1));

    if (strcmp(mode, "strict") == 0) {
        if (pipe(strict_pipe) != 0)
            return 2;
        pthread_t t;
        if (pthread_create(&t, NULL, strict_thread, NULL) != 0)
            return 2;
        char buf[64];
        ssize_t n = read(strict_pipe[0], buf, sizeof buf - 1);
        pthread_join(t, NULL);
        buf[n > 0 ? n : 0] = '\0';
        printf("%s", buf);
    } else {
        int rc;
        if (strcmp(mode, "kill-timer") == 0)
            rc = install_filter(SYS_timer_create, SECCOMP_RET_KILL_PROCESS, 0);
        else if (strcmp(mode, "eperm-openat") == 0)
            rc = install_filter(SYS_openat, SECCOMP_RET_ERRNO | EPERM, 1);
        else if (strcmp(mode, "kill-sigaction") == 0)
            rc = install_filter(SYS_rt_sigaction, SECCOMP_RET_KILL_PROCESS, 0);
        else if (strcmp(mode, "libseccomp") == 0)
            rc = install_libseccomp(SYS_timer_create);
        else if (strcmp(mode, "refused") == 0)
            rc = install_filter_refused();
        else if (strcmp(mode, "landlock") == 0)
            rc = install_landlock();
        else
            return 2;
        printf("filter: %d\n", rc);
        if (strcmp(mode, "kill-sigaction") == 0) {
            /* glibc's first pthread_create installs a signal handler. */
            after_thread(NULL);
        } else {
            pthread_t t[4];
            for (int i = 0; i < 4; i++)
                if (pthread_create(&t[i], NULL, after_thread, NULL) != 0)
                    return 3;
            for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        }
        pid_t pid = fork();
        if (pid == 0)
            _exit(after_alloc(1000) == 0 ? 1 : 0);
        int st = -1;
        waitpid(pid, &st, 0);
        printf("child: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        int fd = open("/dev/null", O_RDONLY);
        printf("open: %s\n", fd >= 0 ? "ok" : strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    int live = 0;
    for (int i = 0; i < 1000; i++)
        live += keep[i] != NULL;
    printf("after: %d live\n", live);
    return 0;
}
