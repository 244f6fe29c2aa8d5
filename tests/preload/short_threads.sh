# Threads and processes that live a few milliseconds of CPU. CPU timers
# fire on the kernel's tick while their thread runs, so a sample point a
# thread passed in its last milliseconds was lost when it ended before
# the tick: 200 threads of 3 ms came out at 40% of their CPU, 100
# processes of 5 ms at 62%. The point is now recorded as the thread ends
# (its exit, the process's, an exec), under the thread's start function.
# At 1000 Hz, for hundreds of samples (the sampling's own spread: ~4%).
source "$(dirname "$0")/../lib.sh"

P="$PROGS/short_threads"
rm -rf "$WORK/out"
under_agent OTPROF_CPU_FREQUENCY_HZ=1000 -- "$P" 200 3 2>"$WORK/err"
work=$(sed -n 's/^work_ms=//p' "$WORK/err")
f=$(ls "$WORK"/out/short_threads.*.cpu.pb.gz 2>/dev/null | head -1)
got=0; share=0
[ -n "$f" ] && got=$(pprof_total_ms "$f") && share=$(pprof_cum "$f" short_task)
check "200 threads of 3 ms: the profile holds ${got} ms of their ${work:-?} ms (80-120%)" \
  awk -v g="${got:-0}" -v w="${work:-0}" 'BEGIN { exit !(w > 0 && g >= 0.8 * w && g <= 1.2 * w) }'
check "all of it under the threads' start function, short_task: ${share}% (>= 95%)" \
  awk -v s="$share" 'BEGIN { exit !(s >= 95) }'

n=0
for i in $(seq 1 60); do
  c=$(under_agent OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_AGENT_SUMMARY=1 -- "$P" 0 5 2>&1 |
    sed -n 's/.*: \([0-9]*\) CPU samples (.*/\1/p')
  n=$((n + ${c:-0}))
done
check "60 processes of 5 ms: their profiles hold ${n} ms of 300 (80-125%)" [ "$n" -ge 240 -a "$n" -le 375 ]
finish
