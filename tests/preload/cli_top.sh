# otprof top: the same flat and cum shares as go tool pprof -top on the same
# file (CPU, both CPU sample types, a heap type), source lines of an inlined
# hot loop with --lines, several files per the merge rules, and one clear
# error line for bad input.
source "$(dirname "$0")/../lib.sh"
OTPROF="$BUILD/otprof"

# pprof_row FILE NAME [pprof args]: "flat% cum%" of the function in pprof's
# -top, inline marks dropped ("0 0" if absent).
pprof_row() {
  local f=$1 name=$2; shift 2
  go tool pprof -top -nodefraction=0 -nodecount=100000 "$@" "$f" 2>/dev/null |
    sed 's/ (inline)$//' |
    awk -v n="$name" '/flat%/ { on = 1; next } on { nm = $6; for (i = 7; i <= NF; i++) nm = nm " " $i
      if (nm == n) { gsub("%", "", $2); gsub("%", "", $5); print $2, $5; found = 1; exit } }
      END { if (!found) print "0 0" }'
}
# same_as_pprof LABEL FILE OTPROF_ARGS -- PPROF_ARGS: the top 6 rows of
# otprof top agree with pprof within 0.1 points, flat and cum.
same_as_pprof() {
  local label=$1 f=$2; shift 2
  local oargs=() pargs=()
  while [ "$1" != "--" ]; do oargs+=("$1"); shift; done; shift
  pargs=("$@")
  local rows bad=0 n=0
  rows=$("$OTPROF" top -n 6 "${oargs[@]}" "$f" | awk '/flat%/ { on = 1; next } on')
  [ -n "$rows" ] || { echo "  no rows from otprof top"; return 1; }
  while read -r _ fl _ _ cu name; do
    fl=${fl%\%}; cu=${cu%\%}
    read -r pf pcum <<<"$(pprof_row "$f" "$name" "${pargs[@]}")"
    echo "  $label: $name: otprof $fl% / $cu%, pprof $pf% / $pcum%"
    within "$fl" "$pf" 0.1 && within "$cu" "$pcum" 0.1 || bad=1
    n=$((n + 1))
  done <<<"$rows"
  [ "$bad" -eq 0 ] && [ "$n" -ge 3 ]
}

under_agent OTPROF_CPU_FREQUENCY_HZ=250 -- "$PROGS/cpu_split" 2 1.2 0.7 >/dev/null
cpu=$(ls "$WORK"/out/cpu_split.*.cpu.pb.gz 2>/dev/null | head -1)
check "cpu_split wrote a CPU profile" [ -f "$cpu" ]
check "top: cpu (the default type) matches go tool pprof -top" same_as_pprof cpu "$cpu" --
check "top --sample samples matches pprof -sample_index=samples" \
  same_as_pprof samples "$cpu" --sample samples -- -sample_index=samples
top=$("$OTPROF" top "$cpu")
check "top: default type is the last one (cpu), as in pprof" grep -q '^Type: cpu (nanoseconds)' <<<"$top"
check "top: the hottest function is spin_alpha (70% of the work)" \
  [ "$(awk '/flat%/ { getline; print $6 }' <<<"$top")" = spin_alpha ]
check "top -n 2 prints two rows" [ "$("$OTPROF" top -n 2 "$cpu" | awk '/flat%/ { on = 1; next } on' | wc -l)" -eq 2 ]

# Each heap_leak run has a directory of its own: two runs' files cannot
# be ordered by name (pids wrap).
under_agent OTPROF_EXPORT_OUTPUT_DIR="$WORK/leak1" OTPROF_MEMORY_SAMPLE_BYTES=4096 -- "$PROGS/heap_leak" 400 2>/dev/null
heap=$(ls -v "$WORK"/leak1/heap_leak.*.heap.pb.gz 2>/dev/null | tail -1)
check "top --sample alloc_space matches pprof on a heap profile" \
  same_as_pprof alloc_space "$heap" --sample alloc_space -- -sample_index=alloc_space
check "top: a heap profile's default is inuse_space (the last type)" \
  grep -q '^Type: inuse_space (bytes)' <<<"$("$OTPROF" top "$heap")"

# An -O2 -g program whose hot loop is an always-inline function: --lines
# names the loop's own line inside the inlined function.
under_agent -- "$PROGS/inline_hot" 0.8 >/dev/null
ih=$(ls "$WORK"/out/inline_hot.*.cpu.pb.gz 2>/dev/null | head -1)
hot=$(grep -n 'HOT_LINE' "$ROOT/tests/progs/inline_hot.c" | cut -d: -f1)
lines=$("$OTPROF" top --lines -n 3 "$ih")
echo "$lines" | sed 's/^/  /'
first=$(awk '/flat%/ { getline; print $6, $7 }' <<<"$lines")
check "top --lines: the hottest row is mix_rounds at inline_hot.c:$hot or the loop line $((hot - 1))" \
  grep -qE "^mix_rounds .*/inline_hot\.c:($hot|$((hot - 1)))$" <<<"$first"
check "top --lines: line $hot is among the top rows" grep -q "mix_rounds .*inline_hot\.c:$hot\$" <<<"$lines"
check "top --lines matches pprof -lines -top on the hot line" same_as_pprof lines "$ih" --lines -- -lines
check "top: the inlined function is its own row, main has it in cum" \
  grep -q ' main$' <<<"$("$OTPROF" top -n 0 "$ih")"

# Several files: summed CPU, and a heap's inuse from the last snapshot.
under_agent OTPROF_EXPORT_OUTPUT_DIR="$WORK/leak2" OTPROF_EXPORT_INTERVAL_MS=200 OTPROF_MEMORY_SAMPLE_BYTES=4096 -- \
  "$PROGS/heap_leak" 1000 2>/dev/null
hfiles=$(ls -v "$WORK"/leak2/heap_leak.*.heap.pb.gz)
last=$(tail -1 <<<"$hfiles")
multi=$("$OTPROF" top --sample inuse_space -n 1 $hfiles | awk '/flat%/ { getline; print $1, $6 }')
one=$("$OTPROF" top --sample inuse_space -n 1 "$last" | awk '/flat%/ { getline; print $1, $6 }')
check "top of several heap files: inuse from the last snapshot ($multi = $one)" [ "$multi" = "$one" -a -n "$one" ]

# Bad input: one "otprof:" line, non-zero status.
err=$("$OTPROF" top 2>&1); rc=$?
check "top without a file: usage error, status 2" [ "$rc" -eq 2 -a "$(wc -l <<<"$err")" -eq 1 ]
echo "not a profile" > "$WORK/bad.pb"
err=$("$OTPROF" top "$WORK/bad.pb" 2>&1); rc=$?
[ "$rc" -eq 1 -a "$(wc -l <<<"$err")" -eq 1 ] && grep -q '^otprof: .*bad.pb: not a pprof profile' <<<"$err"; r=$?
check "top on a non-profile: one otprof: line, status 1 ($err)" [ $r -eq 0 ]
err=$("$OTPROF" top --sample nope "$cpu" 2>&1); rc=$?
[ "$rc" -eq 1 ] && grep -q "^otprof: top: .*no sample type 'nope' (it has: samples, cpu)" <<<"$err"; r=$?
check "top --sample of a missing type: names the types there are" [ $r -eq 0 ]
err=$("$OTPROF" top "$cpu" "$heap" 2>&1); rc=$?
check "top of a CPU and a heap file together: refused" [ "$rc" -eq 1 -a "$(wc -l <<<"$err")" -eq 1 ]
check "top --help" grep -q '^usage: otprof top' <<<"$("$OTPROF" top --help)"
finish
