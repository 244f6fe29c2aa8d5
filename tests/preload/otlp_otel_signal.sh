# The OpenTelemetry exporter variables beyond the basic ones:
# - the profiles signal's own OTEL_EXPORTER_OTLP_PROFILES_* win over the
#   generic ones (endpoint used verbatim, headers, timeout, compression);
# - TLS: OTEL_EXPORTER_OTLP_CERTIFICATE (CA) with the mTLS pair
#   OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE / _CLIENT_KEY against an HTTPS
#   receiver that requires a client certificate signed by a test CA made
#   here with openssl; without the client certificate nothing is sent,
#   the app is unaffected and the failure is said once;
# - OTEL_SDK_DISABLED=true: no files, no thread, no timer, no line;
# - otprof config names each of these variables as the origin.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"
APP=("$PROGS/cpu_split" 1 1 0.5)
dead=$(free_port)

# ---- precedence: the profiles signal's variables win -----------------------
rx_start prec 200
bare_otel OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$dead" \
  OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT="http://127.0.0.1:$RX_PORT/custom/ingest" \
  OTEL_EXPORTER_OTLP_HEADERS="x-which=generic,x-generic-only=1" \
  OTEL_EXPORTER_OTLP_PROFILES_HEADERS="x-which=profiles" \
  OTEL_EXPORTER_OTLP_COMPRESSION=gzip OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION=none \
  -- "${APP[@]}" > /dev/null 2> "$WORK/prec.err"
check "precedence run: app exits 0, says nothing" [ $? -eq 0 -a ! -s "$WORK/prec.err" ]
n=$(rx_count "$RX_DIR")
check "PROFILES_ENDPOINT wins: requests arrive ($n)" [ "$n" -ge 2 ]
hdr="$RX_DIR/req-0000.headers"
check "PROFILES_ENDPOINT is the full URL: POST /custom/ingest, no path appended" \
  [ "$(head -1 "$hdr" 2>/dev/null)" = "POST /custom/ingest" ]
check "PROFILES_HEADERS used instead of HEADERS" \
  bash -c 'grep -qix "x-which: profiles" "$1" && ! grep -qi "x-generic-only" "$1"' _ "$hdr"
check "PROFILES_COMPRESSION=none beats COMPRESSION=gzip: no Content-Encoding" \
  bash -c '! grep -qi "^content-encoding" "$1"' _ "$hdr"
check "uncompressed bodies decode" bash -c '"$@" > /dev/null' _ "$CHECKER" -q $(rx_bodies "$RX_DIR")

# Timeout: the first request hangs; with PROFILES_TIMEOUT=300 it is given
# up and retried within a second or two, not after the generic 60 s.
rx_start tmo hang,200
bare_otel OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RX_PORT" \
  OTEL_EXPORTER_OTLP_TIMEOUT=60000 OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT=300 \
  -- "${APP[@]}" > /dev/null 2> "$WORK/tmo.err"
check "timeout run: app exits 0" [ $? -eq 0 ]
gap=$(awk 'NR == 1 { t0 = $4 } NR == 2 { printf "%.3f", $4 - t0 }' "$RX_DIR/log")
echo "  hung request retried after ${gap:-never} s"
[ -n "$gap" ] && within "$gap" 1.5 1.5; r=$?
check "PROFILES_TIMEOUT=300 beats TIMEOUT=60000: retried within 3 s" [ $r -eq 0 ]

# An unsupported value: one line naming the variable and what is used.
rx_start json 200
bare_otel OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RX_PORT" \
  OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL=http/json -- "${APP[@]}" > /dev/null 2> "$WORK/json.err"
check "http/json: app exits 0" [ $? -eq 0 ]
check "http/json: one line naming the variable and http/protobuf" \
  [ "$(cat "$WORK/json.err")" = 'otprof: OTEL_EXPORTER_OTLP_PROFILES_PROTOCOL: "http/json" is not one of http/protobuf|grpc; using http/protobuf' ]
check "http/json: still exported as http/protobuf" [ "$(rx_count "$RX_DIR")" -ge 1 ]

# otprof config says where each value came from.
cfg=$(env -u OTPROF_CONFIG OTPROF_SYSTEM_CONFIG=/nonexistent \
  OTEL_EXPORTER_OTLP_ENDPOINT=http://g:4318 OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT=http://p:4318/x \
  OTEL_EXPORTER_OTLP_TIMEOUT=2000 OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT=3000 \
  OTEL_EXPORTER_OTLP_CERTIFICATE=/g/ca.pem OTEL_EXPORTER_OTLP_PROFILES_CLIENT_KEY=/p/key.pem \
  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/g/crt.pem OTEL_SDK_DISABLED=true "$BUILD/otprof" config 2>&1)
origin() { grep -E "^$1 = " <<<"$cfg" | sed 's/.*; //'; }
check "otprof config: endpoint from OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT" \
  [ "$(origin endpoint)" = "OTEL environment: OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT" ]
check "otprof config: timeout_ms = 3000 from OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT" \
  bash -c 'grep -qE "^timeout_ms = 3000 +; OTEL environment: OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT$" <<<"$1"' _ "$cfg"
check "otprof config: certificate, client_key, client_certificate origins" \
  [ "$(origin certificate)|$(origin client_key)|$(origin client_certificate)" = \
    "OTEL environment: OTEL_EXPORTER_OTLP_CERTIFICATE|OTEL environment: OTEL_EXPORTER_OTLP_PROFILES_CLIENT_KEY|OTEL environment: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" ]
check "otprof config: agent enabled = false from OTEL_SDK_DISABLED" \
  bash -c 'grep -m1 -E "^enabled = " <<<"$1" | grep -qE "^enabled = false +; OTEL environment: OTEL_SDK_DISABLED$"' _ "$cfg"

# ---- mTLS -------------------------------------------------------------------
# A test CA, a server certificate for 127.0.0.1 and a client certificate.
tls_ok=0
test_pki "$WORK" && tls_ok=1
check "openssl makes a test CA, server and client certificates" [ "$tls_ok" -eq 1 ]
if [ "$tls_ok" -eq 1 ]; then
  rx_start mtls 200 0 --tls "$WORK/srv.pem" "$WORK/srv.key" --client-ca "$WORK/ca.pem"
  bare_otel OTEL_EXPORTER_OTLP_ENDPOINT="https://127.0.0.1:$RX_PORT" \
    OTEL_EXPORTER_OTLP_CERTIFICATE="$WORK/ca.pem" \
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE="$WORK/cli.pem" OTEL_EXPORTER_OTLP_CLIENT_KEY="$WORK/cli.key" \
    -- "${APP[@]}" > /dev/null 2> "$WORK/mtls.err"
  check "mTLS (CA, client certificate and key): app exits 0, says nothing" [ $? -eq 0 -a ! -s "$WORK/mtls.err" ]
  n=$(rx_count "$RX_DIR")
  [ "$n" -ge 2 ] && "$CHECKER" -q $(rx_bodies "$RX_DIR") > /dev/null; r=$?
  check "mTLS: requests arrive ($n) and decode" [ $r -eq 0 ]
  sed 's/^/    /' "$WORK/mtls.err"

  # The PROFILES_ variants of the three files do the same.
  rx_start mtls2 200 0 --tls "$WORK/srv.pem" "$WORK/srv.key" --client-ca "$WORK/ca.pem"
  bare_otel OTEL_EXPORTER_OTLP_ENDPOINT="https://127.0.0.1:$RX_PORT" \
    OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem OTEL_EXPORTER_OTLP_PROFILES_CERTIFICATE="$WORK/ca.pem" \
    OTEL_EXPORTER_OTLP_PROFILES_CLIENT_CERTIFICATE="$WORK/cli.pem" \
    OTEL_EXPORTER_OTLP_PROFILES_CLIENT_KEY="$WORK/cli.key" \
    -- "${APP[@]}" > /dev/null 2> "$WORK/mtls2.err"
  check "mTLS with the PROFILES_ variables: requests arrive" [ $? -eq 0 -a "$(rx_count "$RX_DIR")" -ge 2 ]

  # No client certificate: the server refuses every connection.
  rx_start nocert 200 0 --tls "$WORK/srv.pem" "$WORK/srv.key" --client-ca "$WORK/ca.pem"
  bare_out=$("${APP[@]}" 2> /dev/null)
  out=$(bare_otel OTEL_EXPORTER_OTLP_ENDPOINT="https://127.0.0.1:$RX_PORT" \
    OTEL_EXPORTER_OTLP_CERTIFICATE="$WORK/ca.pem" OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=300 \
    -- "${APP[@]}" 2> "$WORK/nocert.err")
  rc=$?
  check "no client certificate: app exits 0, its output is the same shape" \
    [ "$rc" -eq 0 -a "$(wc -l <<<"$out")" -eq "$(wc -l <<<"$bare_out")" ]
  check "no client certificate: nothing reaches the backend" [ "$(rx_count "$RX_DIR")" -eq 0 ]
  # One warning about the failing export (after 3 failed attempts), plus
  # the usual count of what was not sent at exit.
  check "no client certificate: the failure is said once" \
    [ "$(grep -c 'keeps failing' "$WORK/nocert.err")" -eq 1 -a \
      "$(grep -vc -e 'keeps failing' -e 'not sent by the exit deadline' "$WORK/nocert.err")" -eq 0 ]
  sed 's/^/    /' "$WORK/nocert.err"
fi

# ---- OTEL_SDK_DISABLED=true: the agent does nothing -------------------------
# While the app runs (it allocates and burns CPU for 1 s), its threads and
# POSIX timers are those of the bare program; nothing is written.
probe() { # probe OUTDIR VAR=VALUE...: "threads timers" mid-run
  local dir=$1; shift
  mkdir -p "$dir"
  ( cd "$dir" && env -u OTPROF_CONFIG OTPROF_SYSTEM_CONFIG=/nonexistent "$@" \
      "$PROGS/cpu_split" 1 1.2 0.5 > /dev/null 2> "$dir.err" ) &
  local pid=$!
  # mid-run: once the app's worker thread exists (slow on a loaded machine)
  local p="" i
  for i in $(seq 1 60); do
    sleep 0.05
    p=$(launched_pid "$pid" cpu_split)
    [ -n "$p" ] && [ "$(ls /proc/"$p"/task 2>/dev/null | wc -l)" -ge 2 ] && break
  done
  sleep 0.3
  echo "$(ls /proc/"$p"/task 2>/dev/null | wc -l) $(grep -c '^ID:' /proc/"$p"/timers 2>/dev/null)"
  wait "$pid"
}
probe "$WORK/sdk_bare" > "$WORK/p.bare"
probe "$WORK/sdk_on" LD_PRELOAD="$AGENT" > "$WORK/p.on"
probe "$WORK/sdk_off" LD_PRELOAD="$AGENT" OTEL_SDK_DISABLED=true > "$WORK/p.off"
read -r t_bare tm_bare < "$WORK/p.bare"
read -r t_on tm_on < "$WORK/p.on"
read -r t_off tm_off < "$WORK/p.off"
echo "  threads/timers mid-run: bare $t_bare/$tm_bare, agent $t_on/$tm_on, OTEL_SDK_DISABLED $t_off/$tm_off"
check "the probe sees the agent's thread and timers when enabled" [ "$t_on" -gt "$t_bare" -a "$tm_on" -gt 0 ]
check "OTEL_SDK_DISABLED=true: no thread, no timer of the agent" [ "$t_off" -eq "$t_bare" -a "$tm_off" -eq "$tm_bare" ]
check "OTEL_SDK_DISABLED=true: no file, no line" \
  [ -z "$(ls -A "$WORK/sdk_off")" -a ! -s "$WORK/sdk_off.err" ]
check "enabled: the same run writes profiles" [ -n "$(ls "$WORK/sdk_on/otprof-out" 2>/dev/null)" ]
finish
