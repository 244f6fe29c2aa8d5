# The app's signal mask is its own: SIGPROF's blocked state is virtual
# while the agent samples. A thread created while SIGPROF is blocked sees
# it blocked, programs started from there inherit it, the app's own
# SIGPROFs wait until it unblocks them; and threads created with every
# signal blocked (liblzma, many thread pools) are still fully profiled.
source "$(dirname "$0")/../lib.sh"

AGENT_SETTINGS=(OTPROF_CPU_FREQUENCY_HZ=1000)
same_as_bare "blocked SIGPROF seen by the app, its threads and children" "$PROGS/sigprof_mask"

# split_check LABEL MODE: cpu_split's known split, run in MODE; the
# profile holds each function's measured share and all of the CPU.
split_check() {
  local label=$1 mode=$2 out f a=0 b=0 total=0 want_a want_b want
  rm -rf "$WORK/out"
  out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=500 OTPROF_EXPORT_INTERVAL_MS=600000 -- "$PROGS/cpu_split" 2 2 0.7 "$mode") # one file however slow the machine
  check "$label exits 0" [ $? -eq 0 ]
  local share_alpha= share_beta= rusage_cpu_s=
  eval "$(echo "$out" | tr ' ' '\n' | grep -E '^(share_alpha|share_beta|rusage_cpu_s)=')"
  f=$(ls "$WORK"/out/cpu_split.*.cpu.pb.gz 2>/dev/null | head -1)
  if [ -n "$f" ]; then
    a=$(pprof_cum "$f" spin_alpha); b=$(pprof_cum "$f" spin_beta); total=$(pprof_total_ms "$f")
  fi
  want_a=$(awk -v s="${share_alpha:-0}" 'BEGIN{print 100*s}'); want_b=$(awk -v s="${share_beta:-0}" 'BEGIN{print 100*s}')
  want=$(awk -v s="${rusage_cpu_s:-0}" 'BEGIN{print 1000*s}')
  echo "  $label: alpha ${a}% (measured ${want_a}%), beta ${b}% (measured ${want_b}%), ${total:-0} ms sampled, getrusage ${want} ms"
  check "$label: alpha share within 5 points" within "$a" "$want_a" 5
  check "$label: beta share within 5 points" within "$b" "$want_b" 5
  check "$label: total sampled CPU within 10% of getrusage" \
    within "${total:-0}" "$want" "$(awk -v w="$want" 'BEGIN{print w/10}')"
}
# Masked pool: workers created with all signals blocked.
split_check "masked pool" masked
# A thread that changes its mask all the time, as shells do around every
# command: the time in those system calls (through the agent's wrappers)
# is sampled like any other. Skipping samples that land there lost a
# quarter of such a thread's CPU.
split_check "sigprocmask loop" sigmask
finish
