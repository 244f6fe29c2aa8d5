# The OpenTelemetry process context (OTEP 4719), both ways:
# - an app that publishes one (tests/progs/otel_pctx.c: memfd OTEL_CTX,
#   header and protobuf payload as the reference implementation writes
#   them) gets its resource attributes merged into the agent's OTLP
#   resource, at start or later (and again when it updates it), under
#   OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; its extra attributes
#   and a process.pid of its own are not taken;
# - with agent.publish_process_context the agent publishes its own, read
#   here by an external reader (build/tools/pctx_read: /proc/PID/maps and
#   /proc/PID/mem, as an eBPF profiler reads it), with or without OTLP;
#   off by default; withdrawn when the app publishes its own.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"
READER="$BUILD/tools/pctx_read"
APP="$PROGS/otel_pctx"
run() { # run NAME VAR=VALUE... -- cmd: OTLP to a fresh receiver; summary in $WORK/NAME.sum
  local name=$1; shift
  rx_start "$name" 200
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env -u OTEL_RESOURCE_ATTRIBUTES -u OTEL_SERVICE_NAME -u OTPROF_CONFIG \
    OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 "${envs[@]}" \
    LD_PRELOAD="$AGENT" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err"
  local rc=$?
  "$CHECKER" $(rx_bodies "$RX_DIR") > "$WORK/$name.sum"
  return $rc
}
res() { grep -Fx "resource $2" "$WORK/$1.sum" > /dev/null; }
# resource_of NAME N: the resource lines of request N alone.
resource_of() { "$CHECKER" "$WORK/$1/req-$(printf %04d "$2").body" | grep '^resource '; }

# ---- reading the app's context ---------------------------------------------
run start -- "$APP" 0 1.2
check "app publishing at start: exits 0, says nothing" [ $? -eq 0 -a ! -s "$WORK/start.err" ]
check "its service.name replaces the executable-name fallback" res start "service.name=checkout-from-sdk"
check "its other resource attributes are merged" \
  bash -c 'grep -qx "resource process.runtime.name=example-runtime" "$1" && grep -qx "resource service.version=1.0" "$1" && grep -qx "resource telemetry.sdk.language=cpp" "$1"' _ "$WORK/start.sum"
check "not its extra (non-resource) attributes" bash -c '! grep -q threadlocal "$1"' _ "$WORK/start.sum"
check "process.pid stays the real one" bash -c '! grep -qx "resource process.pid=1" "$1" && grep -q "^resource process.pid=[0-9][0-9]" "$1"' _ "$WORK/start.sum"
grep '^resource' "$WORK/start.sum" | sed 's/^/    /'

run user OTEL_SERVICE_NAME=env-svc OTEL_RESOURCE_ATTRIBUTES="service.version=7.7,team=t" -- "$APP" 0 1.2
check "OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the app's context" \
  bash -c 'grep -qx "resource service.name=env-svc" "$1" && grep -qx "resource service.version=7.7" "$1" && grep -qx "resource process.runtime.name=example-runtime" "$1"' _ "$WORK/user.sum"

# Published late, then updated: later requests carry it, then the update.
run late -- "$APP" 0.8 2.4 update
n=$(rx_count "$WORK/late")
first=$(resource_of late 0 | grep -c "service.name=checkout-from-sdk")
last=$(resource_of late $((n - 1)))
echo "  late: $n requests; the first carries the app's service.name: $first"
[ "$n" -ge 3 -a "$first" -eq 0 ] && grep -qx "resource service.name=checkout-from-sdk" <<<"$last"; r=$?
check "published late: the first request does not have it, the last does ($n requests)" [ $r -eq 0 ]
check "updated (OTEP update protocol): the last request has service.version=2.0" \
  grep -qx "resource service.version=2.0" <<<"$last"

# ---- publishing the agent's own ----------------------------------------------
# probe_pid PID: the reader's output while the app runs: once a context is
# there (the agent publishes when its thread starts), else after 2 s.
probe_pid() {
  local i
  for i in $(seq 1 20); do
    sleep 0.1
    "$READER" "$1" > /dev/null 2>&1 && break
  done
  "$READER" "$1"
}
mkdir -p "$WORK/files"
( cd "$WORK/files" && exec env -u OTPROF_CONFIG -u OTEL_RESOURCE_ATTRIBUTES LD_PRELOAD="$AGENT" \
    OTPROF_AGENT_PUBLISH_PROCESS_CONTEXT=true OTEL_SERVICE_NAME=published-svc \
    "$PROGS/cpu_split" 1 1.5 0.5 > /dev/null 2> "$WORK/pub.err" ) &
pid=$!
probe_pid "$pid" > "$WORK/pub.ctx"; prc=$?
wait "$pid"
check "publish_process_context, no OTLP: app exits 0, says nothing" [ $? -eq 0 -a ! -s "$WORK/pub.err" ]
[ "$prc" -eq 0 ] && grep -qx "mappings 1" "$WORK/pub.ctx"; r=$?
check "an external reader finds one OTEL_CTX mapping and a consistent record" [ $r -eq 0 ]
check "it names the service: service.name=published-svc" grep -qx "resource service.name=published-svc" "$WORK/pub.ctx"
check "and the process: process.pid=$pid, host.name" \
  bash -c 'grep -qx "resource process.pid=$2" "$1" && grep -q "^resource host.name=" "$1"' _ "$WORK/pub.ctx" "$pid"
check "profiles are still written" [ -n "$(ls "$WORK/files/otprof-out" 2>/dev/null)" ]
sed 's/^/    /' "$WORK/pub.ctx"

# (read once while it surely runs: with nothing published the reader
# never succeeds, and retrying would outlast the program)
( exec env -u OTPROF_CONFIG LD_PRELOAD="$AGENT" OTPROF_EXPORT_OUTPUT_DIR="$WORK/out2" \
    "$PROGS/cpu_split" 1 3 0.5 > /dev/null ) &
pid=$!
sleep 1; "$READER" "$pid" > "$WORK/off.ctx"
wait "$pid"
check "off by default: no OTEL_CTX mapping" grep -qx "mappings 0" "$WORK/off.ctx"

# The app publishes its own (after 0.3 s): one context per process, the app's.
( exec env -u OTPROF_CONFIG LD_PRELOAD="$AGENT" OTPROF_EXPORT_OUTPUT_DIR="$WORK/out3" \
    OTPROF_EXPORT_INTERVAL_MS=200 OTPROF_AGENT_PUBLISH_PROCESS_CONTEXT=true "$APP" 0.3 3 > "$WORK/both.out" ) &
pid=$!
sleep 0.2; "$READER" "$pid" > "$WORK/early.ctx"
for i in $(seq 1 100); do grep -q published "$WORK/both.out" && break; sleep 0.05; done
sleep 0.6; "$READER" "$pid" > "$WORK/both.ctx"
wait "$pid"
grep -q "^resource service.name=otel_pctx" "$WORK/early.ctx" && echo "  (the agent's context was there before the app's)"
check "the app publishes too: only its context remains" \
  bash -c 'grep -qx "mappings 1" "$1" && grep -qx "resource service.name=checkout-from-sdk" "$1"' _ "$WORK/both.ctx"
finish
