# Symbolization as a reader sees it: demangled C++ and Rust names with the
# mangled spelling kept as system_name, no symbol versions in names,
# mapping flags that say what the profile carries, and JIT code named from
# the perf map.
source "$(dirname "$0")/../lib.sh"
SYMS="$BUILD/tools/pprof_syms"

# --- names: C++ template in a namespace, a lambda, a Rust legacy symbol
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=250 -- "$PROGS/symcxx" 0.3)
check "symcxx runs under the agent" [ "$out" = "$("$PROGS/symcxx" 0.01)" ]
f=$(ls "$WORK"/out/symcxx.*.cpu.pb.gz 2>/dev/null | head -1)
syms=$("$SYMS" "$f")
func_line() { grep -F "func $1	" <<<"$syms" | head -1; }
check "template member: demangled name, mangled system_name" \
  grep -qxF "func otpdemo::Mixer<unsigned long>::churn(int)	_ZN7otpdemo5MixerImE5churnEi" \
  <(func_line "otpdemo::Mixer<unsigned long>::churn(int)" | cut -f1-2)
check "lambda: demangled" grep -qF "func main::{lambda(int)#1}::operator()(int) const	_ZZ4mainENKUliE_clEi" <<<"$syms"
check "Rust legacy symbol: demangled without its hash" \
  grep -qF "func otpdemo::engine::spin	_ZN7otpdemo6engine4spin17h0123456789abcdefE" <<<"$syms"
under_agent OTPROF_CPU_FREQUENCY_HZ=250 -- "$PROGS/symcxx" 0.2 v0 >/dev/null
v0=$(for g in "$WORK"/out/symcxx.*.cpu.pb.gz; do "$SYMS" "$g"; done)
check "Rust v0 symbol: decoded, mangled system_name kept" \
  grep -qF "func <otpdemo::engine::Engine as core::fmt::Debug>::fmt	_RNvXNtCs1_7otpdemo6engineNtB2_6EngineNtNtCs2_4core3fmt5Debug3fmt" <<<"$v0"
top=$(go tool pprof -top -nodecount=10 "$f" 2>/dev/null)
for fn in "otpdemo::Mixer<unsigned long>::churn(int)" "otpdemo::engine::spin"; do
  share=$(awk -v f="$fn" 'index($0, f) { gsub("%", "", $2); print $2; exit }' <<<"$top")
  echo "  $fn: ${share:-0}% flat"
  check "go tool pprof shows $fn with about a third of the CPU" within "${share:-0}" 33 15
done
check "no function name carries a symbol version (@)" bash -c '! grep "^func [^	]*@" <<<"$1"' _ "$syms"
check "glibc's __libc_start_main (names from libc6-dbg) is named without @@, its system name keeps it" \
  grep -qE "^func __libc_start_main	__libc_start_main@@GLIBC_[0-9.]+	" <<<"$syms"
rm -rf "$WORK/out"
check "the executable's mapping says it has functions" grep -q "^map $PROGS/symcxx 1 " <<<"$syms"
check "no mangled (_Z) name left in go tool pprof -top" \
  bash -c '! grep -q " _Z" <<<"$1"' _ "$top"
rm -rf "$WORK/out"

# --- a program with a demangler of its own: GCC's cc1 exports libiberty's
# __cxa_demangle, which names its C++ functions without libstdc++ being
# loaded (3261 symbol relocations, ~2 ms of every compile's exit)
cc1_dbg=$(LD_DEBUG=files under_agent OTPROF_MEMORY_SAMPLE_BYTES=65536 -- \
  gcc -O2 -c "$ROOT/tests/progs/inline_hot.c" -o "$WORK/inline_hot.o" 2>&1 >/dev/null)
cc1_syms=$(for g in "$WORK"/out/cc1.*.pb.gz; do "$SYMS" "$g"; done)
cc1_cxx=$(awk -F'\t' '/^func / && $2 ~ /^_Z/' <<<"$cc1_syms" | sort -u)
echo "  cc1: $(wc -l <<<"$cc1_cxx") C++ functions named, e.g. $(head -1 <<<"$cc1_cxx" | cut -f1)"
check "cc1: at least 5 C++ functions in its profiles, every one demangled" \
  bash -c '[ "$(wc -l <<<"$1")" -ge 5 ] && ! grep -q "^func _Z" <<<"$1"' _ "$cc1_cxx"
# (cc1's lines only: the loader prefixes each with the process id)
cc1_pid=$(awk '/initialize program: .*\/cc1$/ { sub(":", "", $1); print $1; exit }' <<<"$cc1_dbg")
check "cc1: libstdc++ not loaded for that (process ${cc1_pid:-not found})" \
  bash -c '[ -n "$2" ] && ! grep -qE "^ *$2:.*calling init: .*libstdc\+\+" <<<"$1"' _ "$cc1_dbg" "$cc1_pid"
rm -rf "$WORK/out"

# --- JIT code named from the perf map, the second name appended while the
# program runs (the file is re-read when it grows)
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=250 OTPROF_EXPORT_INTERVAL_MS=200 -- "$PROGS/jit_perfmap" 0.4)
pid=$(awk '/^pid/ {print $2}' <<<"$out")
rm -f "/tmp/perf-$pid.map"
check "jit_perfmap ran its stubs under the agent" grep -q "stubs ran: yes" <<<"$out"
top=$(go tool pprof -top -nodecount=10 "$WORK"/out/jit_perfmap.*.cpu.pb.gz 2>/dev/null)
for fn in "LazyCompile:*hotLoop app.js:12" "py::burn:/srv/app/work.py"; do
  share=$(awk -v f="$fn" 'index($0, f) { gsub("%", "", $2); print $2; exit }' <<<"$top")
  echo "  $fn: ${share:-0}% flat"
  check "JIT function '$fn' named, with about half the CPU" within "${share:-0}" 50 12
done
rm -rf "$WORK/out"

# --- Python's perf trampolines (python -X perf, 3.12+): an 11-byte stub
# without a frame pointer between outer() and the evaluator's place,
# named py::... in the perf map. Once the agent has read the map (its
# first export, ~0.2-0.4 s into this run), walks step through the stub;
# before, the stub's caller was skipped (walked by rbp) or lost.
out=$(under_agent OTPROF_EXPORT_INTERVAL_MS=200 -- "$PROGS/py_tramp" 2)
pid=$(awk '/^pid/ {print $2}' <<<"$out")
rm -f "/tmp/perf-$pid.map"
check "py_tramp ran under the agent" grep -q "^done" <<<"$out"
top=$(go tool pprof -top -cum -nodecount=20 "$WORK"/out/py_tramp.*.cpu.pb.gz 2>/dev/null)
cum_of() { awk -v f="$1" 'index($0, f) { gsub("%", "", $5); print $5; exit }' <<<"$top"; }
handle=$(cum_of "py::handle:/srv/app.py"); outer=$(cum_of outer)
echo "  py::handle ${handle:-0}% cum, outer ${outer:-0}% cum"
check "the trampoline named, under all the CPU" awk -v a="${handle:-0}" 'BEGIN { exit !(a >= 95) }'
check "outer(), above the trampoline, holds the CPU after the first export (at least 70%)" \
  awk -v a="${outer:-0}" 'BEGIN { exit !(a >= 70) }'
rm -rf "$WORK/out"
# At the default interval (10 s), the agent's thread reads the map's
# trampolines within a second of its start (~1 s into a single-threaded
# run): 3 s, ~63% in outer(); none but the final export read it before.
out=$(under_agent -- "$PROGS/py_tramp" 3)
pid=$(awk '/^pid/ {print $2}' <<<"$out")
rm -f "/tmp/perf-$pid.map"
top=$(go tool pprof -top -cum -nodecount=20 "$WORK"/out/py_tramp.*.cpu.pb.gz 2>/dev/null)
outer=$(cum_of outer)
check "before the first export: outer() holds the CPU after the agent's thread started (${outer:-0}%, at least 40%)" \
  awk -v a="${outer:-0}" 'BEGIN { exit !(a >= 40) }'
rm -rf "$WORK/out"

# --- DWARF: an -O2 -g program whose hot loop and leaking function are
# always-inline, so only inline frames and lines can name them
src="$ROOT/tests/progs/inline_hot.c"
hot=$(grep -n "HOT_LINE" "$src" | cut -d: -f1); leak=$(grep -n "LEAK_LINE" "$src" | cut -d: -f1)
# (intervals, and over a second: big DWARF files such as libc's are
# opened only after the first second and never at exit; libc6-dbg's
# DWARF, ~18 MiB in memory, only if it fits in half of max_memory_mb; and
# only once opening it costs no more than the overhead budget's share of
# the process's CPU, ~120 ms for libc's: no budget here)
under_agent OTPROF_CPU_FREQUENCY_HZ=250 OTPROF_MEMORY_SAMPLE_BYTES=4096 OTPROF_EXPORT_INTERVAL_MS=250 \
  OTPROF_AGENT_MAX_MEMORY_MB=64 OTPROF_AGENT_MAX_OVERHEAD_PERCENT=0 \
  -- "$PROGS/inline_hot" 2.5 >/dev/null
cpus=("$WORK"/out/inline_hot.*.cpu.pb.gz); cpu=${cpus[0]}
heap=$(ls -v "$WORK"/out/inline_hot.*.heap.pb.gz | tail -1)  # -v: .10 after .9
lines=$(cd / && go tool pprof -lines -top -nodecount=20 "${cpus[@]}" 2>/dev/null)
line_share() { awk -v f="mix_rounds $src:$1 (inline)" 'index($0, f) { gsub("%", "", $2); print $2; exit }' <<<"$lines"; }
# The loop is HOT_LINE's four instructions and its `for` line's two (the
# line above): which of them an interrupt names depends on the CPU (a
# Xeon with AVX-512 here names the `for` line's in 55% of the samples).
share=$(line_share "$hot"); share_for=$(line_share $((hot - 1)))
echo "  mix_rounds $src:$hot: ${share:-0}% flat, its for line $((hot - 1)): ${share_for:-0}%"
check "pprof -lines: the inlined hot loop's two lines hold nearly all the CPU" \
  within "$(awk -v a="${share:-0}" -v b="${share_for:-0}" 'BEGIN { print a + b }')" 90 10
check "pprof -lines: the hot line itself holds a large share (at least 25%)" \
  awk -v a="${share:-0}" 'BEGIN { exit !(a >= 25) }'
check "pprof -lines: libc frames have lines from libc6-dbg's separate DWARF"   grep -qE "__libc_start_main .*libc-start.c:[0-9]+" <<<"$lines"
check "pprof -list finds the inlined function's source (from another directory)"   grep -qF "HOT_LINE" <<<"$(cd / && go tool pprof -list '^mix_rounds$' "$cpu" 2>/dev/null)"
# (the first interval may run out of its DWARF time budget: all intervals)
syms=$(for c in "${cpus[@]}"; do "$SYMS" "$c"; done)
check "a location inside the loop: mix_rounds then main at the call site"   grep -qE "^loc 0x[0-9a-f]+ mix_rounds:$hot main:[0-9]+$" <<<"$syms"
check "Function mix_rounds has its file and first line"   grep -qP "^func mix_rounds\tmix_rounds\t\Q$src\E\t$(grep -n '^static inline.*mix_rounds' "$src" | cut -d: -f1)$" <<<"$syms"
check "the executable's mapping says functions, files, lines and inline frames"   grep -q "^map $PROGS/inline_hot 1 1 1 1$" <<<"$syms"
hl=$(cd / && go tool pprof -lines -top -sample_index=inuse_space "$heap" 2>/dev/null)
check "heap: the leak is named remember at $src:$leak (inline), called from main"   bash -c 'grep -qF "remember $2:$3 (inline)" <<<"$1" && grep -qE "main .*inline_hot.c:[0-9]+" <<<"$1"' _ "$hl" "$src" "$leak"
[ "$T_FAILS" -eq 0 ] || { echo "$hl" | head -12; ls -l "$WORK"/out; }
rm -rf "$WORK/out"

# The default budget (1%): libc6-dbg's compressed DWARF would cost a run of
# 2.5 s of CPU about 5% of it (its lines, for a few samples in libc): not
# opened, while the program's own (uncompressed, read as needed) is.
under_agent OTPROF_CPU_FREQUENCY_HZ=250 OTPROF_EXPORT_INTERVAL_MS=250 OTPROF_AGENT_MAX_MEMORY_MB=64 \
  -- "$PROGS/inline_hot" 2.5 >/dev/null
lines=$(cd / && go tool pprof -lines -top -nodecount=20 "$WORK"/out/inline_hot.*.cpu.pb.gz 2>/dev/null)
check "default budget: libc frames keep symbol-table names, no lines ($(grep -oE '__libc_start_main.*' <<<"$lines" | head -1))" \
  bash -c 'grep -qE "__libc_start_main" <<<"$1" && ! grep -qE "__libc_start_main .*libc-start.c:[0-9]+" <<<"$1"' _ "$lines"
check "default budget: the program's own DWARF still names the inlined loop" grep -qF "mix_rounds $src:" <<<"$lines"
rm -rf "$WORK/out"

# --- separate debug files: the same program stripped, its symbols and
# DWARF in a .debug file found by build id (under a test debug root), or
# by .gnu_debuglink beside it
mkdir -p "$WORK/strip/dbgroot" "$WORK/link"
bin="$WORK/strip/inline_hot"; dbg="$WORK/strip/inline_hot.debug"
objcopy --only-keep-debug "$PROGS/inline_hot" "$dbg" && strip -s -o "$bin" "$PROGS/inline_hot"
bid=$(readelf -n "$bin" | awk '/Build ID/ {print $3}')
mkdir -p "$WORK/strip/dbgroot/.build-id/${bid:0:2}"
mv "$dbg" "$WORK/strip/dbgroot/.build-id/${bid:0:2}/${bid:2}.debug"
check "the stripped copy has no .symtab" bash -c '! readelf -S "$1" | grep -q "\.symtab"' _ "$bin"
under_agent OTPROF_CPU_FREQUENCY_HZ=250 OTP_TEST_DEBUG_ROOT="$WORK/strip/dbgroot" -- "$bin" 0.3 >/dev/null
syms=$("$SYMS" "$(ls "$WORK"/out/inline_hot.*.cpu.pb.gz | head -1)")
check "build-id debug file: names and inline lines come back"   grep -qE "^loc 0x[0-9a-f]+ mix_rounds:$hot main:[0-9]+$" <<<"$syms"
check "build-id debug file: main named from its .symtab, with its file" grep -qP "^func main\tmain\t\Q$src\E\t" <<<"$syms"
rm -rf "$WORK/out"
lbin="$WORK/link/inline_hot"; ldbg="$WORK/link/inline_hot.dbg"
objcopy --only-keep-debug "$PROGS/inline_hot" "$ldbg" && strip -s -o "$lbin" "$PROGS/inline_hot" \
  && objcopy --add-gnu-debuglink="$ldbg" "$lbin"
under_agent OTPROF_CPU_FREQUENCY_HZ=250 OTP_TEST_DEBUG_ROOT="$WORK/link/none" -- "$lbin" 0.3 >/dev/null
syms=$("$SYMS" "$(ls "$WORK"/out/inline_hot.*.cpu.pb.gz | head -1)")
check ".gnu_debuglink debug file: names and inline lines come back" \
  grep -qE "^loc 0x[0-9a-f]+ mix_rounds:$hot main:[0-9]+$" <<<"$syms"
rm -rf "$WORK/out"
# dwz, as Debian's -dbgsym packages have it: what two copies share moved
# to an alternate file (.gnu_debugaltlink), the debug file installed by
# build id. libdwfl asked our callback for the alternate file, which
# answered with the program's own debug file: the inline frames were lost
# (only main:47), and that file stayed in the app's descriptor table between exports.
if command -v dwz > /dev/null; then
  dz="$WORK/dwz"; mkdir -p "$dz/root"
  cp "$PROGS/inline_hot" "$dz/x1" && cp "$PROGS/inline_hot" "$dz/x2"
  dwz -m "$dz/common.debug" -M "$dz/common.debug" "$dz/x1" "$dz/x2"
  check "dwz: the debug data refers to the alternate file" grep -q . <(readelf -p .gnu_debugaltlink "$dz/x1" 2> /dev/null)
  objcopy --only-keep-debug "$dz/x1" "$dz/x1.debug" && strip -s "$dz/x1"
  bid=$(readelf -n "$dz/x1" | awk '/Build ID/ {print $3}')
  mkdir -p "$dz/root/.build-id/${bid:0:2}" && mv "$dz/x1.debug" "$dz/root/.build-id/${bid:0:2}/${bid:2}.debug"
  under_agent OTPROF_CPU_FREQUENCY_HZ=250 OTPROF_EXPORT_INTERVAL_MS=100 OTP_TEST_DEBUG_ROOT="$dz/root" -- \
    "$dz/x1" 1.5 > /dev/null &
  apid=$!
  held=$(fd_looks "$apid" x1 4 0.25 "$dz/")
  wait "$apid"
  check "dwz: no debug file held by the app's descriptors between exports (seen in $held of 4 looks)" [ "$held" -eq 0 ]
  syms=$(for c in "$WORK"/out/x1.*.cpu.pb.gz; do "$SYMS" "$c"; done)
  check "dwz: names and inline lines come back through the alternate file" \
    grep -qE "^loc 0x[0-9a-f]+ mix_rounds:$hot main:[0-9]+$" <<<"$syms"
  rm -rf "$WORK/out"
else
  fail "dwz is not installed (scripts/install-deps installs it)"
fi

# A debug file whose CRC does not match the link is not used.
printf 'x' >> "$ldbg"
under_agent OTPROF_CPU_FREQUENCY_HZ=250 OTP_TEST_DEBUG_ROOT="$WORK/link/none" -- "$lbin" 0.2 >/dev/null
syms=$("$SYMS" "$(ls "$WORK"/out/inline_hot.*.cpu.pb.gz | head -1)")
check "a debuglink file with the wrong CRC is ignored" bash -c '! grep -q "^func main" <<<"$1"' _ "$syms"
rm -rf "$WORK/out"

finish
