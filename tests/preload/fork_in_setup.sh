# A fork while the agent sets up its private allocator (first law). The
# set-up (jemalloc's own) holds jemalloc's init lock; a child forked then
# inherits it held, and its first allocation (its exit's export) waits
# for ever: a PostgreSQL parallel worker hung so. Two threads fork in a
# loop while OTP_TEST_MEM_INIT_DELAY_MS stretches the set-up (inside
# jemalloc's locked section) to 300 ms: every fork must wait for the
# set-up to end, every child must export and exit.
source "$(dirname "$0")/../lib.sh"

# The set-up on the agent's thread (its first allocation), forks from
# the two app threads meanwhile; the children leave at once, so that none
# sets up an allocator of its own (stretched too) while a thread reaps it.
rm -rf "$WORK/out"
out=$(under_agent OTPROF_AGENT_LOG_LEVEL=debug OTP_TEST_MEM_INIT_DELAY_MS=300 -- \
  timeout 120 "$PROGS/fork_in_setup" 1500 quick 2>"$WORK/err1")
rc=$?
# The parent's set-up: the longest (a child that owes a sample sets up at
# its exit, unstretched).
setup_us=$(awk '/allocator set up in/ && $(NF-4) > m {m = $(NF-4)} END {print m}' "$WORK/err1")
read -r forks hung failed max_ms <<<"$(awk '$1=="forks" {print $2, $4, $6, $8}' <<<"$out")"
check "agent thread's set-up stretched to 300 ms (took ${setup_us:-?} us)" [ "${setup_us:-0}" -ge 290000 ]
[ "$rc" -eq 0 ] && [ "${forks:-0}" -ge 20 ] && [ "$hung" -eq 0 ] && [ "$failed" -eq 0 ]; r=$?
check "forks meanwhile, none failed, no child hung (forks ${forks:-?}, hung ${hung:-?}, failed ${failed:-?}, exit $rc)" [ $r -eq 0 ]
check "a fork waited for the set-up to end (longest fork ${max_ms:-?} ms)" \
  awk -v m="${max_ms:-0}" 'BEGIN { exit !(m >= 200) }'

# Every allocation sampled: each child's exit then exports, allocating,
# and the set-up may fall on an app thread while the other forks.
rm -rf "$WORK/out"
out=$(under_agent OTPROF_AGENT_LOG_LEVEL=debug OTPROF_MEMORY_SAMPLING=every OTPROF_CPU_ENABLED=false \
  OTP_TEST_MEM_INIT_DELAY_MS=300 -- timeout 120 "$PROGS/fork_in_setup" 800 2>"$WORK/err2")
rc=$?
read -r forks hung failed max_ms <<<"$(awk '$1=="forks" {print $2, $4, $6, $8}' <<<"$out")"
nheap=$(ls "$WORK"/out/fork_in_setup.*.heap.pb.gz 2>/dev/null | wc -l)
[ "$rc" -eq 0 ] && [ "${forks:-0}" -ge 5 ] && [ "$hung" -eq 0 ] && [ "$failed" -eq 0 ]; r=$?
check "every allocation sampled: no child hung or failed (forks ${forks:-?}, hung ${hung:-?}, failed ${failed:-?}, exit $rc)" [ $r -eq 0 ]
check "each child and the parent wrote its heap profile ($nheap for ${forks:-?} forks)" \
  [ "$nheap" -eq $(( ${forks:-0} + 1 )) ]

# No stretching: forks from two threads at once, as fast as they go.
rm -rf "$WORK/out"
out=$(under_agent OTPROF_MEMORY_SAMPLING=every -- timeout 120 "$PROGS/fork_in_setup" 600 2>"$WORK/err3")
rc=$?
read -r forks hung failed max_ms <<<"$(awk '$1=="forks" {print $2, $4, $6, $8}' <<<"$out")"
[ "$rc" -eq 0 ] && [ "${forks:-0}" -ge 20 ] && [ "$hung" -eq 0 ] && [ "$failed" -eq 0 ]; r=$?
check "two threads forking at full speed: no child hung or failed (forks ${forks:-?}, hung ${hung:-?}, exit $rc)" [ $r -eq 0 ]
finish
