#!/usr/bin/env python3
"""The bad-input table: sends each hostile request of the hardening issue to a running jobd on
127.0.0.1 (raw sockets, one connection per case), prints expected and observed answers as a
Markdown table, and checks after each case that the server still answers /healthz.

    python3 bench/bad_input.py PATH/TO/jobd

Exit status 1 when an observed answer differs from the expected one or the server went down.
The same cases are asserted by tests/integration/{http,security}_test.cpp; this prints them.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

JSON = "Content-Type: application/json\r\n"


def post(body: bytes, extra: str = "") -> bytes:
    head = f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n{JSON}{extra}Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


CASES = [
    # (case, request bytes, expected status, expected problem type or None)
    ("100 KB header line", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n",
     431, "/problems/headers-too-large"),
    ("10,000 headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)) + b"\r\n", 431, "/problems/headers-too-large"),
    ("invalid chunk size", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     400, "/problems/bad-request"),
    ("chunk data longer than its size", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\n{}XX0\r\n\r\n", 400, "/problems/bad-request"),
    ("Transfer-Encoding and Content-Length", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Length: 2\r\n\r\n0\r\n\r\n", 400, "/problems/bad-request"),
    ("Transfer-Encoding: gzip (not chunked)", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}",
     400, "/problems/bad-request"),
    ("Content-Length: abc", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400,
     "/problems/bad-request"),
    ("Content-Length: -1", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400,
     "/problems/bad-request"),
    ("two different Content-Lengths", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Content-Length: 3\r\n\r\n{}", 400, "/problems/bad-request"),
    ("Content-Length: 10 GB (announced)", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n",
     413, "/problems/body-too-large"),
    ("HTTP/0.9 request line", b"GET /healthz\r\n\r\n", 400, "/problems/bad-request"),
    ("HTTP/2 prior-knowledge preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "/problems/http-version"),
    ("HTTP/3.0 request line", b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n", 505, "/problems/http-version"),
    ("binary garbage", bytes(range(256)) * 4, 400, "/problems/bad-request"),
    ("non-UTF-8 JSON", post(b'{"kind":"ec\xff\xfeho"}'), 400, "/problems/bad-json"),
    ("JSON nested 100,000 levels", post(b"[" * 100_000 + b"]" * 100_000), 400, "/problems/bad-json"),
    ("number 1e999", post(b'{"kind":"primes","params":{"n":1e999}}'), 400, "/problems/bad-json"),
    ("integer with 30 digits", post(b'{"kind":"primes","params":{"n":123456789012345678901234567890}}'), 400,
     "/problems/invalid-params"),
    ("duplicate keys", post(b'{"kind":"echo","kind":"sleep"}'), 400, "/problems/bad-json"),
    ("JSON that is a string", post(b'"just a string"'), 400, "/problems/invalid-request"),
    ("empty body", post(b""), 400, "/problems/bad-json"),
    ("text/plain body", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
     415, "/problems/unsupported-media-type"),
    ("unknown kind", post(b'{"kind":"rm -rf /"}'), 400, "/problems/unknown-kind"),
    ("unknown param", post(b'{"kind":"sleep","params":{"ms":1,"x":2}}'), 400, "/problems/invalid-params"),
    ("path traversal in job id", b"GET /v1/jobs/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n", 404,
     "/problems/job-not-found"),
    ("?wait=1e400", post(b'{"kind":"echo"}').replace(b"/v1/jobs", b"/v1/jobs?wait=1e400", 1), 400,
     "/problems/invalid-query"),
    ("?limit=2^64", b"GET /v1/jobs?limit=18446744073709551616 HTTP/1.1\r\nHost: x\r\n\r\n", 400,
     "/problems/invalid-query"),
]


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-send: the answer is still to be read
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
    return data


def parse(answer: bytes):
    if not answer.startswith(b"HTTP/1."):
        return 0, None
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    try:
        kind = json.loads(body).get("type")
    except ValueError:
        kind = None
    return status, kind


def healthy(port: int) -> bool:
    return exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")


def main() -> int:
    jobd = sys.argv[1] if len(sys.argv) > 1 else "build/server/jobd"
    with tempfile.TemporaryDirectory() as work:
        port_file = os.path.join(work, "port")
        server = subprocess.Popen([jobd, "--listen", "127.0.0.1:0", "--port-file", port_file, "--log-level", "warn",
                                   "--store", "sqlite:" + os.path.join(work, "jobd.db")],
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                if os.path.exists(port_file):
                    break
                time.sleep(0.05)
            port = int(open(port_file).read())
            print("| case | expected | observed | server up after |")
            print("|---|---|---|---|")
            failures = 0
            for name, request, status, kind in CASES:
                observed_status, observed_kind = parse(exchange(port, request))
                up = healthy(port)
                ok = observed_status == status and observed_kind == kind and up
                failures += not ok
                print(f"| {name} | {status} `{kind}` | {observed_status} `{observed_kind}`{'' if ok else ' ✗'} | "
                      f"{'yes' if up else 'NO'} |")
            print(f"\n{len(CASES) - failures} of {len(CASES)} as expected; jobd pid {server.pid} "
                  f"{'still running' if server.poll() is None else 'EXITED'}")
            return 1 if failures or server.poll() is not None else 0
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
