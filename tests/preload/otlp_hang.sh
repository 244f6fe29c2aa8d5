# A backend that accepts the connection and never answers: the app runs
# at full speed meanwhile and its exit is delayed by at most
# export.shutdown_timeout_ms (plus a little slack), after which the agent
# says what it could not send.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"

# The delay is timed from the moment the app's main is done (it writes
# the time) to the process's end: a loaded machine slows the app itself,
# not this.
for timeout in 2000 500; do
  rx_start "hang$timeout" hang
  env_timeout=()
  [ "$timeout" != 2000 ] && env_timeout=(OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=$timeout)
  rm -f "$WORK/end"
  under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
    "${env_timeout[@]}" CPU_SPLIT_END_STAMP="$WORK/end" -- "$PROGS/cpu_split" 1 1 0.5 > "$WORK/hang.out" 2> "$WORK/hang$timeout.err"
  rc=$?
  extra=$(( $(now_ms) - $(cat "$WORK/end" 2>/dev/null || echo 0) ))
  echo "  shutdown_timeout_ms=$timeout: the process ended ${extra} ms after main returned"
  check "timeout $timeout: app exits 0" [ "$rc" -eq 0 ]
  check "timeout $timeout: the receiver got the request that hangs" [ "$(rx_count "$RX_DIR")" -ge 1 ]
  check "timeout $timeout: exit delayed by at most the timeout + 700 ms (${extra} ms)" \
    [ "$extra" -le $((timeout + 700)) ]
  check "timeout $timeout: says what was not sent" grep -q "not sent by the exit deadline" "$WORK/hang$timeout.err"
done
finish
