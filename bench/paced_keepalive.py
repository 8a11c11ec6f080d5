#!/usr/bin/env python3
# paced_keepalive: 200 keep-alive connections to 127.0.0.1:PORT, each sending GET /healthz every
# 100 ms (a pause longer than jobd's 50 ms linger: every request finds its connection parked),
# for SECONDS; prints the number of answers. Pair it with `perf stat -e task-clock -t <jobd pid>`.
#
#   python3 bench/paced_keepalive.py PORT SECONDS
import socket, sys, time, selectors
port, seconds = int(sys.argv[1]), float(sys.argv[2])
req = b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n"
sel = selectors.DefaultSelector()
conns = []
for i in range(200):
    s = socket.create_connection(("127.0.0.1", port)); s.setblocking(False)
    conns.append(s); sel.register(s, selectors.EVENT_READ)
due = {s: time.monotonic() + (i % 100) / 1000 for i, s in enumerate(conns)}
done = 0; end = time.monotonic() + seconds
while time.monotonic() < end:
    now = time.monotonic()
    for s, t in due.items():
        if t is not None and t <= now:
            s.send(req); due[s] = None
    for key, _ in sel.select(timeout=0.002):
        s = key.fileobj
        data = s.recv(4096)
        if b'"ok":true}}' in data or data.endswith(b"}"):
            done += 1; due[s] = time.monotonic() + 0.1
print(done)
