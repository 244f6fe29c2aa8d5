# A relative export.output_dir (the default ./otprof-out is one) names a
# directory under the one the process started in, for its whole run: a
# shell that changes directory, or a daemon's chdir, does not scatter
# its profiles, nor make directories, where it happens to be at each
# export (the previous build wrote into the directory it was in at exit).
# A fork child keeps its parent's; an exec'd program that starts
# elsewhere takes its own starting directory.
source "$(dirname "$0")/../lib.sh"

mkdir -p "$WORK/start" "$WORK/elsewhere"
cd "$WORK/start" || exit 1
# 300000 loop steps: well over a CPU sample of bash's.
env OTPROF_EXPORT_OUTPUT_DIR=rel LD_PRELOAD="$AGENT" bash -c \
  'cd "$1"; for ((i = 0; i < 300000; i++)); do :; done; (for ((i = 0; i < 300000; i++)); do :; done); cd /' _ "$WORK/elsewhere"
cd "$ROOT" || exit 1
started=$(ls "$WORK/start/rel" 2>/dev/null | grep -c '^bash\..*\.cpu\.pb\.gz$')
pids=$(ls "$WORK/start/rel" 2>/dev/null | grep '^bash\..*\.cpu\.pb\.gz$' | cut -d. -f2 | sort -u | wc -l)
check "bash's profiles are under its starting directory ($started CPU profiles, $pids processes: bash and its subshell)" \
  [ "$pids" -eq 2 ]
check "nothing was made where it went (elsewhere: $(ls -A "$WORK/elsewhere" | tr '\n' ' '))" [ -z "$(ls -A "$WORK/elsewhere")" ]
check "nor in / (where it ended)" [ ! -e /rel ]
# An exec'd program anchors its own: started in elsewhere/, it writes there.
cd "$WORK/start" || exit 1
env OTPROF_EXPORT_OUTPUT_DIR=./rel LD_PRELOAD="$AGENT" bash -c \
  'cd "$1" && exec "$2" 1 0.3 0.5 >/dev/null' _ "$WORK/elsewhere" "$PROGS/cpu_split"
cd "$ROOT" || exit 1
check "an exec'd program writes under the directory it started in" \
  bash -c 'ls "$1"/rel/cpu_split.*.cpu.pb.gz >/dev/null 2>&1' _ "$WORK/elsewhere"
finish
