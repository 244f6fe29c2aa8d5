# 200 threads created at once, each running a malloc/free loop
# (tests/progs/thread_storm): every thread completes, the output and exit
# status are those of the bare run, and every thread is profiled: at
# sample_bytes=1 the heap profile counts every allocation of all 200
# threads exactly, and at a sparser rate the samples carry 200 distinct
# thread ids.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"
P="$PROGS/thread_storm"

same_as_bare "thread_storm 200 threads" "$P" 200 200

rm -rf "$WORK/out"
out=$(under_agent OTPROF_MEMORY_SAMPLE_BYTES=1 -- "$P" 200 200)
check "rate 1: all 200 threads complete ($out)" [ "$(awk '{print $4}' <<<"$out")" = 200 ]
bytes=$(awk '{print $8}' <<<"$out")
# Per thread: 200 loop allocations and one result block.
row=$("$HS" "$WORK"/out/thread_storm.*.heap.pb.gz | awk '$1=="fn" && $2=="storm_worker" {print $3, $4}')
check "rate 1: storm_worker allocations of every thread: 40200 $bytes (got $row)" [ "$row" = "40200 $bytes" ]
# Whole stacks, not just the caller: a thread's first samples are walked
# without libunwind's frame cache, its later ones with it.
st=$("$HS" -s start_thread "$WORK"/out/thread_storm.*.heap.pb.gz | awk '$1=="stack" {print $3}')
check "rate 1: every storm_worker sample unwound through start_thread (got $st)" [ "$st" = 40200 ]

rm -rf "$WORK/out"
under_agent OTPROF_MEMORY_SAMPLE_BYTES=65536 -- "$P" 200 2000 >/dev/null
tids=$("$HS" -p "$WORK"/out/thread_storm.*.heap.pb.gz | awk '$1=="sample" && $2=="storm_worker" {print $4}' | sort -u | grep -vc '^0$')
check "rate 64 KiB: samples from 200 distinct threads (got $tids)" [ "$tids" -eq 200 ]

# Churn: 20000 threads created and joined one after another, as a
# thread-per-task program does. Each exited thread's slot (48 KiB of
# rings) waited for the agent's thread to drain it, and a few hundred
# waited at any time: +25 MiB of peak RSS. A thread that leaves nothing
# to drain now frees its slot as it exits.
hwm() { awk '$1=="serial_us_per_thread" {print $4}'; }
b=$("$P" 20000 0 serial 2>&1 >/dev/null | hwm)
a=$(under_agent -- "$P" 20000 0 serial 2>&1 >/dev/null | hwm)
b16=$(under_agent -- "$P" 16 0 serial 2>&1 >/dev/null | hwm)
check "churn of 20000 threads: peak RSS ${a} KiB, within 4 MiB of 16 threads' (${b16} KiB; bare ${b} KiB)" \
  [ "${a:-999999}" -le $((${b16:-0} + 4096)) ]
finish
