# Heap samples go through their thread's ring, which keeps what the
# profile needs of each (thread, size class, trace link); a sample that
# finds the ring full is only counted at its stack's site. A ring holds
# about 130 samples and is drained every 100 ms, so an allocation-heavy
# thread (heap_bench's two threads take ~30k samples a second at the
# default rate) fills it: the record that fills it past half wakes the
# agent's thread to drain it at once. Without that wake 95% of these
# samples came without a ring record; the summary counts them.
source "$(dirname "$0")/../lib.sh"

out=$(under_agent OTPROF_CPU_SAMPLING=off OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0 OTPROF_AGENT_SUMMARY=1 -- \
  "$PROGS/heap_bench" mt 2 8000000 2> "$WORK/summary")
check "heap_bench runs under the agent" [ $? -eq 0 ]
hs=$(grep '^otprof: heap: ' "$WORK/summary")
echo "  $hs"
total=$(sed -n 's/^otprof: heap: \([0-9]*\) sampled allocations.*/\1/p' <<<"$hs")
unlinked=$(sed -n 's/.*, \([0-9]*\) counted at their site with no ring record.*/\1/p' <<<"$hs")
check "thousands of heap samples (${total:-0})" [ "${total:-0}" -ge 5000 ]
check "at most 5% of them without a ring record (${unlinked:-0} of ${total:-0})" \
  [ "$((${unlinked:-0} * 20))" -le "${total:-0}" ]
# The profile holds them by thread: the bytes of samples labelled with
# their thread against all allocated bytes.
read -r labelled all < <(for f in "$WORK"/out/heap_bench.*.heap.pb.gz; do go tool pprof -raw "$f" 2>/dev/null; done |
  awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+:/ {cur = $2; all += $2; next} /thread_id:/ {lab += cur; cur = 0}
       END {printf "%.0f %.0f\n", lab, all}')
echo "  alloc_space labelled with a thread: $labelled of $all"
check "alloc_space in the profile ($all)" [ "${all:-0}" != 0 ]
check "at least 95% of alloc_space carries its thread ($labelled of $all)" [ "$(awk -v l="${labelled:-0}" -v a="${all:-0}" 'BEGIN {print (l >= 0.95 * a)}')" = 1 ]
finish
