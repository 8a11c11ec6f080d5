#!/usr/bin/env python3
"""process_respawn: how fast the `process` executor replaces a dead worker.

Starts jobd with --test-kinds on an ephemeral 127.0.0.1 port, crashes a worker N times (one
`crash {signal: 9}` job at a time, each waited for), and reads jobd's own measurement from its
log: for every replacement the pool logs "respawn <us> us", the time from the moment it learnt
of the death (the worker's pidfd turned readable) or killed the worker, to the replacement's
hello frame, i.e. to a worker able to take the next job. Prints median, p90 and max.

    python3 bench/process_respawn.py build/server/jobd [--crashes 100] [--workers 2]
    python3 bench/process_respawn.py build/server/jobd --kill   # deadline kills instead of crashes

Standard library only; bounded (each request has a timeout, jobd is killed at the end).
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def post(port, body, wait=10):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/jobs?wait={wait}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=wait + 5) as response:
        return json.loads(response.read())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("jobd")
    parser.add_argument("--crashes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill", action="store_true", help="end workers by job deadline (SIGKILL from jobd)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        log_path = os.path.join(tmp, "log")
        with open(log_path, "w") as log:
            jobd = subprocess.Popen(
                [args.jobd, "--listen", "127.0.0.1:0", "--port-file", port_file, "--test-kinds",
                 "--store", "sqlite:" + os.path.join(tmp, "jobd.db"),
                 "--workers", str(args.workers)],
                stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(port_file) and time.monotonic() < deadline:
                time.sleep(0.01)
            port = int(open(port_file).read())
            time.sleep(0.2)  # the pool comes up
            for _ in range(args.crashes):
                if args.kill:
                    body = {"kind": "spin", "params": {"ms": 10000}, "executor": "process", "timeout_ms": 20}
                else:
                    body = {"kind": "crash", "params": {"signal": 9}, "executor": "process"}
                job = post(port, body)
                expected = "timed_out" if args.kill else "failed"
                if job["state"] != expected:
                    sys.exit(f"unexpected job: {job}")
                # Let the replacement come up before the next death, so that each is measured alone.
                time.sleep(0.01)
            time.sleep(0.2)
        finally:
            jobd.send_signal(signal.SIGTERM)
            try:
                jobd.wait(timeout=20)
            except subprocess.TimeoutExpired:
                jobd.kill()
        times = [int(m.group(1)) for m in re.finditer(r"respawn (\d+) us", open(log_path).read())]
    if len(times) < args.crashes:
        sys.exit(f"only {len(times)} respawns logged for {args.crashes} deaths")
    times.sort()
    p90 = times[int(0.9 * (len(times) - 1))]
    cause = "deadline kill" if args.kill else "SIGKILL crash"
    print(f"respawn ({cause}, {len(times)} deaths, {args.workers} workers): "
          f"median_us={statistics.median(times):.0f} p90_us={p90} max_us={times[-1]} min_us={times[0]}")


if __name__ == "__main__":
    main()
