# At its user's limit of pending signals (RLIMIT_SIGPENDING) every POSIX
# timer takes a place, the agent's CPU timers (one per thread) too: an
# app making its own timers got fewer than bare (5 of 8 with two threads
# working). At the app's timer_create that fails with EAGAIN, one of the
# agent's timers goes to it (the caller's, else another thread's), said
# once; those threads' CPU is no longer sampled, and the summary counts
# them as not profiled.
source "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "  not root: cannot become another uid; skipped"
  finish
fi
chmod 711 "$WORK"
bare=$("$PROGS/sig_limit" 8 2 2>&1)
if [ $? -eq 2 ]; then
  echo "  cannot become another uid here ($bare); skipped"
  finish
fi
check "bare: 8 timers under a limit of 8 (suite sanity; $bare)" grep -q '^timers 8 ' <<<"$bare"
mkdir -m 700 "$WORK/out" && chown 54322:54322 "$WORK/out"
out=$(under_agent OTPROF_AGENT_SUMMARY=true -- "$PROGS/sig_limit" 8 2 2> "$WORK/err")
rc=$?
check "under the agent: exit 0 ($rc)" [ "$rc" -eq 0 ]
check "under the agent: the same 8 timers ($out)" grep -q '^timers 8 ' <<<"$out"
n=$(grep -c 'limit of pending signals' "$WORK/err")
check "said once that the agent's timers gave way ($n)" [ "$n" -eq 1 ]
np=$(sed -n 's/.*, \([0-9]*\) threads not profiled.*/\1/p' "$WORK/err")
check "the summary counts the threads whose timer went to the app (${np:-none}; 3 threads held one)" \
  [ "${np:-0}" -ge 1 -a "${np:-0}" -le 3 ]
check "go tool pprof reads every profile" pprof_reads "$WORK"/out/sig_limit.*.pb.gz
finish
