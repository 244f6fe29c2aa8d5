# Short-lived processes (a build runs hundreds): the exit costs what was
# sampled. A process that sampled a little still writes correct, named
# profiles, exported on its exiting thread (no thread started for it);
# one that sampled nothing starts no thread and writes nothing.
source "$(dirname "$0")/../lib.sh"

# clone/clone3 calls of the process itself (its children have other pids).
clones() { strace -f -qq -e trace=clone,clone3 -o "$WORK/st" "$@" > "$WORK/stdout" 2>&1; grep -c 'clone' "$WORK/st"; }
have_strace=$(command -v strace > /dev/null && echo 1 || echo 0)
exists() { ls "$@" > /dev/null 2>&1; }

# --- a few samples: 40 ms of CPU at 250 Hz, 64 blocks of 4 KiB at 16 KiB
rm -rf "$WORK/out"
AGENT_SETTINGS=(OTPROF_CPU_FREQUENCY_HZ=250 OTPROF_MEMORY_SAMPLE_BYTES=16384)
same_as_bare "a few samples" "$PROGS/short_lived" 40 64
cpu=$(ls "$WORK"/out/short_lived.*.cpu.pb.gz 2> /dev/null | head -1)
heap=$(ls "$WORK"/out/short_lived.*.heap.pb.gz 2> /dev/null | head -1)
check "a CPU and a heap profile written" [ -n "$cpu" -a -n "$heap" ]
check "the profiles read with go tool pprof" pprof_reads $cpu $heap
check "CPU samples are named: short_burn" grep -q ' short_burn$' <<<"$(pprof_top -nodecount=5 "$cpu")"
check "heap samples are named: short_alloc" \
  grep -q ' short_alloc$' <<<"$(pprof_top -sample_index=alloc_space -cum -nodecount=10 "$heap")"
rm -rf "$WORK/out"
log=$(under_agent OTPROF_CPU_FREQUENCY_HZ=250 OTPROF_MEMORY_SAMPLE_BYTES=16384 OTPROF_AGENT_LOG_LEVEL=debug \
  -- "$PROGS/short_lived" 40 64 2>&1)
check "the final export ran on the exiting thread" grep -q 'final export on the exiting thread' <<<"$log"
check "the agent started no thread of its own while main ran" grep -q '^threads 1$' <<<"$log"
if [ "$have_strace" = 1 ]; then
  rm -rf "$WORK/out"
  n=$(clones env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" OTPROF_CPU_FREQUENCY_HZ=250 LD_PRELOAD="$AGENT" \
    "$PROGS/short_lived" 40 64)
  check "no thread created for the export (strace: $n clones)" [ "$n" -eq 0 ]
  check "... and the profile is still written" exists "$WORK"/out/short_lived.*.cpu.pb.gz
  # A sampled allocation's walk: libunwind's own mask changes (two system
  # calls around each lock and loader call, ~50 a walk through cold code)
  # are answered inside one block of the whole walk; no getpid a sample.
  rm -rf "$WORK/out"
  err=$(strace -f -qq -e trace=rt_sigprocmask,getpid -o "$WORK/st" env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" \
    OTPROF_CPU_ENABLED=false OTPROF_MEMORY_SAMPLE_BYTES=4096 OTPROF_AGENT_SUMMARY=true LD_PRELOAD="$AGENT" \
    "$PROGS/short_lived" 5 256 2>&1 >/dev/null)
  ns=$(sed -n 's/^otprof: heap: \([0-9]*\) sampled allocations.*/\1/p' <<<"$err")
  nm=$(grep -c '^[0-9]* *rt_sigprocmask' "$WORK/st"); np=$(grep -c '^[0-9]* *getpid' "$WORK/st")
  echo "  ${ns:-?} heap samples: $nm rt_sigprocmask, $np getpid"
  check "heap samples taken (${ns:-0} >= 100)" [ "${ns:-0}" -ge 100 ]
  check "at most 2 mask changes per sampled allocation, plus start and exit ($nm for ${ns:-0})" \
    [ "$nm" -le $(( 2 * ${ns:-0} + 40 )) ]
  check "no getpid per sampled allocation ($np)" [ "$np" -le 10 ]
else
  echo "  note: no strace; thread creation not checked"
fi

# --- nothing sampled: CPU off, one sample per GiB
rm -rf "$WORK/out"
AGENT_SETTINGS=(OTPROF_CPU_ENABLED=false OTPROF_MEMORY_SAMPLE_BYTES=1073741824)
same_as_bare "nothing sampled" "$PROGS/short_lived" 5 4
check "nothing sampled: no files" [ -z "$(ls "$WORK"/out 2> /dev/null)" ]
if [ "$have_strace" = 1 ]; then
  n=$(clones env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" OTPROF_CPU_ENABLED=false \
    OTPROF_MEMORY_SAMPLE_BYTES=1073741824 LD_PRELOAD="$AGENT" "$PROGS/short_lived" 5 4)
  check "nothing sampled: no thread created (strace: $n clones)" [ "$n" -eq 0 ]
  # libunwind (and liblzma with it) is loaded only when a stack is wanted
  # that the agent's own walker hands over: a process that sampled
  # nothing never pays for it, nor does one whose stacks the walker took
  # (the same trace sees the agent's own object opened).
  opens() { local pat=$1; shift; strace -f -qq -e trace=openat -o "$WORK/st" env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" \
    "$@" LD_PRELOAD="$AGENT" "$PROGS/short_lived" 5 4 > /dev/null 2>&1; grep -c "$pat" "$WORK/st"; }
  n=$(opens libunwind OTPROF_CPU_ENABLED=false OTPROF_MEMORY_SAMPLE_BYTES=1073741824)
  check "nothing sampled: libunwind never opened (strace: $n)" [ "$n" -eq 0 ]
  n=$(opens libunwind OTPROF_CPU_ENABLED=false OTPROF_MEMORY_SAMPLE_BYTES=4096)
  check "heap samples: libunwind not opened either, the agent's walker took them (strace: $n)" [ "$n" -eq 0 ]
  n=$(opens libotprof_agent OTPROF_CPU_ENABLED=false OTPROF_MEMORY_SAMPLE_BYTES=4096)
  check "heap samples: the same trace sees the agent opened (strace: $n)" [ "$n" -ge 1 ]
  # The exit of a short program that sampled (Debian's stripped bash, a
  # few ms of CPU at 1 kHz, heap at 4 KiB) does each job once: the maps
  # read once, a missing debug file looked for once, and freed pages
  # kept rather than returned one madvise at a time (46 calls before).
  rm -rf "$WORK/out"
  strace -f -qq -e trace=openat,madvise -o "$WORK/st" env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" \
    OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_MEMORY_SAMPLE_BYTES=4096 LD_PRELOAD="$AGENT" \
    /usr/bin/bash -c 'n=0; while [ $n -lt 3000 ]; do n=$((n + 1)); done' > /dev/null 2>&1
  check "short bash: wrote its CPU and heap profiles" \
    [ "$(ls "$WORK"/out/bash.*.cpu.pb.gz "$WORK"/out/bash.*.heap.pb.gz 2> /dev/null | wc -l)" -eq 2 ]
  n=$(grep -c 'self/maps' "$WORK/st")
  check "short bash: the maps read once (strace: $n)" [ "$n" -eq 1 ]
  n=$(grep ENOENT "$WORK/st" | grep -o '"[^"]*\.debug"' | sort | uniq -d | wc -l)
  check "short bash: no missing debug file looked for twice (strace: $n paths)" [ "$n" -eq 0 ]
  n=$(grep -c 'MADV_DONTNEED' "$WORK/st")
  check "short bash: pages not returned one by one (strace: $n MADV_DONTNEED)" [ "$n" -le 10 ]
fi

# --- with a thread already running (the flusher started by the app's own
# thread), the export stays on it and the files are the same kind
rm -rf "$WORK/out"
under_agent OTPROF_CPU_FREQUENCY_HZ=250 -- "$PROGS/cpu_split" 1 0.1 0.5 > /dev/null
check "a threaded program's exit still writes its CPU profile" exists "$WORK"/out/cpu_split.*.cpu.pb.gz
finish
