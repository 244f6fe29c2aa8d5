# The SIGPROF handler runs on an alternate signal stack and needs little
# of it: threads with PTHREAD_STACK_MIN stacks and a cgo Go program with
# thousands of goroutines (small, unguarded stacks) run unharmed at 100 and
# 1000 Hz, and the handler's use of an app's own alternate stack is
# measured against the kernel's signal frame.
source "$(dirname "$0")/../lib.sh"

# PTHREAD_STACK_MIN threads burning CPU at 1 kHz.
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_EXPORT_INTERVAL_MS=600000 -- "$PROGS/small_stacks" 4 1 2>&1); rc=$? # one file however slow the machine
check "small stacks at 1000 Hz: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "small stacks at 1000 Hz: all threads finished" [ "$out" = "4 small-stack threads done" ]
f=$(ls "$WORK"/out/small_stacks.*.cpu.pb.gz 2>/dev/null | head -1)
total=$( [ -n "$f" ] && pprof_total_ms "$f"); total=${total:-0}
burn=$( [ -n "$f" ] && pprof_cum "$f" small_burn); burn=${burn:-0}
echo "  small stacks: ${total} ms sampled (4000 ms used), small_burn ${burn}%"
check "small stacks: the threads' CPU is profiled (within 10% of 4000 ms)" within "$total" 4000 400
check "small stacks: samples name the threads' function" within "$burn" 100 10
workers=$( [ -n "$f" ] && go tool pprof -traces "$f" 2>/dev/null | grep -c '^ *worker$')
check "small stacks: stacks unwound past the handler down to worker" [ "${workers:-0}" -ge 4 ]

# Stack use: the app's own painted alternate stack, used as it is.
out=$(under_agent OTPROF_CPU_FREQUENCY_HZ=1000 -- "$PROGS/sigstack_depth" 1)
kernel=$(sed -n 's/.*kernel_frame=\([0-9]*\).*/\1/p' <<<"$out")
handler=$(sed -n 's/.*handler=\([0-9]*\).*/\1/p' <<<"$out")
echo "  signal stack use: kernel frame ${kernel:-?} bytes, SIGPROF handler ${handler:-?} bytes"
check "the handler runs on the app's alternate stack" [ "${handler:-0}" -ge "${kernel:-1}" ]
check "handler stack use <= 4 KiB above the kernel's frame" [ $(( ${handler:-99999} - ${kernel:-0} )) -le 4096 ]

# The agent's own signal stack is invisible to the app: a new thread reads
# no alternate stack, installs and removes its own as it would bare.
same_as_bare "sigaltstack as the app sees it" "$PROGS/sigstack_depth" query

# cgo Go program, thousands of goroutines, 100 and 1000 Hz.
if command -v go >/dev/null; then
  export GOCACHE="$BUILD/go-cache" GOPATH="$BUILD/go-path" GOFLAGS= GO111MODULE=off GOTOOLCHAIN=local
  if (cd "$WORK" && CGO_ENABLED=1 go build -o "$WORK/cgospin" "$ROOT/tests/progs/cgospin.go") >"$WORK/go-build.log" 2>&1; then
    bare=$(timeout -k 5 30 "$WORK/cgospin" 3000 2 2>&1); rb=$?
    for hz in 100 1000; do
      rm -rf "$WORK/out"
      prof=$(under_agent OTPROF_CPU_FREQUENCY_HZ=$hz OTPROF_EXPORT_INTERVAL_MS=500 -- timeout -k 5 30 "$WORK/cgospin" 3000 2 2>&1); rp=$?
      check "cgo Go at $hz Hz: exit status $rp (bare $rb)" [ "$rp" -eq 0 -a "$rb" -eq 0 ]
      check "cgo Go at $hz Hz: same output as bare" [ "$bare" = "$prof" ]
      [ "$bare" = "$prof" ] || head -5 <<<"$prof"
      top=$(for p in "$WORK"/out/cgospin.*.cpu.pb.gz; do go tool pprof -top "$p" 2>/dev/null; done)
      check "cgo Go at $hz Hz: profile names Go functions (main.goSpin)" grep -q 'main\.goSpin$' <<<"$top"
    done
  else
    fail "go build of the cgo test program"; cat "$WORK/go-build.log"
  fi
else
  fail "go is not installed (scripts/install-deps test installs golang-go)"
fi
finish
