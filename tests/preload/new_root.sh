# A program that gives itself another root directory (tests/progs/new_root:
# chroot, pivot_root in a mount namespace of its own, setns), as
# privilege-separated daemons and container set-ups do. The agent's next
# export wrote its profile into the app's jail (the output directory's
# path under the new root) with every frame <unknown>, and a program
# exec'd there met the loader's "cannot be preloaded" error on stderr.
# Now the agent exports what it sampled before the call, stops, says so
# once at info level and in the final profiles' comments, and LD_PRELOAD
# loses its entry when the new root lacks the agent's file. Calls that
# change nothing (chroot to /, setns into its own namespace, a chroot the
# kernel refuses) stop nothing.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"
P="$PROGS/new_root"
J="$WORK/jail"

if [ "$(id -u)" -ne 0 ]; then
  echo "  not root: cannot chroot; skipped"
  finish
fi
chmod 711 "$WORK"
fresh_jail() { rm -rf "$J" && mkdir -m 755 "$J"; }
fresh_out() { rm -rf "$WORK/out" && mkdir -m 777 "$WORK/out"; }
# fn_ms FILE FUNC: the function's cumulative CPU in ms (0 if absent).
fn_ms() {
  go tool pprof -top -unit=ms -nodefraction=0 -nodecount=100000 "$1" 2>/dev/null |
    awk -v f="$2" '$NF == f { v = $4; sub("ms", "", v); print v; found = 1; exit } END { if (!found) print 0 }'
}

AGENT_SETTINGS=(OTPROF_CPU_FREQUENCY_HZ=1000)
for mode in chroot pivot same setns-self refused; do
  fresh_jail
  bare=$("$P" "$mode" "$J" 2>&1)
  if [ $? -eq 2 ]; then
    echo "  $mode: not possible here ($bare); skipped"
    continue
  fi
  same_as_bare "$mode" "$P" "$mode" "$J"
  fresh_jail
  fresh_out
  under_agent OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_MEMORY_SAMPLE_BYTES=1 OTPROF_AGENT_LOG_LEVEL=info -- \
    "$P" "$mode" "$J" > /dev/null 2> "$WORK/err"
  n=$(grep -c 'changes its root directory' "$WORK/err")
  inside=$(find "$J" -mindepth 1 | head -3)
  check "$mode: nothing written into the new root (${inside:-empty})" [ -z "$inside" ]
  cpu=$(ls "$WORK"/out/new_root.*.cpu.pb.gz 2> /dev/null | tail -1)
  check "$mode: the CPU profile is in the output directory" [ -n "$cpu" ]
  before=$(fn_ms "$cpu" before_root)
  after=$(fn_ms "$cpu" in_root)
  check "$mode: before_root's 300 ms of CPU are in it, named (${before} ms)" awk -v v="$before" 'BEGIN { exit !(v >= 210 && v <= 390) }'
  hb=$(awk '$1=="fn" && $2=="before_root" {print $3, $4}' <<<"$("$HS" "$WORK"/out/new_root.*.heap.pb.gz 2>/dev/null)")
  check "$mode: its 1000 blocks of 100 bytes in the heap profile (${hb:-none})" [ "$hb" = "1000 100000" ]
  comment=$(go tool pprof -comments "$cpu" 2>/dev/null | grep -c 'otprof stopped before the process ended')
  case $mode in
    chroot|pivot)
      check "$mode: said once at info level that profiling stops ($n)" [ "$n" -eq 1 ]
      check "$mode: nothing sampled after it (in_root: $after ms)" [ "$after" = 0 ]
      check "$mode: the final CPU profile's comments say so ($comment)" [ "$comment" -eq 1 ] ;;
    *)
      check "$mode: the root does not change: no stop announced ($n)" [ "$n" -eq 0 ]
      check "$mode: in_root's 300 ms still profiled ($after ms)" awk -v v="$after" 'BEGIN { exit !(v >= 210 && v <= 390) }'
      check "$mode: no stop in the comments ($comment)" [ "$comment" -eq 0 ] ;;
  esac
done

# A root without /proc (a jail or container that has not mounted it): the
# objects come from the loader's list. Before, every frame was <unknown>.
fresh_out
if unshare -m true 2> /dev/null; then
  bare=$(unshare -m sh -c 'mount -t tmpfs none /proc && exec "$@"' _ "$P" same "$J" 2>&1)
  prof=$(unshare -m sh -c 'mount -t tmpfs none /proc && exec "$@"' _ env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" \
    OTPROF_CPU_FREQUENCY_HZ=1000 LD_PRELOAD="$AGENT" "$P" same "$J" 2>&1)
  check "no /proc: the same output (${prof})" [ "$prof" = "$bare" ]
  cpu=$(ls "$WORK"/out/new_root.*.cpu.pb.gz 2> /dev/null | tail -1)
  for fn in before_root in_root; do
    ms=$(fn_ms "$cpu" $fn)
    check "no /proc: $fn's 300 ms of CPU named ($ms ms)" awk -v v="$ms" 'BEGIN { exit !(v >= 210 && v <= 390) }'
  done
  files=$(go tool pprof -raw "$cpu" 2> /dev/null | sed -n '/^Mappings/,$p' | grep -c -e '/new_root ' -e '/libc\.so')
  check "no /proc: the program and libc among the profile's mappings ($files)" [ "$files" -ge 2 ]
else
  echo "  no mount namespaces here: the no-/proc case is skipped"
fi

# A program exec'd in the jail: a shell and the C library, not the agent.
fresh_jail
mkdir -p "$J/bin"
cp /bin/sh "$J/bin/sh"
for lib in $(ldd /bin/sh | grep -o '/[^ ]*'); do
  mkdir -p "$J$(dirname "$lib")" && cp "$lib" "$J$lib"
done
LIBC=$(ldd /bin/sh | grep -o '/[^ ]*libc\.so[^ ]*')
same_as_bare "exec in the jail" "$P" chroot "$J" /bin/sh -c 'echo "[${LD_PRELOAD-unset}]"'
# Debian's chroot command: chroot(2), then execvp in the jail.
same_as_bare "Debian's chroot command" chroot "$J" /bin/sh -c 'echo "in the jail: [${LD_PRELOAD-unset}]"'
out=$(env LD_PRELOAD="$AGENT $LIBC" "$P" chroot "$J" /bin/sh -c 'echo "[$LD_PRELOAD]"' 2>&1)
check "exec in the jail: the other entries of LD_PRELOAD stay ($out)" [ "$out" = "[$LIBC]" ]
out=$(env LD_PRELOAD="$AGENT" "$P" same "$J" /bin/sh -c 'echo "[$LD_PRELOAD]"' 2>&1)
check "exec after a chroot to /: LD_PRELOAD as it was ($out)" [ "$out" = "[$AGENT]" ]
finish
