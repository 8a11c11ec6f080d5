#!/usr/bin/python3
"""Python reference server for jobd's benchmarks.

Implements the part of jobd's HTTP contract that the load tests drive
(POST /v1/jobs with ?wait=, GET /v1/jobs/{id}, GET /healthz) the way a
competent Python developer would write it: aiohttp on asyncio (uvloop when
installed), loop kinds as coroutines, CPU kinds through concurrent.futures
(ThreadPoolExecutor or ProcessPoolExecutor via loop.run_in_executor), and the
subprocess kind through asyncio.create_subprocess_exec.

It exists to be measured against, so it aims to be fair rather than minimal:
no access log, a warmed-up process pool, a bounded job table, and no work that
jobd does not also do. Where it does *less* than jobd (see the NOTE comments)
that favours Python, which keeps the comparison conservative.

Run with Debian's interpreter (the packages are python3-aiohttp, python3-uvloop):
    /usr/bin/python3 bench/pyref/server.py --port 8081
"""

import argparse
import asyncio
import concurrent.futures
import hashlib
import json
import math
import os
import sys
import uuid
from datetime import datetime, timezone

from aiohttp import web

# --- limits (named so that they are easy to line up with jobd's) -------------
MAX_WAIT_S = 60                  # ?wait= upper bound, as in jobd
MAX_BODY_BYTES = 1 << 20         # larger bodies get 413 from aiohttp
MAX_SLEEP_MS = 3_600_000
MAX_PRIMES_N = 100_000_000       # sieve bytearray of n+1 bytes: 100 MB at most
MAX_SHA256_ROUNDS = 10_000_000
DEFAULT_RETAIN = 10_000          # finished and unfinished job records kept for GET

# --- job kinds ----------------------------------------------------------------
# Each kind: allowed executors (first one is the default) and a validator that
# returns (pointer, message) for the first bad field, or None.


def count_primes(n: int) -> int:
    """Count primes <= n with a sieve of Eratosthenes.

    Same algorithm family as jobd's `primes` kind (plain sieve, no wheel, no
    segmenting). The inner marking is a bytearray slice assignment, i.e. the
    idiomatic fast Python form that runs the crossing-out loop in C.
    Module-level so that ProcessPoolExecutor can pickle it.
    """
    if n < 2:
        return 0
    sieve = bytearray(b"\x01") * (n + 1)
    sieve[0] = sieve[1] = 0
    for i in range(2, math.isqrt(n) + 1):
        if sieve[i]:
            start = i * i
            sieve[start::i] = bytes((n - start) // i + 1)
    return sieve.count(1)


def sha256_rounds(data: str, rounds: int) -> str:
    """SHA-256 of `data` (UTF-8), then of the digest, `rounds` times; hex digest."""
    digest = data.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_field(params, name, lo, hi, required=True):
    if name not in params:
        return None if not required else (f"/params/{name}", f"'{name}' is required")
    v = params[name]
    if not _is_int(v) or not lo <= v <= hi:
        return (f"/params/{name}", f"'{name}' must be an integer in [{lo}, {hi}]")
    return None


def _validate_echo(params):
    return None


def _validate_sleep(params):
    return _int_field(params, "ms", 0, MAX_SLEEP_MS)


def _validate_primes(params):
    return _int_field(params, "n", 0, MAX_PRIMES_N)


def _validate_sha256(params):
    if not isinstance(params.get("data"), str):
        return ("/params/data", "'data' must be a string")
    return _int_field(params, "rounds", 1, MAX_SHA256_ROUNDS, required=False)


def _validate_none(params):
    return None


KINDS = {
    "echo": (("loop",), _validate_echo),
    "sleep": (("loop",), _validate_sleep),
    "primes": (("thread", "process"), _validate_primes),
    "sha256": (("thread", "process"), _validate_sha256),
    "true": (("subprocess",), _validate_none),
}
STATES_FINISHED = ("succeeded", "failed", "cancelled", "timed_out")


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobFailed(Exception):
    def __init__(self, type_: str, message: str):
        super().__init__(message)
        self.type = type_
        self.message = message


class Job:
    __slots__ = ("record", "done")

    def __init__(self, kind, executor, params, done):
        self.record = {
            "id": str(uuid.uuid4()),
            "kind": kind,
            "executor": executor,
            "state": "queued",
            "params": params,
            "created_at": now_rfc3339(),
            "started_at": None,
            "finished_at": None,
        }
        self.done = done  # asyncio.Future resolved when the job finishes


class Runner:
    """Owns the job table and the executors; everything runs on the loop thread."""

    def __init__(self, threads: int, processes: int, retain: int):
        self.threads = concurrent.futures.ThreadPoolExecutor(max_workers=threads)
        self.processes = concurrent.futures.ProcessPoolExecutor(max_workers=processes)
        self.n_processes = processes
        self.retain = retain
        self.jobs = {}       # id -> Job, insertion ordered, trimmed to `retain`
        self.tasks = set()   # strong refs so running tasks are not collected

    async def warm_up(self):
        # Start every pool worker now rather than on the first measured request.
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self.processes, count_primes, 10)
                               for _ in range(self.n_processes * 2)))
        await loop.run_in_executor(self.threads, count_primes, 10)

    def shutdown(self):
        self.threads.shutdown(wait=False, cancel_futures=True)
        self.processes.shutdown(wait=False, cancel_futures=True)

    def submit(self, kind, executor, params, timeout_ms) -> Job:
        loop = asyncio.get_running_loop()
        job = Job(kind, executor, params, loop.create_future())
        self.jobs[job.record["id"]] = job
        while len(self.jobs) > self.retain:
            del self.jobs[next(iter(self.jobs))]
        task = loop.create_task(self._run(job, timeout_ms))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job

    async def _run(self, job: Job, timeout_ms):
        rec = job.record
        # NOTE: for thread/process jobs "running" starts when the job is handed to
        # the executor, not when a worker picks it up: concurrent.futures does not
        # tell the loop, and asking it (call_soon_threadsafe) would cost a wake-up.
        rec["state"] = "running"
        rec["started_at"] = now_rfc3339()
        try:
            coro = self._execute(rec["kind"], rec["executor"], rec["params"])
            if timeout_ms is not None:
                result = await asyncio.wait_for(coro, timeout_ms / 1000)
            else:
                result = await coro
            rec["state"] = "succeeded"
            rec["result"] = result
        except asyncio.TimeoutError:
            # NOTE: a thread or process-pool job keeps running to completion in its
            # worker after this: concurrent.futures cannot stop a started call.
            rec["state"] = "timed_out"
            rec["error"] = {"type": "timeout", "message": f"job exceeded timeout_ms={timeout_ms}"}
        except asyncio.CancelledError:
            rec["state"] = "cancelled"
            rec["error"] = {"type": "cancelled", "message": "job was cancelled"}
        except JobFailed as e:
            rec["state"] = "failed"
            rec["error"] = {"type": e.type, "message": e.message}
        except concurrent.futures.process.BrokenProcessPool as e:
            rec["state"] = "failed"
            rec["error"] = {"type": "worker-died", "message": str(e) or "process pool broken"}
        except Exception as e:  # a bug in a kind fails that job only
            rec["state"] = "failed"
            rec["error"] = {"type": "exception", "message": f"{type(e).__name__}: {e}"}
        rec["finished_at"] = now_rfc3339()
        job.done.set_result(None)

    async def _execute(self, kind, executor, params):
        if kind == "echo":
            return params
        if kind == "sleep":
            await asyncio.sleep(params["ms"] / 1000)
            return {"slept_ms": params["ms"]}
        if kind in ("primes", "sha256"):
            pool = self.threads if executor == "thread" else self.processes
            loop = asyncio.get_running_loop()
            if kind == "primes":
                return {"count": await loop.run_in_executor(pool, count_primes, params["n"])}
            digest = await loop.run_in_executor(
                pool, sha256_rounds, params["data"], params.get("rounds", 1))
            return {"digest": digest}
        if kind == "true":
            return await self._run_subprocess(["/bin/true"])
        raise JobFailed("unknown-kind", kind)

    async def _run_subprocess(self, argv):
        # Like jobd: argv without a shell, a scrubbed environment, its own
        # process group, output read asynchronously.
        # NOTE: jobd also gives each subprocess a fresh working directory and caps
        # output; this does neither (it is cheaper, so it favours Python).
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={}, start_new_session=True)
        try:
            await proc.communicate()
        except BaseException:  # timeout or cancel: do not leave the child running
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        rc = proc.returncode
        if rc != 0:
            if rc < 0:
                raise JobFailed("signal", f"subprocess killed by signal {-rc}")
            raise JobFailed("exit-code", f"subprocess exited with code {rc}")
        return {"exit_code": rc}


# --- HTTP ---------------------------------------------------------------------

def problem(status: int, slug: str, title: str, detail: str, pointer: str | None = None):
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    if pointer is not None:
        body["pointer"] = pointer
    return web.Response(status=status, text=json.dumps(body),
                        content_type="application/problem+json")


def parse_wait(request):
    """Returns (seconds, None) or (None, problem response)."""
    raw = request.query.get("wait")
    if raw is None:
        return 0.0, None
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT_S:  # also rejects NaN
        return None, problem(400, "invalid-wait", "Invalid wait",
                             f"wait must be a number of seconds in [0, {MAX_WAIT_S}]")
    return wait, None


async def wait_and_respond(job: Job, wait: float, location: str | None):
    if wait > 0 and not job.done.done():
        try:
            await asyncio.wait_for(asyncio.shield(job.done), wait)
        except asyncio.TimeoutError:
            pass
    finished = job.done.done()
    headers = {"Location": location} if location else None
    return web.json_response(job.record, status=200 if finished else 202, headers=headers)


async def post_job(request):
    # Not request.content_type: in aiohttp 3.8 it runs the email package's header
    # parser (~100 us per call here, more than the rest of this handler).
    ctype = request.headers.get("Content-Type")
    if ctype is not None and ctype.partition(";")[0].strip().lower() != "application/json":
        return problem(415, "unsupported-media-type", "Unsupported media type",
                       "the body must be application/json")
    wait, err = parse_wait(request)
    if err is not None:
        return err
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as e:
        return problem(400, "invalid-json", "Invalid JSON", str(e))
    if not isinstance(body, dict):
        return problem(400, "invalid-request", "Invalid request", "the body must be a JSON object", "")
    kind = body.get("kind")
    if not isinstance(kind, str):
        return problem(400, "invalid-request", "Invalid request", "'kind' must be a string", "/kind")
    spec = KINDS.get(kind)
    if spec is None:
        return problem(400, "unknown-kind", "Unknown kind", f"no kind named '{kind}'", "/kind")
    executors, validate = spec
    params = body.get("params", {})
    if not isinstance(params, dict):
        return problem(400, "invalid-params", "Invalid params", "'params' must be an object", "/params")
    bad = validate(params)
    if bad:
        return problem(400, "invalid-params", "Invalid params", bad[1], bad[0])
    executor = body.get("executor", executors[0])
    if executor not in executors:
        return problem(400, "executor-not-allowed", "Executor not allowed",
                       f"kind '{kind}' runs on: {', '.join(executors)}", "/executor")
    timeout_ms = body.get("timeout_ms")
    if timeout_ms is not None and (not _is_int(timeout_ms) or timeout_ms <= 0):
        return problem(400, "invalid-request", "Invalid request",
                       "'timeout_ms' must be a positive integer", "/timeout_ms")
    job = request.app["runner"].submit(kind, executor, params, timeout_ms)
    return await wait_and_respond(job, wait, f"/v1/jobs/{job.record['id']}")


async def get_job(request):
    job = request.app["runner"].jobs.get(request.match_info["id"])
    if job is None:
        return problem(404, "job-not-found", "Job not found", "no such job (or it has been dropped)")
    wait, err = parse_wait(request)
    if err is not None:
        return err
    return await wait_and_respond(job, wait, None)


async def healthz(request):
    return web.json_response({"status": "ok"})


def make_app(threads: int, processes: int, retain: int) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/v1/jobs", post_job)
    app.router.add_get("/v1/jobs/{id}", get_job)
    app.router.add_get("/healthz", healthz)

    async def on_startup(app):
        app["runner"] = Runner(threads, processes, retain)
        await app["runner"].warm_up()

    async def on_cleanup(app):
        app["runner"].shutdown()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def main(argv=None):
    cpus = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--threads", type=int, default=cpus, help="thread pool size (default: CPUs)")
    ap.add_argument("--processes", type=int, default=cpus, help="process pool size (default: CPUs)")
    ap.add_argument("--retain", type=int, default=DEFAULT_RETAIN, help="job records kept for GET")
    ap.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    args = ap.parse_args(argv)

    loop_name = "asyncio"
    if not args.no_uvloop:
        try:
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            loop_name = f"uvloop {uvloop.__version__}"
        except ImportError:
            print("uvloop not installed (apt-get install python3-uvloop); using asyncio",
                  file=sys.stderr)
    print(f"pyref: {loop_name}, threads={args.threads}, processes={args.processes}, "
          f"listening on http://{args.host}:{args.port}", flush=True)
    web.run_app(make_app(args.threads, args.processes, args.retain), host=args.host,
                port=args.port, access_log=None, backlog=1024, print=None)


if __name__ == "__main__":
    main()
