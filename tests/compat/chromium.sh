# chromium headless (browser, zygote, renderer, GPU and utility processes)
# dumping the DOM of a page whose script builds part of it. The browser
# ends some of its helper processes with SIGKILL, which nothing can catch:
# short export intervals keep what those processes lose small. The run's
# whole process tree is reaped under time(1) (C_REAP), so that getrusage
# counts the helpers too: it bounds the profile from above (a third of it
# is the loader's and the kernel's work around each process's life, which
# no in-process sampler sees), what the threads were seen using in polls
# from below.
source "$(dirname "$0")/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || echo chromium)
cat > "$WORK/page.html" <<'HTML'
<!doctype html><html><head><title>otprof</title></head><body><p id="p">static</p>
<script>
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
let s = 0; for (let i = 0; i < 4; i++) s += fib(27);
document.getElementById('p').textContent = 'computed ' + s;
const ul = document.createElement('ul');
for (let i = 0; i < 50; i++) { const li = document.createElement('li'); li.textContent = 'item ' + i * i; ul.appendChild(li); }
document.body.appendChild(ul);
</script></body></html>
HTML
for mode in bare agent; do
  mkdir -p "$WORK/home.$mode"
  C_REAP=10 c_run "$mode" chromium 120 OTPROF_EXPORT_INTERVAL_MS=100 -- env HOME="$WORK/home.$mode" "$CHROMIUM" --headless --no-sandbox \
    --user-data-dir="$WORK/home.$mode/profile" --dump-dom "file://$WORK/page.html"
done
check "chromium: the bare run computed the page (suite sanity)" grep -q 'computed 785672' "$WORK/chromium.bare/out"
c_same chromium
C_TOTAL_BASIS=between c_profile chromium
finish
