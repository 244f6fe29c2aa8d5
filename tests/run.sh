#!/usr/bin/env bash
# Runs every unit test binary and every tests/preload/*.sh script, then
# prints one closing line "N passed, N failed" (counted PASS:/FAIL: lines,
# plus one FAIL for any test that exits non-zero without reporting one).
# KEEP_TEST_LOGS=DIR keeps each test's whole output there (the values
# its checks saw, to tell how close to its bounds a passing run came).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export BUILD
cd "$ROOT"
passed=0; failed=0; log=$(mktemp)
run_one() {
  local name=$1; shift
  local start=$SECONDS
  "$@" > "$log" 2>&1
  local rc=$?
  local p f
  p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL: $name: exited $rc without a check failing" >> "$log"; fi
  passed=$((passed + p)); failed=$((failed + f))
  printf '%-40s %3d passed %3d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
  if [ "$f" -ne 0 ]; then sed 's/^/    /' "$log" | grep -v '^    PASS: ' | tail -40; fi
  if [ -n "${KEEP_TEST_LOGS:-}" ]; then mkdir -p "$KEEP_TEST_LOGS" && cp "$log" "$KEEP_TEST_LOGS/${name//\//_}.log"; fi
}
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
done
for t in tests/preload/*.sh; do
  [ -f "$t" ] && run_one "preload/$(basename "$t" .sh)" timeout 300 bash "$t"
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
