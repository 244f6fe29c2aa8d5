# CPU profiling end to end: a known-split workload's profile matches the
# program's own CPU accounting, and go tool pprof reads what we wrote.
source "$(dirname "$0")/../lib.sh"

# One interval however slow a loaded machine makes the run. 6 s of CPU at
# 250 Hz is 1500 samples: the shares' sampling error is ~1.2 points
# against the 5 allowed (750 samples, ~1.7 points, failed once in a
# clean-clone run at 64.8% for 70%).
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=250 OTPROF_EXPORT_INTERVAL_MS=600000 -- "$PROGS/cpu_split" 2 3 0.7)
rc=$?
check "cpu_split exits 0 under the agent" [ "$rc" -eq 0 ]
eval "$(echo "$out" | tr ' ' '\n' | grep -E '^(share_alpha|share_beta|rusage_cpu_s)=')"
files=("$WORK"/out/cpu_split.*.cpu.pb.gz)
check "one CPU profile written (<service>.<pid>.<seq>.cpu.pb.gz)" [ "${#files[@]}" -eq 1 -a -f "${files[0]}" ]
f=${files[0]}
check "go tool pprof reads the profile" pprof_reads "$f"
a=$(pprof_cum "$f" spin_alpha); b=$(pprof_cum "$f" spin_beta)
want_a=$(awk -v s="$share_alpha" 'BEGIN{print 100*s}'); want_b=$(awk -v s="$share_beta" 'BEGIN{print 100*s}')
echo "  spin_alpha ${a}% (measured ${want_a}%), spin_beta ${b}% (measured ${want_b}%)"
check "spin_alpha share within 5 points" within "$a" "$want_a" 5
check "spin_beta share within 5 points" within "$b" "$want_b" 5
total=$(pprof_total_ms "$f"); want=$(awk -v s="$rusage_cpu_s" 'BEGIN{print 1000*s}')
echo "  sampled CPU ${total} ms, getrusage ${want} ms"
check "total sampled CPU within 10% of getrusage" within "$total" "$want" "$(awk -v w="$want" 'BEGIN{print w/10}')"

# Profile metadata as pprof shows it.
raw=$(go tool pprof -raw "$f" 2>/dev/null)
check "sample types samples/count and cpu/nanoseconds" grep -q "samples/count cpu/nanoseconds" <<<"$raw"
check "period type cpu nanoseconds, period 4000000" grep -q "PeriodType: cpu nanoseconds" <<<"$raw"
check "period is 1e9/frequency" grep -q "^Period: 4000000$" <<<"$raw"
check "samples carry thread_id labels" grep -q "thread_id:\[" <<<"$raw"
check "the executable's mapping has a build id" grep -qE "cpu_split.*[0-9a-f]{40}" <<<"$raw"
check "pprof names the executable as the profile's main binary" \
  grep -qx "File: cpu_split" <<<"$(go tool pprof -top "$f" 2>/dev/null)"

# Output is identical with and without the agent (same program, same args).
bare=$("$PROGS/many_threads" 40 4); prof=$(under_agent -- "$PROGS/many_threads" 40 4)
check "program output unchanged under the agent" [ "$bare" = "$prof" -a -n "$bare" ]

# Several intervals: one file per interval with increasing sequence numbers.
under_agent OTPROF_EXPORT_INTERVAL_MS=200 -- "$PROGS/demo" 2 1 >/dev/null
n=$(ls "$WORK"/out/demo.*.cpu.pb.gz 2>/dev/null | wc -l)
check "interval export writes several profiles (got $n)" [ "$n" -ge 3 ]
check "every interval profile is readable by go tool pprof" pprof_reads "$WORK"/out/demo.*.cpu.pb.gz
check "no temporary files left behind" [ -z "$(ls -A "$WORK/out" | grep -v '\.pb\.gz$')" ]

# Unwritable output dir: one warning, the app runs on.
err=$( { under_agent OTPROF_EXPORT_OUTPUT_DIR=/proc/otprof-nope -- "$PROGS/demo" 1 0.2 >/dev/null; } 2>&1 )
rc=$?
check "unwritable output dir: app still exits 0" [ "$rc" -eq 0 ]
check "unwritable output dir: exactly one warning line" [ "$(grep -c '^otprof: cannot write' <<<"$err")" -eq 1 ]
# (The only export is the final one: nothing is retried after it, and the
# line says the samples are lost, not kept.)
check "unwritable output dir: the line says the samples are lost" \
  grep -q '^otprof: cannot write the final profiles to /proc/otprof-nope: .*lost' <<<"$err"

# Dense heap sampling: CPU samples that land inside the agent's own
# sampled-allocation path (~15% of the time at 512 bytes) are kept, on the
# allocation's stack, not dropped: each phase's CPU is all in the profile.
rm -rf "$WORK/out" "$WORK/wr"; mkdir -p "$WORK/wr"; touch "$WORK/wr/go"
out=$(under_agent OTPROF_MEMORY_SAMPLE_BYTES=512 -- "$PROGS/write_retry" "$WORK/wr" 600 600)
wf=$(ls "$WORK"/out/write_retry.*.cpu.pb.gz)
for ph in phase_a phase_b; do
  want=$(awk -v p="${ph}_cpu_ms" '$1==p{print $2}' <<<"$out")
  got=$("$BUILD/tools/heapsum" -s "$ph" $wf 2>/dev/null | awk '$1=="stack"{printf "%d", $4/1e6}')
  echo "  $ph: ${want:-?} ms of CPU, ${got:-0} ms in the profile (heap sampled every 512 bytes)"
  check "$ph's CPU is in the profile though the heap is sampled densely (${got:-0} of ${want:-?} ms, within 6%)" \
    within "${got:-0}" "${want:-1}" "$(( ${want:-1} * 6 / 100 ))"
done
check "the sampled path's own time shows as the profiler's (libunwind or otprof frames)" \
  grep -qE 'libunwind|otp_|libotprof' <<<"$(go tool pprof -top -nodefraction=0 $wf 2>/dev/null)"

# Summary table at exit.
err=$( { under_agent OTPROF_AGENT_SUMMARY=1 -- "$PROGS/cpu_split" 1 0.5 0.8 >/dev/null; } 2>&1 )
check "summary prints a table naming the hot function" grep -qE "^otprof: .*%.* spin_alpha$" <<<"$err"
check "summary reports handler p50/p99" grep -qE "signal handler: p50 [0-9.]+ us, p99 [0-9.]+ us" <<<"$err"

# Counts against time: periods vary in length around the mean, so a
# sample's count is its time in mean periods, rounded at random. At
# 1000 Hz a late tick passes several points per signal, and counting
# points over-counted by ~6%; 3 s of CPU at 1000 Hz is ~3000 samples, whose
# rounding spreads the sum by ~0.8%.
rm -rf "$WORK/out"
under_agent OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_EXPORT_INTERVAL_MS=600000 -- "$PROGS/cpu_split" 2 1.5 0.7 >/dev/null
f1k=$(ls "$WORK"/out/cpu_split.*.cpu.pb.gz 2>/dev/null | head -1)
ms1k=$(pprof_total_ms "$f1k")
n1k=$(go tool pprof -top -sample_index=samples "$f1k" 2>/dev/null | sed -n 's/.*Total samples = \([0-9]*\).*/\1/p' | head -1)
echo "  1000 Hz: ${n1k:-?} samples counted for ${ms1k:-?} ms of sampled CPU"
check "1000 Hz: the count is the sampled CPU time in 1 ms periods, within 3%" \
  within "${n1k:-0}" "${ms1k:-1}" "$(awk -v w="${ms1k:-0}" 'BEGIN{print w*0.03}')"

finish
