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
# Numbering. The directory is not listed at every process's first export
# (at 10000 files that was 5 ms of each process's exit): an exec'd image
# starts at 0 and moves past the files of its pid only when a name it is
# about to write is taken. Here the shell leaves a file where the exec'd
# program's second interval would go; it must survive, and the program
# must go on after it.
mkdir -p "$WORK/num"
env OTPROF_EXPORT_OUTPUT_DIR="$WORK/num" OTPROF_EXPORT_INTERVAL_MS=300 LD_PRELOAD="$AGENT" bash -c \
  'echo precious > "$1/cpu_split.$$.1.cpu.pb.gz"; exec "$2" 1 1.5 0.5 >/dev/null' _ "$WORK/num" "$PROGS/cpu_split"
mine=$(ls "$WORK/num" | grep '^cpu_split\.' | sort -t. -k3,3n | tr '\n' ' ')
echo "  exec'd image's files: $mine"
check "a taken name is not overwritten" grep -qx precious "$WORK"/num/cpu_split.*.1.cpu.pb.gz
n0=$(ls "$WORK"/num/cpu_split.*.0.cpu.pb.gz 2>/dev/null | wc -l)
nlater=$(ls "$WORK/num" | grep -cE '^cpu_split\.[0-9]+\.([2-9]|[1-9][0-9]+)\.cpu\.pb\.gz$')
check "numbering went on past it (seq 0, then $nlater files after 1)" [ "$n0" -eq 1 -a "$nlater" -ge 2 ]
check "every file of the exec'd image but the planted one is a profile" \
  bash -c 'for f in "$1"/cpu_split.*.pb.gz; do case $f in *.1.cpu.pb.gz) continue;; esac; go tool pprof -raw "$f" >/dev/null 2>&1 || exit 1; done' _ "$WORK/num"
# And a process whose names are free does not list the directory, however
# many files it holds (no getdents64 on it: the agent lists no other
# directory in a process that starts single-threaded).
mkdir -p "$WORK/many"
for i in $(seq 1 300); do : > "$WORK/many/other.$i.0.cpu.pb.gz"; done
env OTPROF_EXPORT_OUTPUT_DIR="$WORK/many" LD_PRELOAD="$AGENT" strace -f -qq -e trace=getdents64 -o "$WORK/st" \
  "$PROGS/cpu_split" 1 0.3 0.5 >/dev/null 2>&1
check "the profile was written" bash -c 'ls "$1"/cpu_split.*.0.cpu.pb.gz >/dev/null 2>&1' _ "$WORK/many"
check "the output directory was not listed ($(grep -c getdents64 "$WORK/st") getdents64 calls)" \
  [ "$(grep -c getdents64 "$WORK/st")" -eq 0 ]
finish
