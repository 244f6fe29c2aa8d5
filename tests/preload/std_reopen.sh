# A daemon that closed 0-2 and reopens /dev/null onto them while the agent
# exports to a backend that never answers: the export holds placeholders
# on the closed numbers for as long as it lasts (agent/fds.h), and the
# app's dup2 onto them must not wait for it (a placeholder is no one's
# file: the app takes the number at once).
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"

bare=$("$PROGS/std_reopen" 300)
check "bare: every dup2 and close succeeds (suite sanity; $bare)" grep -q ' failed 0 ' <<<"$bare"
rx_start reopen hang
out=$(under_agent OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=100 \
  OTPROF_EXPORT_TIMEOUT_MS=1000 OTPROF_EXPORT_SHUTDOWN_TIMEOUT_MS=500 -- "$PROGS/std_reopen" 3000)
rc=$?
failed=$(awk '{print $4}' <<<"$out")
total=$(awk '{print $8}' <<<"$out")
check "under the agent: exit 0, every dup2 and close succeeds ($out)" [ "$rc" -eq 0 -a "${failed:-1}" = 0 ]
check "the receiver got a request that hangs (the export held its placeholders meanwhile)" \
  [ "$(rx_count "$RX_DIR")" -ge 1 ]
# ~450 calls of a few microseconds each, bare. Waiting for the export's
# placeholders (the agent of e45b9ec) added 20-45 ms in all; 15 ms leaves
# room for a preempted call on a loaded machine.
check "no dup2 onto 0-2 waited for the export (${total:-?} us in all)" [ "${total:-999999}" -lt 15000 ]
finish
