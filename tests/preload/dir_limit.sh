# export.max_dir_mb: a service that outgrows the limit keeps its newest
# files (deleting its oldest, of any pid) and never touches anything else
# in the directory: other services' files, files named almost like ours,
# a symlink or another user's file named exactly like ours, notes. Said
# once.
source "$(dirname "$0")/../lib.sh"
# all "cond1" "cond2"...: every shell condition holds (for check).
all() { local c; for c in "$@"; do eval "$c" || return 1; done; }
OUT="$WORK/out"; mkdir -p "$OUT"
LIMIT_MB=0.02; LIMIT=$(( 20 * 1048576 / 1000 ))

# What is in the directory before the run.
echo "foreign" > "$WORK/target"
foreign=(other.1.0.cpu.pb.gz notes.txt dlsvc2.5.0.cpu.pb.gz dlsvc.5.x.cpu.pb.gz dlsvc.07.1.cpu.pb.gz
         dlsvc.5.1.cpu.pb.gz.bak .dlsvc.5.2.cpu.pb.gz.tmp.5 dlsvc.5.3.mem.pb.gz xdlsvc.5.4.cpu.pb.gz)
for f in "${foreign[@]}"; do head -c 30000 /dev/urandom > "$OUT/$f"; done
ln -s "$WORK/target" "$OUT/dlsvc.6.0.cpu.pb.gz"
head -c 3000 /dev/urandom > "$OUT/dlsvc.1.0.cpu.pb.gz"   # ours by name: an old run of pid 1
touch -d '2 days ago' "$OUT/dlsvc.1.0.cpu.pb.gz"
# Named like ours but another user's: not the agent's to delete.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
  head -c 3000 /dev/urandom > "$OUT/dlsvc.2.0.cpu.pb.gz"; chown nobody "$OUT/dlsvc.2.0.cpu.pb.gz"
  touch -d '3 days ago' "$OUT/dlsvc.2.0.cpu.pb.gz"; foreign+=(dlsvc.2.0.cpu.pb.gz)
fi
sums=$(cd "$OUT" && md5sum "${foreign[@]}")

err=$(env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$OUT" OTPROF_AGENT_SERVICE_NAME=dlsvc \
  OTPROF_EXPORT_INTERVAL_MS=100 OTPROF_EXPORT_MAX_DIR_MB=$LIMIT_MB OTPROF_MEMORY_SAMPLE_BYTES=4096 \
  LD_PRELOAD="$AGENT" "$PROGS/secure_probe" 3000 2>&1 >/dev/null)
rc=$?
check "the app ran (exit status $rc)" [ "$rc" -eq 0 ]
# The agent's own names (canonical numbers), regular files, this run's pid.
ours=$(cd "$OUT" && find . -maxdepth 1 -type f -printf '%f\n' |
  grep -E '^dlsvc\.[1-9][0-9]*\.(0|[1-9][0-9]*)\.(cpu|heap)\.pb\.gz$' | grep -v -e '^dlsvc\.1\.0\.' -e '^dlsvc\.2\.0\.')
total=$(cd "$OUT" && stat -c %s $ours | awk '{s += $1} END {print s + 0}')
seqs=$(sed 's/^dlsvc\.[0-9]*\.\([0-9]*\)\..*/\1/' <<<"$ours" | sort -n | uniq)
maxseq=$(tail -1 <<<"$seqs"); minseq=$(head -1 <<<"$seqs")
echo "  kept $(wc -w <<<"$ours") files, $total bytes (limit $LIMIT), seq $minseq..$maxseq"
# (a loaded machine writes fewer intervals: "well over" is against what was kept)
nkept=$(wc -l <<<"$seqs")
check "the run wrote well over the limit in all (seq reached ${maxseq:-?}, $nkept intervals kept)" \
  [ "${maxseq:-0}" -ge $(( nkept * 3 / 2 )) ]
check "this service's files are under the limit ($total <= $LIMIT bytes)" [ "$total" -le "$LIMIT" ]
check "the newest are kept: every seq from $minseq to $maxseq is there" \
  [ "$(wc -l <<<"$seqs")" -eq $(( maxseq - minseq + 1 )) ]
check "the oldest went first: nothing before seq $minseq is left" [ "$minseq" -gt 0 ]
check "the same service's file from an old run (pid 1) was deleted" [ ! -e "$OUT/dlsvc.1.0.cpu.pb.gz" ]
check "foreign files untouched" [ "$(cd "$OUT" && md5sum "${foreign[@]}" 2>&1)" = "$sums" ]
check "a symlink named like ours is left alone, and its target" \
  all '[ -L "$OUT/dlsvc.6.0.cpu.pb.gz" ]' '[ "$(cat "$WORK/target")" = foreign ]'
check "said once" [ "$(grep -c 'export.max_dir_mb' <<<"$err")" -eq 1 ]
grep 'export.max_dir_mb' <<<"$err" | sed 's/^/  /'

# A build's short processes share one directory: a process that writes a
# few KB far under the limit does not list (fstatat) the 3000 files of
# its service there; one that writes past 1/64 of the limit does.
OUT2="$WORK/many"; mkdir -p "$OUT2"
(cd "$OUT2" && for i in $(seq 2 3001); do : > "dlsvc.$i.0.cpu.pb.gz"; done)
stats() {
  strace -f -qq -e trace=newfstatat,fstatat64 -o "$WORK/st" env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$OUT2" \
    OTPROF_AGENT_SERVICE_NAME=dlsvc OTPROF_MEMORY_SAMPLE_BYTES=4096 "$@" LD_PRELOAD="$AGENT" "$PROGS/alloc_churn" 0.05 \
    > /dev/null 2>&1
  grep -c 'dlsvc\.' "$WORK/st"
}
n_far=$(stats OTPROF_EXPORT_MAX_DIR_MB=512)
n_near=$(stats OTPROF_EXPORT_MAX_DIR_MB=0.05)
check "a short process far under the limit does not list the directory (${n_far} fstatat of our files, 3000 there)" [ "$n_far" -lt 100 ]
check "a process that wrote past 1/64 of the limit lists it (${n_near} fstatat)" [ "$n_near" -ge 3000 ]
finish
