#include "vmlock.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fds.h"
#include "internal.h"

#define SLOTS 512
#define FIRST 4 /* a start's mappings: the main thread's ring and alternate stack */
#define PAGE ((uintptr_t)4096)

/* A range [lo, hi) of the agent's; lo == 0 is a free slot (a slot being
 * claimed has hi <= lo for a moment and counts as empty). The first few
 * and the flag every map reads lie on the page of data a start writes
 * anyway, the rest where no start goes: each other page a start touches
 * is a page fault (two more per /bin/true when the table was in .bss). */
typedef struct slot {
    _Atomic uintptr_t lo, hi;
} slot_t;
static slot_t first[FIRST] OTP_STARTUP_DATA;
static slot_t rest[SLOTS - FIRST] OTP_BIG_BSS;
/* MCL_FUTURE is in force (set through otp_vm_lock_all). */
static atomic_bool future OTP_STARTUP_DATA;

static inline slot_t *own(int i)
{
    return i < FIRST ? &first[i] : &rest[i - FIRST];
}
/* An address in the agent thread's stack, while it runs. */
static _Atomic uintptr_t stack_probe;

static void own_add(uintptr_t lo, uintptr_t hi)
{
    if (lo >= hi)
        return;
    for (int i = 0; i < SLOTS; i++) {
        uintptr_t z = 0;
        if (atomic_load_explicit(&own(i)->lo, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&own(i)->lo, &z, lo)) {
            atomic_store(&own(i)->hi, hi);
            return;
        }
    }
    /* Full: this range is locked with the app's, as before. */
}

static void own_remove(uintptr_t a, uintptr_t b)
{
    for (int i = 0; i < SLOTS; i++) {
        uintptr_t lo = atomic_load(&own(i)->lo), hi = atomic_load(&own(i)->hi);
        if (lo == 0 || hi <= a || lo >= b)
            continue;
        if (lo >= a && hi <= b) {
            atomic_store(&own(i)->hi, 0);
            atomic_store(&own(i)->lo, 0);
        } else if (lo < a && hi > b) {
            atomic_store(&own(i)->hi, a);
            own_add(b, hi);
        } else if (lo < a) {
            atomic_store(&own(i)->hi, a);
        } else {
            atomic_store(&own(i)->lo, b);
        }
    }
}

/* Under MCL_FUTURE (`shut`): a new mapping would be locked, charged to
 * RLIMIT_MEMLOCK and faulted in at once. One inaccessible page is mapped
 * instead (the kernel neither fills nor, after munlock, counts it), then
 * grown by mremap, which keeps that mapping's flags, not MCL_FUTURE's. */
static void *map_unlocked(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    bool fixed = flags & MAP_FIXED;
    void *p = mmap(addr, fixed ? len : PAGE, PROT_NONE, flags, fd, off);
    if (p == MAP_FAILED)
        return p;
    munlock(p, fixed ? len : PAGE);
    void *q = p;
    if (!fixed && len > PAGE && (q = mremap(p, PAGE, len, MREMAP_MAYMOVE)) == MAP_FAILED) {
        int e = errno;
        munmap(p, PAGE);
        errno = e;
        return MAP_FAILED;
    }
    if (mprotect(q, len, prot) != 0) {
        int e = errno;
        munmap(q, len);
        errno = e;
        return MAP_FAILED;
    }
    return q;
}

void *otp_vm_map(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p = atomic_load_explicit(&future, memory_order_relaxed) && prot != PROT_NONE
                  ? map_unlocked(addr, len, prot, flags, fd, off)
                  : mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        own_add((uintptr_t)p, ((uintptr_t)p + len + PAGE - 1) & ~(PAGE - 1));
    return p;
}

int otp_vm_unmap(void *addr, size_t len)
{
    int rc = munmap(addr, len);
    if (rc == 0)
        own_remove((uintptr_t)addr, ((uintptr_t)addr + len + PAGE - 1) & ~(PAGE - 1));
    return rc;
}

/* The mapping holding addr, from /proc/self/maps (defined below). */
static bool mapping_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

void otp_vm_own_stack(void)
{
    /* Not pthread_getattr_np: it allocates from the app's heap. A frame
     * of the thread's marks its stack, found in the maps when needed. */
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    atomic_store(&stack_probe, here);
    uintptr_t lo, hi;
    if (atomic_load(&future) && mapping_of(here, &lo, &hi)) {
        /* glibc mapped it locked, and the kernel filled it: unlock it and
         * give back what lies more than 64 KiB below this frame. */
        munlock((void *)lo, hi - lo);
        uintptr_t keep = (here - (64u << 10)) & ~(PAGE - 1);
        if (keep > lo)
            madvise((void *)lo, keep - lo, MADV_DONTNEED);
    }
}

void otp_vm_disown_stack(void)
{
    /* glibc keeps the stack for a later thread, maybe the app's. */
    atomic_store(&stack_probe, 0);
}

bool otp_vm_stack_refused(void)
{
    if (!atomic_load(&future))
        return false;
    /* The default stack: RLIMIT_STACK's, as glibc takes it, at most 8 MiB. */
    struct rlimit rl;
    size_t len = (size_t)8 << 20;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= PAGE &&
        rl.rlim_cur < len)
        len = (size_t)rl.rlim_cur;
    /* Charged to the limit, but never filled: nothing may access it. */
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return errno == EAGAIN;
    munmap(p, len);
    return false;
}

bool otp_vm_future_locked(void)
{
    return atomic_load_explicit(&future, memory_order_relaxed);
}

void otp_vm_atfork_child(void)
{
    atomic_store(&future, false);
    otp_vm_disown_stack(); /* the child has no agent thread; glibc reuses its stack */
}

/* The agent's two objects, whole (code, data, bss and the gaps). */
static int objects(uintptr_t lo[2], uintptr_t hi[2])
{
    int n = 0;
    for (int i = 0; i < 2; i++) {
        struct dl_find_object fo;
        if (otp_agent_code[i].lo && _dl_find_object((void *)otp_agent_code[i].lo, &fo) == 0) {
            lo[n] = (uintptr_t)fo.dlfo_map_start & ~(PAGE - 1);
            hi[n] = ((uintptr_t)fo.dlfo_map_end + PAGE - 1) & ~(PAGE - 1);
            n++;
        }
    }
    return n;
}

typedef struct walk {
    uintptr_t obj_lo[2], obj_hi[2];
    int nobj;
    uint64_t pages;  /* the app's, counted */
    int lock_flags;  /* mlock2's, when locking */
    bool lock;
    uintptr_t find, found_lo, found_hi; /* mapping_of's */
} walk_t;

/* [lo, hi) less the agent's ranges from slot i (the objects after the
 * slots): counted, or locked. */
static void app_part(walk_t *w, uintptr_t lo, uintptr_t hi, int i)
{
    for (; lo < hi && i < SLOTS + w->nobj; i++) {
        uintptr_t a, b;
        if (i < SLOTS) {
            a = atomic_load(&own(i)->lo);
            b = atomic_load(&own(i)->hi);
            if (a == 0 || b <= a)
                continue;
        } else {
            a = w->obj_lo[i - SLOTS];
            b = w->obj_hi[i - SLOTS];
        }
        if (b <= lo || a >= hi)
            continue;
        if (a > lo)
            app_part(w, lo, a, i + 1);
        lo = b;
    }
    if (lo >= hi)
        return;
    if (w->lock)
        syscall(SYS_mlock2, (void *)lo, (size_t)(hi - lo), w->lock_flags); /* errors ignored, as mlockall's */
    else
        w->pages += (hi - lo) / PAGE;
}

/* Each mapping in /proc/self/maps, through app_part. */
static int each_mapping(walk_t *w)
{
    int fd = otp_open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[8192];
    size_t have = 0;
    bool eof = false;
    while (!eof || have) {
        if (!eof && have < sizeof buf) {
            ssize_t r = read(fd, buf + have, sizeof buf - have);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                eof = true;
            else
                have += (size_t)r;
        }
        char *nl = memchr(buf, '\n', have);
        if (!nl) {
            if (eof || have == sizeof buf)
                break; /* no line longer than a path can be */
            continue;
        }
        *nl = '\0';
        char *end;
        uintptr_t lo = (uintptr_t)strtoull(buf, &end, 16), hi = 0;
        if (*end == '-')
            hi = (uintptr_t)strtoull(end + 1, NULL, 16);
        uintptr_t probe = atomic_load(&stack_probe);
        if (w->find) {
            if (lo <= w->find && w->find < hi) {
                w->found_lo = lo;
                w->found_hi = hi;
            }
        } else if (hi > lo && !strstr(buf, "[vsyscall]") && !(lo <= probe && probe < hi)) {
            /* (The vsyscall page is the kernel's, outside the process's
             * count; the agent thread's stack is the agent's.) */
            app_part(w, lo, hi, 0);
        }
        size_t used = (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, have - used);
        have -= used;
    }
    otp_close(fd);
    return 0;
}

static bool mapping_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
    walk_t w;
    memset(&w, 0, sizeof w);
    w.find = addr;
    if (each_mapping(&w) != 0 || !w.found_hi)
        return false;
    *lo = w.found_lo;
    *hi = w.found_hi;
    return true;
}

static bool can_lock_any(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    return syscall(SYS_capget, &h, d) == 0 && (d[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32)));
}

int otp_vm_lock_all(int flags, int (*real)(int))
{
    /* Bad flags, or nothing locked now: the kernel's answer as it is. */
    if ((flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) || !(flags & MCL_CURRENT)) {
        int rc = real(flags);
        if (rc == 0 && (flags & MCL_FUTURE))
            atomic_store(&future, true);
        return rc;
    }
    int saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    walk_t w;
    memset(&w, 0, sizeof w);
    w.nobj = objects(w.obj_lo, w.obj_hi);
    int rc = each_mapping(&w);
    otp_tls_in_agent = saved;
    if (rc != 0)
        return real(flags); /* no /proc: as before */
    struct rlimit rl;
    if (!can_lock_any() && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        /* The kernel's two checks, on the app's mappings alone. */
        if (rl.rlim_cur == 0) {
            errno = EPERM;
            return -1;
        }
        if (w.pages > rl.rlim_cur / PAGE) {
            errno = ENOMEM;
            return -1;
        }
    }
    /* MCL_CURRENT alone ends an earlier MCL_FUTURE, which only
     * munlockall can: the app's mappings are locked again just below. */
    if (flags & MCL_FUTURE) {
        if (real(MCL_FUTURE | (flags & MCL_ONFAULT)) != 0)
            return -1;
        atomic_store(&future, true);
    } else if (atomic_load(&future)) {
        atomic_store(&future, false);
        syscall(SYS_munlockall);
    }
    saved = otp_tls_in_agent;
    otp_tls_in_agent = 1;
    w.lock = true;
    w.lock_flags = (flags & MCL_ONFAULT) ? MLOCK_ONFAULT : 0;
    each_mapping(&w);
    otp_tls_in_agent = saved;
    return 0;
}

int otp_vm_unlock_all(int (*real)(void))
{
    int rc = real();
    if (rc == 0)
        atomic_store(&future, false);
    return rc;
}
