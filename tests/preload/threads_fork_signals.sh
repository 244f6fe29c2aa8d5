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
# parent's samples are not in the child's file.
rm -rf "$WORK/out"
out=$(under_agent -- "$PROGS/forker" 0.6)
rc=$?
check "fork: parent and child exit 0" [ "$rc" -eq 0 ] && grep -q "status 0" <<<"$out"
ppid=$(sed -n 's/^parent \([0-9]*\) child.*/\1/p' <<<"$out"); cpid=$(sed -n 's/^parent [0-9]* child \([0-9]*\).*/\1/p' <<<"$out")
pf=$(ls "$WORK"/out/forker."$ppid".*.cpu.pb.gz 2>/dev/null | head -1)
cf=$(ls "$WORK"/out/forker."$cpid".*.cpu.pb.gz 2>/dev/null | head -1)
check "fork: parent profile exists" [ -n "$pf" ]
check "fork: child profile exists under the child's pid" [ -n "$cf" ]
check "fork: both readable by go tool pprof" pprof_reads "$pf" "$cf"
check "fork: child profile names child_work (timer re-armed in the child)" \
  within "$(pprof_cum "$cf" child_work)" 100 20
check "fork: child profile has no parent_work samples (nothing written twice)" \
  [ "$(pprof_cum "$cf" parent_work)" = "0" ]
check "fork: parent profile has parent_work and no child_work" \
  [ "$(pprof_cum "$pf" child_work)" = "0" -a "$(pprof_cum "$pf" parent_work)" != "0" ]

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
check "own SIGPROF handler: the agent still profiles (busy named)" \
  [ -n "$f" ] && [ "$(pprof_cum "$f" busy)" != "0" ]

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
finish
