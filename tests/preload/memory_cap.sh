# The memory cap (agent.max_memory_mb): a program whose every sample has a
# stack never seen before, under a small cap. The agent's own account of
# its memory stays under the cap, and so does its share of the process's
# resident memory (beyond the code it maps); new stacks fold into one
# "[otprof: stack table full]" frame, each profile says how many samples
# it folded, and no CPU is lost (only folded).
source "$(dirname "$0")/../lib.sh"

CAP=8
# Beyond the account: the code and symbol tables of the agent and of the
# libraries it loads (file-backed, ~4 MiB: libotprof_agent.so, libm,
# libunwind, liblzma, libc's debug .symtab), and ~2 MiB it does not see
# (libunwind's and libdw's own mallocs in the app's heap, stack pages the
# walks touch on app threads).
CODE_MIB=6

bare=$("$PROGS/stack_explode" 2 4)
bare_rss=$(sed -n 's/.*max_rss_kib=\([0-9]*\).*/\1/p' <<<"$bare")
err=$( { out=$(under_agent OTPROF_AGENT_MAX_MEMORY_MB=$CAP OTPROF_AGENT_SUMMARY=1 OTPROF_MEMORY_SAMPLE_BYTES=4096 \
                 OTPROF_EXPORT_INTERVAL_MS=1000 -- "$PROGS/stack_explode" 2 4); echo "rc=$? $out" >&3; } 3>"$WORK/stdout" 2>&1 )
out=$(cat "$WORK/stdout")
check "stack_explode exits 0 under the agent" grep -q "^rc=0 " <<<"$out"
rss=$(sed -n 's/.*max_rss_kib=\([0-9]*\).*/\1/p' <<<"$out")
cpu_s=$(sed -n 's/.*rusage_cpu_s=\([0-9.]*\).*/\1/p' <<<"$out")
line=$(grep "memory cap:" <<<"$err")
echo "  ${line#otprof: }"
peak=$(sed -n 's/.*, \([0-9.]*\) MiB at most (max_memory_mb.*/\1/p' <<<"$line")
check "the summary reports the agent's memory against the cap" [ -n "$peak" ]
check "the agent's memory stayed under max_memory_mb = $CAP (peak ${peak:-?} MiB)" \
  awk -v p="${peak:-999}" -v c=$CAP 'BEGIN { exit !(p <= c) }'
delta=$(( (${rss:-0} - ${bare_rss:-0}) / 1024 ))
echo "  resident peak: bare ${bare_rss:-?} KiB, under the agent ${rss:-?} KiB (+$delta MiB)"
check "the process's resident peak grew by at most the cap plus the agent's code and unseen memory (+$delta MiB <= $((CAP + CODE_MIB)))" \
  [ -n "$rss" -a "$delta" -le $((CAP + CODE_MIB)) ]
folded_cpu=$(sed -n 's/.*; \([0-9]*\) CPU and \([0-9]*\) heap samples folded.*/\1/p' <<<"$line")
folded_heap=$(sed -n 's/.*; \([0-9]*\) CPU and \([0-9]*\) heap samples folded.*/\2/p' <<<"$line")
check "the summary counts folded CPU (${folded_cpu:-0}) and heap (${folded_heap:-0}) samples" \
  [ "${folded_cpu:-0}" -gt 0 -a "${folded_heap:-0}" -gt 0 ]

cpus=("$WORK"/out/stack_explode.*.cpu.pb.gz)
heaps=("$WORK"/out/stack_explode.*.heap.pb.gz)
check "go tool pprof reads every profile" pprof_reads "${cpus[@]}" "${heaps[@]}"
top=$(go tool pprof -top -nodecount=100000 "${cpus[@]}" 2>/dev/null)
check "the CPU profiles hold the [otprof: stack table full] frame" grep -qF "[otprof: stack table full]" <<<"$top"
htop=$(go tool pprof -top -nodecount=100000 -sample_index=alloc_space "${heaps[@]}" 2>/dev/null)
check "the heap profiles hold the [otprof: stack table full] frame" grep -qF "[otprof: stack table full]" <<<"$htop"
notes=$(for f in "${cpus[@]}"; do go tool pprof -comments "$f" 2>/dev/null; done)
n=$(sed -n 's/^otprof memory cap: \([0-9]*\) samples folded into \[otprof: stack table full\].*/\1/p' <<<"$notes" |
    awk '{ s += $1 } END { print s + 0 }')
echo "  CPU profiles' comments: $n samples folded (summary: ${folded_cpu:-?})"
check "the CPU profiles' comments say how many samples were folded, as the summary does" \
  [ "$n" -gt 0 -a "$n" = "${folded_cpu:-x}" ]
hn=$(for f in "${heaps[@]}"; do go tool pprof -comments "$f" 2>/dev/null; done | grep -c "^otprof memory cap: [0-9]* sampled allocations folded")
check "the heap profiles' comments say how many sampled allocations were folded" [ "$hn" -gt 0 ]
total=$(go tool pprof -top -unit=ms -nodecount=1 "${cpus[@]}" 2>/dev/null | sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p')
want=$(awk -v s="${cpu_s:-0}" 'BEGIN { print 1000 * s }')
echo "  sampled CPU ${total:-0} ms, getrusage ${want} ms"
check "total sampled CPU within 10% of getrusage (folded, not lost)" \
  within "${total:-0}" "$want" "$(awk -v w="$want" 'BEGIN { print w / 10 }')"

# An ordinary program under the default cap folds nothing.
rm -rf "$WORK/out"
err=$(under_agent OTPROF_AGENT_SUMMARY=1 -- "$PROGS/cpu_split" 2 0.5 0.5 2>&1 >/dev/null)
check "the default cap folds nothing in an ordinary program" \
  grep -q "max_memory_mb 32); 0 CPU and 0 heap samples folded" <<<"$err"
finish
