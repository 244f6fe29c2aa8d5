# Leak report: a site whose live heap grows in every one of the last N
# intervals (memory.leak_intervals) is named once in the log and in the
# heap profiles' comments; sites that churn or stay flat are not. At exit
# the summary lists the top sites still live, with estimated bytes.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"

err=$(under_agent OTPROF_EXPORT_INTERVAL_MS=200 OTPROF_MEMORY_SAMPLE_BYTES=4096 OTPROF_MEMORY_LEAK_INTERVALS=3 \
  OTPROF_AGENT_SUMMARY=true -- "$PROGS/heap_leak" 1600 2>&1 >/dev/null)
rc=$?
check "heap_leak runs (exit status $rc)" [ "$rc" -eq 0 ]
warns=$(grep '^otprof: suspected leak:' <<<"$err")
echo "$warns" | sed 's/^/  /'
check "leak_site flagged in the log, exactly once" [ "$(grep -c 'suspected leak: leak_site ' <<<"$warns")" -eq 1 ]
check "churning and flat sites are not flagged" [ -z "$(grep -E 'churn_site|steady_site' <<<"$warns")" ]
files=$(ls "$WORK"/out/heap_leak.*.heap.pb.gz 2>/dev/null)
check "several interval profiles written" [ "$(wc -w <<<"$files")" -ge 5 ]
comments=$("$HS" $files | grep '^comment ' | grep -v '^comment otprof overhead: ')
check "profile comments name leak_site as a suspected leak" grep -q '^comment suspected leak: leak_site ' <<<"$comments"
check "profile comments name no other site" [ -z "$(grep -v 'leak_site' <<<"$comments")" ]
last=$(ls -v $files | tail -2 | head -1)
check "go tool pprof -comments shows it" grep -q 'suspected leak: leak_site' <<<"$(go tool pprof -comments "$last" 2>&1)"

report=$(sed -n '/top leaking sites/,$p' <<<"$err")
echo "$report" | sed 's/^/  /'
first=$(awk 'NR==3 {print $5}' <<<"$report"); second=$(awk 'NR==4 {print $5}' <<<"$report")
check "summary: leak_site is the top leaking site, steady_site next" [ "$first $second" = "leak_site steady_site" ]
# Sites are named with their source line (the agent's DWARF lookup), not an address.
leak_line=$(grep -n 'leaked\[nleaked\] = malloc' "$ROOT/tests/progs/heap_leak.c" | cut -d: -f1)
check "summary: leak_site named with its file:line (heap_leak.c:$leak_line)" \
  grep -q "leak_site at [^ ]*/tests/progs/heap_leak\.c:$leak_line\$" <<<"$(awk 'NR==3' <<<"$report")"
check "summary: the suspected leak line names heap_leak.c:$leak_line" \
  grep -q "suspected leak: leak_site at [^ ]*/heap_leak\.c:$leak_line (its live heap grew" <<<"$report"
check "the log's suspected-leak line has the file:line and no pc" \
  grep -q "suspected leak: leak_site at [^ ]*/heap_leak\.c:$leak_line: live heap grew" <<<"$warns"
check "no leak site is reported as a bare pc" [ -z "$(grep -E 'pc 0x|^otprof: +[0-9.]+ [KM]iB +[0-9]+ +0x' <<<"$report")" ]
# 32 rounds x 20 x 10240 B = 6.25 MiB leaked by leak_site.
mib=$(awk 'NR==3 && $3=="MiB" {print $2}' <<<"$report")
check "summary: leak_site's estimate ${mib:-?} MiB within 15% of 6.25 MiB" \
  awk -v m="${mib:-0}" 'BEGIN {exit !(m >= 6.25 * 0.85 && m <= 6.25 * 1.15)}'
check "summary: the suspected leak is listed" grep -q 'suspected leak: leak_site .*(its live heap grew' <<<"$report"

# An -O2 -g program whose leaking function is inlined into main: the site
# is the inlined function at its line, inside main (was "main (pc 0x...)").
err=$(under_agent OTPROF_AGENT_SUMMARY=true -- "$PROGS/inline_hot" 0.2 2>&1 >/dev/null)
ll=$(grep -n 'LEAK_LINE' "$ROOT/tests/progs/inline_hot.c" | cut -d: -f1)
site=$(sed -n '/top leaking sites/,$p' <<<"$err" | awk 'NR==3')
echo "  $site"
check "summary: an inlined leak site is named with its line (inline_hot.c:$ll), inlined in main" \
  grep -qE "remember at [^ ]*/inline_hot\.c:$ll, inlined in main at [^ ]*/inline_hot\.c:[0-9]+\$" <<<"$site"
finish
