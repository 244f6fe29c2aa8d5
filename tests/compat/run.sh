#!/usr/bin/env bash
# The compatibility suite: real programs run bare and under the agent
# (tests/compat/*.sh, helpers in tests/compat/lib.sh). Prints each script's
# counts, the failures' details, and one closing line "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
export BUILD
cd "$ROOT"
passed=0; failed=0; skipped=0; log=$(mktemp); start_all=$SECONDS
for t in ${COMPAT_ONLY:-tests/compat/*.sh}; do
  case $t in */lib.sh|*/run.sh) continue ;; esac
  name=compat/$(basename "$t" .sh); start=$SECONDS
  timeout -k 10 240 bash "$t" > "$log" 2>&1
  rc=$?
  p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log"); s=$(grep -c '^SKIP: ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL: $name: exited $rc without a check failing" >> "$log"; fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  printf '%-40s %3d passed %3d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
  grep '^SKIP: ' "$log" | sed 's/^/    /'
  if [ "$f" -ne 0 ]; then sed 's/^/    /' "$log" | grep -v '^    PASS: ' | tail -60; fi
  # Whole outputs kept on request, as tests/run.sh does.
  if [ -n "${KEEP_TEST_LOGS:-}" ]; then mkdir -p "$KEEP_TEST_LOGS" && cp "$log" "$KEEP_TEST_LOGS/${name//\//_}.log"; fi
done
rm -f "$log"
echo "compat: $((SECONDS - start_all)) s, $skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
