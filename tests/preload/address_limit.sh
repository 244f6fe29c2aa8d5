# A process whose address space is limited (RLIMIT_AS, `ulimit -v`), or
# its data size (RLIMIT_DATA, `ulimit -d`), runs as it does without the
# agent. The agent's reservations (rings, tables,
# its allocator: tens of MiB) made Python raise MemoryError or abort at
# limits it ran fine under; below 1 GiB the agent now stays off and says
# so in one line, and with a larger limit it profiles as usual.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
cat > "$WORK/work.py" <<'PYW'
import sys
d = {i: str(i * i) for i in range(200000)}
print(sum(len(v) for v in d.values()))
if len(sys.argv) > 1:
    import re
    print(re.search(sys.argv[1] + r':\s+(\d+)', open('/proc/self/status').read()).group(1), file=sys.stderr)
PYW
# The limit: what bare Python reached, plus room for the agent's mapped
# object (~5 MiB, as any preloaded library) and a little more.
peak=$("$PY" "$WORK/work.py" VmPeak 2>&1 > /dev/null)
limit=$((peak + 12 * 1024))
run_limited() { bash -c 'ulimit -v "$1"; shift; exec "$@"' _ "$@"; }
bare=$(run_limited "$limit" "$PY" "$WORK/work.py" 2> "$WORK/bare.err"); rb=$?
check "bare Python runs within ${limit} KiB (its peak: ${peak} KiB)" [ "$rb" -eq 0 -a -n "$bare" ]
rm -rf "$WORK/out"
prof=$(run_limited "$limit" env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" OTPROF_CPU_FREQUENCY_HZ=1000 \
  LD_PRELOAD="$AGENT" "$PY" "$WORK/work.py" 2> "$WORK/agent.err"); rp=$?
check "under the agent, the same exit status ($rb) and output" [ "$rp" -eq "$rb" -a "$prof" = "$bare" ]
echo "  agent's stderr: $(head -c 300 "$WORK/agent.err")"
check "one otprof line says profiling is off for RLIMIT_AS" \
  [ "$(grep -c '^otprof: .*RLIMIT_AS.*profiling is off' "$WORK/agent.err")" -eq 1 -a "$(wc -l < "$WORK/agent.err")" -eq 1 ]
check "no profile written" [ -z "$(ls "$WORK/out" 2> /dev/null)" ]
# The data size (RLIMIT_DATA, `ulimit -d`): every private writable
# mapping counts, and the agent's added ~25 MiB; Python raised
# MemoryError at a limit 8 MiB above what it used bare.
dpeak=$("$PY" "$WORK/work.py" VmData 2>&1 > /dev/null)
dlimit=$((dpeak + 8 * 1024))
run_data() { bash -c 'ulimit -d "$1"; shift; exec "$@"' _ "$@"; }
dbare=$(run_data "$dlimit" "$PY" "$WORK/work.py" 2> "$WORK/dbare.err"); rb=$?
check "bare Python runs within a data size of ${dlimit} KiB (its VmData: ${dpeak} KiB)" [ "$rb" -eq 0 -a "$dbare" = "$bare" ]
rm -rf "$WORK/out"
prof=$(run_data "$dlimit" env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" OTPROF_CPU_FREQUENCY_HZ=1000 \
  LD_PRELOAD="$AGENT" "$PY" "$WORK/work.py" 2> "$WORK/agent.err"); rp=$?
check "RLIMIT_DATA: under the agent, the same exit status ($rb) and output" [ "$rp" -eq "$rb" -a "$prof" = "$bare" ]
check "RLIMIT_DATA: one otprof line says profiling is off" \
  [ "$(grep -c '^otprof: .*RLIMIT_DATA.*profiling is off' "$WORK/agent.err")" -eq 1 -a "$(wc -l < "$WORK/agent.err")" -eq 1 ]
check "RLIMIT_DATA: no profile written" [ -z "$(ls "$WORK/out" 2> /dev/null)" ]

# A generous limit (1.5 GiB): profiled as usual, nothing said.
rm -rf "$WORK/out"
prof=$(run_limited 1572864 env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" OTPROF_CPU_FREQUENCY_HZ=1000 \
  LD_PRELOAD="$AGENT" "$PY" "$WORK/work.py" 2> "$WORK/agent.err"); rp=$?
check "1.5 GiB limit: same exit status and output, nothing on stderr" \
  [ "$rp" -eq 0 -a "$prof" = "$bare" -a ! -s "$WORK/agent.err" ]
check "1.5 GiB limit: a CPU profile written" [ -n "$(ls "$WORK"/out/python3.*.cpu.pb.gz 2> /dev/null)" ]
# The agent's own thread takes a 2 MiB stack, not RLIMIT_STACK's 8 MiB:
# under strict overcommit a thread's whole stack counts against the limit
# the app allocates from.
cat > "$WORK/stack.py" <<'PY'
import os, threading, time
t = threading.Thread(target=time.sleep, args=(0.8,)); t.start()
time.sleep(0.5)
size = 0
for tid in os.listdir('/proc/self/task'):
    if open(f'/proc/self/task/{tid}/comm').read().strip() != 'otprof-flush':
        continue
    sp = int(open(f'/proc/self/task/{tid}/syscall').read().split()[-2], 16)
    for line in open('/proc/self/maps'):
        lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
        if lo <= sp < hi:
            size = (hi - lo) // 1024
print(size)
t.join()
PY
kib=$(bash -c 'ulimit -s 8192; exec env OTPROF_EXPORT_OUTPUT_DIR="$1/out" LD_PRELOAD="$2" "$3" "$1/stack.py"' _ "$WORK" "$AGENT" "$PY" 2>/dev/null)
check "the agent thread's stack is 2 MiB under an 8 MiB RLIMIT_STACK (${kib:-?} KiB)" [ "${kib:-0}" -eq 2048 ]
# And not less under a small one (`ulimit -s 128`): the agent's thread
# took 128 KiB, and the export at exit ran on the main thread within it;
# libdw's line tables overflowed both, and the process died of SIGSEGV.
kib=$(bash -c 'ulimit -s 256; exec env OTPROF_EXPORT_OUTPUT_DIR="$1/out" LD_PRELOAD="$2" "$3" "$1/stack.py"' _ "$WORK" "$AGENT" "$PY" 2>/dev/null)
check "the agent thread's stack is 2 MiB under a 256 KiB RLIMIT_STACK (${kib:-?} KiB)" [ "${kib:-0}" -eq 2048 ]
run_stack() { bash -c 'ulimit -s 128; exec "$@"' _ "$@"; }
bare=$(run_stack "$PROGS/inline_hot" 0.3 2>&1); rb=$?
rm -rf "$WORK/out"
prof=$(run_stack env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" OTPROF_CPU_FREQUENCY_HZ=1000 LD_PRELOAD="$AGENT" \
  "$PROGS/inline_hot" 0.3 2>&1); rp=$?
check "RLIMIT_STACK 128 KiB: the same exit status ($rp, bare $rb) and output" [ "$rp" -eq "$rb" -a "$prof" = "$bare" ]
cpu=$(ls "$WORK"/out/inline_hot.*.cpu.pb.gz 2> /dev/null | head -1)
share=$(pprof_top "$cpu" | awk '/ mix_rounds \(inline\)$/ { gsub("%", "", $5); print $5; exit }')
check "RLIMIT_STACK 128 KiB: the profile names the inlined hot loop, with its CPU (${share:-0}%)" \
  awk -v s="${share:-0}" 'BEGIN { exit !(s >= 80) }'
finish
