#!/usr/bin/python3
"""A tiny OTLP/HTTP receiver for otprof's tests (standard library only).

Listens on 127.0.0.1 only. Every POST is recorded in --dir as
req-NNNN.body (the body as received, possibly gzipped) and req-NNNN.headers
("METHOD PATH" then one "Name: value" line per header), and one line
"NNNN STATUS PATH MONOTONIC_SECONDS" is appended to --dir/log after the
answer was decided.

--answers is a comma-separated list of answers for the requests in order;
the last one repeats:
  200          success (empty ExportProfilesServiceResponse)
  400          google.rpc.Status with a message, not retryable
  503 / 429    retryable, no Retry-After
  503ra1       503 with "Retry-After: 1"
  503date      503 with Retry-After as an HTTP-date two seconds ahead
  partial      200 with partial_success {rejected_profiles: 2, error_message}
  hang         read the request, then never answer
  close        read the request, then close the connection without answering

--port N binds that port (default 0 = any free port); the port actually
bound is written to --port-file. --tls CERT KEY serves HTTPS with that
certificate; --client-ca CA then also requires a client certificate
signed by CA (mTLS).
"""
import argparse
import email.utils
import http.server
import os
import socketserver
import ssl
import sys
import threading
import time

PARTIAL_MESSAGE = b"2 profiles dropped: test says so"
STATUS_MESSAGE = b"bad profiles payload (test)"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3 | 0) + varint(v)


def partial_body():
    ps = field_varint(1, 2) + field_bytes(2, PARTIAL_MESSAGE)
    return field_bytes(1, ps)


def status_body(code):
    return field_varint(1, code) + field_bytes(2, STATUS_MESSAGE)


class State:
    def __init__(self, outdir, answers):
        self.outdir = outdir
        self.answers = answers
        self.n = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            i = self.n
            self.n += 1
        ans = self.answers[min(i, len(self.answers) - 1)]
        return i, ans


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_POST(self):
        st = self.state
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        i, ans = st.next()
        base = os.path.join(st.outdir, "req-%04d" % i)
        with open(base + ".body.tmp", "wb") as f:
            f.write(body)
        with open(base + ".headers.tmp", "w") as f:
            f.write("%s %s\n" % (self.command, self.path))
            for k, v in self.headers.items():
                f.write("%s: %s\n" % (k, v))
        os.rename(base + ".body.tmp", base + ".body")
        os.rename(base + ".headers.tmp", base + ".headers")
        status = {"hang": 0, "close": 0, "partial": 200}.get(ans)
        if status is None:
            status = int(ans[:3])
        with st.lock, open(os.path.join(st.outdir, "log"), "a") as f:
            f.write("%04d %s %s %.3f\n" % (i, ans, self.path, time.monotonic()))
        if ans == "hang":
            while True:
                time.sleep(3600)
        if ans == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        extra = []
        if ans == "partial":
            payload = partial_body()
        elif status == 200:
            payload = b""
        elif status == 400:
            payload = status_body(3)
        else:
            payload = status_body(14)
            if ans.endswith("ra1"):
                extra.append(("Retry-After", "1"))
            elif ans.endswith("date"):
                extra.append(("Retry-After", email.utils.formatdate(time.time() + 2, usegmt=True)))
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--answers", default="200")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-ca")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    Handler.state = State(a.dir, a.answers.split(","))
    srv = Server(("127.0.0.1", a.port), Handler)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        if a.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(a.client_ca)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
