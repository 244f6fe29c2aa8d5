# fork, vfork and posix_spawn under heap profiling at sample_bytes=1:
# the fork child profiles its own allocations (and the inherited blocks
# still live in it) but never the parent's unexported allocations; vfork
# children, which share the parent's memory, leave the parent's state
# untouched; the parent's own counts stay exact.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"

out=$(under_agent OTPROF_MEMORY_SAMPLE_BYTES=1 OTPROF_CPU_ENABLED=false -- timeout 60 "$PROGS/heap_fork")
rc=$?
check "fork, 20 vforks, 20 posix_spawns: all fine (exit status $rc)" [ "$rc" -eq 0 ]
child=$(awk '$1=="child" {print $2}' <<<"$out")
pf=$(ls "$WORK"/out/heap_fork.*.heap.pb.gz 2>/dev/null | grep -v "\.$child\.")
cf=$(ls "$WORK"/out/heap_fork.$child.*.heap.pb.gz 2>/dev/null)
[ -n "$pf" ] && [ -n "$cf" ]; r=$?
check "parent and child each write a heap profile" [ $r -eq 0 ]
row() { "$HS" $1 | awk -v f="$2" '$1=="fn" && $2==f {print $3, $4, $5, $6}'; }
check "parent: parent_site exact (100 1024000 100 1024000; got $(row "$pf" parent_site))" \
  [ "$(row "$pf" parent_site)" = "100 1024000 100 1024000" ]
check "parent: after_site exact after the children (got $(row "$pf" after_site))" \
  [ "$(row "$pf" after_site)" = "10 10000 10 10000" ]
check "parent: nothing from the fork child" [ -z "$(row "$pf" child_site)" ]
check "parent: nothing recorded by vfork children" [ -z "$(row "$pf" vfork_site)" ]
check "child: its own allocations exact (got $(row "$cf" child_site))" [ "$(row "$cf" child_site)" = "50 512000 50 512000" ]
check "child: the parent's allocations not counted again, 50 inherited blocks still live (got $(row "$cf" parent_site))" \
  [ "$(row "$cf" parent_site)" = "0 0 50 512000" ]
finish
