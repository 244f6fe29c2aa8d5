# Trace correlation through otprof's API: two threads switch between two
# spans each (tests/progs/traced); every span runs one known function.
# In the OTLP requests each link must name the function its span ran, with
# at most a few percent of samples attributed across spans; the pprof
# files carry the same ids as trace_id/span_id labels. The program also
# runs without the agent (the API is looked up with dlsym).
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"

bare=$("$PROGS/traced" 0.1)
check "traced runs without the agent" [ $? -eq 0 ]
check "without the agent the API is absent" grep -q "agent api absent" <<<"$bare"

rx_start traced 200
out=$(under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=500 \
  OTPROF_CPU_FREQUENCY_HZ=250 OTPROF_MEMORY_SAMPLE_BYTES=16384 -- "$PROGS/traced" 1.5)
check "traced exits 0 under the agent" [ $? -eq 0 ]
check "under the agent the API is present" grep -q "agent api present" <<<"$out"
sum="$WORK/traced.summary"
"$CHECKER" $(rx_bodies "$RX_DIR") > "$sum"
check "requests decode and are consistent" [ $? -eq 0 ]
check "link table ids are 16/8 bytes (checked) and links exist" grep -q "^link samples/count " "$sum"

# For each span: samples in its own function vs in the other span's one.
worst=0
while read -r _ thr which trace span fn; do
  other=traced_work_b; [ "$fn" = traced_work_b ] && other=traced_work_a
  own=$(awk -v t="$trace" -v s="$span" -v f="$fn" '$1=="link" && $3==t && $4==s && $5==f {print $6}' "$sum")
  cross=$(awk -v t="$trace" -v s="$span" -v f="$other" '$1=="link" && $3==t && $4==s && $5==f {print $6}' "$sum")
  own=${own:-0}; cross=${cross:-0}
  pct=$(awk -v o="$own" -v c="$cross" 'BEGIN { printf "%.1f", (o + c) ? 100 * c / (o + c) : 100 }')
  echo "  thread $thr span $which ($span): $own samples in $fn, $cross in $other (${pct}% cross)"
  check "thread $thr span $which: its samples are in $fn (>= 20 samples; ~70 when idle, half that loaded)" [ "$own" -ge 20 ]
  ge "$pct" "$worst" && worst=$pct
done < <(grep '^span ' <<<"$out")
check "cross-attribution at most 3% (worst ${worst}%)" ge 3 "$worst"
# Heap samples: allocations in each span's function carry that span.
if grep -q "^link alloc_space/bytes " "$sum"; then
  hworst=0
  while read -r _ thr which trace span fn; do
    afn=${fn/_work_/_alloc_}
    other=traced_alloc_b; [ "$afn" = traced_alloc_b ] && other=traced_alloc_a
    own=$(awk -v t="$trace" -v s="$span" -v f="$afn" '$1=="link" && $2=="alloc_objects/count" && $3==t && $4==s && $5==f {print $6}' "$sum")
    cross=$(awk -v t="$trace" -v s="$span" -v f="$other" '$1=="link" && $2=="alloc_objects/count" && $3==t && $4==s && $5==f {print $6}' "$sum")
    own=${own:-0}; cross=${cross:-0}
    pct=$(awk -v o="$own" -v c="$cross" 'BEGIN { printf "%.1f", (o + c) ? 100 * c / (o + c) : 100 }')
    echo "  heap: thread $thr span $which: $own sampled objects in $afn, $cross in $other"
    check "heap: thread $thr span $which: its allocations carry it" [ "$own" -ge 20 ]
    ge "$pct" "$hworst" && hworst=$pct
  done < <(grep '^span ' <<<"$out")
  check "heap: cross-attribution at most 3% (worst ${hworst}%)" ge 3 "$hworst"
else
  fail "heap samples carry links (none found; is heap profiling on?)"
fi

# The work functions never run outside a span.
unlinked=$(awk '$1=="nolink" && $2=="samples/count" && ($3=="traced_work_a" || $3=="traced_work_b") {n+=$4} END {print n+0}' "$sum")
linked=$(awk '$1=="link" && $2=="samples/count" && ($5=="traced_work_a" || $5=="traced_work_b") {n+=$6} END {print n+0}' "$sum")
check "work samples without a link at most 3% ($unlinked of $((linked + unlinked)))" \
  [ $((unlinked * 100)) -le $((3 * (linked + unlinked))) ]

# pprof files: the same ids as labels.
f=$(ls "$WORK"/out/traced.*.cpu.pb.gz 2>/dev/null | head -1)
if [ -n "$f" ]; then
  tags=$(go tool pprof -tags "$WORK"/out/traced.*.cpu.pb.gz 2>/dev/null)
  span0=$(grep '^span 0 a ' <<<"$out" | awk '{print $5}')
  trace0=$(grep '^span 0 a ' <<<"$out" | awk '{print $4}')
  check "pprof files carry the span_id label" grep -q "$span0" <<<"$tags"
  check "pprof files carry the trace_id label" grep -q "$trace0" <<<"$tags"
else
  fail "no pprof file written"
fi
finish
