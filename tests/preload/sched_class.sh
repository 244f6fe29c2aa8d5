# A real-time app (SCHED_FIFO) does not lend its priority to the agent's
# thread: that thread runs in the ordinary class, so an export's tens of
# milliseconds of symbolization and compression never preempt the app's
# other threads (the previous build's thread inherited SCHED_FIFO 10).
# The app's own threads keep their class. A background app's class
# (SCHED_IDLE, SCHED_BATCH) the agent's thread shares.
source "$(dirname "$0")/../lib.sh"

if ! chrt -f 10 true 2>/dev/null; then
  echo "  skip: SCHED_FIFO needs CAP_SYS_NICE here"
  finish
fi
cat > "$WORK/sched.py" <<'PY'
import os, threading, time
t = threading.Thread(target=time.sleep, args=(0.8,)); t.start()
time.sleep(0.5)
for tid in sorted(os.listdir('/proc/self/task')):
    comm = open(f'/proc/self/task/{tid}/comm').read().strip()
    policy = {0: 'other', 1: 'fifo', 2: 'rr', 3: 'batch', 5: 'idle'}.get(os.sched_getscheduler(int(tid)), '?')
    print(comm, policy, os.sched_getparam(int(tid)).sched_priority)
t.join()
PY
out=$(chrt -f 10 env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" LD_PRELOAD="$AGENT" /usr/bin/python3 "$WORK/sched.py" 2>&1)
echo "$out" | sed 's/^/  /'
check "the agent's thread runs in the ordinary class" grep -qx 'otprof-flush other 0' <<<"$out"
check "the app's threads keep SCHED_FIFO 10 ($(grep -c '^python3 fifo 10$' <<<"$out") of 2)" [ "$(grep -c '^python3 fifo 10$' <<<"$out")" -eq 2 ]
out=$(chrt -i 0 env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" LD_PRELOAD="$AGENT" /usr/bin/python3 "$WORK/sched.py" 2>&1)
check "in a SCHED_IDLE app the agent's thread is SCHED_IDLE too" grep -qx 'otprof-flush idle 0' <<<"$out"
finish
