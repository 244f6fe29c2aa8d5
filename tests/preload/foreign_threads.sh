# Work on threads that the app's pthread_create did not start: a raw
# clone (sharing its creator's thread-local storage) and glibc's POSIX
# AIO workers (started inside the C library). No profiling signal can be
# sent to them safely; their CPU time goes into the profile without
# stacks, under one frame with their thread's name and id, so that the
# profile holds the process's CPU. Before, it held 33% of it (clone) and
# 9% (AIO), and said nothing.
source "$(dirname "$0")/../lib.sh"

P="$PROGS/foreign_threads"
FN='[otprof: thread not sampled, CPU time only]'
# foreign_ms FILE: that frame's CPU in ms (0 if absent).
foreign_ms() {
  go tool pprof -top -unit=ms -nodefraction=0 -nodecount=100000 "$1" 2>/dev/null |
    awk -v f="$FN" 'index($0, f) { v = $1; sub("ms$", "", v); print v; found = 1; exit } END { if (!found) print 0 }'
}
# run NAME ARGS...: runs the program under the agent; sets F (its CPU
# profile), CPU (its own CPU time, ms), TOTAL and FOREIGN (profile, ms).
run() {
  rm -rf "$WORK/out"
  CPU=$(under_agent -- "$P" "$@" 2>&1 >/dev/null | sed -n 's/^cpu_ms=//p')
  F=$(ls "$WORK"/out/foreign_threads.*.cpu.pb.gz 2>/dev/null | head -1)
  TOTAL=0; FOREIGN=0
  if [ -n "$F" ]; then TOTAL=$(pprof_total_ms "$F"); FOREIGN=$(foreign_ms "$F"); fi
  pprof_reads "$F" || UNREAD+=("$*")
}
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
UNREAD=()

# The clone burns 2 s of its CPU and ends 300 ms before the process: the
# agent's thread counted it while it ran (each tick, 100 ms).
run clone 2
check "raw clone: the profile holds ${TOTAL} ms of the process's ${CPU:-?} ms of CPU (85-110%)" \
  between "$TOTAL" "$(awk -v c="${CPU:-0}" 'BEGIN { print 0.85 * c }')" "$(awk -v c="${CPU:-0}" 'BEGIN { print 1.1 * c + 1 }')"
check "raw clone: ${FOREIGN} ms of it under $FN, of the clone's 2000 (1700-2100)" between "$FOREIGN" 1700 2100

# The clone still burns when the process exits, before the agent's thread
# has ever run: the final export counts it.
run clone_live 2
check "raw clone alive at exit: the profile holds ${TOTAL} ms of ${CPU:-?} (85-115%)" \
  between "$TOTAL" "$(awk -v c="${CPU:-0}" 'BEGIN { print 0.85 * c }')" "$(awk -v c="${CPU:-0}" 'BEGIN { print 1.15 * c + 1 }')"
check "raw clone alive at exit: ${FOREIGN} ms under $FN (its ~1000: 850-1300)" between "$FOREIGN" 850 1300

rm -rf "$WORK/out"
line=$(under_agent OTPROF_AGENT_SUMMARY=true -- "$P" clone_live 1 2>&1 | grep 'could not sample')
check "the summary counts the clone and its time: ${line#otprof: }" \
  awk -v l="$line" 'BEGIN { exit !(match(l, /: 1, with 0\.[3-7][0-9] s of CPU/)) }'

head -c 8388608 /dev/urandom > "$WORK/data"
run aio 2 "$WORK/data"
check "POSIX AIO: the profile holds ${TOTAL} ms of ${CPU:-?} (85-110%; its workers copy)" \
  between "$TOTAL" "$(awk -v c="${CPU:-0}" 'BEGIN { print 0.85 * c }')" "$(awk -v c="${CPU:-0}" 'BEGIN { print 1.1 * c + 1 }')"
check "POSIX AIO: ${FOREIGN} ms of it under $FN, the workers' (>= 50% of the total)" \
  awk -v f="$FOREIGN" -v t="$TOTAL" 'BEGIN { exit !(t > 0 && f >= 0.5 * t) }'
tags=$(go tool pprof -tags "$F" 2>/dev/null | tr -s ' ' | tr '\n' ' ')
check "POSIX AIO: the frame's samples carry the workers' thread name (foreign_threads)" \
  grep -q 'foreign_threads' <<<"$tags"

check "go tool pprof reads every profile (unread: ${UNREAD[*]:-none})" [ ${#UNREAD[@]} -eq 0 ]

# Threads of the app's pthread_create that end all the time are never
# taken for foreign ones (their slot is recycled before the kernel has
# let them go).
rm -rf "$WORK/out"
under_agent -- "$PROGS/short_threads" 150 20 >/dev/null 2>&1
f=$(ls "$WORK"/out/short_threads.*.cpu.pb.gz 2>/dev/null | head -1)
fm=$([ -n "$f" ] && foreign_ms "$f" || echo missing)
check "150 pthreads of 20 ms, one after another: ${fm} ms under $FN (0)" [ "$fm" = 0 ]
# The CPU a process used before the agent started in it (its exec, the
# loader's relocations, a library's constructor that ran first) is in no
# sample: the first CPU profile says how much, in a comment. A
# constructor of 200 ms before the agent's, then 0.4 s of work. And a
# process that only starts and exits still writes no profile.
rm -rf "$WORK/out"
out=$(env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" LD_PRELOAD="$AGENT $PROGS/libslowinit.so" "$PROGS/forker" 0.4 2>&1)
pre=$(sed -n 's/^slowinit_cpu_ms=//p' <<<"$out")
ppid=$(sed -n 's/^parent \([0-9]*\) child.*/\1/p' <<<"$out")
f=$(ls "$WORK"/out/forker."${ppid:-x}".0.cpu.pb.gz 2>/dev/null)
said=$([ -n "$f" ] && "$ROOT/tests/tools/profsum.py" "$f" | sed -n 's/^start_ms //p')
check "200 ms of CPU before the agent started: its first profile says ${said:-nothing} ms, of the ${pre:-?} ms used then" \
  within "${said:-0}" "${pre:-0}" 20
rm -rf "$WORK/out"
under_agent -- /bin/true
check "/bin/true: no profile written ($(ls "$WORK"/out 2>/dev/null | wc -l) files)" [ -z "$(ls "$WORK"/out 2>/dev/null)" ]
finish
