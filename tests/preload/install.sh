#!/usr/bin/env bash
# make install (staged and live), make uninstall, make deb with dpkg, and
# the otprof command: run, config (each layer and its origin), --version,
# --help and usage errors. The live install and the package run only as
# root and only when no otprof is installed already; they are undone on
# exit whatever happens.
source "$(dirname "$0")/../lib.sh"
OTPROF="$BUILD/otprof"
VERSION=$(sed -n 's/^#define OTP_VERSION "\(.*\)"/\1/p' "$ROOT/agent/internal.h")
PROG="$PROGS/cpu_split"
mk() { make -s -C "$ROOT" BUILD="$BUILD" "$@"; }
# Keys of otprof.ini, as section.key.
ini_keys() {
  awk '/^\[/ { s = substr($0, 2, index($0, "]") - 2); next }
       s != "" && /^[A-Za-z_]+[ \t]*=/ { k = $0; sub(/[ \t]*=.*/, "", k); print s "." k }' "$ROOT/otprof.ini"
}
NKEYS=$(ini_keys | wc -l)
# one_profile DIR [SERVICE]: exactly one CPU profile of the app ($PROG, or
# the service it was named) there, readable by pprof. Only the app's: a
# process that ran before it (env, which execs it under /etc/ld.so.preload)
# may have taken a sample too.
one_profile() { local f; f=$(ls "$1"/"${2:-$(basename "$PROG")}".*.cpu.pb.gz 2>/dev/null); [ "$(echo "$f" | grep -c .)" -eq 1 ] && pprof_reads $f; }

# ---- staged install: the layout, file by file -------------------------------
stage="$WORK/stage"
mk install DESTDIR="$stage" > "$WORK/install.log" 2>&1
check "staged install succeeds" [ $? -eq 0 ]
got=$(cd "$stage" && find . \( -type f -o -type l \) -printf '%p %m\n' | sort)
want=$(printf '%s\n' "./etc/otprof.ini 644" "./usr/local/bin/otprof 755" \
  "./usr/local/include/otprof.h 644" "./usr/local/lib/libotprof_agent.so 644" \
  "./usr/local/lib/libotprof_engine.so 644" \
  "./usr/local/lib/pkgconfig/otprof.pc 644" "./usr/local/share/man/man1/otprof.1 644")
check "staged install: exactly the 7 files, with their modes" [ "$got" = "$want" ]
[ "$got" = "$want" ] || diff <(echo "$want") <(echo "$got")
check "staged install: agent, engine, command and header are the built ones" \
  bash -c 'cmp -s "$1" "$2/lib/libotprof_agent.so" && cmp -s "$5" "$2/lib/libotprof_engine.so" && cmp -s "$3" "$2/bin/otprof" && cmp -s "$4" "$2/include/otprof.h"' \
  _ "$AGENT" "$stage/usr/local" "$OTPROF" "$ROOT/agent/otprof.h" "$ENGINE"
pc() { PKG_CONFIG_PATH="$stage/usr/local/lib/pkgconfig" pkg-config "$@" otprof; }
check "otprof.pc: version $VERSION, -I/usr/local/include, agent variable" \
  [ "$(pc --modversion)" = "$VERSION" -a "$(echo $(pc --cflags))" = "-I/usr/local/include" \
    -a "$(pc --variable=agent)" = "/usr/local/lib/libotprof_agent.so" ]
man1="$stage/usr/local/share/man/man1/otprof.1"
check "man page: groff reports no warnings" [ -z "$(groff -man -ww -z "$man1" 2>&1)" ]
mantext=$(MANWIDTH=200 man -l "$man1" 2>/dev/null)
missing=0
for k in $(ini_keys); do
  v=$(echo "$mantext" | grep -c "^ *$k = ") || true
  var=OTPROF_$(echo "$k" | tr 'a-z.' 'A-Z_')
  [ "$v" -eq 1 ] && echo "$mantext" | grep -q "Variable: $var\." || { echo "  man page lacks $k / $var"; missing=$((missing + 1)); }
done
check "man page documents all $NKEYS settings of otprof.ini with their variables" [ "$missing" -eq 0 -a "$NKEYS" -ge 20 ]
check "man page documents run, config, --version" \
  bash -c 'grep -q "^       run " <<<"$1" && grep -q "^       config" <<<"$1" && grep -q -- "--version" <<<"$1"' _ "$mantext"
sysini="$stage/etc/otprof.ini"
check "system otprof.ini: all $NKEYS keys present, every one commented out" \
  [ "$(grep -cE '^;[A-Za-z_]+ *=' "$sysini")" -eq "$NKEYS" -a "$(grep -cE '^[A-Za-z_]+ *=' "$sysini")" -eq 0 ]
nondef=$(OTPROF_SYSTEM_CONFIG="$sysini" "$OTPROF" config 2>&1 | grep ' ; ' | grep -vc '; default$')
check "the installed system file as shipped changes no setting" [ "$nondef" -eq 0 ]

# An edited /etc/otprof.ini survives reinstall and uninstall; the rest goes.
echo "[cpu]" >> "$sysini"
mk install DESTDIR="$stage" > "$WORK/install2.log" 2>&1
check "reinstall keeps an edited system file" bash -c 'tail -1 "$1" | grep -qx "\[cpu\]" && grep -q "exists; kept" "$2"' _ "$sysini" "$WORK/install2.log"
mk uninstall DESTDIR="$stage" > /dev/null 2>&1
check "uninstall removes everything but the edited system file" \
  [ "$(cd "$stage" && find . -type f)" = "./etc/otprof.ini" ]
mk install DESTDIR="$stage" > /dev/null 2>&1; rm -f "$sysini"; mk install DESTDIR="$stage" > /dev/null 2>&1
mk uninstall DESTDIR="$stage" > /dev/null 2>&1
check "uninstall of an unedited install leaves no file" [ -z "$(find "$stage" -type f)" ]

# A prefix of its own, installed as to the live system (no DESTDIR):
# uninstall removes the files and every directory install created.
pfx="$WORK/prefix/p"; mkdir -p "$WORK/prefix"
mk install PREFIX="$pfx" SYSCONFDIR="$pfx/etc" > "$WORK/pfx.log" 2>&1
check "make install PREFIX=...: 8 files (the 7 and the created-dirs record)" \
  [ "$(find "$pfx" -type f | wc -l)" -eq 8 -a -f "$pfx/share/otprof/created-dirs" ]
mk uninstall PREFIX="$pfx" SYSCONFDIR="$pfx/etc" > /dev/null 2>&1
check "make uninstall PREFIX=...: removes the directories it created, keeps the one before" \
  [ ! -e "$pfx" -a -d "$WORK/prefix" ]

# ---- otprof --version, --help, usage errors ---------------------------------
check "otprof --version prints $VERSION" [ "$("$OTPROF" --version)" = "otprof $VERSION" ]
for h in "--help" "run --help" "config --help" "help run" "help config"; do
  # shellcheck disable=SC2086
  out=$("$OTPROF" $h 2>&1); rc=$?
  check "otprof $h: exit 0, usage shown" bash -c '[ "$1" -eq 0 ] && grep -q "^usage: otprof" <<<"$2"' _ $rc "$out"
done
bad_usage() {
  local out err rc
  out=$("$OTPROF" "$@" 2>"$WORK/err"); rc=$?; err=$(cat "$WORK/err")
  [ "$rc" -eq 2 ] && [ -z "$out" ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && [[ "$err" == otprof:* ]] ||
    { echo "  otprof $*: rc=$rc out=[$out] err=[$err]"; return 1; }
}
for u in "" "bogus" "--bogus" "run" "run --" "run -x -- true" "config -q" "config a b" "help bogus"; do
  # shellcheck disable=SC2086
  check "otprof $u: exit 2, one 'otprof:' line on stderr" bad_usage $u
done

# ---- otprof run ---------------------------------------------------------------
cd "$WORK" || exit 1
"$OTPROF" run OTEL_SERVICE_NAME=runsvc OTPROF_EXPORT_OUTPUT_DIR="$WORK/run" -- "$PROG" 1 0.3 > "$WORK/run.out" 2>&1
check "otprof run: the command's exit status" [ $? -eq 0 ]
check "otprof run: VAR=VALUE applied, one readable profile named after the service" \
  bash -c 'ls "$1"/runsvc.*.cpu.pb.gz >/dev/null 2>&1' _ "$WORK/run"
check "otprof run: the profile reads" one_profile "$WORK/run" runsvc
check "otprof run: nothing said for a program the agent loads into" [ -z "$(grep '^otprof: run:' "$WORK/run.out")" ]
# Programs the loader does not preload into (statically linked: Debian's
# ldconfig; setuid to another user) run unprofiled: one line says so.
err=$("$OTPROF" run OTPROF_EXPORT_OUTPUT_DIR="$WORK/static" -- /sbin/ldconfig -p 2>&1 >/dev/null); rc=$?
check "otprof run of a static program: its status ($rc), one line says it runs unprofiled ($err)" \
  [ "$rc" -eq 0 -a "$err" = "otprof: run: /sbin/ldconfig is statically linked: the agent cannot be loaded into it, so it runs unprofiled" ]
if [ "$(id -u)" -eq 0 ] && id nobody > /dev/null 2>&1; then
  mkdir -p "$WORK/suidrun" && cp /bin/true "$WORK/suidrun/t" && chown nobody "$WORK/suidrun/t" && chmod 4755 "$WORK/suidrun/t"
  err=$("$OTPROF" run -- "$WORK/suidrun/t" 2>&1); rc=$?
  check "otprof run of a setuid program: its status ($rc), one line says it runs unprofiled" \
    [ "$rc" -eq 0 -a "$(grep -c '^otprof: run: .*/t is setuid: .*unprofiled$' <<<"$err")" -eq 1 -a "$(wc -l <<<"$err")" -eq 1 ]
fi
"$OTPROF" run -- sh -c 'exit 7'; rc=$?
check "otprof run: exit status 7 passed through" [ "$rc" -eq 7 ]
pre=$(LD_PRELOAD=libc.so.6 "$OTPROF" run -- printenv LD_PRELOAD)
check "otprof run: agent's absolute path first in LD_PRELOAD, the app's kept" [ "$pre" = "$(realpath "$AGENT") libc.so.6" ]
OTPROF_AGENT_PATH=/nonexistent/x.so "$OTPROF" run -- true 2>"$WORK/err"; rc=$?
check "otprof run without an agent: 127 and one line" [ "$rc" -eq 127 -a "$(wc -l < "$WORK/err")" -eq 1 ]
"$OTPROF" run -- /nonexistent/prog 2>/dev/null; rc=$?
check "otprof run of a missing command: 127" [ "$rc" -eq 127 ]
out=$("$ROOT/scripts/otprof-run" OTPROF_EXPORT_OUTPUT_DIR="$WORK/wrap" -- "$PROG" 1 0.2 2>&1)
check "scripts/otprof-run still works (a wrapper of otprof run)" one_profile "$WORK/wrap"

# ---- otprof config: each layer and its origin ----------------------------------
mkdir -p "$WORK/app"
cp "$PROG" "$WORK/app/myapp"
printf '[cpu]\nfrequency_hz = 250\nmax_stack_depth = 40\n[export]\ninterval_ms = 2000\n' > "$WORK/app/otprof.ini"
printf '[memory]\nsample_bytes = 4096\n[cpu]\nfrequency_hz = 50\n[export]\ntimeout_ms = 777\nshutdown_timeout_ms = 1500\n' > "$WORK/sys.ini"
cfg=$(env -u OTPROF_CONFIG OTPROF_SYSTEM_CONFIG="$WORK/sys.ini" PATH="$WORK/app:$PATH" \
  "$OTPROF" config OTPROF_CPU_MAX_STACK_DEPTH=32 OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=900 \
  OTEL_EXPORTER_OTLP_ENDPOINT=http://user:pw@collector:4318 OTEL_EXPORTER_OTLP_HEADERS=api-key=s3cret \
  OTEL_SERVICE_NAME=cfgsvc OTEL_EXPORTER_OTLP_TIMEOUT=5000 -- myapp 2>"$WORK/cfg.err")
# line SECTION.KEY: that key's line of the config output, spaces squeezed.
line() {
  echo "$cfg" | awk -v want="$1" '/^\[/ { s = substr($0, 2, index($0, "]") - 2); next }
    { k = $1 } s "." k == want { sub(/  *;/, " ;"); print }'
}
expect() { local got; got=$(line "$1"); [ "$got" = "$2" ] || { echo "  $1: got [$got], want [$2]"; return 1; }; }
check "config: header names the resolved program" bash -c 'head -1 <<<"$1" | grep -q "settings for $2$"' _ "$cfg" "$WORK/app/myapp"
check "config: default" expect agent.enabled "enabled = true ; default"
check "config: system file, with line" expect memory.sample_bytes "sample_bytes = 4096 ; system file: $WORK/sys.ini:2"
check "config: file beside the binary wins over the system file" \
  expect cpu.frequency_hz "frequency_hz = 250 ; file: $WORK/app/otprof.ini:2"
check "config: OTPROF_* wins over the file" \
  expect cpu.max_stack_depth "max_stack_depth = 32 ; environment: OTPROF_CPU_MAX_STACK_DEPTH"
check "config: OTPROF_* wins over the system file" \
  expect export.shutdown_timeout_ms "shutdown_timeout_ms = 900 ; environment: OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS"
check "config: OTEL_* fills an unset key" expect agent.service_name "service_name = cfgsvc ; OTEL environment: OTEL_SERVICE_NAME"
check "config: the system file wins over OTEL_*" expect export.timeout_ms "timeout_ms = 777 ; system file: $WORK/sys.ini:6"
check "config: endpoint userinfo redacted" \
  expect export.endpoint "endpoint = http://<redacted>@collector:4318 ; OTEL environment: OTEL_EXPORTER_OTLP_ENDPOINT"
check "config: header values redacted" bash -c '! grep -q s3cret <<<"$1" && grep -q "^headers = api-key=<redacted> " <<<"$1"' _ "$cfg"
check "config: every key listed once" [ "$(echo "$cfg" | grep -c ' ; ')" -eq "$NKEYS" ]
check "config: no problems reported" [ ! -s "$WORK/cfg.err" ]
cfg=$(env -u OTPROF_CONFIG OTPROF_SYSTEM_CONFIG=/nonexistent "$OTPROF" config -- "$WORK/app/myapp" 2>&1)
check "config: default service name is the program's" expect agent.service_name "service_name = myapp ; default"
printf '[export]\ninterval_ms = 3000\n' > "$WORK/named.ini"
cfg=$(OTPROF_SYSTEM_CONFIG=/nonexistent OTPROF_CONFIG="$WORK/named.ini" "$OTPROF" config -- "$WORK/app/myapp" 2>&1)
check "config: OTPROF_CONFIG's file replaces the one beside the binary" \
  bash -c '[ "$1" = "interval_ms = 3000 ; file: $2:2" ] && grep -q "^frequency_hz = 100 *; default$" <<<"$3"' \
  _ "$(line export.interval_ms)" "$WORK/named.ini" "$cfg"
printf '[cpu]\nfrequency_hz = fast\n' > "$WORK/bad.ini"
cfg=$(OTPROF_SYSTEM_CONFIG="$WORK/bad.ini" "$OTPROF" config 2>"$WORK/cfg.err")
check "config: a bad value is reported on stderr as the agent does, default shown" \
  bash -c 'grep -q "^otprof: .*bad.ini:2: cpu.frequency_hz: \"fast\" is not a number" "$1" && grep -q "^frequency_hz = 100 *; default$" <<<"$2"' \
  _ "$WORK/cfg.err" "$cfg"
if [ "$(id -u)" -eq 0 ] && id nobody > /dev/null 2>&1; then
  cp "$PROG" "$WORK/app/suid"; chown nobody "$WORK/app/suid"; chmod 4755 "$WORK/app/suid"
  cfg=$(OTPROF_SYSTEM_CONFIG="$WORK/sys.ini" "$OTPROF" config OTPROF_CPU_FREQUENCY_HZ=7 -- "$WORK/app/suid" 2>/dev/null)
  check "config of a setuid program: secure execution, environment ignored, agent off" \
    bash -c 'grep -q "^; setuid: secure execution" <<<"$1" && grep -q "^frequency_hz = 100 *; default$" <<<"$1" && grep -q "^enabled = false" <<<"$1"' _ "$cfg"
fi

# ---- README recipe: the systemd drop-in is valid --------------------------------
if command -v systemd-analyze > /dev/null; then
  mkdir -p "$WORK/units/myapp.service.d"
  printf '[Unit]\nDescription=t\n[Service]\nExecStart=/bin/true\n' > "$WORK/units/myapp.service"
  awk '/^    \[Service\]$/ { on = 1 } on && /^    / { sub(/^    /, ""); print; next } on { exit }' \
    "$ROOT/README.md" > "$WORK/units/myapp.service.d/otprof.conf"
  out=$(cd "$WORK/units" && SYSTEMD_UNIT_PATH="$WORK/units:" systemd-analyze verify myapp.service 2>&1)
  check "README's systemd drop-in: preloads by bare name and systemd-analyze verify accepts it" \
    bash -c 'grep -qx "Environment=LD_PRELOAD=libotprof_agent.so" "$1" && [ -z "$2" ]' _ "$WORK/units/myapp.service.d/otprof.conf" "$out"
  [ -z "$out" ] || echo "$out" | head -3
else
  echo "SKIP: $T_NAME: no systemd-analyze; README's drop-in not verified"
fi

# ---- live install and the Debian package (root only) ----------------------------
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: $T_NAME: live make install and dpkg need root"
  finish
fi
if ls /usr/local/lib/libotprof_agent.so /usr/local/bin/otprof > /dev/null 2>&1 ||
   dpkg-query -W otprof > /dev/null 2>&1 || ldconfig -p | grep -q libotprof_agent; then
  echo "SKIP: $T_NAME: an otprof is installed on this host already; live install and dpkg not tried"
  finish
fi
snapshot() { { find /usr/local -xdev 2>/dev/null; ls /etc/otprof.ini 2>/dev/null; } | sort; }
before=$(snapshot)
had_etc=$([ -e /etc/otprof.ini ] && echo 1 || echo 0)
cleanup_live() { mk uninstall > /dev/null 2>&1; dpkg -P otprof > /dev/null 2>&1; }
trap 'cleanup_live; if [ "$T_FAILS" -eq 0 ]; then rm -rf "$WORK"; else echo "  (kept $WORK)"; fi' EXIT

mkdir -p "$WORK/elsewhere"; cd "$WORK/elsewhere" || exit 1
mk install > "$WORK/live.log" 2>&1
check "live make install succeeds (ran ldconfig)" bash -c '[ $1 -eq 0 ] && grep -qx ldconfig "$2"' _ $? "$WORK/live.log"
check "live: loader knows libotprof_agent.so by bare name" bash -c 'ldconfig -p | grep -q "libotprof_agent.so .*=> /usr/local/lib/libotprof_agent.so"'
LD_PRELOAD=libotprof_agent.so OTPROF_EXPORT_OUTPUT_DIR="$WORK/live" "$PROG" 1 0.3 > /dev/null 2>"$WORK/live.err"
check "live: LD_PRELOAD=libotprof_agent.so from another directory writes a profile" one_profile "$WORK/live"
check "live: no loader complaint" [ ! -s "$WORK/live.err" ]
check "live: otprof in PATH, man otprof found, pkg-config finds otprof" \
  bash -c '[ "$(/usr/local/bin/otprof --version)" = "otprof $1" ] && [ "$(realpath "$(man -w otprof)")" = /usr/local/share/man/man1/otprof.1 ] && [ "$(pkg-config --modversion otprof)" = "$1" ]' _ "$VERSION"
/usr/local/bin/otprof run OTPROF_EXPORT_OUTPUT_DIR="$WORK/live2" -- "$PROG" 1 0.2 > /dev/null 2>&1
check "live: installed otprof run finds the installed agent" one_profile "$WORK/live2"
mk uninstall > /dev/null 2>&1
check "live make uninstall leaves nothing behind, no directory either" [ "$(snapshot)" = "$before" ]
[ "$(snapshot)" = "$before" ] || diff <(echo "$before") <(snapshot)
check "live: the loader forgot the agent" bash -c '! ldconfig -p | grep -q libotprof_agent'

start=$SECONDS
mk deb > "$WORK/deb.log" 2>&1
deb="$BUILD/otprof_${VERSION}_$(dpkg --print-architecture).deb"
check "make deb builds $(basename "$deb") ($((SECONDS - start)) s)" [ -f "$deb" ]
depends=$(dpkg-deb -f "$deb" Depends)
glibc=$(objdump -T "$AGENT" "$OTPROF" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
check "deb: Depends has libc6 (>= $glibc)" bash -c 'grep -qF "libc6 (>= $2)" <<<"$1"' _ "$depends" "$glibc"
# Every library the agent links or dlopens by soname must come from a
# package in Depends (ldd does not show the dlopened ones).
# (RTLD_NOLOAD opens only look for what the app loaded itself.)
sonames=$( { grep -h 'dlopen("lib' "$ROOT"/agent/*.c "$ROOT"/preload/*.c | grep -v RTLD_NOLOAD |
               grep -o 'dlopen("[^"]*"' | sed 's/dlopen("\([^"]*\)"/\1/';
             readelf -d "$AGENT" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'; } | sort -u)
nodep=0
for so in $sonames; do
  [ "$so" = ld-linux-x86-64.so.2 ] && continue
  pkg=$(dpkg -S "*/$(gcc -print-multiarch)/$so" 2>/dev/null | head -1 | cut -d: -f1)
  [ -n "$pkg" ] && grep -qE "(^|, )$(sed 's/[+.]/\\&/g' <<<"$pkg")( |,|\$)" <<<"$depends" || { echo "  $so (package ${pkg:-?}) not in Depends: $depends"; nodep=$((nodep + 1)); }
done
check "deb: Depends covers every linked and dlopened library ($(echo $sonames))" [ "$nodep" -eq 0 -a -n "$sonames" ]
check "deb: /etc/otprof.ini is a conffile" bash -c 'dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles | grep -qx /etc/otprof.ini' _ "$deb"
dpkg -i "$deb" > "$WORK/dpkg.log" 2>&1
check "dpkg -i succeeds" [ $? -eq 0 ]
check "deb: agent in the multiarch directory, known to the loader" \
  bash -c 'ldconfig -p | grep -q "libotprof_agent.so .*=> /.*lib/x86_64-linux-gnu/libotprof_agent.so"'
LD_PRELOAD=libotprof_agent.so OTPROF_EXPORT_OUTPUT_DIR="$WORK/deb" "$PROG" 1 0.3 > /dev/null 2>"$WORK/deb.err"
check "deb: bare-name preload writes a profile" one_profile "$WORK/deb"
check "deb: no loader complaint" [ ! -s "$WORK/deb.err" ]
/usr/bin/otprof run OTPROF_EXPORT_OUTPUT_DIR="$WORK/deb2" -- "$PROG" 1 0.2 > /dev/null 2>&1
check "deb: /usr/bin/otprof run finds the agent" one_profile "$WORK/deb2"
# README's /etc/ld.so.preload line, in a private mount namespace over an
# overlay of /etc: the host's own /etc is never touched.
line=$(grep -o 'echo /usr/lib/x86_64-linux-gnu/libotprof_agent.so >> /etc/ld.so.preload' "$ROOT/README.md")
host_preload=$(cat /etc/ld.so.preload 2>/dev/null | md5sum)
mkdir -p "$WORK/ov/up" "$WORK/ov/wk" "$WORK/ovout"; chmod 1777 "$WORK/ovout"
if [ -n "$line" ] && unshare -m sh -c "mount -t overlay overlay -o lowerdir=/etc,upperdir=$WORK/ov/up,workdir=$WORK/ov/wk /etc" 2>/dev/null; then
  # Run from a directory nobody may write in: the shell su starts as
  # nobody is profiled too, and one that took a sample writes its profile
  # there (rather than warn that it cannot write to root's).
  nb=$(mktemp -d /tmp/otprof-nobody.XXXXXX); chmod 1777 "$nb"
  bare=$(cd "$nb" && su nobody -s /bin/sh -c "passwd -S nobody" 2>&1; echo "rc=$?")
  unshare -m sh -c "mount -t overlay overlay -o lowerdir=/etc,upperdir=$WORK/ov/up,workdir=$WORK/ov/wk /etc && $line &&
    cd '$WORK/ovout' && env -i PATH=/usr/bin:/bin '$PROG' 1 0.3 > /dev/null &&
    cd '$nb' && su nobody -s /bin/sh -c 'passwd -S nobody' > '$WORK/ov/suid' 2>&1; echo rc=\$? >> '$WORK/ov/suid'"
  rm -rf "$nb"
  check "ld.so.preload recipe: a program started with an empty environment is profiled" \
    one_profile "$WORK/ovout/otprof-out"
  check "ld.so.preload recipe: a setuid program (passwd) run by nobody behaves as without it" \
    [ "$(cat "$WORK/ov/suid")" = "$bare" ]
else
  echo "SKIP: $T_NAME: no overlay mount in a private namespace here; ld.so.preload recipe not tried"
fi
check "the host's /etc/ld.so.preload is untouched" [ "$(cat /etc/ld.so.preload 2>/dev/null | md5sum)" = "$host_preload" ]
dpkg -P otprof > "$WORK/dpkg.log" 2>&1
check "dpkg -P removes it all, the loader forgot it" \
  bash -c '! dpkg-query -W otprof >/dev/null 2>&1 && [ ! -e /usr/bin/otprof ] && ! ldconfig -p | grep -q libotprof_agent && [ "$1" = 1 -o ! -e /etc/otprof.ini ]' _ "$had_etc"
cd "$ROOT" || true
finish
