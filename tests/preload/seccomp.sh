# Programs that restrict their own system calls halfway through
# (tests/progs/seccomp_app): a filter that kills on timer_create, one
# that fails openat with EPERM (installed with the seccomp syscall and
# TSYNC), one that kills on rt_sigaction, one loaded with libseccomp
# (which probes the kernel first), strict mode in one thread, and a
# landlock ruleset that allows no file access (before, every export after
# it failed: "Permission denied", all intervals lost).
# Each must behave exactly as without the agent (output, exit status),
# the data sampled before the restriction must be exported, nothing after
# it sampled, and the agent must say so once at info level.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"
P="$PROGS/seccomp_app"

AGENT_SETTINGS=(OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_MEMORY_SAMPLE_BYTES=1024 OTPROF_EXPORT_INTERVAL_MS=100)
for mode in kill-timer eperm-openat kill-sigaction libseccomp strict landlock; do
  if [ "$mode" = landlock ] && "$P" landlock | grep -q '^filter: -2'; then
    echo "  no landlock in this kernel: skipped"
    continue
  fi
  same_as_bare "$mode" "$P" "$mode"

  rm -rf "$WORK/out"
  log=$(under_agent OTPROF_MEMORY_SAMPLE_BYTES=1 OTPROF_AGENT_LOG_LEVEL=info -- "$P" "$mode" 2>&1 >/dev/null)
  n=$(grep -c 'restricts its .*profiling stops here' <<<"$log")
  check "$mode: said once at info level that profiling stops (got $n)" [ "$n" -eq 1 ]
  sums=$("$HS" "$WORK"/out/seccomp_app.*.heap.pb.gz 2>/dev/null)
  row=$(awk '$1=="fn" && $2=="before_alloc" {print $3, $4}' <<<"$sums")
  check "$mode: heap sampled before the restriction exported: before_alloc 1000 100000 (got ${row:-nothing})" \
    [ "$row" = "1000 100000" ]
  after=$(awk '$1=="fn" && $2=="after_alloc" {print $3}' <<<"$sums")
  check "$mode: nothing sampled after it (after_alloc: ${after:-none})" [ -z "$after" ]
  check "$mode: the CPU profile was exported" [ -n "$(ls "$WORK"/out/seccomp_app.*.cpu.pb.gz 2>/dev/null)" ]
done

# A filter the kernel refuses (EACCES) restricts nothing: profiling goes on.
same_as_bare "refused" "$P" refused
rm -rf "$WORK/out"
log=$(under_agent OTPROF_MEMORY_SAMPLE_BYTES=1 OTPROF_AGENT_LOG_LEVEL=info OTPROF_AGENT_SUMMARY=true -- \
  "$P" refused 2>&1 >/dev/null)
check "refused: no stop announced" [ "$(grep -c 'restricts its system calls' <<<"$log")" -eq 0 ]
after=$(awk '$1=="fn" && $2=="after_alloc" {print $3}' <<<"$("$HS" "$WORK"/out/seccomp_app.*.heap.pb.gz 2>/dev/null)")
# Samples the agent could not record, by its own count (parent and child):
# a loss it reports is not a silent one, and is shown here when it occurs.
lost=$(awk '/ heap: [0-9]+ sampled allocations/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^lost/) n += $i } END { print n + 0 }' <<<"$log")
# 4 threads x 20000 in the process, and 1000 in its fork child, which
# exports them at its _exit.
check "refused: allocations after it still sampled: after_alloc 81000 (got ${after:-nothing}, and $lost reported lost)" \
  [ $(( ${after:-0} + lost )) -eq 81000 ]
finish
