# A service at its limit of tasks (RLIMIT_NPROC here; a container's
# pids.max acts the same): the agent's own thread must not take the
# place of one of the app's threads or processes. At the app's first
# pthread_create or fork that fails with EAGAIN, the agent's thread ends
# (said once) and the app's is created; the samples of the rest of the
# run are exported at exit. A single-threaded app's forks find the
# agent's thread gone already (it leaves before each fork); its start
# again, while the app works on at the limit, fails and is said once.
source "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "  not root: cannot become another uid; skipped"
  finish
fi
chmod 711 "$WORK"
for mode in thread fork; do
  bare=$("$PROGS/task_limit" 4 400 $mode 2>&1)
  if [ $? -eq 2 ]; then # root without CAP_SETUID (a restricted container)
    echo "  $mode: cannot become another uid here ($bare); skipped"
    continue
  fi
  check "$mode, bare: 4 under a limit of 5 tasks (suite sanity; $bare)" grep -q '^created 4 ' <<<"$bare"
  # The program becomes uid 54321 after its first 400 ms: a directory it
  # can still write to.
  out_dir="$WORK/out-$mode"
  mkdir -m 700 "$out_dir" && chown 54321:54321 "$out_dir"
  out=$(under_agent OTPROF_EXPORT_OUTPUT_DIR="$out_dir" OTPROF_EXPORT_INTERVAL_MS=200 -- \
    "$PROGS/task_limit" 4 400 $mode 2> "$WORK/err")
  rc=$?
  check "$mode, under the agent: exit 0 ($rc)" [ "$rc" -eq 0 ]
  check "$mode, under the agent: the same 4 ($out)" grep -q '^created 4 ' <<<"$out"
  n=$(grep -c 'reached its limit of tasks' "$WORK/err")
  check "$mode: said once that the agent's thread gave way ($n)" [ "$n" -eq 1 ]
  check "$mode: nothing else logged" [ "$(grep -vc 'reached its limit of tasks' "$WORK/err")" -eq 0 ]
  files=("$out_dir"/task_limit.*.cpu.pb.gz)
  check "$mode: CPU profiles, before the limit and at exit (${#files[@]})" [ "${#files[@]}" -ge 2 ]
  check "$mode: go tool pprof reads every profile" pprof_reads "$out_dir"/task_limit.*.pb.gz
  # 800 ms of work on the main thread (1100 with fork's): none lost when
  # the thread ended.
  want=800; [ "$mode" = fork ] && want=1100
  total=$(for f in "${files[@]}"; do pprof_total_ms "$f"; done | awk '{s += $1} END {printf "%.0f", s}')
  check "$mode: the profiles hold the run's ~$want ms of CPU ($total ms)" within "$total" "$want" 150
done
finish
