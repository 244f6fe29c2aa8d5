# Known allocation sites (tests/progs/heap_sites.c): site_a leaks 2000 x
# 10 KB, site_b leaks 20312 x 64 B, site_c allocates and frees 3200 x
# 64 KiB, site_d grows one buffer with realloc to 4 MiB.
# At sample_bytes=1 every value is exact. At the default rate the values
# are unbiased estimates; with ~40 samples a run, site_a's estimate has a
# relative standard deviation of ~15% per run, so the +-15% bounds are
# checked on the mean of 10 runs (sd ~5%; a false failure is a 3-sigma
# event). Go's unbiasing formula is checked bucket by bucket.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"
A_LIVE=20480000; B_LIVE=1299968; C_ALLOC=209715200; D_ALLOC=8384512; D_LIVE=4194304

out=$(under_agent OTPROF_MEMORY_SAMPLE_BYTES=1 OTPROF_CPU_ENABLED=false -- "$PROGS/heap_sites")
[ $? -eq 0 ] && [ "$(wc -l <<<"$out")" -eq 4 ]; r=$?
check "heap_sites runs correctly under the agent" [ $r -eq 0 ]
sums=$("$HS" "$WORK"/out/heap_sites.*.heap.pb.gz)
row() { awk -v f="$1" '$1=="fn" && $2==f {print $3, $4, $5, $6}' <<<"$sums"; }
check "rate 1: site_a exact: 2000 $A_LIVE 2000 $A_LIVE (got $(row site_a))" [ "$(row site_a)" = "2000 $A_LIVE 2000 $A_LIVE" ]
check "rate 1: site_b exact: 20312 $B_LIVE 20312 $B_LIVE (got $(row site_b))" [ "$(row site_b)" = "20312 $B_LIVE 20312 $B_LIVE" ]
check "rate 1: site_c exact: 3200 $C_ALLOC 0 0 (got $(row site_c))" [ "$(row site_c)" = "3200 $C_ALLOC 0 0" ]
check "rate 1: site_d exact: 11 $D_ALLOC 1 $D_LIVE (got $(row site_d))" [ "$(row site_d)" = "11 $D_ALLOC 1 $D_LIVE" ]

# The same after 1.2 s of CPU with the CPU profiler on: the agent's lazy
# start (a CPU sample past its 1 s wait) borrows the next allocation's
# slow path, and that allocation is still a sample (it was lost: 3199).
rm -rf "$WORK/out"
under_agent OTPROF_MEMORY_SAMPLE_BYTES=1 -- "$PROGS/heap_sites" 1200 > /dev/null
sums=$("$HS" "$WORK"/out/heap_sites.*.heap.pb.gz)
all="$(row site_a) / $(row site_b) / $(row site_c) / $(row site_d)"
check "rate 1 after a lazy start: every allocation counted, exact (got $all)" \
  [ "$all" = "2000 $A_LIVE 2000 $A_LIVE / 20312 $B_LIVE 20312 $B_LIVE / 3200 $C_ALLOC 0 0 / 11 $D_ALLOC 1 $D_LIVE" ]

# Default rate (524288), 10 runs.
rm -rf "$WORK/out"
runs=10
for i in $(seq 1 $runs); do
  under_agent OTPROF_CPU_ENABLED=false OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0 OTPROF_EXPORT_OUTPUT_DIR="$WORK/out/$i" -- "$PROGS/heap_sites" >/dev/null
done
files=$(ls "$WORK"/out/*/heap_sites.*.heap.pb.gz 2>/dev/null)
check "default rate: a heap profile per run" [ "$(wc -w <<<"$files")" -eq $runs ]
bad=""
for f in $files; do go tool pprof -top -sample_index=inuse_space "$f" >/dev/null 2>&1 || bad="$bad $f"; done
check "go tool pprof -top -sample_index=inuse_space reads every profile${bad:+ (not:$bad)}" [ -z "$bad" ]
check "go tool pprof -top names site_a first by inuse_space" \
  [ "$(go tool pprof -top -sample_index=inuse_space $(head -1 <<<"$files") 2>/dev/null | awk '/flat%/{getline; print $6}')" = site_a ]
sums=$("$HS" $files)
mean() { awk -v f="$1" -v c="$2" -v n=$runs '$1=="fn" && $2==f {printf "%.0f", $(c) / n}' <<<"$sums"; }
within() { awk -v g="$1" -v w="$2" -v t="$3" 'BEGIN {exit !(g >= w * (1 - t) && g <= w * (1 + t))}'; }
a=$(mean site_a 6); c=$(mean site_c 4); ci=$(mean site_c 6); d=$(mean site_d 6)
echo "  means of $runs runs: site_a inuse $a (want $A_LIVE), site_c alloc $c (want $C_ALLOC), site_c inuse ${ci:-0}, site_d inuse $d"
check "default rate: inuse_space of site_a within 15%" within "${a:-0}" $A_LIVE 0.15
check "default rate: alloc_space of site_c within 15%" within "${c:-0}" $C_ALLOC 0.15
check "default rate: inuse_space of site_c is zero (all freed)" [ "${ci:-0}" -eq 0 ]
check "default rate: inuse_space of site_d within 15%" within "${d:-0}" $D_LIVE 0.15

# Go's scaleHeapSample, applied per sample: a (stack, size) bucket of k
# samples of S bytes holds k*s objects and k*S*s bytes, s =
# 1/(1-exp(-S/R)), up to rounding (counts to the nearest, bytes per
# sample). The budget is off above, so R is the configured rate.
# Checked on every site_a/site_c sample taken from a thread's ring
# (those with a thread_id; per-stack fallback counts are pre-scaled).
res=$("$HS" -p $files | awk -v R=524288 '
  $1=="sample" && ($2=="site_a" || $2=="site_c") && $4 != 0 {
    S = $3; s = 1 / (1 - exp(-S / R))
    for (j = 0; j < 2; j++) {
      v = $(5 + 2 * j); if (v == 0) continue
      k = int(v / s + 0.5); n++
      dv = v - k * s; db = $(6 + 2 * j) - k * S * s
      if (dv > 1 || dv < -1 || db > k || db < -k) { bad++; print "  bad:", $0 > "/dev/stderr" }
    }
  }
  END { printf "%d %d", n, bad }')
[ "${res#* }" = 0 ] && [ "${res% *}" -gt 0 ]; r=$?
check "unbiased with Go's formula, bucket by bucket (buckets, bad: $res)" [ $r -eq 0 ]
finish
