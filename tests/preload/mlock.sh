# An app that locks its memory (mlockall, as real-time, security and
# database programs do): the agent's own mappings are kept out of it.
# Without CAP_IPC_LOCK the kernel refuses MCL_CURRENT when the whole
# address space is over RLIMIT_MEMLOCK, and the agent's objects, rings and
# allocator made a program that fits the default 8 MiB bare get ENOMEM;
# with enough limit they were locked and filled with the app's memory
# (+8 to +37 MiB resident for a program of 2 to 5).
source "$(dirname "$0")/../lib.sh"
P="$PROGS/mlock_all"
field() { awk -v k="$1" '$1 == k {print $2}' <<<"$2"; }
calls() { grep -v -e '^cpu_ms' -e '^Vm' <<<"$1"; }

# --- with CAP_IPC_LOCK (root), or an unlimited RLIMIT_MEMLOCK -------------
if [ "$(id -u)" -eq 0 ]; then
  for mode in current future both onfault; do
    bare=$("$P" "$mode" 1); rm -rf "$WORK/out"
    prof=$(under_agent -- "$P" "$mode" 1)
    check "$mode: the same results as without the agent ($(calls "$prof" | tr '\n' ' '))" \
      [ "$(calls "$bare")" = "$(calls "$prof")" ]
    lb=$(field VmLck "$bare"); lp=$(field VmLck "$prof"); rb=$(field VmRSS "$bare"); rp=$(field VmRSS "$prof")
    check "$mode: locked memory as without the agent (${lp} KiB, bare ${lb}; was +8 to +37 MiB)" \
      [ "$((lp - lb))" -le 256 ]
    check "$mode: the agent's resident memory stays its usual (+$((rp - rb)) KiB, at most 6 MiB)" \
      [ "$((rp - rb))" -le 6144 ]
    got=$(pprof_total_ms "$(ls "$WORK"/out/mlock_all.*.cpu.pb.gz 2>/dev/null | head -1)")
    used=$(field cpu_ms "$prof")
    check "$mode: the profile holds the run's CPU (${got:-0} of ${used} ms)" \
      awk -v g="${got:-0}" -v u="$used" 'BEGIN { exit !(g >= 0.8 * u) }'
  done

  # Exports while it runs: the symbolizer would have libelf map whole debug
  # files (libc's, from libc6-dbg), which MCL_FUTURE locks and fills, so
  # under it no DWARF is read, said once.
  bare=$("$P" both 1.5); rm -rf "$WORK/out"
  prof=$(under_agent OTPROF_EXPORT_INTERVAL_MS=200 OTPROF_AGENT_LOG_LEVEL=info -- "$P" both 1.5 2> "$WORK/err")
  rb=$(field VmRSS "$bare"); rp=$(field VmRSS "$prof")
  check "both, exporting: no DWARF read, said once ($(grep -c 'no source lines' "$WORK/err"))" \
    [ "$(grep -c '^otprof: symbols: the app locks all its future memory' "$WORK/err")" -eq 1 ]
  check "both, exporting: the agent's resident memory stays its usual (+$((rp - rb)) KiB, at most 6 MiB)" \
    [ "$((rp - rb))" -le 6144 ]
fi

# --- without it, under the default 8 MiB limit ----------------------------
# As nobody (or as this user, if not root), with the agent and the program
# in a directory anyone can read.
mkdir -p "$WORK/lib" "$WORK/out"; chmod 755 "$WORK" "$WORK/lib"; chmod 777 "$WORK/out"
cp "$AGENT" "$ENGINE" "$P" "$WORK/lib/"
as_app() {
  local lim=$1; shift
  if [ "$(id -u)" -eq 0 ]; then
    prlimit --memlock="$lim:$lim" setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
  else
    prlimit --memlock="$lim:" "$@"
  fi
}
lims=""
for lim in 8388608 2097152; do
  # (A hard limit below it, without CAP_SYS_RESOURCE, cannot be raised.)
  if as_app $lim true 2>/dev/null; then lims="$lims $lim"; else echo "  cannot set RLIMIT_MEMLOCK to $lim here: skipped"; fi
done
for lim in $lims; do
  for mode in both current; do
    bare=$(as_app $lim "$WORK/lib/mlock_all" "$mode" 0.3 2>&1)
    prof=$(as_app $lim env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" LD_PRELOAD="$WORK/lib/libotprof_agent.so" \
      "$WORK/lib/mlock_all" "$mode" 0.3 2>&1)
    check "RLIMIT_MEMLOCK $((lim >> 20)) MiB, $mode: the same results as without the agent ($(calls "$prof" | tr '\n' ' '))" \
      [ "$(calls "$bare")" = "$(calls "$prof")" ]
    lb=$(field VmLck "$bare"); lp=$(field VmLck "$prof")
    check "RLIMIT_MEMLOCK $((lim >> 20)) MiB, $mode: locked memory as without the agent (${lp} KiB, bare ${lb})" \
      [ "$(( ${lp:-0} - ${lb:-0} ))" -le 256 ]
  done
done
# A thread with the default 8 MiB stack finds no room under 8 MiB once
# everything is locked: EAGAIN, as bare. That is not the app's limit of
# tasks, for which the agent's thread gives way (and pthread_create tries
# again for 50 ms): the agent says nothing and the call fails at once.
if [[ " $lims " == *" 8388608 "* ]]; then
  bare=$(as_app 8388608 "$WORK/lib/mlock_all" both 0.3 deflt 2>&1)
  prof=$(as_app 8388608 env OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" LD_PRELOAD="$WORK/lib/libotprof_agent.so" \
    "$WORK/lib/mlock_all" both 0.3 deflt 2>&1)
  check "default stack, 8 MiB: the same results as without the agent, nothing said ($(calls "$prof" | tr '\n' ' '))" \
    [ "$(calls "$bare")" = "$(calls "$prof")" ]
fi
# The limit does bite: 8 MiB lets "both" lock, 2 MiB does not (bare).
if [ "$lims" = " 8388608 2097152" ]; then
  b8=$(as_app 8388608 "$WORK/lib/mlock_all" both 0.1 | head -1); b2=$(as_app 2097152 "$WORK/lib/mlock_all" both 0.1 | head -1)
  check "suite sanity: bare, 8 MiB locks ($b8), 2 MiB does not ($b2)" [ "$b8" = "mlockall both: ok" -a "$b2" != "$b8" ]
fi
finish
