# The overhead budget (agent.max_overhead_percent).
# Heap: alloc_churn allocates ~10 GB/s of small blocks; at sample_bytes
# 16384 that is ~0.6 M samples per second, far over a 1% budget. The
# agent must measure that (first interval's note), lower the heap rate
# (the last full interval samples much more sparsely, its sampled
# allocations cost at most the budget, the whole agent at most twice
# it: the agent thread's own work, exporting every interval, does not
# shrink with the rate), and
# the estimates stay unbiased across the changes: alloc_space summed over
# all intervals within 10% of what the program allocated.
# CPU: at 1000 Hz the handler alone costs well over 0.1%; with heap
# sampling off the CPU rate is what drops, and the profile's CPU total
# stays within 10% of the CPU the program used. (5 s: the agent's thread,
# which keeps the budget, starts only after the first second.)
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"

out=$(under_agent OTPROF_AGENT_MAX_OVERHEAD_PERCENT=1 OTPROF_MEMORY_SAMPLE_BYTES=16384 \
  OTPROF_CPU_SAMPLING=off OTPROF_EXPORT_INTERVAL_MS=1000 OTPROF_AGENT_SUMMARY=1 -- "$PROGS/alloc_churn" 6 2> "$WORK/summary")
check "alloc_churn runs under the agent" [ $? -eq 0 ]
# The summary gives the mean the budget left in force beside the
# configured one.
hs=$(grep '^otprof: heap: ' "$WORK/summary")
echo "  $hs"
at_exit=$(sed -n 's/.*as configured; \([0-9]*\) at exit, by the overhead budget).*/\1/p' <<<"$hs")
check "summary: the heap's mean at exit, as the budget set it (${at_exit:-none} >= 64 x 16384)" [ "${at_exit:-0}" -ge $((16384 * 64)) ]
allocated=$(awk '$1=="allocated" {print $2}' <<<"$out")
files=$(ls -v "$WORK"/out/alloc_churn.*.heap.pb.gz 2>/dev/null)
check "several heap profiles ($(wc -w <<<"$files"))" [ "$(wc -w <<<"$files")" -ge 3 ]
note() { "$HS" "$1" | grep '^comment otprof overhead: ' | head -1; }
first=$(note "$(head -1 <<<"$files")")
# The last full interval (the final one is cut short by exit and holds
# the final export's work).
last=$(note "$(tail -2 <<<"$files" | head -1)")
echo "  first: $first"
echo "  last:  $last"
pct() { sed -n "s/.*overhead: \([0-9.]*\)% of the process's CPU in this interval.*/\1/p" <<<"$1"; }
heap_pct() { sed -n 's/.*(sampled allocations \([0-9.]*\)%.*/\1/p' <<<"$1"; }
mean() { sed -n 's/.*heap: one sample per \([0-9]*\) bytes.*/\1/p' <<<"$1"; }
check "every profile carries the overhead note" [ "$(for f in $files; do note "$f"; done | wc -l)" -eq "$(wc -w <<<"$files")" ]
check "first interval measured far over the budget ($(pct "$first")% > 1%)" within "$(pct "$first")" 1000 999
# Far over, the agent lowers the rate within a few of its 100 ms ticks
# instead of after two whole windows: the second interval (the agent's
# thread starts at about 1 s) already runs sparsely and costs a few
# percent, not the tens of percent of the first.
second=$(note "$(sed -n 2p <<<"$files")")
echo "  second: $second"
check "second interval already samples 16x more sparsely ($(mean "$second") bytes)" [ "$(mean "$second")" -ge $((16384 * 16)) ]
check "second interval: the whole agent under 10x the budget ($(pct "$second")%)" within "$(pct "$second")" 0 10
check "last interval samples the heap at least 64x more sparsely ($(mean "$last") bytes)" [ "$(mean "$last")" -ge $((16384 * 64)) ]
# Converged near the budget: the cost of a sparse sample varies with the
# machine's load (cold caches), so the last window may sit a little over.
check "last interval: sampled allocations near the budget ($(heap_pct "$last")% <= 2 x 1%)" within "$(heap_pct "$last")" 0 2
check "last interval: the whole agent near the budget ($(pct "$last")% <= 2 x 1%)" within "$(pct "$last")" 0 2
est=$("$HS" $files | awk '$1=="fn" && $2=="churn_site" {print $4}')
echo "  alloc_space estimated ${est:-0}, allocated $allocated"
check "alloc_space unbiased across rate changes: within 10% of what was allocated" \
  within "${est:-0}" "$allocated" "$(awk -v a="$allocated" 'BEGIN {print a * 0.10}')"

rm -rf "$WORK/out"
out=$(under_agent OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0.1 OTPROF_MEMORY_SAMPLING=off \
  OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_EXPORT_INTERVAL_MS=1000 -- "$PROGS/alloc_churn" 5)
cpu_s=$(awk '$1=="cpu_s" {print $2}' <<<"$out")
files=$(ls -v "$WORK"/out/alloc_churn.*.cpu.pb.gz 2>/dev/null)
last=$("$HS" "$(tail -2 <<<"$files" | head -1)" | grep '^comment otprof overhead: ' | head -1)
echo "  last:  $last"
hz=$(sed -n 's/.*CPU: \([0-9.]*\) Hz.*/\1/p' <<<"$last")
check "the CPU rate was lowered (last interval at ${hz:-?} Hz < 1000)" within "${hz:-1000}" 500 499
total_ns=$("$HS" $files | awk '$1=="total" {print $3}')
total_s=$(awk -v n="${total_ns:-0}" 'BEGIN {printf "%.3f", n / 1e9}')
echo "  CPU in the profiles ${total_s} s, used by the program ${cpu_s} s"
check "CPU total within 10% of the program's CPU despite the changes" \
  within "$total_s" "$cpu_s" "$(awk -v a="$cpu_s" 'BEGIN {print a * 0.10}')"

# A short run (0.3 s of CPU, no agent thread: one interval, exported on
# the exiting main thread): its only profile measures what the agent
# spent, start-up included, instead of nothing; the summary, printed
# after the final export, counts that export too and so says more.
rm -rf "$WORK/out"
err=$(under_agent OTPROF_AGENT_SUMMARY=true OTPROF_MEMORY_SAMPLE_BYTES=4096 OTPROF_CPU_SAMPLING=off \
  -- "$PROGS/alloc_churn" 0.3 2>&1 >/dev/null)
files=$(ls "$WORK"/out/alloc_churn.*.heap.pb.gz 2>/dev/null)
check "short run: one heap profile ($(wc -w <<<"$files"))" [ "$(wc -w <<<"$files")" -eq 1 ]
short=$(note "$files")
echo "  short: $short"
start_pct=$(sed -n 's/.*start-up \([0-9.]*\)%.*/\1/p' <<<"$short")
check "short run: sampled allocations measured ($(heap_pct "$short")% > 0.1%)" within "$(heap_pct "$short")" 50.1 50
check "short run: start-up measured (${start_pct:-none}% > 0)" within "${start_pct:-0}" 25.0005 25
sum_pct=$(sed -n "s/.*overhead: the agent used \([0-9.]*\)% of the process's CPU.*/\1/p" <<<"$err")
sum_ms=$(sed -n "s/.*overhead: the agent used [0-9.]*% of the process's CPU (\([0-9.]*\) of .*/\1/p" <<<"$err")
echo "  summary: ${sum_pct:-none}% (${sum_ms:-?} ms)"
check "short run: the summary's figure includes the final export (${sum_pct:-0}% > $(pct "$short")%)" \
  awk -v a="${sum_pct:-0}" -v b="$(pct "$short")" 'BEGIN { exit !(a > b) }'
finish
