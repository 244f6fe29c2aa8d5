# Children forked while other threads of the parent keep the dynamic
# loader busy (tests/progs/fork_loader): fork copies the loader's locks
# and lists as they are, and a child that loads a library for the agent
# (libdw for its profile's source lines) could wait forever on a lock held
# by a thread it does not have, or trip the loader's own assertion. Before,
# 1-9 of 150 such children took 3 s each (their final export abandoned at
# its deadline) and now and then one died of "Inconsistency detected by
# ld.so". Now such a child loads nothing for the agent: every child ends
# at once, as bare, and its profile names its function.
source "$(dirname "$0")/../lib.sh"
P="$PROGS/fork_loader"
N=100
AGENT_SETTINGS=(OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_MEMORY_SAMPLE_BYTES=1024)
same_as_bare "fork_loader $N" "$P" $N
rm -rf "$WORK/out"
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_MEMORY_SAMPLE_BYTES=1024 -- "$P" $N 2> "$WORK/err")
check "every child exited 7 at once ($out)" [ "$out" = "children $N exited-7 $N slow 0" ]
check "nothing said ($(head -c 200 "$WORK/err"))" [ ! -s "$WORK/err" ]
ppid=$(ls "$WORK"/out/fork_loader.*.heap.pb.gz 2> /dev/null | sed 's/.*fork_loader\.\([0-9]*\)\..*/\1/' | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
kids=$(ls "$WORK"/out/fork_loader.*.cpu.pb.gz 2> /dev/null | grep -vc "fork_loader\.$ppid\.")
check "the children wrote their profiles ($kids CPU profiles of $N children)" [ "$kids" -ge $((N * 9 / 10)) ]
ms=$(go tool pprof -top -unit=ms -nodefraction=0 $(ls "$WORK"/out/fork_loader.*.cpu.pb.gz | grep -v "fork_loader\.$ppid\.") 2> /dev/null |
  awk '$NF == "child_work" { v = $4; sub("ms", "", v); print v; exit }')
check "their profiles name child_work with its CPU (${ms:-0} ms of ~$((N * 20)) ms)" \
  awk -v v="${ms:-0}" -v n=$N 'BEGIN { exit !(v >= n * 20 * 0.7 && v <= n * 20 * 1.3) }'
finish
