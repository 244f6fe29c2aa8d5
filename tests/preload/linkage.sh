# What the agent exposes to the process: only the interposed entry points,
# otprof_* and the state its engine binds to; the engine exports one entry
# point and is loaded only when the agent is enabled; libunwind bound
# privately (the app's C++ exceptions keep libgcc's unwinder); heavy
# libraries not loaded by a process that only starts and exits.
source "$(dirname "$0")/../lib.sh"

# The entry points named in the version script's global section, and the
# public otprof_* API: nothing else may leave the agent.
named=$(sed -n '/global:/,/local:/p' "$ROOT/preload/otprof.map" | tr -s ' ;' '\n\n' |
  grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | grep -v '^global$' | paste -sd'|')
allowed="^(${named}|otprof_[a-z_]+)\$"
exports=$(nm -D --defined-only "$AGENT" | awk '{print $3}' | sed 's/@.*//' | sort -u)
bad=$(grep -vE "$allowed" <<<"$exports" | tr '\n' ' ')
check "nm -D: only interposed symbols and otprof_* exported${bad:+ (also: $bad)}" [ -z "$bad" ]
check "nm -D: malloc, free, pthread_create exported" \
  [ "$(grep -cE '^(malloc|free|pthread_create)$' <<<"$exports")" -eq 3 ]
check "nm -D: otprof_set_trace_context exported" grep -q '^otprof_set_trace_context$' <<<"$exports"
# The public API as an app reaches it: from the preloaded agent, by dlsym.
cat > "$WORK/ver.c" <<'C'
#include <dlfcn.h>
#include <stdio.h>
int main(void) {
  const char *(*v)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "otprof_version");
  puts(v ? v() : "none");
  return 0;
}
C
cc -O1 -o "$WORK/ver" "$WORK/ver.c" -ldl
want=$(sed -n 's/^#define OTP_VERSION "\(.*\)"/\1/p' "$ROOT/agent/internal.h")
got=$(under_agent OTPROF_AGENT_ENABLED=false -- "$WORK/ver")
check "otprof_version() through dlsym answers $want, the agent disabled too (got $got)" [ "$got" = "$want" ]
# jemalloc's thread state is the one exception: the shim holds it for the
# engine (scripts/build-jemalloc), whose dlopen could not fit it in static TLS.
check "nm -D: no jemalloc or libunwind symbols leak" \
  [ -z "$(grep -E 'je_|mallocx|unw_|_Unwind' <<<"$exports" | grep -vx otpje_je_tsd_tls)" ]
eng_exports=$(nm -D --defined-only "$ENGINE" | awk '{print $3}' | sed 's/@.*//' | sort -u | tr '\n' ' ')
check "nm -D: the engine exports its entry point only ($eng_exports)" [ "$eng_exports" = "otp_engine_entry " ]
# glibc keeps about 1.5 KiB of static TLS for objects loaded by dlopen; the
# engine's must fit, the rest (jemalloc's 2.6 KiB) is the shim's.
tls=$(($(readelf -lW "$ENGINE" | awk '$1 == "TLS" {print $6}')))
check "the engine's own TLS fits glibc's static TLS surplus (${tls:-0} bytes, at most 1024)" [ "${tls:-0}" -le 1024 ]
# strerror's translation lookup takes the lock setlocale holds while it
# allocates: a message from the malloc path would hang the app there.
check "nm -D: the agent imports no strerror" \
  [ -z "$(nm -D --undefined-only "$AGENT" | awk '{print $2}' | sed 's/@.*//' | grep -x 'strerror')" ]
# preload/startup.ld gathers code into two sections: .text.otp_start,
# what every start runs, and .text.otp_sample, a CPU sample's path. Each
# function it names must still exist (a renamed one would silently fall
# out of its group) and lie in its group's section.
# Both objects are linked with it; each function is in one of them.
listed_in() { # SECTION: the functions startup.ld names in it
  awk -v sec="$1" '$1 == sec {on = 1; next} on && /^  }/ {on = 0} on' "$ROOT/preload/startup.ld" |
    sed -n 's/^ *\*\([A-Za-z_]*\.o\)\{0,1\}(\.text\.\([^ *)]*\))$/\2/p'
}
in_group() { # OBJECT SECTION NAMES: the names that lie in OBJECT's SECTION
  local sec sa ss
  sec=$(readelf -S -W "$1" | awk -v s="$2" '$2 == s {print $4, $6}')
  read -r sa ss <<<"$sec"
  nm --defined-only "$1" | awk -v lo=$((16#${sa:-0})) -v n=$((16#${ss:-0})) \
    'NR == FNR { want[$1] = 1; next }
     ($3 in want) { a = 0; h = "0123456789abcdef"
       for (i = 1; i <= length($1); i++) a = a * 16 + index(h, substr($1, i, 1)) - 1
       if (a >= lo && a < lo + n) print $3 }' <(tr ' ' '\n' <<<"$3") -
}
for group in .text.otp_start:50 .text.otp_sample:10; do
  sec=${group%:*}
  listed=$(listed_in "$sec" | tr '\n' ' ')
  seen=$( { in_group "$AGENT" "$sec" "$listed"; in_group "$ENGINE" "$sec" "$listed"; } | sort -u)
  outside=$(comm -23 <(tr ' ' '\n' <<<"$listed" | grep . | sort -u) <(echo "$seen") | tr '\n' ' ')
  check "startup.ld: $(wc -w <<<"$listed") functions, all in $sec${outside:+ (not: $outside)}" \
    [ "$(wc -w <<<"$listed")" -gt "${group#*:}" -a -z "$outside" ]
done
needed=$(readelf -d "$AGENT" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
check "libunwind, libcurl, jemalloc are not link-time dependencies ($needed)" \
  [ -z "$(grep -oE 'libunwind|libcurl|libjemalloc' <<<"$needed")" ]

# C main dlopens a C++ library that throws: still works, and with the agent
# loaded _Unwind_RaiseException binds to libgcc_s, not to libunwind.
out=$(under_agent LD_LIBRARY_PATH="$PROGS" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$WORK/bind" -- "$PROGS/cxx_host" "$PROGS/libthrower.so")
check "C++ exceptions from a dlopen'ed library still caught" [ "$out" = "caught 1000" ]
b=$(cat "$WORK"/bind.* 2>/dev/null | grep "_Unwind_RaiseException")
echo "$b" | sed 's/^ *[0-9]*: */  /' | head -3
check "_Unwind_RaiseException is bound (LD_DEBUG=bindings saw it)" [ -n "$b" ]
check "_Unwind_RaiseException binds to libgcc_s" grep -q "to /.*libgcc_s.so.1 .*_Unwind_RaiseException" <<<"$b"
check "no other object binds _Unwind_RaiseException to libunwind" \
  [ -z "$(grep -v 'binding file [^ ]*libunwind' <<<"$b" | grep 'to [^ ]*libunwind')" ]

# Start-up: /bin/true under the agent loads neither libcurl nor libstdc++
# (what an eagerly linked libcurl or the system jemalloc would drag in).
# At 1 Hz: a timer's first point is uniform over one period, so at 100 Hz
# the few hundred microseconds of CPU after it is armed are sampled in
# about one run of fifty.
rm -rf "$WORK/out"
under_agent OTPROF_CPU_FREQUENCY_HZ=1 LD_DEBUG=files LD_DEBUG_OUTPUT="$WORK/files" -- /bin/true
loaded=$(cat "$WORK"/files.* 2>/dev/null | grep -oE 'file=[^ ]+' | sort -u | tr '\n' ' ')
check "/bin/true under the agent exits 0" under_agent OTPROF_CPU_FREQUENCY_HZ=1 -- /bin/true
check "/bin/true: libcurl not loaded" [ -z "$(grep -o libcurl <<<"$loaded")" ]
check "/bin/true: libstdc++/system jemalloc not loaded" [ -z "$(grep -oE 'libstdc|libjemalloc' <<<"$loaded")" ]
check "/bin/true: the engine loaded (enabled)" grep -q libotprof_engine.so <<<"$loaded"
under_agent OTPROF_AGENT_ENABLED=false LD_DEBUG=files LD_DEBUG_OUTPUT="$WORK/dfiles" -- /bin/true
loaded=$(cat "$WORK"/dfiles.* 2>/dev/null | grep -oE 'file=[^ ]+' | sort -u | tr '\n' ' ')
check "/bin/true, agent.enabled = false: only the shim loaded ($loaded)" \
  [ -n "$(grep -o libotprof_agent.so <<<"$loaded")" -a -z "$(grep -o libotprof_engine <<<"$loaded")" ]
[ ! -d "$WORK/out" ] || [ -z "$(ls -A "$WORK/out")" ]; r=$?
check "/bin/true: no profile files for a process with no samples" [ $r -eq 0 ]

# LD_PRELOAD naming the agent by a relative path: a program exec'd after a
# cd met the loader's "cannot be preloaded" error on its stderr. The entry
# is made absolute at start (agent disabled too).
rel=$(realpath --relative-to="$PWD" "$AGENT")
for en in true false; do
  out=$(env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" OTPROF_AGENT_ENABLED=$en LD_PRELOAD="$rel" \
    sh -c 'cd / && /bin/true; echo "rc=$?"; printenv LD_PRELOAD' 2>&1)
  check "relative LD_PRELOAD ($rel), enabled=$en: a program exec'd after a cd runs, nothing said ($(head -1 <<<"$out"))" \
    [ "$(head -1 <<<"$out")" = "rc=0" ]
  check "relative LD_PRELOAD, enabled=$en: made absolute in the environment" \
    [ "$(tail -1 <<<"$out")" = "$(realpath "$AGENT")" ]
done

# The shim without its engine beside it (copied alone): one line says why,
# and the app runs as it would without the agent, unprofiled.
mkdir -p "$WORK/alone"; cp "$AGENT" "$WORK/alone/"
bare=$(sh -c 'echo out; echo err >&2; exit 3' 2>&1); brc=$?
got=$(env OTPROF_EXPORT_OUTPUT_DIR="$WORK/alone/out" LD_PRELOAD="$WORK/alone/libotprof_agent.so" \
  sh -c 'echo out; echo err >&2; exit 3' 2>"$WORK/alone.err"); grc=$?
echo "  $(head -2 "$WORK/alone.err")"
check "no engine: same output and status ($grc) as without the agent" [ "$got" = "out" -a $grc -eq $brc ]
check "no engine: one otprof line naming the engine (then the app's own)" \
  [ "$(grep -c '^otprof: .*libotprof_engine.so' "$WORK/alone.err")" -eq 1 -a "$(grep -vc '^otprof: ' "$WORK/alone.err")" -eq 1 ]
check "no engine: no profile written" [ ! -e "$WORK/alone/out" ]
# An engine from other sources beside it (its tag of the shared headers
# changed, as the Makefile computes it): refused, in one line.
tag=$(cat "$ROOT"/agent/*.h "$ROOT"/config/*.h "$ROOT"/preload/*.h | cksum | cut -d' ' -f1)
other=$(tr 0-9 1-90 <<<"$tag")
LC_ALL=C perl -pe "s/\\x00$tag\\x00/\\x00$other\\x00/g" "$ENGINE" > "$WORK/alone/libotprof_engine.so"
check "the engine carries the tag of the headers it was built from" \
  [ "$(grep -c "$other" "$WORK/alone/libotprof_engine.so")" -ge 1 ]
got=$(env OTPROF_EXPORT_OUTPUT_DIR="$WORK/alone/out" LD_PRELOAD="$WORK/alone/libotprof_agent.so" \
  sh -c 'echo out; echo err >&2; exit 3' 2>"$WORK/alone.err"); grc=$?
echo "  $(head -1 "$WORK/alone.err")"
check "engine of another build: refused in one line, the app runs as without the agent" \
  [ "$got" = "out" -a $grc -eq $brc -a "$(grep -c '^otprof: .*another build' "$WORK/alone.err")" -eq 1 ]
check "engine of another build: no profile written" [ ! -e "$WORK/alone/out" ]
# Two copies of the agent in LD_PRELOAD (an installed one and a build's):
# the second stays off and says so once, and the app runs as bare. Before,
# its engine took the first one's SIGPROF handler for the app's, and a
# multi-threaded sort died of SIGPROF (status 155). The same path twice is
# one object to the loader: nothing said.
mkdir -p "$WORK/copy"
cp "$AGENT" "$ENGINE" "$WORK/copy/"
seq 1 300000 > "$WORK/nums"
bare=$(sort -rn "$WORK/nums" | md5sum); rb=$?
out=$(env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out2" LD_PRELOAD="$AGENT $WORK/copy/libotprof_agent.so" \
  sort -rn "$WORK/nums" 2> "$WORK/two.err" | md5sum); ro=$?
check "two copies of the agent: the app's output and status as bare ($ro)" [ "$ro" -eq "$rb" -a "$out" = "$bare" ]
check "two copies of the agent: one line names the first ($(head -c 160 "$WORK/two.err"))" \
  [ "$(grep -c "another otprof agent ($AGENT) is loaded ahead" "$WORK/two.err")" -eq 1 -a "$(wc -l < "$WORK/two.err")" -eq 1 ]
env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out2" LD_PRELOAD="$AGENT $AGENT" "$PROGS/cpu_split" 1 1 0.2 > /dev/null 2> "$WORK/same.err"
check "the same agent twice: nothing said" [ ! -s "$WORK/same.err" ]
finish
