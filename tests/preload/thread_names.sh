# A thread that names itself after it started and ends before the next
# export keeps the name it chose (pthread_setname_np and prctl).
source "$(dirname "$0")/../lib.sh"

same_as_bare "self_named" "$PROGS/self_named"
f=$(ls "$WORK"/out/self_named.*.cpu.pb.gz 2> /dev/null | head -1)
check "self_named: a CPU profile" [ -n "$f" ]
for n in named-pthread named-prctl; do
  ms=$(go tool pprof -top -unit=ms -nodecount=1 -tagfocus="thread_name=$n" "$f" 2> /dev/null |
    sed -n 's/^Showing nodes accounting for \([0-9.]*\)ms.*/\1/p')
  # 400 ms were burnt under the new name; allow for sampling noise.
  check "$n: ${ms:-0} ms of CPU under the name the thread gave itself (>= 250)" \
    awk -v m="${ms:-0}" 'BEGIN { exit !(m >= 250) }'
done
finish
