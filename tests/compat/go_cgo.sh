# A dynamically linked cgo Go program with 4000 goroutines, at 100 and
# 1000 Hz: Go requires SA_ONSTACK of any foreign signal handler, and its
# goroutine stacks are small and unguarded. A Go program ends with a raw
# exit_group (no libc exit, no destructors, nothing the agent can see), so
# its last interval is lost (a documented limit): both runs use 100 ms
# intervals, so what is lost stays well inside the CPU total's tolerance.
source "$(dirname "$0")/lib.sh"
export GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" GO111MODULE=off GOFLAGS= CGO_ENABLED=1
if ! (cd "$COMPAT/goprog" && go build -o "$WORK/goprog" .) > "$WORK/build.log" 2>&1; then
  fail "go: build the cgo program"; sed 's/^/    /' "$WORK/build.log" | head; finish
fi
check "go: the program is dynamically linked (cgo)" grep -q "Requesting program interpreter" <(readelf -l "$WORK/goprog")
c_run bare go-100hz 120 -- "$WORK/goprog" 4000 500
cp -r "$WORK/go-100hz.bare" "$WORK/go-1000hz.bare"
c_run agent go-100hz 120 OTPROF_CPU_FREQUENCY_HZ=100 OTPROF_EXPORT_INTERVAL_MS=100 -- "$WORK/goprog" 4000 500
c_same go-100hz
c_profile go-100hz
c_run agent go-1000hz 120 OTPROF_CPU_FREQUENCY_HZ=1000 OTPROF_EXPORT_INTERVAL_MS=100 -- "$WORK/goprog" 4000 500
c_same go-1000hz
c_profile go-1000hz
finish
