# The agent keeps its memory off the app's heap: at the start of main the
# C library's heap holds exactly what it holds in the bare run (nothing:
# not set up, no brk moved), whatever the configuration. Loading
# libunwind at the first thread is the one documented exception (the
# dynamic loader's bookkeeping and the thread's libunwind thread-locals
# go where any dlopen's go): bounded here at 16 KiB. errno at main is 0
# too, as C has it (the previous build left the ENOENT of the
# configuration file it looked for).
source "$(dirname "$0")/../lib.sh"

bare=$("$PROGS/app_heap")
start_of() { sed -n 's/^start //p' <<<"$1"; }
inuse_of() { sed -n 's/^thread arena [0-9]* inuse \([0-9]*\).*/\1/p' <<<"$1"; }
echo "  bare: $(tr '\n' ';' <<<"$bare")"
check "bare run's heap is untouched at main, errno 0 ($(start_of "$bare"))" [ "$(start_of "$bare")" = "arena 0 inuse 0 mmapped 0 errno 0" ]
for cfg in "defaults" "OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_MEMORY_SAMPLE_BYTES=1" \
  "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9" "TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" \
  "OTPROF_AGENT_ENABLED=false"; do
  vars=(); [ "$cfg" = defaults ] || read -r -a vars <<<"$cfg"
  out=$(under_agent "${vars[@]}" -- "$PROGS/app_heap")
  echo "  $cfg: $(tr '\n' ';' <<<"$out")"
  check "$cfg: the heap and errno at main as bare ($(start_of "$out"))" [ "$(start_of "$out")" = "$(start_of "$bare")" ]
  extra=$(( $(inuse_of "$out") - $(inuse_of "$bare") ))
  check "$cfg: after a thread, at most 16 KiB more in use than bare (+$extra bytes)" [ "$extra" -le 16384 ]
done
finish
