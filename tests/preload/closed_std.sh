# An app that closed its stdin, stdout and stderr (a careless daemon; or
# coreutils, which close them just before exit): the next descriptors
# opened take those numbers, and the agent opens many (/proc/self/maps,
# ELF files, the output directory and profile files, curl's sockets).
# Each must be moved above 2 at once: behind those numbers the app's
# writes, which fail bare, would land in a profile or the HTTP stream.
# Checked from strace's record: no system call of the agent but the move
# (fcntl F_DUPFD_CLOEXEC) and the close touches 0-2; the app's writes
# there keep failing; the profiles written and sent are whole.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"

"$PROGS/closed_std" 300; rb=$?
check "bare: the writes to the closed stdout and stderr fail (suite sanity; status $rb)" [ "$rb" -eq 0 ]
check "receiver started" rx_start main 200
strace -f -qq -o "$WORK/st" env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" \
  OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=200 \
  OTPROF_MEMORY_SAMPLE_BYTES=65536 OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0 LD_PRELOAD="$AGENT" \
  "$PROGS/closed_std" 1200
ra=$?
check "under the agent: same status, every write to 0-2 failed (status $ra)" [ "$ra" -eq "$rb" ]
awk -f "$ROOT/tests/tools/low_fds.awk" "$WORK/st" > "$WORK/low"
moved=$(awk '$1 == "moved" {print $2}' "$WORK/low")
held=$(awk '$1 == "placeholders" {print $2}' "$WORK/low")
check "the agent kept off 0-2: ${held:-0} placeholders while its thread worked, ${moved:-0} descriptors moved" \
  [ $((${moved:-0} + ${held:-0})) -ge 3 ]
grep -vE '^(moved|placeholders) ' "$WORK/low" | head -5 | sed 's/^/    /'
check "nothing else used descriptors 0-2" [ "$(grep -vcE '^(moved|placeholders) ' "$WORK/low")" -eq 0 ]
files=("$WORK"/out/closed_std.*.pb.gz)
check "profiles written (${#files[@]})" [ -f "${files[0]}" ]
check "go tool pprof reads every profile" pprof_reads "${files[@]}"
n=$(rx_count "$RX_DIR")
check "requests sent over HTTP ($n)" [ "$n" -ge 2 ]
check "every request passes otlp_check" "$CHECKER" -q $(rx_bodies "$RX_DIR")
finish
