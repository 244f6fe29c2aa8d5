# A container's main process is pid 1 of its PID namespace, and the kernel
# drops every signal it leaves at SIG_DFL: `docker stop`'s SIGTERM is
# ignored until the SIGKILL that follows. Under the agent it must be
# ignored the same way (no catcher in pid 1): the program runs on, exits
# as it would, and its profile holds the whole run. (The previous build
# caught it, exported, re-raised a signal the kernel dropped, and then
# waited forever in pause().) A shell that forks an ordinary child of
# pid 1 still gets that child's final export on SIGTERM.
source "$(dirname "$0")/../lib.sh"

if ! unshare -p -f --mount-proc true 2>/dev/null; then
  echo "  skip: no PID namespaces here (unshare -p needs privileges)"
  finish
fi
run_ns() { # VAR=VALUE... -- prog args; output in $WORK/ns.out, status in $WORK/ns.rc
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done; shift
  ( unshare -p -f --mount-proc env "${vars[@]}" "$@" > "$WORK/ns.out" 2> "$WORK/ns.err"; echo $? > "$WORK/ns.rc" ) &
  local sub=$! i
  for i in $(seq 1 50); do pgrep -f "$PROGS/cpu_split 1 3" >/dev/null && break; sleep 0.1; done
  sleep 1
  pkill -TERM -f "^$PROGS/cpu_split 1 3"
  sleep 0.5
  if pgrep -f "^$PROGS/cpu_split 1 3" > /dev/null; then alive=1; else alive=0; fi
  for i in $(seq 1 100); do [ -s "$WORK/ns.rc" ] && break; sleep 0.1; done
  if [ ! -s "$WORK/ns.rc" ]; then pkill -KILL -f "^$PROGS/cpu_split 1 3"; wait "$sub"; echo hung > "$WORK/ns.rc"; fi
  wait "$sub" 2>/dev/null
}
rm -f "$WORK/ns.rc"; run_ns X=1 -- "$PROGS/cpu_split" 1 3 0.7
bare_alive=$alive; bare_rc=$(cat "$WORK/ns.rc")
echo "  bare: alive after SIGTERM $bare_alive, status $bare_rc"
rm -f "$WORK/ns.rc"; run_ns LD_PRELOAD="$AGENT" OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" -- "$PROGS/cpu_split" 1 3 0.7
rc=$(cat "$WORK/ns.rc")
echo "  agent: alive after SIGTERM $alive, status $rc"
check "pid 1 under the agent ignores SIGTERM as bare does (alive: $alive, bare $bare_alive)" [ "$alive" = "$bare_alive" ]
check "pid 1 under the agent exits as bare does (status $rc, bare $bare_rc)" [ "$rc" = "$bare_rc" ]
cpu=$(sed -n 's/.*rusage_cpu_s=\([0-9.]*\).*/\1/p' "$WORK/ns.out")
f=$(ls "$WORK"/out/cpu_split.1.*.cpu.pb.gz 2>/dev/null | head -1)
ms=0; [ -n "$f" ] && ms=$(pprof_total_ms "$f")
check "its profile holds the whole run (${ms:-0} ms of ${cpu:-?} s)" \
  within "${ms:-0}" "$(awk -v c="${cpu:-0}" 'BEGIN { print c * 1000 }')" "$(awk -v c="${cpu:-0}" 'BEGIN { print c * 100 }')"

# An ordinary process inside the namespace (a child of its init) is
# killable: SIGTERM ends it with the usual final export.
rm -rf "$WORK/out"
unshare -p -f --mount-proc sh -c "LD_PRELOAD='$AGENT' OTPROF_EXPORT_OUTPUT_DIR='$WORK/out' '$PROGS/cpu_split' 1 3 0.7 & sleep 1; kill -TERM \$!; wait \$!; echo status \$?" > "$WORK/child.out" 2>&1
st=$(sed -n 's/^status //p' "$WORK/child.out")
f=$(ls "$WORK"/out/cpu_split.*.cpu.pb.gz 2>/dev/null | head -1)
ms=0; [ -n "$f" ] && ms=$(pprof_total_ms "$f")
check "a child of pid 1 dies of SIGTERM (status ${st:-?} = 143)" [ "$st" = 143 ]
check "and its final export holds its second of CPU (${ms:-0} ms >= 800)" awk -v m="${ms:-0}" 'BEGIN { exit !(m >= 800) }'

# A fork child that becomes pid 1 of a new namespace (unshare(CLONE_NEWPID)
# then fork, no exec) gives back the catcher it inherited: SIGTERM sent
# to itself is dropped as it is bare (the previous build's child hung).
cat > "$WORK/pidns.py" <<'PY'
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x20000000) != 0:  # CLONE_NEWPID
    print("no pid namespace"); sys.exit(0)
pid = os.fork()
if pid == 0:
    os.kill(os.getpid(), signal.SIGTERM)
    t = time.time()
    while time.time() - t < 0.3: pass
    print("child", os.getpid(), "survived", flush=True)
    os._exit(0)
print("child status", os.waitpid(pid, 0)[1], flush=True)
PY
env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out2" LD_PRELOAD="$AGENT" /usr/bin/python3 "$WORK/pidns.py" > "$WORK/pidns.out" 2>&1 &
sub=$!
for i in $(seq 1 100); do kill -0 "$sub" 2>/dev/null || break; sleep 0.1; done
pkill -KILL -f "$WORK/pidns.py" 2>/dev/null
wait "$sub" 2>/dev/null
echo "  $(tr '\n' ' ' < "$WORK/pidns.out")"
check "a fork child that is pid 1 of a new namespace survives SIGTERM as bare" \
  grep -q '^child 1 survived' "$WORK/pidns.out"
check "and its parent sees it exit 0" grep -qx 'child status 0' "$WORK/pidns.out"
finish
