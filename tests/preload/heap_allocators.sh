# The app's malloc stays the app's: glibc's under the agent alone (never
# the agent's private jemalloc), or the jemalloc / tcmalloc the app
# preloads after the agent, which then still serves every block while the
# agent profiles it exactly.
source "$(dirname "$0")/../lib.sh"
HS="$BUILD/tools/heapsum"
LIBDIR=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
JE=$LIBDIR/libjemalloc.so.2
TC=$LIBDIR/libtcmalloc_minimal.so.4

# --- glibc, and nothing of the agent's jemalloc is visible --------------
bare=$("$PROGS/heap_whose")
prof=$(under_agent OTPROF_MEMORY_SAMPLE_BYTES=1 -- "$PROGS/heap_whose")
check "heap_whose bare: glibc serves malloc" grep -qx 'glibc_arena yes' <<<"$bare"
check "under the agent: the same facts as bare (glibc chunk sizes, glibc arena grows, no jemalloc)" \
  [ "$prof" = "$bare" ]
check "under the agent: malloc_usable_size(malloc(100)) is glibc's 104" grep -qx 'usable100 104' <<<"$prof"
under_agent LD_DEBUG=bindings LD_DEBUG_OUTPUT="$WORK/bind" -- "$PROGS/heap_whose" >/dev/null
b=$(cat "$WORK"/bind.* 2>/dev/null | grep "normal symbol \`malloc'")
check "LD_DEBUG=bindings: the program's malloc binds to the agent" \
  grep -q "binding file [^ ]*heap_whose \[0\] to [^ ]*libotprof_agent.so \[0\]: normal symbol \`malloc'" <<<"$b"
check "LD_DEBUG=bindings: the agent's next malloc is libc's" \
  grep -q "binding file [^ ]*libotprof_agent.so \[0\] to [^ ]*libc.so.6 \[0\]: normal symbol \`malloc'" <<<"$b"
check "LD_DEBUG=bindings: nothing binds malloc to a jemalloc" [ -z "$(grep -i jemalloc <<<"$b")" ]
exports=$(nm -D --defined-only "$AGENT" "$ENGINE" | awk 'NF == 3 {print $3}')
# Its thread state is the shim's, for the engine to bind (scripts/build-jemalloc).
check "nm -D: the private jemalloc exports nothing but its thread state (no mallocx, je_, otpje_)" \
  [ -z "$(grep -E 'mallocx|rallocx|dallocx|mallctl|^je_|otpje' <<<"$exports" | grep -vx otpje_je_tsd_tls)" ]
check "nm -D: its malloc family is the interposed one only" \
  [ "$(grep -cxE 'malloc|free|calloc|realloc' <<<"$exports")" -eq 4 ]

# --- another allocator preloaded after the agent -------------------------
for alloc in "$JE" "$TC"; do
  name=$(basename "$alloc")
  if [ ! -f "$alloc" ]; then fail "$name: not installed"; continue; fi
  pre="$AGENT $alloc"
  run() { rm -rf "$WORK/out"; env -u OTPROF_CONFIG OTPROF_EXPORT_OUTPUT_DIR="$WORK/out" "$@"; }
  whose=$(run LD_PRELOAD="$pre" OTPROF_MEMORY_SAMPLE_BYTES=1 "$PROGS/heap_whose")
  case $name in
    *jemalloc*) check "$name: serves the app's blocks (mallctl present, 112-byte class, glibc arena idle)" \
                  [ "$whose" = "$(printf 'usable100 112\nglibc_arena no\njemalloc yes\ntcmalloc no')" ] ;;
    *tcmalloc*) check "$name: serves the app's blocks (tc_malloc present, 112-byte class, glibc arena idle)" \
                  [ "$whose" = "$(printf 'usable100 112\nglibc_arena no\njemalloc no\ntcmalloc yes')" ] ;;
  esac
  out=$(run LD_PRELOAD="$pre" OTPROF_MEMORY_SAMPLE_BYTES=1 OTPROF_CPU_ENABLED=false "$PROGS/heap_sites")
  [ $? -eq 0 ] && [ -n "$out" ]; r=$?
  check "$name: heap_sites runs" [ $r -eq 0 ]
  sums=$("$HS" "$WORK"/out/heap_sites.*.heap.pb.gz 2>/dev/null)
  got=$(awk '$1=="fn" && $2 ~ /^site_/ {printf "%s %s %s %s %s;", $2, $3, $4, $5, $6}' <<<"$sums")
  check "$name: heap_sites profiled exactly at rate 1" \
    [ "$got" = "site_a 2000 20480000 2000 20480000;site_b 20312 1299968 20312 1299968;site_c 3200 209715200 0 0;site_d 11 8384512 1 4194304;" ]
  out=$(run LD_PRELOAD="$pre" OTPROF_MEMORY_SAMPLE_BYTES=1 OTPROF_CPU_ENABLED=false "$PROGS/heap_entry" --no-pvalloc)
  check "$name: every entry point keeps its contract" [ $? -eq 0 ]
  sums=$("$HS" "$WORK"/out/heap_entry.*.heap.pb.gz 2>/dev/null)
  bad=""
  while read -r _ fn ao as io is; do
    [ "$(awk -v f="$fn" '$1=="fn" && $2==f {print $3, $4, $5, $6}' <<<"$sums")" = "$ao $as $io $is" ] || bad="$bad $fn"
  done < <(grep '^expect ' <<<"$out")
  [ -z "$bad" ] && grep -q '^expect' <<<"$out"; r=$?
  check "$name: every entry point counted exactly${bad:+ (not:$bad)}" [ $r -eq 0 ]
  out=$(run LD_PRELOAD="$pre" OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_MEMORY_SAMPLE_BYTES=16384 \
    timeout 60 "$PROGS/heap_stress" 4 200000 "$PROGS/libheapcxx.so")
  check "$name: 4 threads x 200k cross-thread frees + dlopen loop at 1 kHz: no hang, balanced ($out)" \
    [ $? -eq 0 ]
  inuse=$("$HS" "$WORK"/out/heap_stress.*.heap.pb.gz 2>/dev/null | awk '$1=="fn" && $2=="stress_alloc" {print ($3 > 0 ? $5 : -1)}')
  check "$name: stress_alloc sampled, and nothing of it left live" [ "${inuse:--1}" = 0 ]
done
finish
