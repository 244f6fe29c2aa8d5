# Transport faults that must be retried: backend down at start (the app is
# unaffected and a later recovery delivers), 503 with Retry-After, 503
# without it (exponential backoff), and a connection dropped without an
# answer. A retry resends the very same bytes.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"

# --- backend down at start, up 1.7 s later -------------------------------
# (long enough for three failed attempts: 0.3 s, then 125-250 ms and
# 250-500 ms later; the next retries come within 1 s and 2 s)
# "Not slowed down" is against a bare run alongside, on the other core
# (a loaded machine stretches both).
{ t0=$(now_ms); "$PROGS/cpu_split" 1 5 0.5 > /dev/null; echo $(( $(now_ms) - t0 )) > "$WORK/bare.ms"; } &
bare_job=$!
port=$(free_port)
t0=$(now_ms)
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$port" OTPROF_EXPORT_INTERVAL_MS=300 \
  -- "$PROGS/cpu_split" 1 5 0.5 > "$WORK/down.out" 2> "$WORK/down.err" &
app=$!
sleep 1.7
rx_start down 200 "$port"
wait "$app"
rc=$?
t_exit=$(mono)
wall=$(( $(now_ms) - t0 ))
wait "$bare_job"; bare=$(cat "$WORK/bare.ms")
check "app exits 0 although the backend was down" [ "$rc" -eq 0 ]
check "app output unaffected" grep -q "share_alpha=" "$WORK/down.out"
check "app not slowed down (wall ${wall} ms, bare ${bare} ms, for 5 s of CPU)" [ "$wall" -lt $(( bare * 13 / 10 + 500 )) ]
n=$(rx_count "$RX_DIR")
check "requests delivered after recovery (got $n)" [ "$n" -ge 3 ]
first=$(awk 'NR==1 {print $4}' "$RX_DIR/log")
check "the first delivery happened while the app still ran" \
  awk -v a="${first:-99999}" -v b="$t_exit" 'BEGIN { exit !(a < b - 0.5) }'
check "requests decode" "$CHECKER" -q $(rx_bodies "$RX_DIR") > /dev/null
check "said once that it backs off" [ "$(grep -c 'keeps failing' "$WORK/down.err")" -eq 1 ]
check "said once that it recovered" [ "$(grep -c 'recovered' "$WORK/down.err")" -eq 1 ]
sed 's/^/    /' "$WORK/down.err"

# --- 503 with Retry-After: 1, then 200 ----------------------------------
rx_start ra '503ra1,200'
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
  -- "$PROGS/cpu_split" 1 2 0.5 > /dev/null 2> "$WORK/ra.err"
check "503: request retried" [ "$(rx_count "$RX_DIR")" -ge 2 ]
check "503: the retry resends the same bytes" cmp -s "$RX_DIR/req-0000.body" "$RX_DIR/req-0001.body"
gap=$(awk 'NR==1 {a=$4} NR==2 {printf "%.2f", $4 - a}' "$RX_DIR/log")
check "503: Retry-After honoured (retry ${gap} s later, want >= 0.95)" ge "${gap:-0}" 0.95
check "503: retry accepted" grep -q "^0001 200 " "$RX_DIR/log"
check "503: a single failure is not logged" [ ! -s "$WORK/ra.err" ]

# --- 503 with Retry-After as an HTTP-date 2 s ahead ----------------------
rx_start radate '503date,200'
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
  -- "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2>&1
gap=$(awk 'NR==1 {a=$4} NR==2 {printf "%.2f", $4 - a}' "$RX_DIR/log")
check "503 + HTTP-date: retried after the date (${gap} s later, want >= 0.95)" ge "${gap:-0}" 0.95
check "503 + HTTP-date: same bytes, then accepted" \
  bash -c "cmp -s '$RX_DIR/req-0000.body' '$RX_DIR/req-0001.body' && grep -q '^0001 200 ' '$RX_DIR/log'"

# --- 503 twice without Retry-After: backoff -------------------------------
rx_start backoff '503,429,200'
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
  -- "$PROGS/cpu_split" 1 1.5 0.5 > /dev/null 2>&1
check "503/429: retried until accepted" grep -q "^0002 200 " "$RX_DIR/log"
check "503/429: same bytes each time" bash -c "cmp -s '$RX_DIR/req-0000.body' '$RX_DIR/req-0001.body' && cmp -s '$RX_DIR/req-0000.body' '$RX_DIR/req-0002.body'"
g1=$(awk 'NR==1 {a=$4} NR==2 {printf "%.3f", $4 - a}' "$RX_DIR/log")
g2=$(awk 'NR==2 {a=$4} NR==3 {printf "%.3f", $4 - a}' "$RX_DIR/log")
echo "  backoff gaps ${g1} s, ${g2} s"
check "backoff: first wait 125-250 ms (+ tick)" bash -c "awk -v g=${g1:-0} 'BEGIN{exit !(g >= 0.12 && g <= 0.45)}'"
check "backoff: second wait 250-500 ms (+ tick)" bash -c "awk -v g=${g2:-0} 'BEGIN{exit !(g >= 0.24 && g <= 0.70)}'"

# --- connection dropped without an answer ---------------------------------
rx_start close 'close,200'
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
  -- "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2>&1
check "dropped connection: retried" grep -q "^0001 200 " "$RX_DIR/log"
check "dropped connection: same bytes" cmp -s "$RX_DIR/req-0000.body" "$RX_DIR/req-0001.body"
finish
