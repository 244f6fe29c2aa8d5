# The agent keeps no file descriptor of its own in the app: the app can
# open as many files as without it, sees the same descriptors, and the
# numbers it takes over are its alone. libunwind kept a pipe (two
# descriptors) for its memory checks: a shell that ran `exec 4>file`
# after a few samples could have libunwind's bytes written into the file,
# or its descriptor closed under it.
source "$(dirname "$0")/../lib.sh"
AGENT_SETTINGS=(OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_MEMORY_SAMPLE_BYTES=4096)
PY=/usr/bin/python3
cat > "$WORK/fds.py" <<'PYW'
import os
s = sum(i * i for i in range(2 * 10**6))   # samples taken: the unwinder is in use
x = [bytearray(300) for i in range(20000)]
print(sorted(int(f) for f in os.listdir('/proc/self/fd')))
fds = []
try:
    while True:
        fds.append(os.open('/dev/null', os.O_RDONLY))
except OSError as e:
    print(len(fds), e.errno)
for f in fds:
    os.close(f)
PYW
limited=(bash -c 'ulimit -n 64; exec "$@"' _)
same_as_bare "Python lists its descriptors and opens files up to its limit of 64" "${limited[@]}" "$PY" "$WORK/fds.py"
echo "  bare: $("${limited[@]}" "$PY" "$WORK/fds.py" | tr '\n' ' ')"

# bash takes fds 3-5 after the unwinder has been used, then writes to
# them while samples keep being taken (with the pipe, one run in four
# lost a line and wrote to a closed descriptor).
cat > "$WORK/fd345.sh" <<'SH'
n=0; while [ $n -lt 60000 ]; do n=$((n + 1)); done
exec 3> "$1.3" 4> "$1.4" 5> "$1.5"
echo hello >&3; echo hello >&4; echo hello >&5
n=0; while [ $n -lt 300000 ]; do n=$((n + 1)); done
echo bye >&3; echo bye >&4; echo bye >&5
exec 3>&- 4>&- 5>&-
cat "$1.3" "$1.4" "$1.5" | od -An -c | tr -s ' \n' ' '
SH
same_as_bare "bash's own fds 3-5: its files hold exactly what it wrote" bash "$WORK/fd345.sh" "$WORK/f"
check "bash's files, under the agent: hello and bye in each" \
  [ "$(cat "$WORK"/f.3 "$WORK"/f.4 "$WORK"/f.5 | tr '\n' ' ')" = "hello bye hello bye hello bye " ]
check "the bash run was sampled" [ -n "$(ls "$WORK"/out/bash.*.cpu.pb.gz 2> /dev/null)" ]
# A program with DWARF gets its source lines at each export, and keeps no
# descriptor of the file for it (libdw held one for the whole run, opened
# without O_CLOEXEC).
rm -rf "$WORK/out"
under_agent OTPROF_EXPORT_INTERVAL_MS=300 -- "$PROGS/cpu_split" 2 2 0.5 > /dev/null &
app=$!
held=$(fd_looks "$app" cpu_split 8 0.2 'cpu_split')
wait "$app"
lines=$(go tool pprof -top -lines $(ls -S "$WORK"/out/cpu_split.*.cpu.pb.gz | head -1) 2> /dev/null | grep -c 'cpu_split.c:')
check "cpu_split's profiles name source lines ($lines)" [ "$lines" -gt 0 ]
# (One held for the run shows in every look after the first export; an
# export's own reads of the file, for milliseconds, in a look now and then
# on a slow machine.)
check "no descriptor of cpu_split's own file held: seen in $held of 8 looks meanwhile (at most 2)" [ "$held" -le 2 ]
finish
