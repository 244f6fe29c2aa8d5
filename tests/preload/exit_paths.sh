# Processes that end with _exit, _Exit, syscall(SYS_exit_group) or
# quick_exit (no destructors)
# export what they sampled first, with their exit status and output
# unchanged; a vfork child's _exit goes straight through. quick_exit
# reaches _Exit inside the C library, past the _Exit wrapper: its whole
# profile was lost. An exec ends the image without destructors too:
# execveat() and syscall(SYS_execve) went past the exec wrappers, and
# what the image sampled was lost.
source "$(dirname "$0")/../lib.sh"

for mode in _exit _Exit sys_exit_group quick_exit execveat sys_execve child vfork; do
  rm -rf "$WORK/out"
  same_as_bare "$mode" "$PROGS/exit_paths" "$mode"
  [ "$mode" = vfork ] && continue
  files=$(ls "$WORK"/out/exit_paths.*.cpu.pb.gz 2> /dev/null)
  ms=0
  for f in $files; do
    ms=$(awk -v a="$ms" -v b="$(pprof_total_ms "$f")" 'BEGIN { print a + (b == "" ? 0 : b) }')
  done
  # 0.5 s of CPU burnt before the _exit or exec (both runs of same_as_bare write).
  check "$mode: ${ms} ms of the 500 ms burnt before it in the profile (>= 400)" \
    awk -v m="$ms" 'BEGIN { exit !(m >= 400) }'
done
finish
