# An app that publishes the OpenTelemetry thread context (OTEP 4947 TLS
# pointer otel_thread_ctx_v1, tests/progs/otel_ctx.c) gets its samples
# linked with no code change: the main thread (resolved at start) and two
# threads it creates (resolved when they start) each run one function
# under their own context, then run otel_ctx_idle detached.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"

# The symbol must be in .dynsym: link the program here with the flag the
# OTEP asks for (the generic tests/progs rule has no such option).
exe="$WORK/otel_ctx"
cc -std=gnu11 -O1 -g -fno-omit-frame-pointer -fno-inline -D_GNU_SOURCE "$ROOT/tests/progs/otel_ctx.c" \
  -o "$exe" -lpthread -Wl,--export-dynamic-symbol=otel_thread_ctx_v1
check "otel_ctx builds with otel_thread_ctx_v1 exported" bash -c "readelf --dyn-syms '$exe' | grep -q 'TLS .*otel_thread_ctx_v1'"

rx_start ctx 200
out=$(under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_CPU_FREQUENCY_HZ=250 -- "$exe" 0.8)
check "otel_ctx exits 0 under the agent" [ $? -eq 0 ]
sum="$WORK/ctx.summary"
"$CHECKER" $(rx_bodies "$RX_DIR") > "$sum"
check "requests decode and are consistent" [ $? -eq 0 ]
for who in 0 1 2; do
  fn=otel_ctx_work_$who; [ "$who" = 2 ] && fn=otel_ctx_work_main
  read -r _ _ trace span < <(grep "^ctx $who " <<<"$out")
  own=$(awk -v t="$trace" -v s="$span" -v f="$fn" '$1=="link" && $3==t && $4==s && $5==f {print $6}' "$sum")
  all=$(awk -v t="$trace" -v s="$span" '$1=="link" && $3==t && $4==s && $5 ~ /^otel_ctx_(work|idle)/ {n+=$6} END {print n+0}' "$sum")
  bare=$(awk -v f="$fn" '$1=="nolink" && $3==f {print $4}' "$sum")
  echo "  context $who: $fn ${own:-0} linked samples, ${bare:-0} unlinked; ${all} samples of our functions under it"
  check "context $who: $fn samples carry its trace/span" [ "${own:-0}" -ge 40 ]
  check "context $who: no other work under it" [ "${all:-0}" -le $(( ${own:-0} + ${own:-0} / 20 )) ]
  check "context $who: at most 5% of $fn unlinked" [ $(( ${bare:-0} * 20 )) -le "${own:-0}" ]
done
idle_linked=$(awk '$1=="link" && $5=="otel_ctx_idle" {n+=$6} END {print n+0}' "$sum")
idle_bare=$(awk '$1=="nolink" && $3=="otel_ctx_idle" {print $4}' "$sum")
check "detached (TLS pointer NULL): otel_ctx_idle is not linked ($idle_linked linked, ${idle_bare:-0} not)" \
  [ "${idle_bare:-0}" -ge 20 -a "$((idle_linked * 20))" -le "${idle_bare:-0}" ]

# Built without the export flag the record is invisible: no links, no harm.
rx_start plain 200
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" -- "$PROGS/otel_ctx" 0.3 > /dev/null
check "without .dynsym export: runs fine" [ $? -eq 0 ]
"$CHECKER" $(rx_bodies "$RX_DIR") > "$WORK/plain.summary"
check "without .dynsym export: no links" bash -c "! grep -q '^link ' '$WORK/plain.summary'"
finish
