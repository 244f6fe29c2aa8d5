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
finish
