# mlockall(MCL_CURRENT) faults in and locks every mapping of a process,
# the agent's too: what the agent maps at start is what such a program
# pays (and, without CAP_IPC_LOCK, what counts against RLIMIT_MEMLOCK).
# The fold table is mapped only at a thread's first overflow: the agent's
# share stays under 10 MiB (7.4 MiB here; 15.5 MiB when the table was
# mapped at start).
source "$(dirname "$0")/../lib.sh"

bare=$("$PROGS/lock_all")
if ! grep -q '^mlockall ok ' <<<"$bare"; then
  echo "  mlockall not permitted here ($bare); skipped"
  finish
fi
agent=$(under_agent -- "$PROGS/lock_all")
check "under the agent, mlockall succeeds too ($agent)" grep -q '^mlockall ok ' <<<"$agent"
b=$(awk '{print $4}' <<<"$bare"); a=$(awk '{print $4}' <<<"$agent")
check "the agent's share of the locked memory at start: $(( (a - b) / 1024 )) MiB, under 10 MiB (bare ${b} KiB, agent ${a} KiB)" \
  [ $((a - b)) -lt 10240 ]
bs=$(awk '{print $6}' <<<"$bare"); as=$(awk '{print $6}' <<<"$agent")
check "the agent's address space at start: $(( (as - bs) / 1024 )) MiB, under 10 MiB" [ $((as - bs)) -lt 10240 ]
finish
