# OTLP/gRPC against a server that is not ours: Debian's grpcio with a
# generic handler (tests/tools/grpc_receiver.py), the requests decoded by
# Python code protoc generates here from the repo's proto/ files. Checks
# the method, gzip per message, the numbers of a known CPU workload, the
# retried statuses (UNAVAILABLE, RESOURCE_EXHAUSTED with pushback,
# DEADLINE_EXCEEDED), a rejected one (INVALID_ARGUMENT: one warning, no
# retry), and that an absent or hung server leaves the app alone.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"
source "$ROOT/tests/tools/grpc_lib.sh"
grpc_prereqs

# gap DIR A B: seconds between the receiver's calls A and B (0-based)
gap() { awk -v a="$2" -v b="$3" 'NR==a+1 {x=$4} NR==b+1 {printf "%.2f", $4 - x}' "$1/log"; }

# --- a known workload, exported over gRPC (the OTEL variables) ------------
check "grpcio receiver started" grx_start main ok
out=$(under_agent OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RX_PORT" OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
  OTPROF_EXPORT_INTERVAL_MS=300 OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0 \
  -- "$PROGS/cpu_split" 2 1.5 0.7 2> "$WORK/main.err")
rc=$?
check "cpu_split exits 0 while exporting over gRPC" [ "$rc" -eq 0 ]
eval "$(echo "$out" | tr ' ' '\n' | grep -E '^(share_alpha|share_beta|rusage_cpu_s)=')"
n=$(nmsgs "$RX_DIR")
check "several calls received, one per interval (got $n)" [ "$n" -ge 3 ]
check "every call is $METHOD" \
  bash -c "! grep -h '^method ' '$RX_DIR'/req-*.meta | grep -vqx 'method $METHOD'"
check "grpcio accepted the request headers (content-type application/grpc, te)" \
  bash -c "! grep -qi 'error parsing metadata\|invalid' '$RX_DIR/stderr'"
check "user-agent otprof" grep -qx "user-agent: otprof/[0-9.]*" "$RX_DIR/req-0000.meta"
tr=$(awk '$1=="time_remaining" {print $2}' "$RX_DIR/req-0000.meta")
check "grpc-timeout: the server's deadline is export.timeout_ms (10 s; got ${tr:-none})" \
  awk -v t="${tr:-None}" 'BEGIN { exit !(t != "None" && t > 5 && t <= 10) }'
# gzip (the default): the frame on the wire is smaller than the message
# grpcio gunzipped from it (it only does that for grpc-encoding: gzip
# and the compressed flag)
gz=$(awk '/^wire_bytes/ {w=$2} /^msg_bytes/ {m=$2} END {print (w - 5 < m) ? "yes" : "no"}' "$RX_DIR/req-0000.meta")
echo "  call 0: $(grep -h '_bytes' "$RX_DIR/req-0000.meta" | tr '\n' ' ')"
check "gzip per message by default (wire smaller than the message)" [ "$gz" = yes ]
$PY "$DECODE" --pb "$WORK/pb" $(msgs "$RX_DIR") > "$WORK/main.summary"
check "every request decodes with the generated code, indices in range" [ $? -eq 0 ]
check "requests pass otlp_check too" "$CHECKER" -q $(msgs "$RX_DIR") > /dev/null
check "CPU profile: samples/count, period cpu/nanoseconds 10000000" \
  grep -qx "profile samples/count cpu/nanoseconds 10000000" "$WORK/main.summary"
total=$(awk '$1=="total" && $2=="samples/count" {print $3}' "$WORK/main.summary")
cpu_s=$(awk -v t="${total:-0}" 'BEGIN {printf "%.3f", t * 0.01}')
echo "  gRPC: ${total:-0} samples = ${cpu_s} s of CPU; the workers spun 3.000 s (rusage ${rusage_cpu_s:-?} s)"
check "CPU total within 10% of the workers' 3 s of CPU (${cpu_s} s)" within "$cpu_s" 3.0 0.3
a=$(awk '$1=="incl" && $3=="spin_alpha" {print $4}' "$WORK/main.summary")
b=$(awk '$1=="incl" && $3=="spin_beta" {print $4}' "$WORK/main.summary")
want_a=$(awk -v s="${share_alpha:-0}" 'BEGIN{print 100*s}'); want_b=$(awk -v s="${share_beta:-0}" 'BEGIN{print 100*s}')
tol=$(share_tol "$want_a" "${total:-0}")
echo "  gRPC: spin_alpha ${a:-0}% (measured ${want_a}%), spin_beta ${b:-0}% (measured ${want_b}%)"
check "spin_alpha share within $tol points (4 sigma of ${total:-0} samples)" within "${a:-0}" "$want_a" "$tol"
check "spin_beta share within $tol points" within "${b:-0}" "$want_b" "$tol"
check "resource service.name" grep -qx "resource service.name=cpu_split" "$WORK/main.summary"
check "nothing logged at the default level" [ ! -s "$WORK/main.err" ]
sed 's/^/    /' "$WORK/main.err" | head -5

# --- no compression; the PROFILES variable wins over the generic one ------
grx_start plain ok
under_agent OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RX_PORT" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
  OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL=grpc OTPROF_EXPORT_COMPRESSION=none \
  -- "$PROGS/cpu_split" 1 0.5 0.5 > /dev/null 2> "$WORK/plain.err"
check "OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL=grpc wins over OTEL_EXPORTER_OTLP_PROTOCOL" [ "$(nmsgs "$RX_DIR")" -ge 1 ]
plain=$(awk '/^wire_bytes/ {w=$2} /^msg_bytes/ {m=$2} END {print (w == m + 5) ? "yes" : "no"}' "$RX_DIR/req-0000.meta")
check "compression none: the wire holds the message plus the 5-byte prefix" [ "$plain" = yes ]
check "compression none: decodes" $PY "$DECODE" --pb "$WORK/pb" $(msgs "$RX_DIR") > /dev/null

# --- export.protocol = grpc with only a host: port 4317 -------------------
if grx_start port4317 ok 4317 2> /dev/null; then
  under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1" OTPROF_EXPORT_PROTOCOL=grpc \
    -- "$PROGS/cpu_split" 1 0.3 0.5 > /dev/null 2>&1
  check "endpoint without a port: gRPC goes to 4317" [ "$(nmsgs "$RX_DIR")" -ge 1 ]
else
  echo "  (port 4317 is busy here: the default port is covered by unit/test_grpc only)"
fi

# --- UNAVAILABLE twice, then OK: delivered once, the same bytes ------------
grx_start unavail unavailable,unavailable,ok
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_PROTOCOL=grpc \
  OTPROF_EXPORT_INTERVAL_MS=300 -- "$PROGS/cpu_split" 1 1.5 0.5 > /dev/null 2> "$WORK/unavail.err"
check "UNAVAILABLE: retried until accepted" grep -q "^0002 ok " "$RX_DIR/log"
check "UNAVAILABLE: each retry resends the same message" \
  bash -c "cmp -s '$RX_DIR/req-0000.msg' '$RX_DIR/req-0001.msg' && cmp -s '$RX_DIR/req-0000.msg' '$RX_DIR/req-0002.msg'"
once=0
for f in $(msgs "$RX_DIR"); do
  i=$(basename "$f" .msg); i=${i#req-}
  cmp -s "$f" "$RX_DIR/req-0000.msg" && grep -q "^$i ok " "$RX_DIR/log" && once=$((once + 1))
done
check "UNAVAILABLE: the first request delivered (answered OK) exactly once (got $once)" [ "$once" -eq 1 ]
g1=$(gap "$RX_DIR" 0 1); g2=$(gap "$RX_DIR" 1 2)
echo "  UNAVAILABLE: retries ${g1} s and ${g2} s after the failures"
check "UNAVAILABLE: backoff before the retries (125-250 ms, 250-500 ms, + tick)" \
  bash -c "awk -v a=${g1:-0} -v b=${g2:-0} 'BEGIN{exit !(a >= 0.12 && a <= 1.5 && b >= 0.24 && b <= 2.0)}'"
check "UNAVAILABLE: two failures are not logged" [ ! -s "$WORK/unavail.err" ]

# --- RESOURCE_EXHAUSTED with grpc-retry-pushback-ms: 1500 ------------------
grx_start exhausted exhausted:1500,ok
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_PROTOCOL=grpc \
  OTPROF_EXPORT_INTERVAL_MS=300 -- "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2>&1
g=$(gap "$RX_DIR" 0 1)
check "RESOURCE_EXHAUSTED: retried after the pushback (${g} s later, want >= 1.45)" ge "${g:-0}" 1.45
check "RESOURCE_EXHAUSTED: same message, then accepted" \
  bash -c "cmp -s '$RX_DIR/req-0000.msg' '$RX_DIR/req-0001.msg' && grep -q '^0001 ok ' '$RX_DIR/log'"

# --- DEADLINE_EXCEEDED: retried ------------------------------------------
grx_start deadline deadline,ok
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_PROTOCOL=grpc \
  OTPROF_EXPORT_INTERVAL_MS=300 -- "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2>&1
check "DEADLINE_EXCEEDED: retried with the same message" \
  bash -c "cmp -s '$RX_DIR/req-0000.msg' '$RX_DIR/req-0001.msg' && grep -q '^0001 ok ' '$RX_DIR/log'"

# --- INVALID_ARGUMENT on every call: one warning, nothing retried ---------
grx_start invalid invalid
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_PROTOCOL=grpc \
  OTPROF_EXPORT_INTERVAL_MS=300 -- "$PROGS/cpu_split" 1 1.5 0.5 > /dev/null 2> "$WORK/invalid.err"
n=$(nmsgs "$RX_DIR")
dups=$(md5sum $(msgs "$RX_DIR") | awk '{print $1}' | sort | uniq -d | wc -l)
check "INVALID_ARGUMENT: several requests, none sent twice ($n calls, $dups repeated)" [ "$n" -ge 3 -a "$dups" -eq 0 ]
check "INVALID_ARGUMENT: exactly one warning" [ "$(grep -c '^otprof:' "$WORK/invalid.err")" -eq 1 ]
check "INVALID_ARGUMENT: it names the status and the decoded message" \
  grep -q "INVALID_ARGUMENT (3): bad profiles payload (test): 100% wrong second line; request dropped, not retried" \
  "$WORK/invalid.err"
sed 's/^/    /' "$WORK/invalid.err"

# --- OK with partial_success: said once ----------------------------------
grx_start partial partial
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_PROTOCOL=grpc \
  OTPROF_EXPORT_INTERVAL_MS=300 -- "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2> "$WORK/partial.err"
check "partial_success: read from the gRPC answer, said once" \
  [ "$(grep -c 'rejected 2 profiles of a request: 2 profiles dropped: test says so' "$WORK/partial.err")" -eq 1 ]

# --- https://: TLS (ALPN h2) with verification on; an untrusted
# certificate means nothing is sent, said once
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
     -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
     -keyout "$WORK/key.pem" -out "$WORK/cert.pem" > /dev/null 2>&1; then
  grx_start tls ok 0 --tls "$WORK/cert.pem" "$WORK/key.pem"
  under_agent OTPROF_EXPORT_ENDPOINT="https://127.0.0.1:$RX_PORT" OTPROF_EXPORT_PROTOCOL=grpc \
    OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=500 -- "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2> "$WORK/tls.err"
  check "https, untrusted certificate: app exits 0" [ $? -eq 0 ]
  check "https, untrusted certificate: no call reaches the server" [ "$(nmsgs "$RX_DIR")" -eq 0 ]
  check "https, untrusted certificate: said once" [ "$(grep -ci 'certificate' "$WORK/tls.err")" -eq 1 ]
  sed 's/^/    /' "$WORK/tls.err"
else
  fail "openssl cannot make a test certificate"
fi

# --- a libcurl without HTTP/2: gRPC export off, said in one line --------
# (a stand-in libcurl.so.4 found first on LD_LIBRARY_PATH: the entry points
# the agent resolves, and a curl_version_info without CURL_VERSION_HTTP2;
# nothing else is ever called)
mkdir -p "$WORK/nohttp2"
cat > "$WORK/nohttp2/stubs.c" << 'CEOF'
#include <stdlib.h>
#define STUB(name) void name(void); void name(void) { abort(); }
STUB(curl_global_init) STUB(curl_global_init_mem) STUB(curl_easy_init) STUB(curl_easy_setopt)
STUB(curl_easy_getinfo) STUB(curl_easy_cleanup) STUB(curl_easy_strerror) STUB(curl_multi_init)
STUB(curl_multi_add_handle) STUB(curl_multi_remove_handle) STUB(curl_multi_perform)
STUB(curl_multi_poll) STUB(curl_multi_info_read) STUB(curl_multi_cleanup) STUB(curl_slist_append)
STUB(curl_slist_free_all)
CEOF
cat > "$WORK/nohttp2/version.c" << 'CEOF'
#include <curl/curl.h>
curl_version_info_data *curl_version_info(CURLversion v)
{
    static curl_version_info_data d;
    (void)v;
    d.age = CURLVERSION_NOW;
    d.version = "7.0.0-test-without-http2";
    d.version_num = 0x070000;
    d.features = CURL_VERSION_SSL | CURL_VERSION_LIBZ;
    return &d;
}
CEOF
if cc -shared -fPIC -Wl,-soname,libcurl.so.4 -o "$WORK/nohttp2/libcurl.so.4" \
     "$WORK/nohttp2/stubs.c" "$WORK/nohttp2/version.c" 2> "$WORK/nohttp2/cc.err"; then
  grx_start nohttp2 ok
  under_agent LD_LIBRARY_PATH="$WORK/nohttp2" OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" \
    OTPROF_EXPORT_PROTOCOL=grpc OTPROF_EXPORT_INTERVAL_MS=300 \
    -- "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2> "$WORK/nohttp2.err"
  check "libcurl without HTTP/2: app exits 0" [ $? -eq 0 ]
  check "libcurl without HTTP/2: nothing sent" [ "$(nmsgs "$RX_DIR")" -eq 0 ]
  check "libcurl without HTTP/2: one line, naming it" \
    [ "$(grep -c '^otprof:' "$WORK/nohttp2.err")" -eq 1 -a \
      "$(grep -c 'OTLP/gRPC export off: this libcurl (7.0.0-test-without-http2) has no HTTP/2' "$WORK/nohttp2.err")" -eq 1 ]
  sed 's/^/    /' "$WORK/nohttp2.err"
else
  fail "cc builds a stand-in libcurl"
  head -5 "$WORK/nohttp2/cc.err"
fi

# --- no server at all: the app is unaffected -----------------------------
port=$(free_port)
t0=$(now_ms)
bare_rc=0; sh -c '"$0" 1 1 0.5 > /dev/null; exit 7' "$PROGS/cpu_split" || bare_rc=$?
t1=$(now_ms)
prof_rc=0
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$port" OTPROF_EXPORT_PROTOCOL=grpc \
  OTPROF_EXPORT_INTERVAL_MS=300 OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=1000 \
  -- sh -c '"$0" 1 1 0.5 > /dev/null; exit 7' "$PROGS/cpu_split" 2> "$WORK/absent.err" || prof_rc=$?
t2=$(now_ms)
echo "  no server: bare ${bare_rc} in $((t1 - t0)) ms, profiled ${prof_rc} in $((t2 - t1)) ms"
check "no server: same exit status ($bare_rc)" [ "$prof_rc" -eq "$bare_rc" ]
bare_ms=$((t1 - t0))
check "no server: as long as the bare run + the 1 s shutdown bound + 3 s slack" [ $((t2 - t1)) -lt $((bare_ms + 4000)) ]
# two processes run the agent here (sh and cpu_split): each may say it once
check "no server: at most one line per process that it backs off" \
  [ "$(grep -c 'keeps failing' "$WORK/absent.err")" -le 2 ]
sed 's/^/    /' "$WORK/absent.err"

# --- a server that never answers: exit bounded by shutdown_timeout_ms -----
grx_start hang hang
t0=$(now_ms)
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_PROTOCOL=grpc \
  OTPROF_EXPORT_TIMEOUT_MS=600000 OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=1000 \
  -- "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2> "$WORK/hang.err"
rc=$?
wall=$(( $(now_ms) - t0 ))
check "hung server: app exits 0" [ "$rc" -eq 0 ]
check "hung server: the call reached it" [ "$(nmsgs "$RX_DIR")" -ge 1 ]
check "hung server: exit within the bare run + 1 s shutdown bound + 3 s slack (${wall} ms, bare ${bare_ms} ms)" \
  [ "$wall" -lt $((bare_ms + 4000)) ]
check "hung server: says what was not sent" grep -q "not sent by the exit deadline" "$WORK/hang.err"
finish
