# Threads, fork and the app's own SIGPROF.
source "$(dirname "$0")/../lib.sh"

# 500 short-lived threads: all run, samples from many distinct threads,
# timers do not leak (none left once the threads are gone).
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=1000 -- "$PROGS/many_threads" 500 8 timers 2>"$WORK/timers")
rc=$?
lt=$(sed -n 's/^live_timers=//p' "$WORK/timers")
check "500 threads: their timers died with them (live timers at the end: $lt, main thread's only)" [ "${lt:-99}" -le 1 ]
check "500 short-lived threads: exit 0, all ran" [ "$rc" -eq 0 -a "$out" = "threads=500" ]
f=$(ls "$WORK"/out/many_threads.*.cpu.pb.gz 2>/dev/null | head -1)
check "500 threads: profile written and readable" pprof_reads "$f"
nt=$(go tool pprof -raw "$f" 2>/dev/null | grep -o 'thread_id:\[[0-9]*\]' | sort -u | wc -l)
echo "  distinct sampled threads: $nt"
check "500 threads: samples from more than 100 distinct threads" [ "$nt" -gt 100 ]
check "500 threads: short_burn is named" grep -q short_burn <<<"$(go tool pprof -top "$f" 2>/dev/null)"

# fork: the child writes its own profile (own pid) naming child_work; the
# parent's samples are not in the child's file. Also for a fork past
# glibc's fork handlers (syscall(SYS_fork), clone without CLONE_VM, as
# container tools fork): that child passed for its parent and its whole
# profile was lost.
for how in fork sys_fork sys_clone sys_clone3; do
  rm -rf "$WORK/out"
  out=$(under_agent -- "$PROGS/forker" 0.6 $how)
  rc=$?
  [ "$rc" -eq 0 ] && grep -q "status 0" <<<"$out"; r=$?
  check "$how: parent and child exit 0" [ $r -eq 0 ]
  ppid=$(sed -n 's/^parent \([0-9]*\) child.*/\1/p' <<<"$out"); cpid=$(sed -n 's/^parent [0-9]* child \([0-9]*\).*/\1/p' <<<"$out")
  pf=$(ls "$WORK"/out/forker."$ppid".*.cpu.pb.gz 2>/dev/null | head -1)
  cf=$(ls "$WORK"/out/forker."$cpid".*.cpu.pb.gz 2>/dev/null | head -1)
  check "$how: parent profile exists" [ -n "$pf" ]
  check "$how: child profile exists under the child's pid" [ -n "$cf" ]
  check "$how: both readable by go tool pprof" pprof_reads "$pf" "$cf"
  check "$how: child profile names child_work (timer re-armed in the child)" \
    within "$(pprof_cum "$cf" child_work)" 100 20
  check "$how: child profile has no parent_work samples (nothing written twice)" \
    [ "$(pprof_cum "$cf" parent_work)" = "0" ]
  check "$how: parent profile has parent_work and no child_work" \
    [ "$(pprof_cum "$pf" child_work)" = "0" -a "$(pprof_cum "$pf" parent_work)" != "0" ]
done

# A multi-threaded process forks as launchers do (Chromium's): the child
# resets every signal's action with raw system calls and spends 80 ms of
# CPU before its exec. A timer armed at the fork killed it with SIGPROF
# (the GPU process Chromium launches this way never started); as bare,
# it execs and exits 0. A child of such a parent that lives on (it
# allocates, then computes) is still profiled.
rm -rf "$WORK/out"
out=$(under_agent -- "$PROGS/launcher" reset_exec 80)
check "multi-threaded launcher: its child, signals reset raw, execs as bare ($out)" grep -q ': exit 0$' <<<"$out"
rm -rf "$WORK/out"
out=$(under_agent -- "$PROGS/launcher" worker 500)
cpid=$(sed -n 's/^child \([0-9]*\):.*/\1/p' <<<"$out")
cf=$(ls "$WORK"/out/launcher."${cpid:-x}".*.cpu.pb.gz 2>/dev/null | head -1)
ms=$(go tool pprof -top -unit=ms "$cf" 2>/dev/null | awk '$NF == "child_work" { sub("ms", "", $4); print $4 }')
check "multi-threaded parent's worker child: child_work holds ${ms:-0} of its 500 ms" within "${ms:-0}" 500 100

# A single-threaded program forks after the agent's thread started, as
# a script does: right after each fork it reads its thread count, as
# Python 3.12 and later do at every os.fork() (they print a
# DeprecationWarning above one). One, as bare, at each of 8 forks; and
# the thread comes back between them: the periodic exports go on, and
# the profiles hold the run's CPU.
rm -rf "$WORK/out6"
out=$(env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out6" OTPROF_EXPORT_INTERVAL_MS=600 LD_PRELOAD="$AGENT" "$PROGS/fork_count" 8 0.4)
check "single-threaded, forking: one thread right after each fork, as bare ($out)" \
  [ "$out" = "threads right after a fork: at most 1" ]
parent=$(cd "$WORK/out6" && ls fork_count.*.cpu.pb.gz 2>/dev/null | cut -d. -f2 | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
n=$(ls "$WORK"/out6/fork_count."${parent:-x}".*.cpu.pb.gz 2>/dev/null | wc -l)
check "single-threaded, forking: the parent's periodic exports go on ($n files of 3.2 s at 600 ms)" [ "$n" -ge 4 ]
ms=$(go tool pprof -top -unit=ms "$WORK"/out6/fork_count."${parent:-x}".*.cpu.pb.gz 2>/dev/null | sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p')
check "single-threaded, forking: the parent's profiles hold ${ms:-0} of 3200 ms" within "${ms:-0}" 3200 480
# A shell forks a command every millisecond or so, and allocates mostly
# right after each fork: a start of the agent's thread refused in the
# quiet after a fork is asked for again, or the thread would never come
# back and the shell's periodic exports would stop.
rm -rf "$WORK/out7"
env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out7" OTPROF_EXPORT_INTERVAL_MS=300 LD_PRELOAD="$AGENT" \
  bash -c 'for i in $(seq 1500); do /bin/true; x="$x$i"; done' >/dev/null 2>&1
n=$(cd "$WORK/out7" && ls bash.*.cpu.pb.gz 2>/dev/null | cut -d. -f2 | sort | uniq -c | sort -rn | awk 'NR == 1 {print $1}')
check "a shell's loop of 1500 commands: its periodic exports go on (${n:-0} files at 300 ms)" [ "${n:-0}" -ge 4 ]

# A 2 GiB process forks under a 1 kHz timer: SIGPROF is blocked around
# fork, so the kernel's fork is not interrupted and restarted forever.
out=$(timeout 120 env OTPROF_EXPORT_OUTPUT_DIR="$WORK/outbig" OTPROF_CPU_FREQUENCY_HZ=1000 LD_PRELOAD="$AGENT" "$PROGS/big_fork" 2048 3)
check "2 GiB process forks 3 times under a 1 kHz timer" [ "$out" = "forked 3 of 3" ]

# The app's own SIGPROF: its handler and setitimer keep working (every
# SIGPROF not from our timers reaches it, SIG_DFL is honoured later), the
# agent keeps profiling, and says so once.
rm -rf "$WORK/out"
err=$( { out=$(under_agent OTPROF_AGENT_LOG_LEVEL=info OTPROF_CPU_FREQUENCY_HZ=1000 -- "$PROGS/own_sigprof"); echo "rc=$? $out" >&2; } 2>&1 )
check "own SIGPROF handler: app exits 0 and counts its own ticks" grep -q "rc=0 own ticks: ok" <<<"$err"
check "own SIGPROF handler: the agent says so exactly once" \
  [ "$(grep -c 'installed its own SIGPROF handler' <<<"$err")" -eq 1 ]
bare=$("$PROGS/own_sigprof")
check "own SIGPROF handler: same output as without the agent" [ "$bare" = "own ticks: ok" ]
f=$(ls "$WORK"/out/own_sigprof.*.cpu.pb.gz 2>/dev/null | head -1)
[ -n "$f" ] && [ "$(pprof_cum "$f" busy)" != "0" ]; r=$?
check "own SIGPROF handler: the agent still profiles (busy named)" [ $r -eq 0 ]

# The app's handler saves and restores its mask (gperftools' does, through
# libunwind, around each step of its walk): the thread's SIGPROF stayed
# blocked in the app's view after the first tick, the next SIGPROF was held
# back for good, and both the app's ticks and the agent's samples stopped
# (1 tick of 50; gperftools and the agent together: 3 interrupts and 5
# samples of 4 s).
rm -rf "$WORK/out"
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=100 -- "$PROGS/own_sigprof" masks 2>&1)
check "own SIGPROF handler that restores its mask: counts its own ticks ($out)" [ "$out" = "own ticks: ok" ]
f=$(ls "$WORK"/out/own_sigprof.*.cpu.pb.gz 2>/dev/null | head -1)
got=0; [ -n "$f" ] && got=$(pprof_total_ms "$f")
check "own SIGPROF handler that restores its mask: the agent's profile holds ${got} ms of ~1000 (>= 800)" \
  awk -v g="${got:-0}" 'BEGIN { exit !(g >= 800) }'

# The app's SIG_DFL is honoured for signals that are not ours: kill -PROF
# terminates the process exactly as it would without the agent.
under_agent -- bash -c 'kill -PROF $$; echo survived' >/dev/null 2>&1; rc=$?
bash -c 'kill -PROF $$; echo survived' >/dev/null 2>&1; brc=$?
check "kill -PROF with default disposition: same fate as without the agent ($brc)" [ "$rc" -eq "$brc" ]
out=$(under_agent -- bash -c 'trap "" PROF; kill -PROF $$; echo survived' 2>&1)
check "SIGPROF ignored by the app: kill -PROF is ignored" [ "$out" = "survived" ]
out=$(under_agent -- bash -c 'trap "" PROF; exec bash -c "kill -PROF \$\$; echo ignored-after-exec"' 2>&1)
check "SIGPROF ignored by the app stays ignored across exec" [ "$out" = "ignored-after-exec" ]

# A handler installed by another library before or after the agent
# starts: both keep working, CPU profiling stays on, said once (info).
cat > "$WORK/takeprof.c" <<'C'
#include <signal.h>
static void h(int s) { (void)s; }
__attribute__((constructor)) static void take(void) { signal(SIGPROF, h); }
C
cc -shared -fPIC -o "$WORK/libtakeprof.so" "$WORK/takeprof.c"
for order in "$WORK/libtakeprof.so $AGENT" "$AGENT $WORK/libtakeprof.so"; do
  rm -rf "$WORK/out2"
  err=$(env OTPROF_AGENT_LOG_LEVEL=info OTPROF_EXPORT_OUTPUT_DIR="$WORK/out2" LD_PRELOAD="$order" "$PROGS/cpu_split" 1 0.3 2>&1 >/dev/null)
  what="SIGPROF handler from another library (${order//$WORK\//})"
  check "$what: said once" [ "$(grep -cE 'SIGPROF already had a handler|installed its own SIGPROF handler' <<<"$err")" -eq 1 ]
  check "$what: CPU profile still written" [ -n "$(ls "$WORK"/out2/*.cpu.pb.gz 2>/dev/null)" ]
done
# Code without unwind information (a JIT-like stub in an anonymous
# mapping) under a 1 kHz timer: no crash, stacks just end there. Then a
# stub whose rbp points at unmapped memory (HotSpot's compiled code uses
# rbp as any register): the frame-pointer chain is followed only inside
# the thread's stack (libunwind's fallback read at rbp and killed the
# process, as it once killed a JVM). A thread created while SIGPROF was
# blocked is still sampled (its start unblocks it).
rm -rf "$WORK/out4"
out=$(env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out4" OTPROF_CPU_FREQUENCY_HZ=1000 LD_PRELOAD="$AGENT" "$PROGS/odd_code" 2>&1)
check "JIT-like code without unwind info, one with a wild frame pointer: app runs to the end" \
  [ "$out" = "$(printf 'jit stub ran: yes\nstub with a wild frame pointer ran: yes')" ]
f=$(ls "$WORK"/out4/*.cpu.pb.gz 2>/dev/null | head -1)
check "JIT-like code: profile readable" pprof_reads "$f"
ms=$(pprof_total_ms "$f")
check "JIT-like code: the profile holds ${ms:-0} of the three threads' 1500 ms" within "${ms:-0}" 1500 300
[ -n "$f" ] && [ "$(pprof_cum "$f" blocked_burner)" != "0" ]; r=$?
check "thread created with SIGPROF blocked is sampled (blocked_burner named)" [ $r -eq 0 ]

# A thread started before the agent (by another library's constructor) is
# found through /proc/self/task and profiled too.
cat > "$WORK/early.c" <<'C'
#include <pthread.h>
#include <time.h>
static volatile unsigned long sink;
__attribute__((noinline)) static void early_burner(void) {
  struct timespec a, b; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  do { for (int i = 0; i < 10000; i++) sink += i; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b); }
  while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 400000000L);
}
static void *run(void *p) { (void)p; early_burner(); return 0; }
__attribute__((constructor)) static void start(void) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_detach(t); }
C
cc -shared -fPIC -O1 -g -fno-inline -o "$WORK/libearly.so" "$WORK/early.c" -lpthread
rm -rf "$WORK/out3"
env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out3" LD_PRELOAD="$AGENT $WORK/libearly.so" "$PROGS/cpu_split" 1 0.6 0.5 >/dev/null 2>&1
f=$(ls "$WORK"/out3/*.cpu.pb.gz 2>/dev/null | head -1)
[ -n "$f" ] && [ "$(pprof_cum "$f" early_burner)" != "0" ]; r=$?
check "a thread that predates the agent is profiled (early_burner named)" [ $r -eq 0 ]
finish
