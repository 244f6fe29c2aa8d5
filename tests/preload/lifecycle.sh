# The process's lifecycle under the agent: no thread of the agent where the
# app needs to be single-threaded, the process ends when it would without
# the agent, fork children recognised whatever their parent does, exec
# failures, and runs ended by a signal.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"
P="$PROGS/lifecycle"
cpu_total_ms() { local t=0 f v; for f in "$@"; do v=$(pprof_total_ms "$f"); t=$(awk -v a="$t" -v b="${v:-0}" 'BEGIN { print a + b }'); done; echo "$t"; }

# --- no agent thread where the app must be single-threaded ---------------
# unshare(CLONE_NEWUSER) needs a single-threaded caller: after 1.2 s of
# work (the flusher runs by then) and a thread started and joined, it
# succeeds as it does without the agent, and the work before it is kept.
# Also through syscall(SYS_unshare), which failed with EINVAL.
# (The bare run alongside: one core each.)
for m in unshare sys_unshare; do
{ "$P" $m > "$WORK/bare.out" 2>&1; echo $? > "$WORK/bare.st"; } & b=$!
rm -rf "$WORK/out"
prof=$(under_agent -- timeout -k 1 20 "$P" $m 2>&1); rp=$?
wait "$b"; bare=$(cat "$WORK/bare.out"); rb=$(cat "$WORK/bare.st")
if [ $rb -ne 0 ]; then
  echo "  skip: unshare(CLONE_NEWUSER) fails even without the agent here: $bare"
else
  check "$m(CLONE_NEWUSER) after start-up: same result as without the agent ($prof)" \
    [ "$rp" -eq 0 -a "$prof" = "$bare" ]
  f=$(ls "$WORK"/out/lifecycle.*.cpu.pb.gz 2>/dev/null | head -1)
  check "$m: the work before and after it is profiled (burn_alloc named)" \
    [ "$(pprof_cum "$f" burn_alloc)" != "0" ]
  check "$m: the profile holds the whole run (>= 1.2 s of 1.55 s)" \
    [ "$(awk -v t="$(cpu_total_ms "$f")" 'BEGIN { print (t >= 1200) }')" = 1 ]
  if [ $m = unshare ] && command -v unshare > /dev/null; then
    same_as_bare "unshare -Ur id" unshare -Ur id
  fi
fi
done

# A fork child counts its threads first thing: only its own.
out=$(under_agent -- "$P" forkcount)
check "fork child is single-threaded at start ($out)" [ "$out" = "child threads: 1" ]

# A single-threaded program that never allocates and never makes the agent
# start a thread: its whole CPU time still reaches the profile at exit.
rm -rf "$WORK/out"
under_agent -- "$P" nomalloc 3 2> "$WORK/nm.err"
used=$(sed -n 's/^cpu_ms=//p' "$WORK/nm.err")
got=$(cpu_total_ms "$WORK"/out/lifecycle.*.cpu.pb.gz)
check "single-threaded, no malloc, 3 s: ${got} ms of ${used} ms of CPU in the profile (>= 90%)" \
  [ "$(awk -v g="$got" -v u="${used:-0}" 'BEGIN { print (u > 0 && g >= 0.9 * u) }')" = 1 ]

# --- the last thread ends the process --------------------------------------
# main calls pthread_exit, two workers end later: glibc then exits with
# status 0, as it does without the agent, and the last interval is written.
rm -rf "$WORK/out"
under_agent -- timeout -k 1 20 "$P" pexit; rc=$?
check "main pthread_exit, workers end later: exit status 0 ($rc)" [ "$rc" -eq 0 ]
f=$(ls "$WORK"/out/lifecycle.*.cpu.pb.gz 2>/dev/null | head -1)
check "main pthread_exit: the workers' CPU is in the profile (>= 1 s of 1.2 s)" \
  [ "$(awk -v t="$(cpu_total_ms "$f")" 'BEGIN { print (t >= 1000) }')" = 1 ]
check "main pthread_exit: symbolized although the main thread is gone (worker_burn named)" \
  [ "$(pprof_cum "$f" worker_burn)" != "0" ]
# The last thread is one the agent did not start (libearlythread starts it
# from its constructor, before the agent's): the flusher notices it is
# gone at the next interval, exports and ends, and glibc exits with 0.
rm -rf "$WORK/out"
timeout -k 1 30 env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" OTPROF_EXPORT_INTERVAL_MS=300 \
  LD_PRELOAD="$AGENT $PROGS/libearlythread.so" "$P" pexit; rc=$?
check "main pthread_exit, a pre-existing thread ends last: exit status 0 ($rc)" [ "$rc" -eq 0 ]

# --- a failed exec keeps OTLP export on ------------------------------------
# The exec path exports and shuts the sinks down; when exec fails the
# process goes on, and so must its export: later intervals reach the
# receiver.
rx_start failexec 200
out=$(under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=200 \
  -- "$P" failexec)
check "failed execve: the app goes on ($out)" grep -q "execve failed" <<<"$out"
before=0; after=0
for f in $(rx_bodies "$RX_DIR"); do
  s1=$("$CHECKER" "$f")
  grep -q " burn_alloc " <<<"$s1" && after=$((after + 1))
  grep -q " burn " <<<"$s1" && before=$((before + 1))
done
check "failed execve: the interval before it was exported ($before requests)" [ "$before" -ge 1 ]
check "failed execve: later intervals reach the receiver too ($after requests)" [ "$after" -ge 2 ]

# --- runs ended by a signal --------------------------------------------------
# SIGTERM, SIGINT, SIGALRM, SIGUSR2 (default action) and SIGPIPE (a
# pipeline's producer): the process dies of the same signal as without the
# agent, and the profile holds at least 80% of the CPU it used.
SIGRUN="$PY $ROOT/tests/tools/sigrun.py"
ratio_ok() { awk -v g="$1" -v u="$2" 'BEGIN { print (u > 0 && g >= 0.8 * u) }'; }
# sig_both NAME SIGRUN-ARGS...: the run bare and under the agent, at the
# same time (a core each: the runs are timed by sigrun, their CPU by the
# kernel, and this test takes half as long). Sets bare and st (statuses),
# used (the agent's run's CPU, ms) and got (its profile's, from NAME's file).
# A background job of a shell without job control starts with SIGINT and
# SIGQUIT ignored: the bare run gets them back at their default.
sig_both() {
  local name=$1 r b; shift
  env --default-signal=INT,QUIT $SIGRUN "$@" > "$WORK/bare.run" &
  b=$!
  rm -rf "$WORK/out"
  r=$(under_agent -- $SIGRUN "$@")
  wait $b
  bare=$(sed -n 's/^status=\([-0-9]*\).*/\1/p' "$WORK/bare.run")
  st=$(sed -n 's/^status=\([-0-9]*\).*/\1/p' <<<"$r"); used=$(sed -n 's/.*cpu_ms=//p' <<<"$r")
  got=$(cpu_total_ms "$WORK"/out/"$name".*.cpu.pb.gz)
}
for spec in "TERM 2.5 -- spin" "INT 2.5 -- spin" "ALRM 1.5 -- spin" "USR2 1.5 -- spin" "PIPE 2 --pipe -- pipe"; do
  set -- $spec; sig=$1; mode=${*: -1}; args=${spec% *}
  sig_both lifecycle $args "$P" "$mode"
  check "SIG$sig: dies of the same signal as without the agent (status $st, bare $bare)" [ "$st" = "$bare" ]
  check "SIG$sig: the profile holds ${got} ms of ${used} ms of CPU (>= 80%)" [ "$(ratio_ok "$got" "$used")" = 1 ]
done

# A SIGTERM that lands while the thread runs the agent's own code (here,
# deterministically, from inside a sampled allocation at 1.5 s, the
# agent's thread running): the agent's thread still makes the final
# export. Before, such a death left no profile at all (a program whose
# threads allocate all the time: 1 SIGTERM in 7 to 20). Before the agent's
# thread runs (at 0.3 s), nothing may be started from there: the process
# dies at once, as it did.
for at in 1500 300; do
  rm -rf "$WORK/out"
  t0=$(date +%s%N)
  under_agent OTP_TEST_TERM_IN_SAMPLE_MS=$at -- "$PROGS/alloc_churn" 5 > /dev/null 2>&1
  st=$?; ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  got=$(cpu_total_ms "$WORK"/out/alloc_churn.*.cpu.pb.gz)
  if [ "$at" = 1500 ]; then
    check "SIGTERM inside a sampled allocation at 1.5 s: status $st (143), the profile holds ${got} ms (>= 1200)" \
      awk -v s="$st" -v g="${got:-0}" 'BEGIN { exit !(s == 143 && g >= 1200) }'
  else
    check "SIGTERM inside a sampled allocation at 0.3 s, no agent thread yet: status $st (143) after ${ms} ms (< 1000)" \
      [ "$st" = 143 -a "$ms" -lt 1000 ]
  fi
done

# A Debian program ended by its own alarm: perl's `alarm 1` with no handler
# (the last interval was lost before SIGALRM was caught).
# (sigrun only measures: its own SIGALRM at 1.5 s finds perl gone.)
sig_both perl ALRM 1.5 -- perl -e 'alarm 1; 1 while 1'
check "perl's alarm: dies of SIGALRM as without the agent (status $st, bare $bare)" [ "$st" = "$bare" ]
check "perl's alarm: the profile holds ${got} ms of its ${used} ms of CPU (>= 80%)" [ "$(ratio_ok "$got" "$used")" = 1 ]

# Over RLIMIT_CPU's soft limit (a judge's or a sandbox's `ulimit -S -t`):
# the kernel's SIGXCPU, whose default action dumps core. perl with 1 s of
# CPU (the last interval was lost before SIGXCPU was caught). sigrun only
# measures: its own signal at 2.5 s finds perl gone.
sig_both perl XCPU 2.5 -- prlimit --cpu=1:10 perl -e '1 while 1'
check "perl over ulimit -t: dies of SIGXCPU as without the agent (status $st, bare $bare)" [ "$st" = "$bare" -a "$st" = -24 ]
check "perl over ulimit -t: the profile holds ${got} ms of its ${used} ms of CPU (>= 80%)" [ "$(ratio_ok "$got" "$used")" = 1 ]

# Ctrl-\ at the terminal: SIGQUIT, whose default action dumps core (none
# written here: the limit is 0, for both runs; the last interval was lost
# before SIGQUIT was caught).
sig_both lifecycle QUIT 1.5 -- prlimit --core=0 "$P" spin
check "SIGQUIT: dies of SIGQUIT as without the agent (status $st, bare $bare)" [ "$st" = "$bare" -a "$st" = -3 ]
check "SIGQUIT: the profile holds ${got} ms of ${used} ms of CPU (>= 80%)" [ "$(ratio_ok "$got" "$used")" = 1 ]

# The shell sees the same status (timeout's own, and the signal's with
# --preserve-status).
# (The bare run alongside: one core each.)
for pre in "" "--preserve-status"; do
  { timeout $pre -s TERM 2 "$P" spin; echo $? > "$WORK/bare.st"; } & b=$!
  rm -rf "$WORK/out"
  prof=$(under_agent -- timeout $pre -s TERM 2 "$P" spin; echo $?)
  wait "$b"; bare=$(cat "$WORK/bare.st")
  check "timeout $pre -s TERM 2: status $prof, as without the agent ($bare)" [ "$prof" = "$bare" ]
  f=$(ls "$WORK"/out/lifecycle.*.cpu.pb.gz 2>/dev/null | head -1)
  check "timeout $pre -s TERM 2: a profile naming burn" [ "$(pprof_cum "$f" burn)" != "0" ]
done

# The app still reads SIG_DFL for the signals the agent catches, and its
# own handler runs exactly as without the agent.
same_as_bare "dispositions read by the app" "$P" dfl
bare=$($SIGRUN TERM 0.3 --ready -- "$P" ownterm | sed 's/ cpu_ms=.*//')
prof=$(under_agent -- $SIGRUN TERM 0.3 --ready -- "$P" ownterm | sed 's/ cpu_ms=.*//')
check "own SIGTERM handler: runs as without the agent ($(echo $prof))" [ "$prof" = "$bare" ]
# The agent's own diagnostics written to a stderr nobody reads any more
# (the summary at exit) do not kill the process with SIGPIPE.
st=$(under_agent OTPROF_AGENT_SUMMARY=1 -- $PY -c 'import os, subprocess, sys
r, w = os.pipe(); os.close(r)
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=w); os.close(w); print(p.wait())' "$P" dfl)
check "summary on a closed stderr: exit status 0 as without the agent ($st)" [ "$st" = 0 ]

# exec'd images get what they would have without the agent: default for
# what the agent caught, ignored stays ignored.
same_as_bare "exec'd image without the agent: dispositions" \
  bash -c "trap '' HUP; exec env -u LD_PRELOAD '$P' dfl"
same_as_bare "exec'd image: ignored SIGINT stays ignored" bash -c "trap '' INT; exec '$P' dfl"

# --- fork children recognised by what fork's prepare handler recorded ------
# A daemon's grandchild whose parent exited before the child's fork handler
# ran (libforkwait makes sure of it), and a child that is pid 1 of a new
# PID namespace (its getppid() is 0): each is profiled under its own pid and
# keeps the signal mask it would have without the agent.
rm -rf "$WORK/out"
bare=$(LC_X=1 "$P" daemon | grep SigBlk)
out=$(env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" LD_PRELOAD="$AGENT $PROGS/libforkwait.so" "$P" daemon)
dpid=$(sed -n 's/^daemon pid //p' <<<"$out")
check "daemon child: signal mask as without the agent ($(grep SigBlk <<<"$out"))"   [ -n "$bare" -a "$(grep SigBlk <<<"$out")" = "$bare" ]
f=$(ls "$WORK"/out/lifecycle."${dpid:-x}".*.cpu.pb.gz 2>/dev/null | head -1)
check "daemon child: profiled under its own pid (burn named)" [ "$(pprof_cum "$f" burn)" != "0" ]

bare=$("$P" pidns)
if grep -q '^skip' <<<"$bare"; then
  echo "  skip: new PID namespace not permitted here: $bare"
else
  rm -rf "$WORK/out"
  out=$(under_agent -- "$P" pidns)
  check "PID-namespace child: signal mask as without the agent ($(grep SigBlk <<<"$out"))" \
    [ "$(grep SigBlk <<<"$out")" = "$(grep SigBlk <<<"$bare")" ]
  f=$(ls "$WORK"/out/lifecycle.1.*.cpu.pb.gz 2>/dev/null | head -1)
  check "PID-namespace child: profiled (burn named in its file)" [ "$(pprof_cum "$f" burn)" != "0" ]
fi
finish
