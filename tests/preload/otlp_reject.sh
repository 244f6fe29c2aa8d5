# Answers that must not be retried: 400 (each request is sent once, the
# failure is logged once with the backend's message), a partial success
# (logged, once for the same complaint, not retried), an HTTPS backend whose
# certificate is not trusted (verification is on: nothing is sent); and a
# backend that is always unavailable (bounded queue, one message).
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

# A backend that is always unavailable: bounded queue, oldest dropped and
# counted, the agent says once that it backs off, the app is unaffected.
rx_start down 503
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=200 \
  OTPROF_EXPORT_MAX_QUEUE_BYTES=3000 OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=300 OTPROF_AGENT_SUMMARY=true \
  -- "$PROGS/cpu_split" 1 2 0.5 > "$WORK/down.out" 2> "$WORK/down.err"
rc=$?
check "always 503: app exits 0" [ "$rc" -eq 0 ]
check "always 503: app output unaffected" grep -q share_alpha "$WORK/down.out"
n=$(rx_count "$RX_DIR")
check "always 503: retries back off (only $n attempts in 2 s)" [ "$n" -ge 3 -a "$n" -le 12 ]
check "always 503: backing off is said once" [ "$(grep -c 'keeps failing' "$WORK/down.err")" -eq 1 ]
dq=$(sed -n 's/.*dropped \([0-9]*\) (queue full).*/\1/p' "$WORK/down.err")
check "always 503: the queue stays bounded, oldest dropped and counted (${dq:-?} dropped)" [ "${dq:-0}" -ge 3 ]
grep -v "^otprof:   " "$WORK/down.err" | sed 's/^/    /'

# HTTPS with a self-signed certificate: the handshake fails verification.
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
     -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
     -keyout "$WORK/key.pem" -out "$WORK/cert.pem" > /dev/null 2>&1; then
  rx_start tls 200 0 --tls "$WORK/cert.pem" "$WORK/key.pem"
  under_agent OTPROF_EXPORT_ENDPOINT="https://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
    OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=500 -- "$PROGS/cpu_split" 1 1 0.5 > /dev/null 2> "$WORK/tls.err"
  check "untrusted certificate: app exits 0" [ $? -eq 0 ]
  check "untrusted certificate: no request reaches the backend" [ "$(rx_count "$RX_DIR")" -eq 0 ]
  check "untrusted certificate: said once" [ "$(grep -ci 'certificate' "$WORK/tls.err")" -eq 1 ]
  sed 's/^/    /' "$WORK/tls.err"
  # An app that initialised OpenSSL itself (its exit-time cleanup runs
  # before the agent's final export): exits cleanly, every time.
  ok=0
  for i in 1 2 3; do
    under_agent OTPROF_EXPORT_ENDPOINT="https://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=200 \
      OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=500 -- $PY -c 'import ssl, hashlib, time
t = time.time()
while time.time() - t < 0.5: hashlib.sha256(b"x" * 1000).digest()' 2> /dev/null && ok=$((ok + 1))
  done
  check "python3 with its own OpenSSL, https export: exits 0 ($ok of 3)" [ "$ok" -eq 3 ]
else
  fail "openssl cannot make a test certificate"
fi
finish
