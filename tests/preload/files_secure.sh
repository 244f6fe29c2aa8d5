# Files the agent writes in a shared output directory, and secure
# execution:
# - a symlink planted at every name the agent may create (each final
#   file name of the run, and the temp names the old scheme used) is never
#   followed: the files it points at stay untouched and the profiles are
#   regular files; an output directory that is a symlink owned by another
#   user is refused;
# - files are 0600 and the directories the agent creates 0700, whatever
#   the umask; export.file_mode = 0640 gives 0640 and 0750;
# - a service name with '/' and spaces still yields profiles (sanitized
#   file name);
# - a setuid copy of a program linked with the agent (AT_SECURE) ignores
#   OTPROF_*, OTEL_* and the otprof.ini beside it: no profile, no line.
source "$(dirname "$0")/../lib.sh"
# all "cond1" "cond2"...: every shell condition holds (for check).
all() { local c; for c in "$@"; do eval "$c" || return 1; done; }
chmod 755 "$WORK" # the setuid case runs as nobody

mode_of() { stat -c %a "$1"; }

# ---- planted symlinks -------------------------------------------------------
# The shell plants the links for its own pid, then execs the app with it
# (the agent only in the app). Two runs: links at the temp names the old
# scheme used (.NAME.tmp.PID, seq 0..9), then links at the final names; a
# name that exists already is never reused (the numbering skips it), so
# the second run must leave its links alone and write after them.
OUT="$WORK/shared"; mkdir -p "$OUT"; chmod 1777 "$OUT"
plant='
  for seq in 0 1 2 3 4 5 6 7 8 9; do
    for kind in cpu heap; do
      name="secure_probe.$$.$seq.$kind.pb.gz"
      victim="$VICTIMS/$$.$seq.$kind"
      printf "precious %s\n" "$name" > "$victim"
      if [ "$WHERE" = tmp ]; then ln -s "$victim" "$OUT/.$name.tmp.$$"; else ln -s "$victim" "$OUT/$name"; fi
    done
  done
  exec env LD_PRELOAD="$AGENT" "$@"'
for where in tmp final; do
  mkdir -p "$WORK/victims.$where"
  VICTIMS="$WORK/victims.$where" OUT="$OUT" WHERE=$where AGENT="$AGENT" env -u OTPROF_CONFIG \
    OTPROF_EXPORT_OUTPUT_DIR="$OUT" OTPROF_EXPORT_INTERVAL_MS=200 \
    sh -c "$plant" sh "$PROGS/secure_probe" 900 > "$WORK/plant.out"
  rc=$?
  check "links at $where names: the app ran (exit status $rc)" [ "$rc" -eq 0 ]
  nvict=$(ls "$WORK/victims.$where" | wc -l)
  touched=$(grep -L '^precious ' "$WORK"/victims.$where/* | wc -l)
  check "links at $where names: all $nvict files they point at are untouched" all '[ "$nvict" -eq 20 ]' '[ "$touched" -eq 0 ]'
  [ "$touched" -eq 0 ] || grep -L '^precious ' "$WORK"/victims.$where/* | head -3 | sed 's/^/  overwritten: /'
  check "links at $where names: every link is still a link" [ "$(find "$OUT" -type l | wc -l)" -eq 20 ]
  find "$OUT" -type l -delete
done
profs=$(find "$OUT" -maxdepth 1 -type f -name 'secure_probe.*.pb.gz' | sort)
nprof=$(wc -w <<<"$profs")
check "profiles were written as regular files ($nprof)" [ "$nprof" -ge 8 ]
check "and they read with go tool pprof" pprof_reads $profs
check "no temp file left behind" [ -z "$(find "$OUT" -maxdepth 1 -name '.*')" ]

# An output directory that is another user's symlink is not followed.
mkdir -p "$WORK/elsewhere"
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
  ln -s "$WORK/elsewhere" "$WORK/linkdir"; chown -h nobody "$WORK/linkdir"
  err=$(env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/linkdir" LD_PRELOAD="$AGENT" \
    "$PROGS/secure_probe" 300 2>&1 >/dev/null)
  check "nothing written through another user's directory symlink" [ -z "$(ls -A "$WORK/elsewhere")" ]
  check "and it says why" grep -q 'symlink owned by another user' <<<"$err"
else
  echo "  not root: the other user's directory symlink case is skipped"
fi
# ... but one's own (or root's) symlink is the user's choice.
ln -s "$WORK/elsewhere" "$WORK/mylink"
env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/mylink" LD_PRELOAD="$AGENT" "$PROGS/secure_probe" 300 >/dev/null
check "one's own directory symlink is followed" [ -n "$(ls "$WORK/elsewhere")" ]

# ---- modes --------------------------------------------------------------------
(umask 000; env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/new/a/b" LD_PRELOAD="$AGENT" \
  "$PROGS/secure_probe" 300 >/dev/null)
f=$(ls "$WORK"/new/a/b/*.pb.gz 2>/dev/null | head -1)
check "files are 0600 under umask 000 ($(mode_of "${f:-/}"))" all '[ -n "$f" ]' '[ "$(mode_of "$f")" = 600 ]'
check "created directories are 0700 ($(mode_of "$WORK/new") $(mode_of "$WORK/new/a") $(mode_of "$WORK/new/a/b"))" \
  [ "$(mode_of "$WORK/new") $(mode_of "$WORK/new/a") $(mode_of "$WORK/new/a/b")" = "700 700 700" ]
(umask 077; env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/grp/x" OTPROF_EXPORT_FILE_MODE=0640 \
  LD_PRELOAD="$AGENT" "$PROGS/secure_probe" 300 >/dev/null)
f=$(ls "$WORK"/grp/x/*.pb.gz 2>/dev/null | head -1)
check "export.file_mode = 0640: files 0640 ($(mode_of "${f:-/}")), directories 0750 ($(mode_of "$WORK/grp/x"))" \
  all '[ -n "$f" ]' '[ "$(mode_of "$f")" = 640 ]' '[ "$(mode_of "$WORK/grp/x")" = 750 ]'

# ---- service name with '/' -----------------------------------------------------
env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/svc" OTPROF_AGENT_SERVICE_NAME="team/api v2" \
  LD_PRELOAD="$AGENT" "$PROGS/secure_probe" 300 >/dev/null
files=$(ls "$WORK"/svc/team_api_v2.*.pb.gz 2>/dev/null)
check "service name 'team/api v2': profiles named team_api_v2.* ($(wc -w <<<"$files"))" [ -n "$files" ]
check "nothing outside the output directory" all '[ ! -e "$WORK/svc/team" ]' '[ ! -e "$WORK/team" ]'
[ -z "$files" ] || check "they read with go tool pprof" pprof_reads $files

# ---- secure execution -----------------------------------------------------------
if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
  echo "  not root (or no user nobody): the setuid case is skipped"
else
  # Linked with the agent (an absolute DT_NEEDED path, which secure
  # execution honours, unlike LD_PRELOAD paths).
  mkdir -p "$WORK/suid"
  cc -O1 -g "$ROOT/tests/progs/secure_probe.c" -o "$WORK/suid/probe" -Wl,--no-as-needed "$AGENT"
  cp "$WORK/suid/probe" "$WORK/suid/probe_suid"
  chown nobody "$WORK/suid/probe_suid"; chmod 4755 "$WORK/suid/probe_suid"
  mkdir -p "$WORK/suid/out" "$WORK/suid/out2"; chmod 1777 "$WORK/suid/out" "$WORK/suid/out2"
  printf '[agent]\nenabled = true\nlog_level = debug\n[export]\noutput_dir = %s\n' "$WORK/suid/out2" \
    > "$WORK/suid/otprof.ini"
  cd "$WORK/suid/out"
  SETTINGS=(OTPROF_AGENT_ENABLED=true OTPROF_AGENT_LOG_LEVEL=debug OTPROF_EXPORT_OUTPUT_DIR="$WORK/suid/out"
            OTEL_SERVICE_NAME=evil OTPROF_SYSTEM_CONFIG="$WORK/suid/otprof.ini")
  out=$(env -u OTPROF_CONFIG "${SETTINGS[@]}" "$WORK/suid/probe_suid" 2> "$WORK/suid.err")
  check "the setuid copy runs under secure execution" grep -q '^secure=1$' <<<"$out"
  check "same output as without the agent" [ "$out" = "$(printf 'secure=1\ndone 1')" ]
  check "no profile from it (OTPROF_*, the file beside it)" \
    all '[ -z "$(ls -A "$WORK/suid/out")" ]' '[ -z "$(ls -A "$WORK/suid/out2")" ]'
  check "and not a line on stderr" [ ! -s "$WORK/suid.err" ]
  head -3 "$WORK/suid.err" | sed 's/^/  stderr: /'
  # The same binary without the setuid bit: profiled as asked.
  out=$(env -u OTPROF_CONFIG "${SETTINGS[@]}" OTPROF_CONFIG=/dev/null "$WORK/suid/probe" 2>/dev/null)
  check "control: not secure, and profiled" all 'grep -q "^secure=0$" <<<"$out"' '[ -n "$(ls -A "$WORK/suid/out")" ]'
  cd "$ROOT"
fi
finish
