# Shared helpers for the shell tests in tests/preload/. Sourced, not run.
# Each test script prints "PASS: name" / "FAIL: name" lines (counted by
# tests/run.sh) and exits non-zero if any check failed.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
AGENT="$BUILD/libotprof_agent.so"
ENGINE="$BUILD/libotprof_engine.so"
PROGS="$BUILD/progs"
T_FAILS=0
T_NAME=$(basename "$0" .sh)
# Per-test scratch dir, removed on success.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/otprof-$T_NAME.XXXXXX")
trap 'if [ "$T_FAILS" -eq 0 ]; then rm -rf "$WORK"; else echo "  (kept $WORK)"; fi' EXIT

pass() { echo "PASS: $T_NAME: $*"; }
fail() { echo "FAIL: $T_NAME: $*"; T_FAILS=$((T_FAILS + 1)); }
# check "description" command...: passes when the command succeeds. A
# condition of several commands is run first and its status checked
# (`cond1 && cond2; r=$?` then `check "..." [ $r -eq 0 ]`): in
# `check "..." cond1 && cond2` the check sees only cond1.
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# Runs a command under the agent with a fresh output dir and no stray config.
# Usage: under_agent [VAR=VALUE...] -- cmd args
under_agent() {
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" "${envs[@]}" LD_PRELOAD="$AGENT" "$@"
}
# launched_pid PID NAME: the process NAME that a backgrounded under_agent
# runs (PID is the subshell; env execs NAME in it or in a child).
launched_pid() { pgrep -n -P "$1" -x "$2" || echo "$1"; }
# fd_looks PID NAME N SECS PATTERN: in how many of N looks, SECS apart,
# that process's descriptors name something matching PATTERN.
fd_looks() {
  local n=0 i
  for i in $(seq 1 "$3"); do
    sleep "$4"
    ls -l /proc/"$(launched_pid "$1" "$2")"/fd 2> /dev/null | grep -q "$5" && n=$((n + 1))
  done
  echo "$n"
}
# go tool pprof -top on a profile; prints its output.
pprof_top() { go tool pprof -top "$@" 2>&1; }
finish() { exit $(( T_FAILS > 0 ? 1 : 0 )); }
# pprof_cum FILE FUNC: the function's cumulative share in percent (0 if absent).
pprof_cum() {
  go tool pprof -top -nodefraction=0 -nodecount=100000 "$1" 2>/dev/null |
    awk -v f="$2" '$NF == f { gsub("%", "", $5); print $5; found=1; exit } END { if (!found) print 0 }'
}
# pprof_total_ms FILE: total of the default sample type, in ms.
pprof_total_ms() {
  go tool pprof -top -unit=ms -nodecount=1 "$1" 2>/dev/null |
    sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p'
}
# within A B TOL: |A - B| <= TOL (floats).
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
# share_tol WANT N: points a function's share of N samples may stray
# from its true share WANT (percent) by chance: four standard deviations
# of the binomial count (about one run in 15 000 outside), at least 5.
# Three seconds of CPU at 100 Hz are ~300 samples: a 70% share moves by
# 2.6 points per deviation, and a fixed 8 points failed about one run in
# a dozen.
share_tol() { awk -v w="$1" -v n="$2" 'BEGIN { p = w / 100; t = (n > 0) ? 400 * sqrt(p * (1 - p) / n) : 100
  printf "%.1f", (t < 5) ? 5 : t }'; }
# pprof_reads FILE...: every file parses with go tool pprof.
pprof_reads() {
  local f ok=0
  for f in "$@"; do
    if ! go tool pprof -top "$f" > /dev/null 2>&1; then echo "  go tool pprof cannot read $f"; ok=1; fi
  done
  return $ok
}
# same_as_bare NAME CMD...: runs CMD bare and under the agent (with the
# settings in the AGENT_SETTINGS array) and checks that exit status and
# output (stdout and stderr) are the same.
AGENT_SETTINGS=()
same_as_bare() {
  local name=$1; shift
  local bare prof rb rp
  bare=$("$@" 2>&1); rb=$?
  prof=$(under_agent "${AGENT_SETTINGS[@]}" -- "$@" 2>&1); rp=$?
  check "$name: same exit status ($rb)" [ "$rb" -eq "$rp" ]
  check "$name: same output" [ "$bare" = "$prof" ]
  [ "$bare" = "$prof" ] || diff <(echo "$bare") <(echo "$prof") | head -5
}
