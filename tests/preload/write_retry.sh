# A profile file that cannot be written (disk full, output directory
# gone) is kept in memory and merged into the next file of its kind, so
# nothing is lost: phase_a runs while writes fail, then space comes back
# and phase_b runs; the profiles hold all of phase_a's CPU and
# allocations, and the first file written after the failure holds them
# together with the interval that wrote it.
# Disk full: a 1 MiB tmpfs filled up (needs root and mount; skipped with
# a message otherwise). Directory gone: the output directory's parent is
# a plain file meanwhile (always).
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"
FULL="$WORK/full"
trap 'umount -l "$FULL" 2>/dev/null; if [ "$T_FAILS" -eq 0 ]; then rm -rf "$WORK"; else echo "  (kept $WORK)"; fi' EXIT

# run_case NAME OUTDIR BREAK_CMD FIX_CMD [PHASE_B_MS]; the app is started
# through RUN_PREFIX (a command that execs the rest), $pid in FIX_CMD.
RUN_PREFIX=()
run_case() {
  local name=$1 out=$2 fix=$4 bms=${5:-800} m="$WORK/marks.$1"
  mkdir -p "$m"
  eval "$3"
  "${RUN_PREFIX[@]}" env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$out" OTPROF_EXPORT_INTERVAL_MS=250 \
    OTPROF_MEMORY_SAMPLE_BYTES=4096 OTPROF_EXPORT_MAX_DIR_MB=0 LD_PRELOAD="$AGENT" \
    "$PROGS/write_retry" "$m" 800 "$bms" > "$WORK/$name.out" 2> "$WORK/$name.err" &
  local pid=$! i
  for i in $(seq 300); do [ -e "$m/a_done" ] && break; sleep 0.05; done
  sleep 0.6 # two more intervals fail after phase_a
  local early; early=$(ls "$out" 2>/dev/null | grep -c 'pb.gz$')
  check "$name: nothing could be written during phase_a ($early files)" [ "$early" -eq 0 ]
  eval "$fix"
  touch "$m/go"
  wait $pid; local rc=$?
  check "$name: the app ran (exit status $rc)" [ "$rc" -eq 0 ]
  sed 's/^/  app: /' "$WORK/$name.out"
  grep '^otprof:' "$WORK/$name.err" | head -3 | sed 's/^/  /'
  local a_ms b_ms a_bytes cpu files first got_a got_b got_a1 got_ab
  a_ms=$(awk '$1=="phase_a_cpu_ms"{print $2}' "$WORK/$name.out")
  b_ms=$(awk '$1=="phase_b_cpu_ms"{print $2}' "$WORK/$name.out")
  a_bytes=$(awk '$1=="alloc_a_bytes"{print $2}' "$WORK/$name.out")
  cpu=$(ls -v "$out"/write_retry.*.cpu.pb.gz 2>/dev/null)
  first=$(head -1 <<<"$cpu")
  got_a=$("$HS" -s phase_a $cpu 2>/dev/null | awk '$1=="stack"{printf "%d", $4/1e6}')
  got_b=$("$HS" -s phase_b $cpu 2>/dev/null | awk '$1=="stack"{printf "%d", $4/1e6}')
  got_a1=$("$HS" -s phase_a $first 2>/dev/null | awk '$1=="stack"{printf "%d", $4/1e6}')
  echo "  phase_a: ${a_ms:-?} ms of CPU, ${got_a:-0} ms in the profiles (${got_a1:-0} ms in the first file); phase_b: ${b_ms:-?} ms, ${got_b:-0} ms"
  check "$name: phase_a's CPU is in the profiles (${got_a:-0} of ${a_ms:-?} ms, within 20%)" \
    within "${got_a:-0}" "${a_ms:-1}" "$(( ${a_ms:-1} / 5 ))"
  check "$name: the first file written holds phase_a (${got_a1:-0} ms)" \
    within "${got_a1:-0}" "${a_ms:-1}" "$(( ${a_ms:-1} / 5 ))"
  [ "$bms" -eq 0 ] || check "$name: phase_b's CPU is in the profiles too (${got_b:-0} of ${b_ms:-?} ms)" \
    within "${got_b:-0}" "${b_ms:-1}" "$(( ${b_ms:-1} / 5 ))"
  local heap got_alloc
  heap=$(ls -v "$out"/write_retry.*.heap.pb.gz 2>/dev/null)
  got_alloc=$("$HS" -s alloc_a $heap 2>/dev/null | awk '$1=="stack"{printf "%d", $4}')
  echo "  alloc_a: ${a_bytes:-?} bytes allocated, ${got_alloc:-0} estimated in the profiles"
  check "$name: alloc_a's allocations are in the heap profiles (within 25%)" \
    within "${got_alloc:-0}" "${a_bytes:-1}" "$(( ${a_bytes:-1} / 4 ))"
  check "$name: the failure was said once" [ "$(grep -c 'cannot write profiles' "$WORK/$name.err")" -eq 1 ]
  check "$name: every profile reads with go tool pprof" pprof_reads $cpu $heap
}

# ---- disk full ----------------------------------------------------------------
mkdir -p "$FULL"
if mount -t tmpfs -o size=1m,mode=0755 otprof-test "$FULL" 2>/dev/null; then
  mkdir -p "$FULL/out"
  run_case diskfull "$FULL/out" \
    'dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null; sync' \
    'rm -f "$FULL/filler"'
  umount "$FULL"
else
  echo "  cannot mount a tmpfs here (not root?): the disk-full case is skipped"
fi

# ---- directory gone ---------------------------------------------------------------
run_case dirgone "$WORK/gone/out" \
  'echo "not a directory" > "$WORK/gone"' \
  'rm -f "$WORK/gone"'
# ---- the process's file size limit --------------------------------------------
# Under `ulimit -f 0` a program that writes no file runs; the agent's first
# profile write past the limit raised SIGXFSZ on the writing thread, and its
# default action killed the app (status 153). The limit is lifted from
# outside (prlimit) as the fix.
if [ "$(bash -c 'ulimit -S -f 0 && ulimit -S -f')" = 0 ]; then
  # stderr through a pipe (a cat started before the limit), where the
  # agent's line can be written: to a file it would fail as the app's own.
  RUN_PREFIX=(bash -c 'exec 2> >(cat >&2) && ulimit -S -f 0 && exec "$@"' _)
  run_case filesize "$WORK/fsize/out" 'mkdir -p "$WORK/fsize/out"' 'prlimit --pid "$pid" --fsize=unlimited'
  RUN_PREFIX=()
  check "filesize: the reason is named" grep -q 'RLIMIT_FSIZE' "$WORK/filesize.err"
  # A process that never started the agent's thread (Debian's sha256sum)
  # writes its only profile at exit on its main thread: there the signal
  # killed it before.
  head -c 30000000 /dev/zero > "$WORK/zeros"
  want=$(sha256sum < "$WORK/zeros")
  got=$(bash -c 'ulimit -S -f 0 && exec "$@"' _ env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/fsize2" \
    OTPROF_CPU_FREQUENCY_HZ=1000 LD_PRELOAD="$AGENT" sha256sum < "$WORK/zeros" 2> "$WORK/fsize2.err")
  rc=$?
  check "filesize, exit-time export on the main thread: sha256sum's status and output as bare ($rc)" \
    [ "$rc" -eq 0 -a "$got" = "$want" ]
  check "filesize, exit-time export on the main thread: nothing written" [ -z "$(ls "$WORK/fsize2" 2>/dev/null)" ]
  rm -f "$WORK/zeros"
fi

# The app idles once the directory is back: the kept intervals are written
# all the same (no new sample needed to carry them).
run_case idle "$WORK/gone2/out" \
  'echo "not a directory" > "$WORK/gone2"' \
  'rm -f "$WORK/gone2"' 0
finish
