# Callbacks that the C library runs in threads it starts itself
# (SIGEV_THREAD notifications of timer_create and mq_notify): its
# internal pthread_create passes no wrapper, and those threads ran
# unknown to the agent, their CPU in no profile (a timer callback that
# burned 800 ms: 0 samples, and the summary said no thread went
# unprofiled). Each mode (tests/progs/notify_threads.c) runs bare and
# under the agent: the same output (the callbacks get the app's value),
# and the callbacks' CPU in the profile under their function.
source "$(dirname "$0")/../lib.sh"

P="$PROGS/notify_threads"
for spec in "timer 80" "periodic 75" "mq 80"; do
  set -- $spec; mode=$1; min=$2
  bare=$("$P" "$mode" 2>/dev/null); rb=$?
  rm -rf "$WORK/out"
  prof=$(under_agent -- "$P" "$mode" 2>"$WORK/err"); rp=$?
  check "$mode: same exit status ($rp, bare $rb) and output ($prof)" [ "$rp" = "$rb" -a "$prof" = "$bare" ]
  cb=$(sed -n 's/^cb_ms=//p' "$WORK/err")
  f=$(ls "$WORK"/out/notify_threads.*.cpu.pb.gz 2>/dev/null | head -1)
  got=0
  if [ -n "$f" ]; then
    got=$(awk -v t="$(pprof_total_ms "$f")" -v c="$(pprof_cum "$f" notify_burn)" 'BEGIN { printf "%.0f", t * c / 100 }')
  fi
  check "$mode: the profile holds ${got} ms in the callbacks' function, of their ${cb:-?} ms of CPU (>= $min%)" \
    awk -v g="$got" -v c="${cb:-0}" -v m="$min" 'BEGIN { exit !(c > 0 && g >= c * m / 100) }'
done
# POSIX AIO's completions: glibc reads their sigevent from the app's own
# control block at completion, which the agent leaves alone. Their
# callbacks stay unprofiled, and the agent says so, once.
bare=$("$P" aio 2>/dev/null); rb=$?
prof=$(under_agent -- "$P" aio 2>"$WORK/err"); rp=$?
check "aio: same exit status ($rp, bare $rb) and output ($prof)" [ "$rp" = "$rb" -a "$prof" = "$bare" ]
check "aio: the agent says once that such callbacks are not profiled" \
  [ "$(grep -c 'POSIX AIO completions with SIGEV_THREAD' "$WORK/err")" = 1 ]
finish
