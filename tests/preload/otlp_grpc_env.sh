# The OpenTelemetry exporter variables over OTLP/gRPC (the HTTP half is
# otlp_otel_signal.sh), against Debian's grpcio (tests/tools/grpc_receiver.py)
# with only OTEL_* variables set:
# - OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS (as gRPC metadata), _TIMEOUT (as
#   the grpc-timeout the server's deadline comes from), _COMPRESSION;
# - the PROFILES_ variants of each win (two servers: only the profiles
#   endpoint's gets calls; a path in it is not a gRPC method);
# - mTLS: a grpcio server requiring a client certificate signed by a test
#   CA made here by openssl; _CERTIFICATE + _CLIENT_CERTIFICATE +
#   _CLIENT_KEY (and their PROFILES_ variants) deliver the CPU profile of a
#   known workload; without the client certificate nothing is delivered,
#   the app is unaffected and the failure is said a bounded number of times.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"
source "$ROOT/tests/tools/grpc_lib.sh"
grpc_prereqs

# The workload: 2 threads spinning 1.5 s of CPU each (3 s in all).
APP=("$PROGS/cpu_split" 2 1.5 0.7)
WANT_CPU=3.0
# cpu_ok NAME DIR: the decoded calls of DIR hold the workload's CPU, within 10%.
cpu_ok() {
  local name=$1 dir=$2 total cpu_s
  if ! $PY "$DECODE" --pb "$WORK/pb" $(msgs "$dir") > "$dir.summary"; then
    fail "$name: the calls decode with the generated code"
    return
  fi
  total=$(awk '$1=="total" && $2=="samples/count" {print $3}' "$dir.summary")
  cpu_s=$(awk -v t="${total:-0}" 'BEGIN {printf "%.3f", t * 0.01}')
  echo "  $name: ${total:-0} samples = ${cpu_s} s of CPU; the workers spun ${WANT_CPU} s"
  check "$name: CPU total within 10% of the workload's ${WANT_CPU} s (${cpu_s} s)" \
    within "$cpu_s" "$WANT_CPU" 0.3
}
# Full sampling: the numbers must not depend on the overhead budget on a
# loaded machine.
FULL=(OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0 OTPROF_EXPORT_INTERVAL_MS=300)

# ---- the generic variables ---------------------------------------------------
grx_start generic ok
G=$RX_DIR
bare_otel "${FULL[@]}" OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RX_PORT" \
  OTEL_EXPORTER_OTLP_HEADERS="x-which=generic, X-Token=Bearer%20abc" \
  OTEL_EXPORTER_OTLP_TIMEOUT=7000 OTEL_EXPORTER_OTLP_COMPRESSION=none \
  -- "${APP[@]}" > /dev/null 2> "$WORK/generic.err"
check "generic: app exits 0, says nothing" [ $? -eq 0 -a ! -s "$WORK/generic.err" ]
sed 's/^/    /' "$WORK/generic.err" | head -5
n=$(nmsgs "$G")
check "OTEL_EXPORTER_OTLP_ENDPOINT: calls arrive ($n)" [ "$n" -ge 3 ]
check "generic: every call is $METHOD" \
  bash -c "! grep -h '^method ' '$G'/req-*.meta | grep -vqx 'method $METHOD'"
check "OTEL_EXPORTER_OTLP_HEADERS: metadata x-which: generic" [ "$(meta "$G" x-which)" = generic ]
check "OTEL_EXPORTER_OTLP_HEADERS: X-Token=Bearer%20abc arrives as x-token: Bearer abc (HTTP/2 names are lowercase)" \
  [ "$(meta "$G" x-token)" = "Bearer abc" ]
check "OTEL_EXPORTER_OTLP_HEADERS: in every call" \
  [ "$(grep -lx 'x-which: generic' "$G"/req-*.meta | wc -l)" -eq "$n" ]
tr=$(meta "$G" time_remaining)
check "OTEL_EXPORTER_OTLP_TIMEOUT=7000: the server's deadline is 7 s (got ${tr:-none})" \
  awk -v t="${tr:-None}" 'BEGIN { exit !(t != "None" && t > 3 && t <= 7) }'
echo "  generic call 0: $(grep -h '_bytes' "$G/req-0000.meta" | tr '\n' ' ')"
check "OTEL_EXPORTER_OTLP_COMPRESSION=none: message plus the 5-byte prefix on the wire" \
  [ "$(wire "$G")" = none ]
cpu_ok generic "$G"

# ---- the PROFILES_ variables win ---------------------------------------------
# The generic protocol is http/protobuf, the signal's own grpc; every generic
# variable points elsewhere or says something else.
grx_start decoy ok
D=$RX_DIR
grx_start profiles ok
P=$RX_DIR
bare_otel "${FULL[@]}" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL=grpc \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat "$D/port")" \
  OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT="http://127.0.0.1:$RX_PORT/custom/ingest" \
  OTEL_EXPORTER_OTLP_HEADERS="x-which=generic,x-generic-only=1" \
  OTEL_EXPORTER_OTLP_PROFILES_HEADERS="x-which=profiles" \
  OTEL_EXPORTER_OTLP_TIMEOUT=60000 OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT=4000 \
  OTEL_EXPORTER_OTLP_COMPRESSION=none OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION=gzip \
  -- "${APP[@]}" > /dev/null 2> "$WORK/profiles.err"
check "profiles: app exits 0, says nothing" [ $? -eq 0 -a ! -s "$WORK/profiles.err" ]
sed 's/^/    /' "$WORK/profiles.err" | head -5
n=$(nmsgs "$P")
echo "  profiles endpoint: $n calls, generic endpoint: $(nmsgs "$D") calls"
check "PROFILES_PROTOCOL=grpc and PROFILES_ENDPOINT win: gRPC calls arrive at the profiles server ($n)" \
  [ "$n" -ge 3 ]
check "PROFILES_ENDPOINT wins: none at the generic endpoint's server" [ "$(nmsgs "$D")" -eq 0 ]
check "PROFILES_ENDPOINT's path is not a gRPC method: every call is $METHOD" \
  bash -c "! grep -h '^method ' '$P'/req-*.meta | grep -vqx 'method $METHOD'"
check "PROFILES_HEADERS wins: x-which: profiles, no x-generic-only" \
  [ "$(meta "$P" x-which)" = profiles -a -z "$(meta "$P" x-generic-only)" ]
tr=$(meta "$P" time_remaining)
check "PROFILES_TIMEOUT=4000 beats TIMEOUT=60000: the server's deadline is 4 s (got ${tr:-none})" \
  awk -v t="${tr:-None}" 'BEGIN { exit !(t != "None" && t > 1.5 && t <= 4) }'
echo "  profiles call 0: $(grep -h '_bytes' "$P/req-0000.meta" | tr '\n' ' ')"
check "PROFILES_COMPRESSION=gzip beats COMPRESSION=none: compressed frame, grpcio gunzips it" \
  [ "$(wire "$P")" = gzip ]
cpu_ok profiles "$P"

# ... and the other way round: PROFILES_COMPRESSION=none beats gzip.
grx_start plain ok
bare_otel OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RX_PORT" \
  OTEL_EXPORTER_OTLP_COMPRESSION=gzip OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION=none \
  -- "$PROGS/cpu_split" 1 0.5 0.5 > /dev/null 2>&1
check "PROFILES_COMPRESSION=none beats COMPRESSION=gzip: uncompressed frame" \
  [ "$(nmsgs "$RX_DIR")" -ge 1 -a "$(wire "$RX_DIR")" = none ]

# ---- mTLS ----------------------------------------------------------------------
mkdir -p "$WORK/pki"
if ! test_pki "$WORK/pki"; then
  fail "openssl makes a test CA, server and client certificates"
  finish
fi
pass "openssl makes a test CA, server and client certificates"
K=$WORK/pki
TLS=(--tls "$K/srv.pem" "$K/srv.key" --client-ca "$K/ca.pem")

grx_start mtls ok 0 "${TLS[@]}"
M=$RX_DIR
bare_otel "${FULL[@]}" OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
  OTEL_EXPORTER_OTLP_ENDPOINT="https://127.0.0.1:$RX_PORT" \
  OTEL_EXPORTER_OTLP_CERTIFICATE="$K/ca.pem" \
  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE="$K/cli.pem" OTEL_EXPORTER_OTLP_CLIENT_KEY="$K/cli.key" \
  -- "${APP[@]}" > /dev/null 2> "$WORK/mtls.err"
check "mTLS (CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY): app exits 0, says nothing" \
  [ $? -eq 0 -a ! -s "$WORK/mtls.err" ]
sed 's/^/    /' "$WORK/mtls.err" | head -5
n=$(nmsgs "$M")
check "mTLS: calls arrive ($n)" [ "$n" -ge 3 ]
cpu_ok mTLS "$M"

# The PROFILES_ variants (the generic CA does not exist), to localhost.
grx_start mtls2 ok 0 "${TLS[@]}"
M2=$RX_DIR
bare_otel "${FULL[@]}" OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL=grpc \
  OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT="https://localhost:$RX_PORT" \
  OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem OTEL_EXPORTER_OTLP_PROFILES_CERTIFICATE="$K/ca.pem" \
  OTEL_EXPORTER_OTLP_PROFILES_CLIENT_CERTIFICATE="$K/cli.pem" \
  OTEL_EXPORTER_OTLP_PROFILES_CLIENT_KEY="$K/cli.key" \
  -- "${APP[@]}" > /dev/null 2> "$WORK/mtls2.err"
check "mTLS with the PROFILES_ variables: app exits 0, says nothing" [ $? -eq 0 -a ! -s "$WORK/mtls2.err" ]
sed 's/^/    /' "$WORK/mtls2.err" | head -5
n=$(nmsgs "$M2")
check "mTLS with the PROFILES_ variables: calls arrive ($n)" [ "$n" -ge 3 ]
cpu_ok "mTLS PROFILES_" "$M2"

# No client certificate: the server refuses the handshake. The app's exit
# status and output are those of the bare run (its numbers masked).
grx_start nocert ok 0 "${TLS[@]}"
N=$RX_DIR
shape() { sed 's/=[0-9.]*/=N/g'; }
t0=$(now_ms)
bare_out=$("$PROGS/cpu_split" 1 1 0.5 2>&1 | shape); bare_rc=${PIPESTATUS[0]}
bare_ms=$(( $(now_ms) - t0 ))
t0=$(now_ms)
out=$(bare_otel OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT="https://127.0.0.1:$RX_PORT" \
  OTEL_EXPORTER_OTLP_CERTIFICATE="$K/ca.pem" OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=500 \
  -- "$PROGS/cpu_split" 1 1 0.5 2> "$WORK/nocert.err")
rc=$?
wall=$(( $(now_ms) - t0 ))
echo "  no client certificate: exit $rc (bare $bare_rc) after ${wall} ms (bare ${bare_ms} ms); output \"$(shape <<<"$out")\""
check "no client certificate: same exit status ($bare_rc)" [ "$rc" -eq "$bare_rc" ]
check "no client certificate: same output (numbers masked)" [ "$(shape <<<"$out")" = "$bare_out" ]
check "no client certificate: nothing delivered" [ "$(nmsgs "$N")" -eq 0 ]
check "no client certificate: exit within the bare run + the 0.5 s shutdown bound + 4 s slack (${wall} ms)" \
  [ "$wall" -lt $((bare_ms + 4500)) ]
lines=$(grep -c '^otprof:' "$WORK/nocert.err")
check "no client certificate: at most 2 otprof: lines ($lines), nothing else on stderr" \
  [ "$lines" -ge 1 -a "$lines" -le 2 -a "$(grep -vc '^otprof:' "$WORK/nocert.err")" -eq 0 ]
sed 's/^/    /' "$WORK/nocert.err"
finish
