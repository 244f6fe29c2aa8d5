# Diagnostics go only to the stderr the process started with: a daemon
# that closes fd 2 and opens its data file (which becomes fd 2) finds only
# its own lines there, even with leak warnings, info lines and the summary
# switched on; and a parent reading the app's stderr sees EOF as soon as
# the app closes it (the agent holds no copy of it).
source "$(dirname "$0")/../lib.sh"

LOUD=(OTPROF_EXPORT_INTERVAL_MS=200 OTPROF_MEMORY_SAMPLE_BYTES=4096 OTPROF_MEMORY_LEAK_INTERVALS=3
      OTPROF_AGENT_SUMMARY=1 OTPROF_AGENT_LOG_LEVEL=info)

# The bare run (alongside): the expected data file.
{ "$PROGS/fd2_reuse" "$WORK/bare.data" 1500 > "$WORK/bare.out" 2> "$WORK/bare.err"; echo $? > "$WORK/bare.st"; } & b=$!
under_agent "${LOUD[@]}" -- "$PROGS/fd2_reuse" "$WORK/agent.data" 1500 > "$WORK/agent.out" 2> "$WORK/agent.err"; ra=$?
wait "$b"; rb=$(cat "$WORK/bare.st")
[ "$rb" -eq 0 ] && [ "$ra" -eq "$rb" ]; r=$?
check "same exit status ($rb, $ra)" [ $r -eq 0 ]
nrec=$(wc -l < "$WORK/bare.data")
check "the bare run wrote $nrec records" [ "$nrec" -ge 20 ]
check "the data file holds exactly what the app wrote" cmp -s "$WORK/bare.data" "$WORK/agent.data"
grep -m3 otprof "$WORK/agent.data" | sed 's/^/  in the data file: /'
check "the agent did run (profiles written)" [ -n "$(ls "$WORK"/out/fd2_reuse.*.heap.pb.gz 2>/dev/null)" ]
check "same stdout" cmp -s "$WORK/bare.out" "$WORK/agent.out"

# The loud settings do speak on an untouched stderr (so silence above is
# the identity check, not a quiet agent).
# (Alongside the next run.)
under_agent "${LOUD[@]}" -- "$PROGS/heap_leak" 1500 2> "$WORK/loud.err" > /dev/null &
loud=$!

# EOF: the app closes fd 2 at once and lives on for 3 s; the reader of its
# stderr must be done long before the app is. (No function or subshell on
# the left: bash execs the simple command, so only the app holds the pipe.)
t0=$(date +%s%N)
env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out2" "${LOUD[@]}" LD_PRELOAD="$AGENT" \
  "$PROGS/fd2_reuse" - 3000 2>&1 >/dev/null |
  { cat > "$WORK/pipe.err"; date +%s%N > "$WORK/eof_at"; }
t1=$(date +%s%N)
eof_ms=$(( ($(cat "$WORK/eof_at") - t0) / 1000000 )); all_ms=$(( (t1 - t0) / 1000000 ))
echo "  reader saw EOF after ${eof_ms} ms; the app ran ${all_ms} ms"
check "the reader sees EOF while the app still runs (${eof_ms} ms < 2000 ms)" [ "$eof_ms" -lt 2000 ]
check "the app ran its full 3 s (${all_ms} ms)" [ "$all_ms" -ge 2900 ]
check "the pipe got the start-up line, written before the close" grep -q '^otprof: profiling' "$WORK/pipe.err"
check "and nothing else" [ -z "$(grep -v '^otprof: profiling' "$WORK/pipe.err")" ]
wait "$loud"
check "an untouched stderr still gets the leak warning and the summary" \
  [ "$(grep -c -e '^otprof: suspected leak' -e '^otprof: summary of' "$WORK/loud.err")" -ge 2 ]
finish
