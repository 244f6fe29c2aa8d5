# Helpers for the OTLP/gRPC shell tests (otlp_grpc.sh, otlp_grpc_env.sh),
# sourced after tests/tools/otlp_lib.sh: a gRPC server that is not ours
# (Debian's grpcio, tests/tools/grpc_receiver.py) and the requests decoded
# by Python code protoc generates from the repo's proto/ files.
GRX="$ROOT/tests/tools/grpc_receiver.py"
DECODE="$ROOT/tests/tools/grpc_decode.py"
METHOD=/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export

# grpc_prereqs: grpcio, protobuf and protoc are there, and the generated
# code is in $WORK/pb. Fails the test and ends it otherwise.
grpc_prereqs() {
  if ! $PY -c 'import grpc, google.protobuf' 2> /dev/null || ! command -v protoc > /dev/null; then
    fail "python3-grpcio, python3-protobuf and protobuf-compiler are installed (scripts/install-deps test)"
    finish
  fi
  mkdir -p "$WORK/pb"
  check "protoc generates Python code from proto/" \
    protoc --proto_path="$ROOT/proto" --python_out="$WORK/pb" "$ROOT"/proto/otlp_common.proto \
    "$ROOT"/proto/otlp_resource.proto "$ROOT"/proto/otlp_profiles.proto "$ROOT"/proto/otlp_profiles_service.proto
}

# grx_start NAME ANSWERS [PORT [receiver options]]: rx_start with a
# grpcio receiver.
grx_start() { RX_SCRIPT="$GRX" rx_start "$@"; }
msgs() { ls "$1"/req-*.msg 2> /dev/null | sort; }
nmsgs() { msgs "$1" | wc -l; }
# meta DIR KEY [N]: the value of KEY ("key value" or "key: value") in call
# N's (default 0) .meta file; empty if absent.
meta() {
  awk -v k="$2" '$1 == k || $1 == k ":" { sub(/^[^ ]+ /, ""); print; exit }' \
    "$1/req-$(printf %04d "${3:-0}").meta" 2> /dev/null
}
# wire DIR [N]: "gzip" when call N's frame was smaller on the wire than the
# message grpcio made of it (grpcio only gunzips for grpc-encoding: gzip
# and the frame's compressed flag), "none" when the wire held the message
# plus the 5-byte prefix, else "?".
wire() {
  local w m
  w=$(meta "$1" wire_bytes "${2:-0}"); m=$(meta "$1" msg_bytes "${2:-0}")
  awk -v w="${w:-x}" -v m="${m:-x}" 'BEGIN {
    if (w !~ /^[0-9]+$/ || m !~ /^[0-9]+$/) print "?"
    else if (w + 0 == m + 5) print "none"
    else if (w - 5 < m + 0) print "gzip"
    else print "?" }'
}
