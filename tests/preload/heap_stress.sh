# 8 threads x 1M malloc/free (most blocks freed by another thread than
# the one that allocated them) while a 1 kHz CPU timer interrupts them
# inside malloc and the hooks, and one more thread loops dlopen/dlclose of
# a C++ library whose initialisers allocate inside the loader: no hang, no
# crash, counts balanced in the program and in the profile.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"

start=$SECONDS
# The budget stays off: the 3% check needs the configured rate for the
# whole run (the budget would rightly make it far sparser here).
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_MEMORY_SAMPLE_BYTES=16384 OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0 -- \
  timeout 60 "$PROGS/heap_stress" 8 1000000 "$PROGS/libheapcxx.so")
rc=$?
echo "  $out ($((SECONDS - start)) s)"
check "no hang, no crash (exit status $rc)" [ "$rc" -eq 0 ]
check "program's own counts balance: 8M allocations, 8M frees" grep -q '^allocs 8000000 frees 8000000 dlopens [1-9]' <<<"$out"
sums=$("$HS" "$WORK"/out/heap_stress.*.heap.pb.gz 2>/dev/null)
row=$(awk '$1=="fn" && $2=="stress_alloc" {print $3, $5}' <<<"$sums")
echo "  stress_alloc: estimated allocations, live: $row"
check "profile: stress_alloc's ~8M allocations estimated within 3%" \
  awk -v a="${row% *}" 'BEGIN {exit !(a >= 8000000 * 0.97 && a <= 8000000 * 1.03)}'
check "profile: every sampled block freed again (inuse_objects 0)" [ "${row#* }" = 0 ]
cpu=$("$HS" "$WORK"/out/heap_stress.*.cpu.pb.gz 2>/dev/null)
inmalloc=$(awk '$1=="fn" && $2 ~ /^(malloc|free|_int_malloc|_int_free|malloc_consolidate|cfree|otp_heap_sampled|otp_live_.*)$/ {n += $3} END {print n + 0}' <<<"$cpu")
echo "  CPU samples: $(awk '$1=="total" {print $2}' <<<"$cpu") total, $inmalloc inside malloc/free or the hooks"
check "the timer really interrupted malloc/free" [ "$inmalloc" -gt 0 ]
finish
