# The agent's own stack walker on every kind of stack a program runs on:
# the main thread's, a pthread's (default, smallest, and a stack the app
# gave), an app signal handler's frames on top of the code it interrupted,
# and a coroutine on a stack of the app's (makecontext), which the walker
# has no bounds for and hands to libunwind. Each part burns the same CPU
# under a root function of its own, 30 calls deep: each leaf holds its
# share of the profile and its root holds the leaf, so no stack was cut.
# Without the coroutine, libunwind is never opened and no walk goes to it
# (the previous build walked everything with libunwind).
source "$(dirname "$0")/../lib.sh"

cat > "$WORK/walks.c" <<'C'
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>

#define PART 0.4
static volatile unsigned long sink;
static double cpu(void) {
  struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
#define LEAF(name) __attribute__((noinline)) void name(void) { \
  double a = cpu(); do { for (int i = 0; i < 20000; i++) sink += (unsigned long)i * 3; } while (cpu() - a < PART); }
LEAF(leaf_main) LEAF(leaf_thread) LEAF(leaf_small) LEAF(leaf_user) LEAF(leaf_handler) LEAF(leaf_coro)
__attribute__((noinline)) void rec(int d, void (*leaf)(void)) {
  if (d == 0) leaf(); else rec(d - 1, leaf);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void root_main(void) { rec(30, leaf_main); }
__attribute__((noinline)) void *root_thread(void *a) { rec(30, leaf_thread); return a; }
__attribute__((noinline)) void *root_small(void *a) { rec(30, leaf_small); return a; }
__attribute__((noinline)) void *root_user(void *a) { rec(30, leaf_user); return a; }
__attribute__((noinline)) void root_handler(int s) { (void)s; rec(30, leaf_handler); }
__attribute__((noinline)) void root_coro(void) { rec(30, leaf_coro); }
static void run(void *(*fn)(void *), size_t size, void *stack) {
  pthread_attr_t at; pthread_attr_init(&at);
  if (stack) pthread_attr_setstack(&at, stack, size); else if (size) pthread_attr_setstacksize(&at, size);
  pthread_t t; if (pthread_create(&t, &at, fn, NULL) != 0) exit(3);
  pthread_join(t, NULL); pthread_attr_destroy(&at);
}
int main(int argc, char **argv) {
  root_main();
  run(root_thread, 0, NULL);
  run(root_small, PTHREAD_STACK_MIN + 8192, NULL);
  size_t us = 1 << 20;
  void *ustack = mmap(NULL, us, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  run(root_user, us, ustack);
  struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = root_handler;
  sigaction(SIGUSR1, &sa, NULL); raise(SIGUSR1);
  if (argc > 1) {
    static ucontext_t co, back; size_t cs = 256 << 10; char *st = malloc(cs);
    getcontext(&co); co.uc_stack.ss_sp = st; co.uc_stack.ss_size = cs; co.uc_link = &back;
    makecontext(&co, root_coro, 0); swapcontext(&back, &co); free(st);
  }
  puts("done");
  return 0;
}
C
cc -O1 -g -o "$WORK/walks" "$WORK/walks.c" -lpthread

for mode in plain coroutine; do
  rm -rf "$WORK/out"
  arg=""; parts=5; [ $mode = coroutine ] && { arg=co; parts=6; }
  out=$(under_agent OTPROF_AGENT_LOG_LEVEL=debug OTPROF_MEMORY_ENABLED=false -- "$WORK/walks" $arg 2> "$WORK/err")
  check "$mode: the program runs as usual ($out)" [ "$out" = done ]
  f=$(ls "$WORK"/out/walks.*.cpu.pb.gz 2> /dev/null | head -1)
  check "$mode: a CPU profile" [ -n "$f" ]
  [ -n "$f" ] || continue
  share=$(awk -v p=$parts 'BEGIN { printf "%.1f", 100 / p }')
  leaves="main thread small user handler"; [ $mode = coroutine ] && leaves="$leaves coro"
  for w in $leaves; do
    leaf=$(pprof_cum "$f" leaf_$w); root=$(pprof_cum "$f" root_$w)
    check "$mode: leaf_$w holds its share ($leaf% of the CPU, ~$share% burnt there)" within "$leaf" "$share" 6
    check "$mode: root_$w, 31 frames up, holds all of leaf_$w ($root% >= $leaf%)" \
      awk -v r="$root" -v l="$leaf" 'BEGIN { exit !(r >= l - 0.5 && l > 0) }'
  done
  # A handler's frames lead through the kernel's signal frame to raise and main.
  main=$(pprof_cum "$f" main); lm=$(pprof_cum "$f" leaf_main); lh=$(pprof_cum "$f" leaf_handler)
  check "$mode: main holds the main thread's leaf and the handler's ($main% >= $lm% + $lh%)" \
    awk -v m="$main" -v a="$lm" -v b="$lh" 'BEGIN { exit !(m >= a + b - 1) }'
  left=$(sed -n 's/.*frame shapes learnt, \([0-9]*\) walks left to libunwind.*/\1/p' "$WORK/err" | head -1)
  if [ $mode = plain ]; then
    check "plain: no walk went to libunwind (${left:-no count})" [ "${left:-x}" = 0 ]
  else
    check "coroutine: the coroutine's walks went to libunwind (${left:-no count})" [ "${left:-0}" -ge 20 ]
  fi
done

# Lazy binding: with LD_BIND_NOT every call through the PLT goes through
# the dynamic loader's trampoline, which keeps its frame in rbx, a frame
# the walker cannot step. Those samples keep their PC (the loader's lists
# may be mid-update), libunwind is not loaded for them, and the profile
# still holds all the CPU.
cat > "$WORK/lazy.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double cpu(void) {
  struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
__attribute__((noinline)) long root_bind(void) {
  long s = 0; double a = cpu();
  do { for (int i = 0; i < 1000; i++) s += strtol("12", NULL, 10); } while (cpu() - a < 0.8);
  return s;
}
int main(void) { long s = root_bind(); printf("%d %.0f\n", s > 0, cpu() * 1000); return 0; }
C
cc -O1 -g -Wl,-z,lazy -o "$WORK/lazy" "$WORK/lazy.c"
rm -rf "$WORK/out"
out=$(under_agent LD_BIND_NOT=1 OTPROF_MEMORY_ENABLED=false LD_DEBUG=files \
  LD_DEBUG_OUTPUT="$WORK/lazyfiles" -- "$WORK/lazy")
check "lazy binding: the program runs as usual ($out)" [ "${out%% *}" = 1 ]
# The trampoline's name depends on the CPU (_dl_runtime_resolve_xsavec,
# _xsave, _fxsave): the loader's own functions, flat, together.
tramp=$(pprof_top -nodefraction=0 "$(ls "$WORK"/out/lazy.*.cpu.pb.gz 2> /dev/null | head -1)" |
  awk '$NF ~ /^_dl_/ { gsub("%", "", $2); t += $2 } END { print t + 0 }')
check "lazy binding: the loader's functions in the profile (${tramp}% flat)" awk -v t="$tramp" 'BEGIN { exit !(t > 20) }'
check "lazy binding: libunwind not loaded for them" [ -z "$(cat "$WORK"/lazyfiles.* 2> /dev/null | grep libunwind)" ]
f=$(ls "$WORK"/out/lazy.*.cpu.pb.gz 2> /dev/null | head -1)
ms=$(pprof_total_ms "$f"); burnt=${out##* }
check "lazy binding: the profile holds the CPU burnt (${ms:-none} ms of $burnt)" within "${ms:-0}" "$burnt" $((burnt / 8))
if command -v strace > /dev/null; then
  strace -f -qq -e trace=openat -o "$WORK/st" env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out2" \
    LD_PRELOAD="$AGENT" "$WORK/walks" > /dev/null 2>&1
  n=$(grep -c libunwind "$WORK/st"); a=$(grep -c libotprof_agent "$WORK/st")
  [ "$n" -eq 0 ] && [ "$a" -ge 1 ]; r=$?
  check "plain: libunwind never opened (strace: $n; the agent: $a)" [ $r -eq 0 ]
fi
finish
