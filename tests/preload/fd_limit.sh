# A service at its limit of open files: while it runs, the agent must not
# take the app's last descriptors (each export opens a few: the maps, ELF
# files, the directory and a temp file). Within OTP_FD_RESERVE (16) of
# the limit the agent opens nothing (said once), and the profiles wait in
# memory for the final export, which may use the reserve.
source "$(dirname "$0")/../lib.sh"

bare=$("$PROGS/fd_limit" 1500)
check "bare: none of its opens fails (suite sanity; $bare)" grep -q ' fails 0$' <<<"$bare"
out=$(under_agent OTPROF_EXPORT_INTERVAL_MS=100 -- "$PROGS/fd_limit" 1500 2> "$WORK/err")
rc=$?
fails=$(awk '{print $4}' <<<"$out")
# Exports every 100 ms took the last numbers for moments: 25-32 of the
# app's ~5700 opens failed so. What may remain: a refused try once a
# second, closed at once, and the private allocator's boot.
check "under the agent: exit 0, at most 3 of the app's opens failed ($out)" \
  [ "$rc" -eq 0 -a "${fails:-99}" -le 3 ]
n=$(grep -c 'leaves it the last' "$WORK/err")
check "said once that the agent leaves the app its last descriptors ($n)" [ "$n" -eq 1 ]
files=("$WORK"/out/fd_limit.*.cpu.pb.gz)
check "the final export wrote the CPU profile (${#files[@]} file)" [ -f "${files[0]}" ]
check "go tool pprof reads every profile" pprof_reads "$WORK"/out/fd_limit.*.pb.gz
total=$(for f in "${files[@]}"; do pprof_total_ms "$f"; done | awk '{s += $1} END {printf "%.0f", s}')
check "it holds the run's ~1500 ms of CPU ($total ms): nothing lost while it waited" within "$total" 1500 150
finish
