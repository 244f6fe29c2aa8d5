#!/usr/bin/env bash
# Config problems under the real agent: a broken OTPROF_CONFIG file, a bad
# OTPROF_ variable and a bad otprof.ini found beside the executable each
# give exactly the expected one-line messages (file:line or variable),
# while the app's stdout and exit status stay exactly as without the agent.
source "$(dirname "$0")/../lib.sh"

# Runs "$@" under the agent (extra VAR=VALUE before --), keeping stdout,
# stderr and the exit status in $WORK/{out.txt,err.txt,rc.txt}.
run() {
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  under_agent "${envs[@]}" -- "$@" > "$WORK/out.txt" 2> "$WORK/err.txt"
  echo $? > "$WORK/rc.txt"
}
same_file() { cmp -s "$1" "$2" || { echo "--- want"; cat "$2"; echo "--- got"; cat "$1"; false; }; }

CFG="$WORK/broken.ini"
cat > "$CFG" <<'EOF'
[cpu]
frequency_hz = 50
max_stack_depth = deep
this is not ini
[export
interval_ms = 1000
EOF
# (line 6 is still in [cpu]: the broken header opened no section)
cat > "$WORK/want_err.txt" <<EOF
otprof: $CFG:3: cpu.max_stack_depth: "deep" is not a number (4..256); using 64
otprof: $CFG:4: syntax error: "this is not ini" is not "key = value" or "[section]"; line ignored
otprof: $CFG:5: syntax error: "[export" has no closing "]"; line ignored
otprof: $CFG:6: unknown key "cpu.interval_ms"; ignored
otprof: OTPROF_CPU_FREQUENCY_HZ: "0" is out of range (1..1000); using 50
EOF

# stdout and status unchanged, messages exact, for a few exit paths.
for cmd in "/bin/echo hello" "/bin/false" "/bin/sh -c 'echo out; exit 7'"; do
  eval "set -- $cmd"
  "$@" > "$WORK/want_out.txt" 2>/dev/null
  want_rc=$?
  run OTPROF_CONFIG="$CFG" OTPROF_CPU_FREQUENCY_HZ=0 -- "$@"
  check "$cmd: stdout unchanged" same_file "$WORK/out.txt" "$WORK/want_out.txt"
  check "$cmd: exit status $want_rc unchanged" [ "$(cat "$WORK/rc.txt")" = "$want_rc" ]
  check "$cmd: exact config messages" same_file "$WORK/err.txt" "$WORK/want_err.txt"
done

# An OTPROF_CONFIG that cannot be read: one line naming it.
run OTPROF_CONFIG="$WORK/missing.ini" -- /bin/echo hello
echo "otprof: OTPROF_CONFIG: cannot read \"$WORK/missing.ini\": No such file or directory; file ignored" \
  > "$WORK/want_err.txt"
check "unreadable OTPROF_CONFIG: one line" same_file "$WORK/err.txt" "$WORK/want_err.txt"
check "unreadable OTPROF_CONFIG: stdout unchanged" [ "$(cat "$WORK/out.txt")" = hello ]

# Unknown keys and variables are warned about, not fatal.
printf '[cpu]\nfrequncy_hz = 10\n' > "$WORK/typo.ini"
run OTPROF_CONFIG="$WORK/typo.ini" OTPROF_MEMORY_SAMPLEBYTES=1 -- /bin/echo hello
cat > "$WORK/want_err.txt" <<EOF
otprof: $WORK/typo.ini:2: unknown key "cpu.frequncy_hz"; ignored
otprof: OTPROF_MEMORY_SAMPLEBYTES: unknown variable; ignored
EOF
check "unknown key and variable: warnings" same_file "$WORK/err.txt" "$WORK/want_err.txt"

# otprof.ini beside the executable (no OTPROF_CONFIG: under_agent unsets it).
mkdir -p "$WORK/bin"
cp /bin/echo "$WORK/bin/myecho"
BIN=$(cd "$WORK/bin" && pwd -P)
printf '; beside the program\n[cpu]\nfrequency_hz = fast\n' > "$BIN/otprof.ini"
run -- "$BIN/myecho" hi
echo "otprof: $BIN/otprof.ini:3: cpu.frequency_hz: \"fast\" is not a number (1..1000); using 100" \
  > "$WORK/want_err.txt"
check "exe-dir otprof.ini: message names it" same_file "$WORK/err.txt" "$WORK/want_err.txt"
check "exe-dir otprof.ini: stdout unchanged" [ "$(cat "$WORK/out.txt")" = hi ]
check "exe-dir otprof.ini: exit status 0" [ "$(cat "$WORK/rc.txt")" = 0 ]
# The directory is the executable's, found without /proc where the path
# it was run by is certainly the executable: through a symlinked
# directory the same file is read; a symlink to the program in another
# directory, or a script (its process is the interpreter's), does not
# make the file beside the link or the script count.
ln -s "$BIN" "$WORK/bindir"
run -- "$WORK/bindir/myecho" hi
check "exe-dir otprof.ini through a symlinked directory: read" \
  grep -q '^otprof: .*/otprof.ini:3: cpu.frequency_hz: "fast" is not a number' "$WORK/err.txt"
mkdir -p "$WORK/elsewhere"
ln -s "$BIN/myecho" "$WORK/elsewhere/myecho"
printf '[cpu]\nfrequency_hz = slow\n' > "$WORK/elsewhere/otprof.ini"
run -- "$WORK/elsewhere/myecho" hi
check "a symlink to the program: the file beside the program is read, not the one beside the link" \
  same_file "$WORK/err.txt" "$WORK/want_err.txt"
printf '#!/bin/sh\necho script\n' > "$WORK/elsewhere/s.sh"; chmod +x "$WORK/elsewhere/s.sh"
run -- "$WORK/elsewhere/s.sh"
check "a script: the file beside the script is not the interpreter's" \
  [ ! -s "$WORK/err.txt" -a "$(cat "$WORK/out.txt")" = script ]
# OTPROF_CONFIG replaces the exe-dir file entirely.
run OTPROF_CONFIG=/dev/null -- "$BIN/myecho" hi
check "OTPROF_CONFIG set: exe-dir otprof.ini ignored" [ ! -s "$WORK/err.txt" ]

# The shipped otprof.ini loads without a word.
run OTPROF_CONFIG="$ROOT/otprof.ini" -- /bin/echo hello
check "shipped otprof.ini: no messages" [ ! -s "$WORK/err.txt" ]

# agent.enabled = false: nothing said, nothing written.
rm -rf "$WORK/out"
run OTPROF_AGENT_ENABLED=false -- /bin/echo hello
check "disabled: no messages" [ ! -s "$WORK/err.txt" ]
check "disabled: stdout unchanged" [ "$(cat "$WORK/out.txt")" = hello ]
check "disabled: no output written" [ ! -e "$WORK/out" ]

finish
