# A single-threaded program that never allocates has no flusher thread
# until it exits: its samples must outlast the main thread's ring (folded
# by the signal handler, agent/fold.h), whatever the run's length. The
# test-only OTP_TEST_MAIN_RING_KB shrinks that ring so that a few seconds
# overflow it many times over (the default one holds a minute or two).
source "$(dirname "$0")/../lib.sh"
SMALL=(OTP_TEST_MAIN_RING_KB=16 OTPROF_AGENT_SUMMARY=1)

# profile_ok NAME FILE CPU_MS: the run's one profile holds its CPU (within
# 10%) and says that nothing was dropped.
profile_ok() {
  local name=$1 f=$2 want=$3 total
  total=$(pprof_total_ms "$f")
  echo "  $name: profiled ${total:-0} ms, getrusage ${want} ms"
  check "$name: total profiled CPU within 10% of getrusage" \
    within "${total:-0}" "$want" "$(awk -v w="$want" 'BEGIN{print w/10}')"
  check "$name: no sample dropped (profile)" \
    bash -c "! go tool pprof -raw '$f' 2>/dev/null | grep -qE 'dropped [1-9][0-9]* samples'"
}
# folded_ok NAME ERR: the summary (stderr) counts no drop, and the handler
# really folded the ring (no flusher drained it first).
# folded_ok NAME ERR [MAX_DROPPED]
folded_ok() {
  local name=$1 err=$2 max=${3:-0} folds dropped
  dropped=$(sed -n 's/.*CPU samples .*, \([0-9]*\) dropped,.*/\1/p' <<<"$err")
  check "$name: at most $max samples dropped (summary: ${dropped:-?})" [ "${dropped:-99999}" -le "$max" ]
  folds=$(sed -n 's/.*CPU samples folded in the signal handler[^:]*: \([0-9]*\), in \([0-9]*\) signals; per signal \(.*\)/\1 records in \2 signals, \3/p' <<<"$err")
  echo "  $name: folded ${folds:-nothing}"
  check "$name: the handler folded the ring" [ -n "$folds" ]
}

for hz in 1000 100; do
  rm -rf "$WORK/out"
  secs=3
  out=$(under_agent "${SMALL[@]}" OTPROF_CPU_FREQUENCY_HZ=$hz -- "$PROGS/nomalloc_spin" "$secs" 0.7 2>"$WORK/err")
  rc=$?
  err=$(cat "$WORK/err")
  check "nomalloc_spin at $hz Hz exits 0" [ "$rc" -eq 0 ]
  eval "$(echo "$out" | tr ' ' '\n' | grep -E '^(share_alpha|share_beta|rusage_cpu_s)=')"
  files=("$WORK"/out/nomalloc_spin.*.cpu.pb.gz)
  check "$hz Hz: one CPU profile" [ -f "${files[0]}" ]
  f=${files[0]}
  profile_ok "$hz Hz" "$f" "$(awk -v s="${rusage_cpu_s:-0}" 'BEGIN{print 1000*s}')"
  folded_ok "$hz Hz" "$err"
  a=$(pprof_cum "$f" hot_alpha); b=$(pprof_cum "$f" hot_beta)
  want_a=$(awk -v s="${share_alpha:-0}" 'BEGIN{print 100*s}'); want_b=$(awk -v s="${share_beta:-0}" 'BEGIN{print 100*s}')
  echo "  $hz Hz: hot_alpha ${a}% (measured ${want_a}%), hot_beta ${b}% (measured ${want_b}%)"
  tol=$(share_tol "$want_a" "$(awk -v s="${rusage_cpu_s:-0}" -v h="$hz" 'BEGIN {printf "%d", s * h}')")
  check "$hz Hz: hot_alpha's share within $tol points" within "$a" "$want_a" "$tol"
  check "$hz Hz: hot_beta's share within $tol points" within "$b" "$want_b" "$tol"
  check "$hz Hz: folded stacks keep their callers (main under nest)" \
    bash -c "go tool pprof -traces '$f' 2>/dev/null | grep -A6 -m1 hot_alpha | grep -q nest"
  # libunwind is loaded by the first SIGPROF (this program never allocates
  # after start-up): no sample is left with its PC alone.
  m=$(pprof_cum "$f" main)
  check "$hz Hz: every sample has its callers (main ${m}% cumulative)" within "${m:-0}" 100 0.5
done

# The flusher starts mid-run (the program creates a thread after 1.5 s):
# it takes over the table the handler folded into while the main thread
# keeps sampling, and every interval after that is exported.
rm -rf "$WORK/out"
out=$(under_agent "${SMALL[@]}" OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_EXPORT_INTERVAL_MS=1000 -- \
  "$PROGS/nomalloc_spin" 3 0.7 1.5 2>"$WORK/err")
rc=$?
err=$(cat "$WORK/err")
check "late thread: exits 0" [ "$rc" -eq 0 ]
eval "$(echo "$out" | tr ' ' '\n' | grep -E '^rusage_cpu_s=')"
want=$(awk -v s="${rusage_cpu_s:-0}" 'BEGIN{print 1000*s}')
files=("$WORK"/out/nomalloc_spin.*.cpu.pb.gz)
check "late thread: several interval profiles (${#files[@]})" [ "${#files[@]}" -ge 2 ]
total=$(go tool pprof -top -unit=ms -nodecount=1 "${files[@]}" 2>/dev/null | sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p')
echo "  late thread: profiled ${total:-0} ms in ${#files[@]} files, getrusage ${want} ms"
check "late thread: total profiled CPU within 10% of getrusage" \
  within "${total:-0}" "$want" "$(awk -v w="$want" 'BEGIN{print w/10}')"
# Starting the helper thread hands the table over to the flusher: a sample
# in the instant both want it is dropped and counted (none seen in
# practice; a tolerance of two, not the fold's thousands).
folded_ok "late thread" "$err" 2
check "late thread: the helper thread is in the profile" \
  bash -c "go tool pprof -traces ${files[*]} 2>/dev/null | grep -q helper"

# A real program that does not allocate while it works: sha256sum over a
# sparse file (zeros, no disk), over a second of CPU, far more than its 16 KiB
# ring holds. (It closes stderr at exit, before the agent's summary.)
if command -v sha256sum > /dev/null; then
  rm -rf "$WORK/out"
  truncate -s 256M "$WORK/zeros"
  want=$(sha256sum "$WORK/zeros")
  ( under_agent "${SMALL[@]}" OTPROF_CPU_FREQUENCY_HZ=1000 -- sha256sum "$WORK/zeros" > "$WORK/sha.out" 2> "$WORK/sha.err"
    echo $? > "$WORK/sha.rc"; times > "$WORK/sha.times" )
  check "sha256sum: same output and exit 0 under the agent" \
    [ "$(cat "$WORK/sha.rc")" -eq 0 -a "$(cat "$WORK/sha.out")" = "$want" ]
  run_ms=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } }
                END { printf "%.0f", s * 1000 }' "$WORK/sha.times")
  files=("$WORK"/out/sha256sum.*.cpu.pb.gz)
  check "sha256sum: one CPU profile" [ -f "${files[0]}" ]
  profile_ok sha256sum "${files[0]}" "$run_ms"
  rm -f "$WORK/zeros"
fi
finish
