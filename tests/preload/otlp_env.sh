# The standard OpenTelemetry environment variables take effect:
# OTEL_EXPORTER_OTLP_ENDPOINT (no otprof key set), OTEL_EXPORTER_OTLP_HEADERS
# (sent, percent-decoded, never logged), OTEL_SERVICE_NAME,
# OTEL_RESOURCE_ATTRIBUTES, and TRACEPARENT (a process-wide context).
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"

rx_start env 200
secret="s3cr3t-t0ken-$$"
env -u OTPROF_CONFIG -u OTPROF_EXPORT_ENDPOINT -u OTPROF_EXPORT_OUTPUT_DIR LD_PRELOAD="$AGENT" \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RX_PORT" \
  OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20$secret, x-team = blue%2Cgreen ,bad header=x" \
  OTEL_SERVICE_NAME=svc-from-env \
  OTEL_RESOURCE_ATTRIBUTES="team=payments,deployment.environment.name=stage%201,service.name=not-this" \
  TRACEPARENT="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" \
  OTPROF_EXPORT_INTERVAL_MS=400 \
  "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2> "$WORK/env.err"
check "app exits 0" [ $? -eq 0 ]
n=$(rx_count "$RX_DIR")
check "OTEL_EXPORTER_OTLP_ENDPOINT: requests arrive ($n)" [ "$n" -ge 2 ]
hdr="$RX_DIR/req-0000.headers"
check "OTEL_EXPORTER_OTLP_HEADERS: authorization sent, percent-decoded" grep -qix "authorization: Bearer $secret" "$hdr"
check "OTEL_EXPORTER_OTLP_HEADERS: x-team sent, trimmed and decoded" grep -qix "x-team: blue,green" "$hdr"
check "a malformed header entry is skipped, and said once" [ "$(grep -c 'export.headers: entry 3' "$WORK/env.err")" -eq 1 ]
check "the header value is never logged" bash -c "! grep -q '$secret' '$WORK/env.err'"
sum="$WORK/env.summary"
"$CHECKER" $(rx_bodies "$RX_DIR") > "$sum"
check "requests decode" [ $? -eq 0 ]
check "OTEL_SERVICE_NAME: service.name" grep -qx "resource service.name=svc-from-env" "$sum"
check "OTEL_RESOURCE_ATTRIBUTES: team" grep -qx "resource team=payments" "$sum"
check "OTEL_RESOURCE_ATTRIBUTES: values percent-decoded" grep -qx "resource deployment.environment.name=stage 1" "$sum"
check "OTEL_SERVICE_NAME beats service.name in OTEL_RESOURCE_ATTRIBUTES" bash -c "! grep -q 'not-this' '$sum'"
linked=$(awk '$1=="link" && $2=="samples/count" && $3=="0af7651916cd43dd8448eb211c80319c" && $4=="b7ad6b7169203331" && $5=="spin_alpha" {print $6}' "$sum")
other=$(awk '$1=="link" && !($3=="0af7651916cd43dd8448eb211c80319c" && $4=="b7ad6b7169203331")' "$sum" | wc -l)
unlinked=$(awk '$1=="nolink" && $3=="spin_alpha" {print $4}' "$sum")
check "TRACEPARENT: samples linked to its trace and span (${linked:-0} in spin_alpha)" [ "${linked:-0}" -ge 20 ]
check "TRACEPARENT: no other link, nothing unlinked" [ "$other" -eq 0 -a -z "$unlinked" ]

# Debug logging still never shows the header values.
rx_start dbg 200
env -u OTPROF_CONFIG LD_PRELOAD="$AGENT" OTPROF_AGENT_LOG_LEVEL=debug \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RX_PORT" \
  OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20$secret" \
  "$PROGS/cpu_split" 1 0.3 0.5 > /dev/null 2> "$WORK/dbg.err"
check "debug log level: requests still sent" [ "$(rx_count "$RX_DIR")" -ge 1 ]
check "debug log level: the token is not in the log" bash -c "! grep -q '$secret' '$WORK/dbg.err'"
grep "$secret" "$WORK/dbg.err" | sed "s/$secret/<token>/; s/^/    /"
finish
