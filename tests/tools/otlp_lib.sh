# Helpers for the OTLP shell tests (tests/preload/otlp_*.sh), sourced after
# tests/lib.sh. Receivers are ours (tests/tools/otlp_receiver.py), listen
# on 127.0.0.1 only, and are stopped when the test exits.
PY=/usr/bin/python3
RECEIVER="$ROOT/tests/tools/otlp_receiver.py"
CHECKER="$BUILD/tools/otlp_check"
RX_PIDS=()
# Never send test traffic through a proxy from the environment.
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy

rx_cleanup() {
  local p
  for p in "${RX_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${RX_PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
_otlp_prev_exit_trap=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
trap "rx_cleanup; $_otlp_prev_exit_trap" EXIT

# free_port: a port nobody listens on right now.
free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# rx_start NAME ANSWERS [PORT [receiver options]]: starts a receiver
# ($RX_SCRIPT, default ours) recording into $WORK/NAME; sets RX_DIR and
# RX_PORT (and RX_PID).
rx_start() {
  local name=$1 answers=$2 port=${3:-0}
  shift 2; [ $# -gt 0 ] && shift
  RX_DIR="$WORK/$name"
  mkdir -p "$RX_DIR"
  $PY "${RX_SCRIPT:-$RECEIVER}" --dir "$RX_DIR" --port "$port" --port-file "$RX_DIR/port" \
    --answers "$answers" "$@" 2> "$RX_DIR/stderr" &
  RX_PID=$!
  RX_PIDS+=("$RX_PID")
  local i
  for i in $(seq 1 200); do
    [ -s "$RX_DIR/port" ] && break
    kill -0 "$RX_PID" 2> /dev/null || break # could not bind
    sleep 0.05
  done
  RX_PORT=$(cat "$RX_DIR/port" 2>/dev/null)
  [ -n "$RX_PORT" ]
}

# bare_otel VAR=VALUE... -- cmd: the agent with no otprof setting but the
# interval (400 ms unless given), only OTEL_* variables.
bare_otel() {
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env -u OTPROF_CONFIG -u OTPROF_EXPORT_ENDPOINT -u OTPROF_EXPORT_OUTPUT_DIR \
    OTPROF_SYSTEM_CONFIG=/nonexistent OTPROF_EXPORT_INTERVAL_MS=400 "${envs[@]}" LD_PRELOAD="$AGENT" "$@"
}

# test_pki DIR: a test CA made by openssl (DIR/ca.pem, ca.key), a server
# certificate it signed for IP:127.0.0.1 and DNS:localhost (srv.pem,
# srv.key) and a client certificate (cli.pem, cli.key). Fails if openssl
# cannot.
test_pki() {
  local d=$1 who ext
  _ssl() { openssl "$@" > /dev/null 2>&1; }
  _ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=otprof-test-ca -keyout "$d/ca.key" -out "$d/ca.pem" || return 1
  for who in srv cli; do
    ext="extendedKeyUsage=clientAuth"
    [ $who = srv ] && ext=$(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth')
    _ssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=otprof-$who" \
      -keyout "$d/$who.key" -out "$d/$who.csr" &&
    _ssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
      -days 1 -out "$d/$who.pem" -extfile <(echo "$ext") || return 1
  done
}

# rx_bodies DIR: the recorded request bodies, in order.
rx_bodies() { ls "$1"/req-*.body 2>/dev/null | sort; }
rx_count() { rx_bodies "$1" | wc -l; }

# mono: CLOCK_MONOTONIC seconds (the receiver logs the same clock).
mono() { $PY -c 'import time; print("%.3f" % time.monotonic())'; }

# now_ms: wall clock in ms.
now_ms() { date +%s%3N; }

# share SUMMARY KIND TYPE FUNC: a flat/incl percentage from otlp_check
# output (0 if absent).
share() {
  awk -v k="$2" -v t="$3" -v f="$4" '$1 == k && $2 == t && $3 == f { print $4; found=1 } END { if (!found) print 0 }' "$1"
}
# ge A B: A >= B (floats).
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
