# Answers that must not be retried: 400 (each request is sent once, the
# failure is logged once with the backend's message) and a partial success
# (logged, once for the same complaint, not retried).
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"

rx_start bad 400
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
  -- "$PROGS/cpu_split" 1 1.5 0.5 > /dev/null 2> "$WORK/bad.err"
check "400: app exits 0" [ $? -eq 0 ]
n=$(rx_count "$RX_DIR")
check "400: every interval was sent (got $n)" [ "$n" -ge 4 ]
dups=$(md5sum $(rx_bodies "$RX_DIR") | awk '{print $1}' | sort | uniq -d | wc -l)
check "400: no request was sent twice" [ "$dups" -eq 0 ]
check "400: logged exactly once" [ "$(grep -c 'HTTP 400' "$WORK/bad.err")" -eq 1 ]
check "400: the log has the backend's message" grep -q "HTTP 400: bad profiles payload (test); request dropped, not retried" "$WORK/bad.err"
sed 's/^/    /' "$WORK/bad.err"

rx_start partial partial
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
  OTPROF_AGENT_SUMMARY=true -- "$PROGS/cpu_split" 1 1.2 0.5 > /dev/null 2> "$WORK/partial.err"
n=$(rx_count "$RX_DIR")
dups=$(md5sum $(rx_bodies "$RX_DIR") | awk '{print $1}' | sort | uniq -d | wc -l)
check "partial success: requests not retried ($n sent, $dups twice)" [ "$n" -ge 3 -a "$dups" -eq 0 ]
check "partial success: logged with the count and message" \
  grep -q "rejected 2 profiles of a request: 2 profiles dropped: test says so" "$WORK/partial.err"
check "partial success: the same complaint is logged once" [ "$(grep -c 'rejected 2 profiles' "$WORK/partial.err")" -eq 1 ]
check "summary counts the rejected profiles" grep -qE "OTLP export: $n requests sent.* $((2 * n)) profiles rejected" "$WORK/partial.err"
grep -v "^otprof:   " "$WORK/partial.err" | sed 's/^/    /'
finish
