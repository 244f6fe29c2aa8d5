# Helpers for the compatibility suite (tests/compat/*.sh), on top of
# tests/lib.sh. Each program runs twice, bare and under the agent, with the
# same command line under `timeout -k`; /usr/bin/time records the run's
# getrusage(RUSAGE_CHILDREN) CPU and tests/tools/taskmon.py its per-thread CPU.
#   c_start MODE NAME SECS [VAR=VALUE...] -- CMD...   start in the background
#   c_wait MODE NAME                                   wait for it, record status
#   c_run MODE NAME SECS [VAR=VALUE...] -- CMD...      both
#   c_same NAME                     same exit status and stdout, bare vs agent
#   c_profile NAME [MIN_MS]         profiles of the agent run: written, readable,
#                                   named functions, at most 1% of samples dropped, total CPU within 15% of the
#                                   run's (getrusage children; with C_TOTAL_BASIS=seen,
#                                   of what its threads were seen using; =given, of
#                                   C_TOTAL_REF_MS for files C_TOTAL_FILES; =between,
#                                   above what its threads were seen using and below
#                                   the run's with C_REAP set), each
#                                   thread over 10% of it labelled
# MODE is bare or agent; files go to $WORK/NAME.MODE/ (out, err, rc, rusage,
# tasks, prof/). The VAR=VALUE settings apply to the agent run only. With
# C_AS_USER set, the command runs as that user (runuser, itself unprofiled)
# and owns the profile dir; C_PROF_MODE is that dir's mode (default 0755).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
COMPAT="$ROOT/tests/compat"
CPU_TOL_PCT=${CPU_TOL_PCT:-15}
THREAD_MIN_PCT=${THREAD_MIN_PCT:-10}
declare -A C_PID C_MON
C_CLEANUP=()

# Every run still going at exit (a failed check, ^C) is stopped, then the
# scratch dir is handled as tests/lib.sh does.
c_exit() {
  local k c
  for c in "${C_CLEANUP[@]}"; do eval "$c" > /dev/null 2>&1; done
  for k in "${!C_PID[@]}"; do
    # timeout(1), the child of time(1), passes the signal on to the program.
    pkill -TERM -P "${C_PID[$k]}" 2> /dev/null
    kill -TERM "${C_PID[$k]}" 2> /dev/null
  done
  for k in "${!C_MON[@]}"; do kill "${C_MON[$k]}" 2> /dev/null; done
  wait 2> /dev/null
  if [ "$T_FAILS" -eq 0 ]; then rm -rf "$WORK"; else echo "  (kept $WORK)"; fi
}
trap c_exit EXIT
trap 'exit 130' INT TERM

c_start() {
  local mode=$1 name=$2 secs=$3; shift 3
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local d="$WORK/$name.$mode"
  rm -rf "$d"; mkdir -p "$d/prof"; chmod "${C_PROF_MODE:-0755}" "$d/prof"
  [ -n "${C_AS_USER:-}" ] && chown "$C_AS_USER" "$d/prof"
  local pre=(env -u OTPROF_CONFIG -u LD_PRELOAD)
  [ -n "${C_AS_USER:-}" ] && pre=(runuser -u "$C_AS_USER" -- "${pre[@]}")
  [ "$mode" = agent ] && pre+=(OTPROF_EXPORT_OUTPUT_DIR="$d/prof" "${envs[@]}" LD_PRELOAD="$AGENT")
  # C_REAP=GRACE_S: the program's whole process tree is reaped below
  # time(1) (tests/tools/reap.c), so that its getrusage counts helpers the
  # program abandons or kills.
  [ -n "${C_REAP:-}" ] && pre=("$BUILD/tools/reap" "$C_REAP" "${pre[@]}")
  /usr/bin/time -f '%U %S' -o "$d/rusage" timeout -k 5 "$secs" "${pre[@]}" "$@" > "$d/out" 2> "$d/err" &
  C_PID[$mode.$name]=$!
  "$ROOT/tests/tools/taskmon.py" "$!" "$d/tasks" "${C_POLL_S:-0.1}" &
  C_MON[$mode.$name]=$!
}
c_wait() {
  local mode=$1 name=$2 rc
  wait "${C_PID[$mode.$name]}"; rc=$?
  echo "$rc" > "$WORK/$name.$mode/rc"
  wait "${C_MON[$mode.$name]}" 2> /dev/null
  unset "C_PID[$mode.$name]" "C_MON[$mode.$name]"
  return "$rc"
}
c_run() {
  local mode=$1 name=$2
  c_start "$@"
  c_wait "$mode" "$name"
}
c_rc() { cat "$WORK/$1.$2/rc" 2> /dev/null || echo none; }
# c_cpu_ms NAME MODE: the run's user+system CPU (getrusage children), ms.
c_cpu_ms() { tail -1 "$WORK/$1.$2/rusage" | awk '{ printf "%.0f", ($1 + $2) * 1000 }'; }
# c_why NAME MODE: how a run ended badly, for the log.
c_why() {
  local d="$WORK/$1.$2"
  echo "    $2 run: exit status $(c_rc "$1" "$2"); $(grep -v '^[0-9. ]*$' "$d/rusage" 2> /dev/null | head -1)"
  grep -v '^otprof: ' "$d/err" 2> /dev/null | head -4 | sed 's/^/    stderr: /'
}

# c_same NAME [bare-status]: the agent run ended as the bare run did, with
# the same stdout. The bare run must also have ended as expected (status 0
# unless given), else the suite itself is wrong.
c_same() {
  local name=$1 want=${2:-0}
  local rb ra
  rb=$(c_rc "$name" bare); ra=$(c_rc "$name" agent)
  check "$name: bare run ends with status $want (suite sanity; got $rb)" [ "$rb" = "$want" ]
  [ "$rb" = "$want" ] || c_why "$name" bare
  check "$name: same exit status under the agent (bare $rb, agent $ra)" [ "$rb" = "$ra" ]
  [ "$rb" = "$ra" ] || c_why "$name" agent
  if cmp -s "$WORK/$name.bare/out" "$WORK/$name.agent/out"; then
    pass "$name: same stdout ($(wc -l < "$WORK/$name.bare/out") lines)"
  else
    fail "$name: same stdout"
    diff "$WORK/$name.bare/out" "$WORK/$name.agent/out" | head -6 | sed 's/^/    /'
  fi
}

# c_profile NAME [MIN_MS]: checks the agent run's profiles (every process,
# every file). The CPU comparison needs a run of at least MIN_MS (default
# 500) of CPU, so that sampling noise stays well inside the tolerance.
c_profile() {
  local name=$1 min=${2:-500}
  local d="$WORK/$name.agent"
  local files
  files=$(ls "$d"/prof/*.cpu.pb.gz 2> /dev/null)
  check "$name: CPU profiles written ($(echo $files | wc -w) files)" [ -n "$files" ]
  [ -n "$files" ] || return 0
  # shellcheck disable=SC2086
  "$ROOT/tests/tools/profsum.py" $files > "$d/profsum"
  check "$name: go tool pprof reads every profile" [ -z "$(grep '^unreadable' "$d/profsum")" ]
  local top
  top=$(sed -n 's/^top //p' "$d/profsum")
  echo "    $name: leaf functions: $top (named leaf $(sed -n 's/^named_pct //p' "$d/profsum")% of CPU; $(sed -n 's/^dropped //p' "$d/profsum") samples dropped)"
  check "$name: samples name functions" [ -n "$top" ]
  local dropped nsamp few=0
  dropped=$(sed -n 's/^dropped //p' "$d/profsum"); nsamp=$(sed -n 's/^samples //p' "$d/profsum")
  [ -n "$dropped" ] && [ -n "$nsamp" ] && [ $((dropped * 100)) -le "$nsamp" ] && few=1
  check "$name: CPU samples dropped ${dropped:-?} of ${nsamp:-?}, at most 1%" [ "$few" -eq 1 ]
  # What the profiles hold plus what they say they cannot (the CPU each
  # process had used before the agent started in it: its exec and dynamic
  # loading, which no in-process sampler sees; their "start:" comments).
  local prof_ms run_ms seen_ms start_ms
  start_ms=$(sed -n 's/^start_ms //p' "$d/profsum")
  prof_ms=$(awk -v p="$(sed -n 's/^total_ms //p' "$d/profsum")" -v s="${start_ms:-0}" 'BEGIN { printf "%.0f", p + s }')
  echo "    $name: profiles hold ${prof_ms} ms with the ${start_ms:-0} ms their processes used before the agent started"
  run_ms=$(c_cpu_ms "$name" agent)
  seen_ms=$(awk '{ s += $3 } END { print s + 0 }' "$d/tasks" 2> /dev/null)
  if [ "$run_ms" -lt "$min" ]; then
    echo "    $name: run used ${run_ms} ms of CPU (< $min): total not compared"
  elif [ "${C_TOTAL_BASIS:-rusage}" = given ]; then
    # A run made of many short processes (a build): each one's exec,
    # loading and exit teardown, and the agent's start-up and final export
    # in each, lie outside any sampled moment (about 15% of a make -j2),
    # and the bare run's CPU moves by 20% between runs on a shared machine.
    # The script names the processes that do the work and what the kernel
    # measured for them in this very run (C_TOTAL_REF_MS, from
    # C_TOTAL_REF_WHAT); their profiles (files C_TOTAL_FILES) must hold it.
    local sub sub_ms bare_ms
    # shellcheck disable=SC2086
    sub=$(cd "$d/prof" && ls $C_TOTAL_FILES 2> /dev/null)
    # shellcheck disable=SC2086
    [ -n "$sub" ] && sub_ms=$(cd "$d/prof" && "$ROOT/tests/tools/profsum.py" $sub |
      awk '$1 == "total_ms" || $1 == "start_ms" { s += $2 } END { printf "%.0f", s }')
    bare_ms=$(c_cpu_ms "$name" bare)
    echo "    $name: the run used ${run_ms} ms (bare run: ${bare_ms} ms); its profiles hold ${prof_ms} ms"
    check "$name: profiles of $C_TOTAL_FILES hold ${sub_ms:-0} ms, within ${CPU_TOL_PCT}% of the ${C_TOTAL_REF_MS} ms $C_TOTAL_REF_WHAT" \
      within "${sub_ms:-0}" "$C_TOTAL_REF_MS" $((C_TOTAL_REF_MS * CPU_TOL_PCT / 100))
  elif [ "${C_TOTAL_BASIS:-rusage}" = between ]; then
    # A program of many processes that start a large binary (a browser):
    # the loader's relocations before any constructor and the exit's
    # teardown are outside any sampled moment, a third of a headless
    # chromium run. Its whole tree reaped (C_REAP), getrusage bounds the
    # profile from above; from below, what its threads were seen using in
    # polls (which miss each process's last moments and its loading when
    # shorter than a poll), within the tolerance.
    local lo=$((seen_ms - seen_ms * CPU_TOL_PCT / 100)) hi=$((run_ms + run_ms * CPU_TOL_PCT / 100))
    check "$name: profile total CPU ${prof_ms} ms between the ${seen_ms} ms its threads were seen using and the ${run_ms} ms of its whole process tree (${CPU_TOL_PCT}% each side)" \
      [ "${prof_ms%.*}" -ge "$lo" -a "${prof_ms%.*}" -le "$hi" ]
  elif [ "${C_TOTAL_BASIS:-rusage}" = seen ]; then
    # A run made of short processes that map and tear down large memory
    # (initdb) spends a good part of its CPU in the kernel's exec and exit
    # work, outside any moment a thread of it can be sampled: its profile
    # is compared with the CPU its threads were seen using while alive.
    check "$name: profile total CPU ${prof_ms} ms within ${CPU_TOL_PCT}% of the ${seen_ms} ms its threads were seen using (getrusage: ${run_ms} ms)" \
      within "$prof_ms" "$seen_ms" $((seen_ms * CPU_TOL_PCT / 100))
  else
    local tol=$((run_ms * CPU_TOL_PCT / 100)) bare=""
    [ -s "$WORK/$name.bare/rusage" ] && bare=" (bare run: $(c_cpu_ms "$name" bare) ms)"
    check "$name: profile total CPU ${prof_ms} ms within ${CPU_TOL_PCT}% of the run's ${run_ms} ms$bare" \
      within "$prof_ms" "$run_ms" "$tol"
  fi
  c_threads "$name" "$run_ms"
}

# c_threads NAME RUN_MS: every thread that used more than THREAD_MIN_PCT of
# the run's CPU has samples under its thread_id, labelled with its name.
c_threads() {
  local name=$1 run_ms=$2 d="$WORK/$1.agent"
  local pid tid ms names got gname bad=0 n=0
  [ -s "$d/tasks" ] || { fail "$name: per-thread CPU recorded"; return; }
  while read -r pid tid ms names; do
    [ $((ms * 100)) -gt $((run_ms * THREAD_MIN_PCT)) ] || continue
    n=$((n + 1))
    read -r got gname < <(awk -v t="$tid" '$1 == "thread" && $2 == t { print $3, $4 }' "$d/profsum")
    if [ -z "${got:-}" ]; then
      echo "    $name: thread $tid ($names, pid $pid) used $ms ms: no samples"; bad=$((bad + 1))
    elif ! tr '|' '\n' <<<"$names" | grep -qxF "$gname"; then
      echo "    $name: thread $tid ($names) labelled '$gname'"; bad=$((bad + 1))
    else
      echo "    $name: thread $tid $gname: $ms ms used, $got ms profiled"
    fi
    got=""; gname=""
  done < "$d/tasks"
  check "$name: each of the $n threads over ${THREAD_MIN_PCT}% of the CPU appears with its thread.name" [ "$bad" -eq 0 ]
}

# free_port: a TCP port nobody listens on at 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_port PORT SECS: until something accepts on 127.0.0.1:PORT.
wait_port() {
  local i
  for i in $(seq 1 $(($2 * 10))); do
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
    sleep 0.1
  done
  return 1
}
