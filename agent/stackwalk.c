/*
 * The shared table maps a PC (a lookup address: the leaf's PC, or a
 * return address minus one) to its packed frame shape. Slots only go
 * from empty to filled (and back to empty all at once in
 * otp_stackwalk_forget): a writer claims the key with a compare-and-swap
 * and then stores the shape; a reader that finds the key before the
 * shape takes it as a miss. Each shape carries a tag of its PC's hash, so
 * a shape stored into a slot that was emptied and claimed again
 * meanwhile is not taken for the new key's.
 */
#include "stackwalk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "cfi.h"
#include "internal.h"
#include "sys.h"

#define SLOTS_LOG 14
#define SLOTS (1u << SLOTS_LOG)
#define PROBES 8

typedef struct slot {
    _Atomic uint64_t pc;
    _Atomic uint64_t shape;
} slot_t;

/* In .bss: only the pages holding used slots are ever resident. */
static slot_t table[SLOTS];
static _Atomic uint64_t n_fallback;
/* The table's pages that have been written (OTP_TOUCH_PAGE), one bit
 * each: the memory cap and the scans read only those (reading the others
 * would map each in, as the zero page: 64 faults). */
#define PAGE_SLOTS (4096 / sizeof(slot_t))
_Static_assert(SLOTS / PAGE_SLOTS <= 64, "one word of page bits");
static _Atomic uint64_t pages_written[1];
/* The pages that may hold a key (set before a slot is claimed, taken by
 * otp_stackwalk_forget): a dlclose empties those only. Scanning all of
 * the table was 20 us of every dlclose, the time of a dlopen/dlclose
 * cycle of a small plugin, and the table fills only a few pages between
 * two unloads. */
static _Atomic uint64_t pages_filled[1];

static OTP_TLS uintptr_t b_lo, b_hi;
static _Atomic(const otp_tramps_t *) tramps;

void otp_stackwalk_set_tramps(const otp_tramps_t *t)
{
    atomic_store_explicit(&tramps, t, memory_order_release);
}

/* Whether ra returns into a Python perf trampoline: after its call,
 * 6 bytes in. */
static inline __attribute__((always_inline)) bool tramp_return(uint64_t ra)
{
    const otp_tramps_t *t = atomic_load_explicit(&tramps, memory_order_acquire);
    if (OTP_LIKELY(!t))
        return false;
    uint64_t start = ra - 6;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->start[mid] < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->start[lo] == start;
}

/* A walk's loads depend on each other (each frame's address comes from
 * the one before), so each cold one is paid in full, one after another,
 * and between two samples the machine cools what a walk touches: on a
 * virtual machine, 7 random loads from the table took 1.6 us 10 ms after
 * the last ones, against 0.2 us right after. So a walk starts by asking
 * for what it will read, all at once: the stack above the interrupted
 * frame, and the table slots the thread's last walk looked up (a thread's
 * stacks share most of their frames from one sample to the next). A walk
 * of 46 distinct frames 10 ms after the last one took 15-19 us without,
 * 9-11 us with the first 16 lookups asked for, 4-5 us with 64 (bench_walk,
 * interleaved runs). With the sample's code in two pages
 * (preload/startup.ld), the handler's median on bench_cpu's recursion (7
 * lookups) went from 3.0 to 2.4 us. */
#define RECENT 64
static OTP_TLS uint16_t recent[RECENT];
static OTP_TLS uint8_t n_recent;
#define PREFETCH_LINES 64

static void prefetch(uint64_t sp, uintptr_t hi)
{
    for (int k = 0; k < n_recent; k++)
        __builtin_prefetch(&table[recent[k]]);
    n_recent = 0;
    uintptr_t a = (uintptr_t)sp & ~(uintptr_t)63;
    for (int k = 0; k < PREFETCH_LINES && a < hi; k++, a += 64)
        __builtin_prefetch((const void *)a);
}

#define RED_ZONE 128 /* x86-64 System V: below rsp, kept by signal delivery */

/* Packed shape: cfa_off 0-23, rbp_off 24-39 (int16), kind 40-42,
 * cfa_rbp 43, plt_k 44-48, valid 49, tag 50-63. */
#define VALID (1ull << 49)

static uint64_t hash(uint64_t pc)
{
    return pc * 0x9e3779b97f4a7c15ull;
}

static uint64_t tag_of(uint64_t h)
{
    return (h >> 20) & 0x3fff;
}

static uint64_t pack(const otp_cfi_t *s, uint64_t h)
{
    return ((uint64_t)(uint32_t)s->cfa_off & 0xffffff) | ((uint64_t)(uint16_t)(int16_t)s->rbp_off << 24) |
           ((uint64_t)s->kind << 40) | ((uint64_t)(s->cfa_rbp != 0) << 43) |
           ((uint64_t)(s->plt_k & 0x1f) << 44) | VALID | (tag_of(h) << 50);
}

#define CFA_OFF(v) ((int64_t)((v) & 0xffffff))
#define RBP_OFF(v) ((int64_t)(int16_t)(uint16_t)((v) >> 24))
#define KIND(v) ((int)(((v) >> 40) & 7))
#define CFA_RBP(v) (((v) >> 43) & 1)
#define PLT_K(v) (((v) >> 44) & 0x1f)

/* A miss: read from the object and added where the probe found room. */
static __attribute__((noinline)) uint64_t shape_read(uint64_t pc, uint64_t h, slot_t *empty)
{
    otp_cfi_t s;
    if (otp_cfi_find((uintptr_t)pc, &s) != 0)
        return 0;
    uint64_t v = pack(&s, h);
    uint64_t zero = 0;
    if (empty) {
        uint64_t bit = (uint64_t)1 << ((uint32_t)(empty - table) / PAGE_SLOTS);
        if (!(atomic_load_explicit(&pages_filled[0], memory_order_relaxed) & bit))
            atomic_fetch_or_explicit(&pages_filled[0], bit, memory_order_relaxed);
        if (atomic_compare_exchange_strong(&empty->pc, &zero, pc))
            atomic_store_explicit(&empty->shape, v, memory_order_release);
    }
    return v;
}

/* The packed shape at lookup address `pc`: from the table, else read
 * and added. 0: no call-frame information covers pc. */
static inline uint64_t shape_of(uint64_t pc)
{
    uint64_t h = hash(pc);
    uint32_t i = (uint32_t)(h >> (64 - SLOTS_LOG));
    _Static_assert(SLOTS <= 65536, "slot numbers fit recent[]");
    if (n_recent < RECENT)
        recent[n_recent++] = (uint16_t)i;
    for (int k = 0; k < PROBES; k++, i = (i + 1) & (SLOTS - 1)) {
        OTP_TOUCH_PAGE(pages_written, i / PAGE_SLOTS, &table[i].pc);
        uint64_t key = atomic_load_explicit(&table[i].pc, memory_order_acquire);
        if (OTP_LIKELY(key == pc)) {
            uint64_t v = atomic_load_explicit(&table[i].shape, memory_order_acquire);
            if (OTP_LIKELY((v & VALID) && (v >> 50) == tag_of(h)))
                return v;
            return shape_read(pc, h, NULL); /* being filled: read it here */
        }
        if (key == 0)
            return shape_read(pc, h, &table[i]);
    }
    return shape_read(pc, h, NULL);
}

/* Reads the word at `a` if it lies in [lo, hi). */
static bool load(uintptr_t a, uintptr_t lo, uintptr_t hi, uint64_t *v)
{
    if (a < lo || a > hi - 8 || (a & 7))
        return false;
    *v = *(const uint64_t *)a;
    return true;
}

/* `exact`: pc is where the frame was interrupted (its own instruction),
 * not a return address (whose call is the instruction before it). */
static int walk(uint64_t pc, uint64_t sp, uint64_t fp, bool exact, uint64_t *out, int max)
{
    uintptr_t hi = b_hi;
    if (!hi || sp < b_lo || sp >= hi)
        return -1;
    int n = 0;
    /* A recursion's frames share a shape: looked up once. */
    uint64_t last_key = 0, v = 0;
    while (n < max) {
        out[n++] = pc;
        uint64_t key = exact ? pc : pc - 1;
        if (!v || key != last_key) {
            v = shape_of(key);
            last_key = key;
        }
        uint64_t cfa, ra = 0, nfp = fp;
        bool sig = false;
        if (OTP_UNLIKELY(!v) && !exact && tramp_return(pc)) {
            /* sub $8,%rsp; call: the caller's return address above the pad. */
            cfa = sp + 16;
            if (cfa >= hi || !load(sp + 8, sp, hi, &ra) || ra == 0)
                return n;
            pc = ra;
            sp = cfa;
            continue;
        }
        if (OTP_UNLIKELY(!v)) {
            /* No call-frame information covers pc: JIT code, or code
             * written without it. Its frame-pointer chain is followed
             * here, each read inside the stack; where it leaves the stack
             * the walk ends, with what it has. libunwind would follow the
             * same chain reading wherever rbp points: HotSpot's compiled
             * code uses rbp as an ordinary register, and a JVM died of a
             * read at 0x100000000 inside libunwind. */
            if (fp < sp || fp >= hi || !load(fp, sp, hi, &nfp) || !load(fp + 8, sp, hi, &ra) || ra == 0)
                return n;
            pc = ra;
            sp = fp + 16;
            fp = nfp;
            exact = false;
            continue;
        }
        int kind = KIND(v);
        if (OTP_LIKELY(kind == OTP_CFI_STEP)) {
            cfa = (CFA_RBP(v) ? fp : sp) + (uint64_t)CFA_OFF(v);
            /* An interrupted epilogue: after `pop %rbp` the rules still
             * say "saved at CFA - 16", now below sp but inside the red zone
             * (the 128 bytes the kernel leaves alone), where it still is. */
            uint64_t lo = exact && sp - RED_ZONE >= b_lo ? sp - RED_ZONE : sp;
            if (RBP_OFF(v) && !load(cfa + (uint64_t)RBP_OFF(v), lo, hi, &nfp))
                return -1;
        } else if (kind == OTP_CFI_END) {
            return n;
        } else if (kind == OTP_CFI_PLT) {
            cfa = sp + 8 + ((pc & 15) >= PLT_K(v) ? 8 : 0);
        } else if (kind == OTP_CFI_SIGNAL) {
            /* The kernel's frame: the ucontext is at sp; the interrupted
             * code's registers are in it, its PC exact. */
            uintptr_t g = (uintptr_t)sp + offsetof(ucontext_t, uc_mcontext.gregs);
            if (!load(g + 8 * REG_RIP, sp, hi, &ra) || !load(g + 8 * REG_RSP, sp, hi, &cfa) ||
                !load(g + 8 * REG_RBP, sp, hi, &nfp))
                return -1;
            sig = true;
        } else {
            return -1;
        }
        if (cfa <= sp || cfa >= hi || (!sig && !load(cfa - 8, sp, hi, &ra)))
            return -1;
        if (ra == 0)
            return n;
        pc = ra;
        sp = cfa;
        fp = nfp;
        exact = sig;
    }
    return n;
}

int otp_stackwalk_signal(const ucontext_t *uc, uint64_t *out, int max)
{
    if (max <= 0)
        return 0;
    const greg_t *g = uc->uc_mcontext.gregs;
    uint64_t sp = (uint64_t)g[REG_RSP];
    if (sp >= b_lo && sp < b_hi)
        prefetch(sp, b_hi);
    int n = walk((uint64_t)g[REG_RIP], sp, (uint64_t)g[REG_RBP], true, out, max);
    if (n < 0)
        atomic_fetch_add_explicit(&n_fallback, 1, memory_order_relaxed);
    return n;
}

__asm__(".text\n"
        ".globl otp_stackwalk_regs\n"
        ".hidden otp_stackwalk_regs\n"
        ".type otp_stackwalk_regs,@function\n"
        "otp_stackwalk_regs:\n"
        ".cfi_startproc\n"
        "  mov (%rsp), %rax\n"
        "  mov %rax, (%rdi)\n"
        "  lea 8(%rsp), %rax\n"
        "  mov %rax, 8(%rdi)\n"
        "  mov %rbp, 16(%rdi)\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size otp_stackwalk_regs, .-otp_stackwalk_regs\n");

int otp_stackwalk_from(const uint64_t regs[3], uint64_t *out, int max)
{
    if (max <= 0)
        return 0;
    int n = walk(regs[0], regs[1], regs[2], false, out, max);
    if (n < 0)
        atomic_fetch_add_explicit(&n_fallback, 1, memory_order_relaxed);
    return n;
}

__attribute__((noinline)) int otp_stackwalk_here(uint64_t *out, int max)
{
    uint64_t r[3];
    otp_stackwalk_regs(r);
    /* Frame 0 is this function's: walked, then dropped. */
    int n = otp_stackwalk_from(r, out, max);
    if (n <= 0)
        return n;
    memmove(out, out + 1, (size_t)(n - 1) * sizeof *out);
    return n - 1;
}

void otp_stackwalk_set_bounds(uintptr_t lo, uintptr_t hi)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (lo >= hi || here < lo || here >= hi)
        lo = hi = 0;
    b_lo = lo;
    b_hi = hi;
}

bool otp_stackwalk_bounds(uintptr_t *lo, uintptr_t *hi)
{
    *lo = b_lo;
    *hi = b_hi;
    return b_hi != 0;
}

/* Where the main thread's stack can reach below its start: RLIMIT_STACK,
 * at most this much (the kernel keeps mappings at least 128 MiB below
 * the stack's top under a finite limit; with none, mappings go
 * bottom-up, far from it). */
#define MAIN_REACH ((size_t)64 << 20)

extern void *__libc_stack_end;

void otp_stackwalk_main_thread(void)
{
    size_t page = otp_page_size();
    if (!__libc_stack_end)
        return;
    /* The page holding the start: argv and the environment lie above. */
    uintptr_t hi = ((uintptr_t)__libc_stack_end | (uintptr_t)(page - 1)) + 1;
    struct rlimit rl;
    size_t reach = MAIN_REACH;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < reach)
        reach = (size_t)rl.rlim_cur;
    otp_stackwalk_set_bounds(hi - reach, hi);
}

/* The most the C library puts between its thread descriptor and the top
 * of the block it mapped: the descriptor's size (2304 bytes in glibc
 * 2.36) rounded down to the static TLS alignment. */
#define DESC_ROOM ((uintptr_t)8 << 10)

void otp_stackwalk_pthread(size_t size, uintptr_t user_lo)
{
    if (user_lo) {
        otp_stackwalk_set_bounds(user_lo, user_lo + size);
        return;
    }
    /* The descriptor sits at the top of the block the C library mapped,
     * the stack just below it, the guard at the bottom: the block's
     * readable part is its top `size` bytes (more for a larger stack
     * reused from the C library's cache), and the descriptor is at most
     * DESC_ROOM below that top. */
    uintptr_t hi = (uintptr_t)pthread_self();
    if (size <= DESC_ROOM || hi < size)
        return;
    otp_stackwalk_set_bounds(hi - size + DESC_ROOM, hi);
}

void otp_stackwalk_attr(const void *attr, size_t *size, uintptr_t *user_lo)
{
    *size = 0;
    *user_lo = 0;
    pthread_attr_t def;
    const pthread_attr_t *a = attr;
    if (!a) {
        if (pthread_getattr_default_np(&def) != 0)
            return;
        a = &def;
    }
    void *addr = NULL;
    size_t sz = 0, ssz = 0;
    if (pthread_attr_getstacksize(a, &ssz) == 0 && pthread_attr_getstack(a, &addr, &sz) == 0) {
        *size = ssz;
        /* Unset, the stack address is 0, its low end 0 - size. */
        if ((uintptr_t)addr + sz != 0) {
            *user_lo = (uintptr_t)addr;
            *size = sz;
        }
    }
    if (a == &def)
        pthread_attr_destroy(&def);
}

void otp_stackwalk_forget(void)
{
    uint64_t filled = atomic_exchange(&pages_filled[0], 0);
    while (filled) {
        uint32_t page = (uint32_t)__builtin_ctzll(filled);
        filled &= filled - 1;
        for (uint32_t i = page * PAGE_SLOTS; i < (page + 1) * PAGE_SLOTS; i++) {
            if (atomic_load_explicit(&table[i].pc, memory_order_relaxed) == 0)
                continue;
            atomic_store_explicit(&table[i].shape, 0, memory_order_relaxed);
            atomic_store_explicit(&table[i].pc, 0, memory_order_release);
        }
    }
}

size_t otp_stackwalk_resident(void)
{
    return (size_t)__builtin_popcountll(atomic_load(&pages_written[0])) * 4096;
}

size_t otp_stackwalk_cached(void)
{
    uint64_t written = atomic_load(&pages_written[0]);
    size_t n = 0;
    for (uint32_t i = 0; i < SLOTS; i++)
        n += (written & ((uint64_t)1 << (i / PAGE_SLOTS))) &&
             atomic_load_explicit(&table[i].pc, memory_order_relaxed) != 0;
    return n;
}

uint64_t otp_stackwalk_fallbacks(void)
{
    return atomic_load(&n_fallback);
}
