#!/usr/bin/python3
"""An OTLP/gRPC receiver for otprof's tests, built on Debian's grpcio (not
on anything of ours): a generic handler, no generated stubs, the request
kept as the bytes grpcio decoded from its frame (gunzipped by grpcio when
the client said grpc-encoding: gzip).

Listens on 127.0.0.1 only. Every call is recorded in --dir as
req-NNNN.msg (the message bytes) and req-NNNN.meta ("method PATH", "wire_bytes N"
from content-length, "msg_bytes N", "time_remaining S" of the call's
deadline, then one "key: value" line per metadata entry grpcio passes on), and one line
"NNNN ANSWER PATH MONOTONIC_SECONDS" is appended to --dir/log.

--answers is a comma-separated list of answers for the calls in order; the
last one repeats:
  ok              OK, empty ExportProfilesServiceResponse
  partial         OK with partial_success {rejected_profiles: 2, error_message}
  unavailable     UNAVAILABLE
  deadline        DEADLINE_EXCEEDED
  exhausted:MS    RESOURCE_EXHAUSTED with grpc-retry-pushback-ms: MS
  invalid         INVALID_ARGUMENT with a message that needs percent-encoding
  hang            never answer
--port N binds that port (default 0 = any free port); the bound port is
written to --port-file. --tls CERT KEY serves gRPC over TLS (ALPN h2);
with --client-ca CA too, only clients with a certificate signed by CA get
through the handshake (mTLS).
"""
import argparse
import os
import sys
import threading
import time
from concurrent import futures

import grpc

# The protobuf helpers and the partial-success answer are the HTTP
# receiver's (same directory, on sys.path when run as a script).
from otlp_receiver import partial_body as partial_response  # noqa: E402

INVALID_MESSAGE = "bad profiles payload (test): 100% wrong\nsecond line"


class Recorder:
    def __init__(self, outdir, answers):
        self.outdir = outdir
        self.answers = answers
        self.n = 0
        self.lock = threading.Lock()

    def handle(self, method, request, context):
        with self.lock:
            i = self.n
            self.n += 1
        ans = self.answers[min(i, len(self.answers) - 1)]
        base = os.path.join(self.outdir, "req-%04d" % i)
        md = list(context.invocation_metadata())
        wire = next((m.value for m in md if m.key == "content-length"), "?")
        with open(base + ".msg.tmp", "wb") as f:
            f.write(request)
        with open(base + ".meta", "w") as f:
            f.write("method %s\nwire_bytes %s\nmsg_bytes %d\n" % (method, wire, len(request)))
            # the client's grpc-timeout, as grpcio's deadline (None: none)
            f.write("time_remaining %s\n" % context.time_remaining())
            for m in md:
                f.write("%s: %s\n" % (m.key, m.value))
        os.rename(base + ".msg.tmp", base + ".msg")
        with open(os.path.join(self.outdir, "log"), "a") as f:
            f.write("%04d %s %s %.3f\n" % (i, ans, method, time.monotonic()))
        if ans == "ok":
            return b""
        if ans == "partial":
            return partial_response()
        if ans == "unavailable":
            context.abort(grpc.StatusCode.UNAVAILABLE, "test: not now")
        if ans == "deadline":
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "test: too slow")
        if ans.startswith("exhausted:"):
            context.set_trailing_metadata((("grpc-retry-pushback-ms", ans.split(":", 1)[1]),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "test: slow down")
        if ans == "hang":
            time.sleep(3600)
        if ans == "invalid":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, INVALID_MESSAGE)
        context.abort(grpc.StatusCode.INTERNAL, "test: unknown answer " + ans)


class Generic(grpc.GenericRpcHandler):
    def __init__(self, rec):
        self.rec = rec

    def service(self, details):
        method = details.method

        def unary(request, context):
            return self.rec.handle(method, request, context)

        # no (de)serializers: the handler sees and returns raw bytes
        return grpc.unary_unary_rpc_method_handler(unary)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--answers", default="ok")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-ca")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    rec = Recorder(a.dir, a.answers.split(","))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2),
                         # no SO_REUSEPORT: a fixed port (4317) must fail
                         # when taken, not be shared with its owner
                         options=[("grpc.max_receive_message_length", 64 << 20),
                                  ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((Generic(rec),))
    addr = "127.0.0.1:%d" % a.port
    if a.tls:
        with open(a.tls[0], "rb") as c, open(a.tls[1], "rb") as k:
            pair = [(k.read(), c.read())]
        if a.client_ca:
            with open(a.client_ca, "rb") as ca:
                creds = grpc.ssl_server_credentials(pair, root_certificates=ca.read(),
                                                    require_client_auth=True)
        else:
            creds = grpc.ssl_server_credentials(pair)
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    if port == 0:
        sys.exit("cannot bind 127.0.0.1:%d" % a.port)
    server.start()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(a.port_file + ".tmp", a.port_file)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
