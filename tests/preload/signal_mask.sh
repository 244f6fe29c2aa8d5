# The app's signal mask is its own: SIGPROF's blocked state is virtual
# while the agent samples. A thread created while SIGPROF is blocked sees
# it blocked, programs started from there inherit it, the app's own
# SIGPROFs wait until it unblocks them; and threads created with every
# signal blocked (liblzma, many thread pools) are still fully profiled.
source "$(dirname "$0")/../lib.sh"

AGENT_SETTINGS=(OTPROF_CPU_FREQUENCY_HZ=1000)
same_as_bare "blocked SIGPROF seen by the app, its threads and children" "$PROGS/sigprof_mask"

# Masked pool: known split, workers created with all signals blocked.
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=500 OTPROF_EXPORT_INTERVAL_MS=600000 -- "$PROGS/cpu_split" 2 2 0.7 masked) # one file however slow the machine
check "masked pool exits 0" [ $? -eq 0 ]
eval "$(echo "$out" | tr ' ' '\n' | grep -E '^(share_alpha|share_beta|rusage_cpu_s)=')"
f=$(ls "$WORK"/out/cpu_split.*.cpu.pb.gz 2>/dev/null | head -1)
a=0; b=0; total=0
if [ -n "$f" ]; then
  a=$(pprof_cum "$f" spin_alpha); b=$(pprof_cum "$f" spin_beta); total=$(pprof_total_ms "$f")
fi
want_a=$(awk -v s="${share_alpha:-0}" 'BEGIN{print 100*s}'); want_b=$(awk -v s="${share_beta:-0}" 'BEGIN{print 100*s}')
want=$(awk -v s="${rusage_cpu_s:-0}" 'BEGIN{print 1000*s}')
echo "  masked pool: alpha ${a}% (measured ${want_a}%), beta ${b}% (measured ${want_b}%), ${total:-0} ms sampled, getrusage ${want} ms"
check "masked pool: alpha share within 5 points" within "$a" "$want_a" 5
check "masked pool: beta share within 5 points" within "$b" "$want_b" 5
check "masked pool: total sampled CPU within 10% of getrusage" \
  within "${total:-0}" "$want" "$(awk -v w="$want" 'BEGIN{print w/10}')"
finish
