# otprof flame: well-formed SVG whose frames are as wide as their share of
# the profile (checked against go tool pprof's cum within 1%), with the
# script, the search box and the kinds of code; where chromium is
# installed (make compat installs it), the script runs there: a zoom and a
# search given in the URL change the layout and report the right share,
# and a screenshot is kept in $BUILD/artefacts/flame.png.
source "$(dirname "$0")/../lib.sh"
OTPROF="$BUILD/otprof"

under_agent OTPROF_CPU_FREQUENCY_HZ=250 -- "$PROGS/cpu_split" 2 1.2 0.7 >/dev/null
cpu=$(ls "$WORK"/out/cpu_split.*.cpu.pb.gz 2>/dev/null | head -1)
check "cpu_split wrote a CPU profile" [ -f "$cpu" ]
check "otprof flame writes the SVG" sh -c '"$0" flame "$1" > "$2"' "$OTPROF" "$cpu" "$WORK/f.svg"

# svg_check SVG: prints "ok" or what is wrong; then NAME WIDTH% VALUE% KIND
# for each frame name given in $NAMES (widths and values summed over the
# name's frames, in % of the root frame).
svg_check() {
  NAMES="$*" python3 - "$WORK/f.svg" <<'PY'
import os, sys, xml.etree.ElementTree as ET
S = '{http://www.w3.org/2000/svg}'
try:
    root = ET.parse(sys.argv[1]).getroot()
except ET.ParseError as e:
    print("not XML:", e); sys.exit(0)
frames = [g for g in root.iter(S + 'g') if g.get('class') == 'f']
base = [g for g in frames if g.get('data-d') == '0']
problems = []
if root.find(S + 'script') is None or 'addEventListener' not in (root.find(S + 'script').text or ''):
    problems.append('no script')
fo = root.find(S + 'foreignObject')
if fo is None or fo.find('{http://www.w3.org/1999/xhtml}input') is None:
    problems.append('no search box')
if len(base) != 1:
    problems.append('no single root frame')
print('ok' if not problems else ' '.join(problems))
if len(base) != 1: sys.exit(0)
rw = float(base[0].find(S + 'rect').get('width')); total = float(root.get('data-total'))
for name in os.environ['NAMES'].split():
    gs = [g for g in frames if g.get('data-n') == name]
    w = sum(float(g.find(S + 'rect').get('width')) for g in gs)
    v = sum(float(g.get('data-v')) for g in gs)
    print(name, 100 * w / rw, 100 * v / total, gs[0].get('data-k') if gs else 'none')
PY
}
out=$(svg_check spin_alpha spin_beta thread_trampoline start_thread)
echo "$out" | sed 's/^/  /'
check "the SVG parses as XML and has its script and search box" [ "$(head -1 <<<"$out")" = ok ]
for fn in spin_alpha spin_beta; do
  want=$(pprof_cum "$cpu" $fn)
  read -r _ w v k <<<"$(grep "^$fn " <<<"$out")"
  echo "  $fn: width ${w}% of the graph, pprof cum ${want}%"
  check "$fn's frames are ${want}% of the width (within 1%)" \
    awk -v a="${w:-0}" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 5 && d <= b / 100 + 0.02) }'
  check "$fn's values are its share of the profile" within "${v:-0}" "$want" 0.01
  check "$fn is coloured as the program's code" [ "$k" = app ]
done
read -r _ _ _ k <<<"$(grep "^start_thread " <<<"$out")"
check "libc's start_thread is coloured as a library" [ "$k" = library ]

# A heap profile, and bad input.
under_agent OTPROF_MEMORY_SAMPLE_BYTES=4096 -- "$PROGS/heap_leak" 400 2>/dev/null
heap=$(ls "$WORK"/out/heap_leak.*.heap.pb.gz | tail -1)
check "flame --sample alloc_space of a heap profile" sh -c '"$0" flame --sample alloc_space "$1" > "$2"' \
  "$OTPROF" "$heap" "$WORK/h.svg"
check "its churn_site frame is there" grep -q 'data-n="churn_site"' "$WORK/h.svg"
err=$("$OTPROF" flame --sample nope "$heap" 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 1 -a "$(wc -l <<<"$err")" -eq 1 ] && grep -q "^otprof: flame: " <<<"$err"; r=$?
check "flame --sample of a missing type: one otprof: line, status 1" [ $r -eq 0 ]
err=$("$OTPROF" flame 2>&1); rc=$?
check "flame without a file: usage error, status 2" [ "$rc" -eq 2 -a "$(wc -l <<<"$err")" -eq 1 ]
check "flame --help" grep -q '^usage: otprof flame' <<<"$("$OTPROF" flame --help)"

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
  echo "  (chromium not installed: the browser checks are skipped; make compat installs it)"
  finish
fi
ch() { timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chrome" "$@" 2>/dev/null; }
ch --dump-dom "file://$WORK/f.svg#zoom=spin_alpha&search=spin_beta" > "$WORK/dom.xml"
dom=$(python3 - "$WORK/dom.xml" <<'PY'
import re, sys
d = open(sys.argv[1], encoding='utf-8', errors='replace').read()
print('ready' if 'data-ready="1"' in d else 'not-ready')
m = re.search(r'<text id="matched"[^>]*>Matched: [^(]*\(([0-9.]+)%\)', d)
print(m.group(1) if m else 'none')
ws = [float(w) for w in re.findall(r'data-n="spin_alpha"[^>]*>.*?<rect [^>]*width="([0-9.]+)"', d, re.S)]
print(max(ws) if ws else 0)
PY
)
read -r ready matched zoomed <<<"$(tr '\n' ' ' <<<"$dom")"
echo "  chromium: script $ready, search share ${matched}%, zoomed spin_alpha width ${zoomed}px"
check "chromium runs the script" [ "$ready" = ready ]
want=$(pprof_cum "$cpu" spin_beta)
check "search 'spin_beta' reports its share (${matched}% vs pprof ${want}%)" within "${matched:-0}" "$want" 0.1
check "zoom into spin_alpha: it fills the plot width (1180 px)" within "${zoomed:-0}" 1180 0.5
mkdir -p "$BUILD/artefacts"
ch --screenshot="$BUILD/artefacts/flame.png" --window-size=1200,300 "file://$WORK/f.svg"
check "chromium renders a screenshot ($BUILD/artefacts/flame.png)" [ -s "$BUILD/artefacts/flame.png" ]
finish
