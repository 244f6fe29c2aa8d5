# OTLP export end to end: a known-split CPU workload is exported to our
# receiver on 127.0.0.1; every request decodes with the generated code and
# passes the dictionary checks; the hot functions carry plausible shares;
# the resource, the HTTP request and the sink selection are right.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"

check "receiver started" rx_start main 200
sum="$WORK/main.summary"

# Both sinks on (under_agent sets an output dir). Exporting both ways
# every 300 ms costs the agent's thread more than the default overhead
# budget, which would lower the CPU rate; the sample count below is for
# 100 Hz, so the budget is off here.
out=$(under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
  OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0 -- "$PROGS/cpu_split" 2 1.5 0.7 2> "$WORK/main.err")
rc=$?
check "cpu_split exits 0 while exporting" [ "$rc" -eq 0 ]
eval "$(echo "$out" | tr ' ' '\n' | grep -E '^(share_alpha|share_beta)=')"
n=$(rx_count "$RX_DIR")
check "several requests received, one per interval (got $n)" [ "$n" -ge 3 ]
"$CHECKER" $(rx_bodies "$RX_DIR") > "$sum"
check "every request decodes and its tables are consistent" [ $? -eq 0 ]
grep '^bad' "$sum" | head -5
a=$(share "$sum" incl samples/count spin_alpha); b=$(share "$sum" incl samples/count spin_beta)
want_a=$(awk -v s="${share_alpha:-0}" 'BEGIN{print 100*s}'); want_b=$(awk -v s="${share_beta:-0}" 'BEGIN{print 100*s}')
total=$(awk '$1=="total" && $2=="samples/count" {print $3}' "$sum")
tol=$(share_tol "$want_a" "${total:-0}")
echo "  OTLP: spin_alpha ${a}% (measured ${want_a}%), spin_beta ${b}% (measured ${want_b}%)"
check "spin_alpha share within $tol points (4 sigma of ${total:-0} samples)" within "$a" "$want_a" "$tol"
check "spin_beta share within $tol points" within "$b" "$want_b" "$tol"
check "about 300 CPU samples for 3 s of CPU at 100 Hz (got $total)" within "${total:-0}" 300 45
check "CPU profile: samples/count, period cpu/nanoseconds 10000000" \
  grep -qx "profile samples/count cpu/nanoseconds 10000000" "$sum"
check "no cpu/nanoseconds Profile (it is samples x period)" \
  bash -c "! grep -q '^profile cpu/nanoseconds' '$sum'"
check "resource service.name defaults to the executable name" grep -qx "resource service.name=cpu_split" "$sum"
check "resource process.executable.name" grep -qx "resource process.executable.name=cpu_split" "$sum"
check "resource process.executable.path" grep -qx "resource process.executable.path=$PROGS/cpu_split" "$sum"
check "resource host.name" grep -qx "resource host.name=$(hostname)" "$sum"
check "resource process.pid" grep -qE "^resource process.pid=[0-9]+$" "$sum"
check "scope otprof with its version" grep -qE "^scope otprof [0-9]+\.[0-9]+\.[0-9]+$" "$sum"
check "samples carry thread.name" grep -q "^thread samples/count cpu_split " "$sum"
check "mappings carry process.executable.build_id.gnu" \
  awk '$1=="mappings" && $2>0 && $4==$2 {ok=1} END {exit !ok}' "$sum"
check "every location is profile.frame.type=native" \
  awk '$1=="frame_type" {split($3,a,"/"); ok = a[2]>0 && a[1]==a[2]} END {exit !ok}' "$sum"
hdr="$RX_DIR/req-0000.headers"
check "POST /v1development/profiles" grep -qx "POST /v1development/profiles" "$hdr"
check "Content-Type: application/x-protobuf" grep -qix "Content-Type: application/x-protobuf" "$hdr"
check "Content-Encoding: gzip (the default)" grep -qix "Content-Encoding: gzip" "$hdr"
check "body is gzip" bash -c "head -c2 '$RX_DIR/req-0000.body' | od -An -tx1 | grep -q '1f 8b'"
check "the pprof file sink still writes when an output dir is set" \
  bash -c "ls '$WORK'/out/cpu_split.*.cpu.pb.gz >/dev/null 2>&1"
check "nothing logged at the default level" [ ! -s "$WORK/main.err" ]

# The same run's pprof files and OTLP requests agree on the heap sink: when
# the agent writes heap profiles, OTLP carries the four heap sample types.
rx_start heap 200
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
  OTPROF_MEMORY_SAMPLE_BYTES=65536 -- "$PROGS/demo" 2 1 > /dev/null 2>&1
if ls "$WORK"/out/demo.*.heap.pb.gz > /dev/null 2>&1; then
  "$CHECKER" $(rx_bodies "$RX_DIR") > "$WORK/heap.summary"
  check "heap requests decode and are consistent" [ $? -eq 0 ]
  for t in alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes; do
    check "heap sample type $t is its own Profile (period space/bytes)" \
      grep -qE "^profile $t space/bytes [0-9]+$" "$WORK/heap.summary"
  done
else
  echo "  (no heap profiles written by this build: heap OTLP covered by unit/test_otlp only)"
fi

# Endpoint set and no output dir: the file sink is off.
rx_start nofiles 200
mkdir -p "$WORK/cwd"
(cd "$WORK/cwd" && env -u OTPROF_CONFIG -u OTPROF_EXPORT_OUTPUT_DIR LD_PRELOAD="$AGENT" \
  OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" "$PROGS/cpu_split" 1 0.5 0.5 > /dev/null 2>&1)
check "endpoint only: no pprof files written" [ -z "$(ls -A "$WORK/cwd")" ]
check "endpoint only: the final profile is exported at exit" [ "$(rx_count "$RX_DIR")" -ge 1 ]

# compression = none, original_pprof = true.
rx_start plain 200
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_COMPRESSION=none \
  OTPROF_EXPORT_ORIGINAL_PPROF=true -- "$PROGS/cpu_split" 1 0.5 0.5 > /dev/null 2>&1
check "compression=none: no Content-Encoding" bash -c "! grep -qi '^Content-Encoding' '$RX_DIR/req-0000.headers'"
"$CHECKER" $(rx_bodies "$RX_DIR") > "$WORK/plain.summary"
check "plain request decodes" [ $? -eq 0 ]
check "original_pprof: the Profile carries its pprof, which decodes" \
  grep -qE "^original samples/count pprof [0-9]+ pprof_ok$" "$WORK/plain.summary"

# fork: parent and child each export their own samples under their own
# process.pid; the child never resends the parent's requests.
rx_start fork 200
out=$(under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=200 \
  -- "$PROGS/forker" 1.0)
ppid_=$(sed -n 's/^parent \([0-9]*\) child \([0-9]*\).*/\1/p' <<<"$out")
cpid=$(sed -n 's/^parent \([0-9]*\) child \([0-9]*\).*/\2/p' <<<"$out")
np=0; nc=0; mixed=0
for f in $(rx_bodies "$RX_DIR"); do
  s1=$("$CHECKER" "$f")
  if grep -qx "resource process.pid=$ppid_" <<<"$s1"; then
    np=$((np + 1)); grep -q "^incl samples/count child_work " <<<"$s1" && mixed=$((mixed + 1))
  elif grep -qx "resource process.pid=$cpid" <<<"$s1"; then
    nc=$((nc + 1)); grep -q "^incl samples/count parent_work " <<<"$s1" && mixed=$((mixed + 1))
  else
    mixed=$((mixed + 1))
  fi
done
dups=$(md5sum $(rx_bodies "$RX_DIR") | awk '{print $1}' | sort | uniq -d | wc -l)
# (forker never allocates and stays single-threaded: the agent adds no
# thread to it, so each process exports when it ends.)
check "fork: parent ($np) and child ($nc) both export under their own pid" [ "$np" -ge 1 -a "$nc" -ge 1 ]
check "fork: each one's requests hold only its own work ($mixed mixed)" [ "$mixed" -eq 0 ]
check "fork: no request sent twice" [ "$dups" -eq 0 ]

# Between exports the app has no descriptor of ours: the connection and
# curl's own socket pair go once a request is answered. (Kept, a socket
# the app closed and reused would get our next request in its own file.)
n0=$(rx_count "$RX_DIR")
under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=300 \
  OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0 -- "$PROGS/cpu_split" 2 2.5 0.5 > /dev/null &
app=$!
sleep 0.7
looks=10
seen=$(fd_looks "$app" cpu_split "$looks" 0.1 'socket:')
wait "$app"
n1=$(rx_count "$RX_DIR")
check "exports went on meanwhile ($((n1 - n0)) requests)" [ $((n1 - n0)) -ge 3 ]
# (A transfer in flight has one; held between exports, every look sees it.)
check "a socket of ours seen in at most 7 of $looks looks at the app's descriptors ($seen)" [ "$seen" -le 7 ]
finish
