# otprof flame in a real browser: the flame graph test again with chromium
# present (make compat installs it; make test runs the same script and
# skips its browser checks where chromium is missing, as on a fresh
# machine): the script runs, a zoom and a search from the URL give pprof's
# shares, and a screenshot is written to build/artefacts/flame.png.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v chromium > /dev/null; then
  echo "FAIL: compat/flame: chromium is not installed (scripts/install-deps compat installs it)"
  exit 1
fi
BUILD=${BUILD:-build} bash "$ROOT/tests/preload/cli_flame.sh"
