# Sampling strategies: memory.sampling = every records each allocation
# whatever sample_bytes says (exact counts, also under a tiny budget,
# which must not thin it out); memory.sampling = off and cpu.sampling =
# off write no profile of that kind and leave the app unchanged.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"
A_LIVE=20480000; B_LIVE=1299968; C_ALLOC=209715200

out=$(under_agent OTPROF_MEMORY_SAMPLING=every OTPROF_MEMORY_SAMPLE_BYTES=524288 \
  OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0.1 OTPROF_CPU_SAMPLING=off -- "$PROGS/heap_sites")
check "heap_sites runs under memory.sampling = every" [ $? -eq 0 ]
sums=$("$HS" "$WORK"/out/heap_sites.*.heap.pb.gz)
row() { awk -v f="$1" '$1=="fn" && $2==f {print $3, $4, $5, $6}' <<<"$sums"; }
check "every: site_a exact (got $(row site_a))" [ "$(row site_a)" = "2000 $A_LIVE 2000 $A_LIVE" ]
check "every: site_b exact (got $(row site_b))" [ "$(row site_b)" = "20312 $B_LIVE 20312 $B_LIVE" ]
check "every: site_c exact (got $(row site_c))" [ "$(row site_c)" = "3200 $C_ALLOC 0 0" ]
check "every: the note says one sample per byte" grep -q 'heap: one sample per 1 bytes on average (configured 1)' <<<"$sums"
check "cpu.sampling = off: no CPU profile" [ -z "$(ls "$WORK"/out/*.cpu.pb.gz 2>/dev/null)" ]

rm -rf "$WORK/out"
# heap_sites runs for 10-20 ms of CPU: at 100 Hz that is sometimes no
# sample at all, and then no CPU profile; at 1000 Hz there always is.
AGENT_SETTINGS=(OTPROF_MEMORY_SAMPLING=off OTPROF_CPU_FREQUENCY_HZ=1000)
same_as_bare "memory.sampling = off" "$PROGS/heap_sites"
check "memory.sampling = off: no heap profile" [ -z "$(ls "$WORK"/out/*.heap.pb.gz 2>/dev/null)" ]
check "memory.sampling = off: the CPU profile is still written" [ -n "$(ls "$WORK"/out/*.cpu.pb.gz 2>/dev/null)" ]

rm -rf "$WORK/out"
AGENT_SETTINGS=(OTPROF_CPU_SAMPLING=off)
same_as_bare "cpu.sampling = off" "$PROGS/heap_sites"
check "cpu.sampling = off: no CPU profile" [ -z "$(ls "$WORK"/out/*.cpu.pb.gz 2>/dev/null)" ]
check "cpu.sampling = off: the heap profile is still written" [ -n "$(ls "$WORK"/out/*.heap.pb.gz 2>/dev/null)" ]
finish
