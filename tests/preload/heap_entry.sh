# Every interposed allocation entry point, sampled at 1 byte (every
# allocation): the allocator contract still holds (alignment, zeroing,
# errno, realloc semantics; the program checks and exits 1 otherwise) and
# the heap profile counts each call site exactly: objects and bytes
# allocated, and what is still live at exit. C++ new is counted once.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"

# compare_expect OUTPUT SUMS LABEL: each "expect FN AO AS IO IS" line of
# the program's output against heapsum's sums (cxx_alloc by stack: its
# leaf is operator new).
compare_expect() {
  local out=$1 sums=$2 label=$3 fn ao as io is got
  while read -r _ fn ao as io is; do
    if [ "$fn" = cxx_alloc ]; then
      got=$(awk '$1=="stack" {print $3, $4, $5, $6}' <<<"$sums")
    else
      got=$(awk -v f="$fn" '$1=="fn" && $2==f {print $3, $4, $5, $6}' <<<"$sums")
    fi
    check "$label$fn: alloc_objects alloc_space inuse_objects inuse_space = $ao $as $io $is (got ${got:-nothing})" \
      [ "$got" = "$ao $as $io $is" ]
  done < <(grep '^expect ' <<<"$out")
}

out=$(under_agent OTPROF_MEMORY_SAMPLE_BYTES=1 OTPROF_CPU_ENABLED=false -- \
  "$PROGS/heap_entry" --cxx "$PROGS/libheapcxx.so")
rc=$?
check "allocator contract holds under the agent (exit status $rc)" [ "$rc" -eq 0 ]
check "the program checked 10 call sites" [ "$(grep -c '^expect ' <<<"$out")" -eq 10 ]
files=$(ls "$WORK"/out/heap_entry.*.heap.pb.gz 2>/dev/null)
check "a heap profile is written" [ -n "$files" ]
sums=$("$HS" -s cxx_alloc $files)
compare_expect "$out" "$sums" ""
check "period type space/bytes, period 1" \
  [ "$(grep -E '^period' <<<"$sums" | tr '\n' ' ')" = "period_type space bytes period 1 " ]
check "sample types are Go's heap types" \
  grep -qx 'types alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes' <<<"$sums"
check "samples carry the thread id" grep -qx 'threads 1' <<<"$sums"
top=$(go tool pprof -top -sample_index=inuse_space $files 2>&1)
check "go tool pprof -top -sample_index=inuse_space reads it" grep -q 'e_valloc' <<<"$top"
check "stacks reach main (unwound through the hooks)" \
  [ "$("$HS" -s main $files | awk '$1=="stack" {print $4}')" -gt 200000 ]
# The loader's own allocations (the dlopen of the C++ library) keep their
# call site only: its lists may be mid-update, so no walk from in there.
# That needs the hooks' return address to be the caller's (tail calls).
read -r _ nld deep < <("$ROOT/tests/tools/profsum.py" $files | grep '^loader ')
check "allocations inside the dynamic loader sampled (${nld:-0}), each with its call site only (${deep:-?} deeper)" \
  [ "${nld:-0}" -gt 0 -a "${deep:-1}" -eq 0 ]

# Samples recorded through the thread's ring carry its trace context.
rm -rf "$WORK/out"
under_agent TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 OTPROF_MEMORY_SAMPLE_BYTES=1 \
  OTPROF_CPU_ENABLED=false -- "$PROGS/heap_entry" >/dev/null
labels=$(go tool pprof -traces "$WORK"/out/heap_entry.*.heap.pb.gz 2>/dev/null)
check "heap samples carry the trace context (trace_id, span_id labels)" \
  grep -q 'trace_id: *4bf92f3577b34da6a3ce929d0e0e4736' <<<"$labels"

# memory.track_frees = false: allocations still counted, nothing tracked live.
rm -rf "$WORK/out"
under_agent OTPROF_MEMORY_SAMPLE_BYTES=1 OTPROF_CPU_ENABLED=false OTPROF_MEMORY_TRACK_FREES=false -- \
  "$PROGS/heap_entry" >/dev/null
sums=$("$HS" "$WORK"/out/heap_entry.*.heap.pb.gz 2>/dev/null)
check "track_frees=false: alloc_* still exact" grep -qx 'fn e_malloc 100 100000 0 0' <<<"$sums"
check "track_frees=false: no inuse at all" [ "$(awk '$1=="total" {print $4, $5}' <<<"$sums")" = "0 0" ]

# memory.enabled = false: the hooks only forward; no heap profile.
rm -rf "$WORK/out"
out=$(under_agent OTPROF_MEMORY_ENABLED=false OTPROF_MEMORY_SAMPLE_BYTES=1 -- "$PROGS/heap_entry")
check "memory.enabled=false: program still correct" [ $? -eq 0 ]
check "memory.enabled=false: no heap profile" [ -z "$(ls "$WORK"/out/*.heap.pb.gz 2>/dev/null)" ]
finish
