# Sampling must not lock step with the app: a loop whose period is two
# sampling periods (97 Hz: 2 x 10.309 ms of CPU) is sampled at every
# phase, so its hot function's share comes out right run after run. A
# fixed period samples two phases of it: 99% for 70% here.
# The loop is not a multiple of the 4 ms scheduler tick on purpose: CPU
# timers fire on the tick, and a thread that runs unpreempted meets the
# tick at the same phases of a loop of 20 ms whatever the sampler draws
# (that loop at 100 Hz: 2 points rms between runs, depending on how often
# the machine preempts the threads; README, Limits). The randomized points
# keep 9 of 10 runs within 3 points (the issue's bar; ~1.1 points rms)
# and their mean within 2.
source "$(dirname "$0")/../lib.sh"

HZ=${HZ:-97}; SECS=${SECS:-6}; runs=10; close=0; sum_p=0; sum_m=0; list=""
for i in $(seq 1 $runs); do
  rm -rf "$WORK/out"
  out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=$HZ -- "$PROGS/alias_loop" "$SECS" 0.7 "$(awk -v h="$HZ" 'BEGIN { printf "%.4f", 2000 / h }')")
  m=$(sed -n 's/.*share_hot=\([0-9.]*\).*/\1/p' <<<"$out"); m=$(awk -v s="${m:-0}" 'BEGIN { print 100 * s }')
  f=$(ls "$WORK"/out/alias_loop.*.cpu.pb.gz 2>/dev/null | head -1)
  p=0; [ -n "$f" ] && p=$(pprof_cum "$f" alias_hot)
  within "$p" "$m" 3 && close=$((close + 1))
  sum_p=$(awk -v a="$sum_p" -v b="$p" 'BEGIN { print a + b }'); sum_m=$(awk -v a="$sum_m" -v b="$m" 'BEGIN { print a + b }')
  list="$list $p"
done
mean_p=$(awk -v s="$sum_p" -v n=$runs 'BEGIN { printf "%.2f", s / n }'); mean_m=$(awk -v s="$sum_m" -v n=$runs 'BEGIN { printf "%.2f", s / n }')
echo "  alias_hot per run (%):$list"
echo "  measured by the program: ${mean_m}%; profile mean ${mean_p}%; $close of $runs runs within 3 points"
check "mean share over $runs runs within 2 points of the measured one" within "$mean_p" "$mean_m" 2
check "at least 9 of $runs runs within 3 points" [ "$close" -ge 9 ]
finish
