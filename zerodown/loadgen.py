"""A load generator that counts every response.

Tests use it to prove that a deployment failed no request: each request
sent ends in exactly one outcome, a status or an error kind, so
``sent == ok + failed()`` always holds.

    result = run_load_sync("http://127.0.0.1:8080/", connections=8, duration=5)
    with LoadInBackground("http://127.0.0.1:8080/") as load:
        ...deploy...
    result = load.result

Each connection keeps alive and sends requests back to back. A server that
closes a connection after a complete response is fine (we reconnect). A
connection closed or reset before the complete response is an error, unless
``retry_idempotent_once`` is set and the request was idempotent, went out on
a reused connection and got no byte back: then it is retried once on a new
connection, like browsers and urllib3 do, and counted in ``retried``.

Command line: ``python -m zerodown.loadgen URL -c 8 -d 5 [-H 'Name: v'] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from zerodown.errors import UsageError

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency, but stay usable
    uvloop = None

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
LATENCY_SAMPLE = 100_000
FAILURE_LOG = 50
MISSING = "(missing)"


# --- the result ---------------------------------------------------------------

@dataclass
class LoadResult:
    """Every request sent and how it ended."""

    sent: int = 0
    ok: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    latencies_ms: list[float] = field(default_factory=list)   # bounded reservoir
    by_header: dict[str, dict[str, int]] = field(default_factory=dict)
    duration_s: float = 0.0
    max_latency_ms: float = 0.0
    failures: list[tuple[float, str]] = field(default_factory=list)  # first few (t, what)

    def failed(self) -> int:
        """Responses that were not 2xx/3xx, plus requests that got no response."""
        bad = sum(n for code, n in self.statuses.items() if not 200 <= code < 400)
        return bad + sum(self.errors.values())

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100) of latency in ms; 0.0 with no sample."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]

    def p50(self) -> float:
        return self.percentile(50)

    def p99(self) -> float:
        return self.percentile(99)

    def rps(self) -> float:
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {"sent": self.sent, "ok": self.ok, "failed": self.failed(),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "errors": dict(self.errors), "retried": self.retried,
                "by_header": self.by_header, "duration_s": round(self.duration_s, 3),
                "rps": round(self.rps(), 1), "p50_ms": round(self.p50(), 3),
                "p99_ms": round(self.p99(), 3),
                "max_ms": round(self.max_latency_ms, 3),
                "failures": [[round(t, 3), what] for t, what in self.failures]}

    def summary(self) -> str:
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        lines = [f"{self.sent} requests in {self.duration_s:.2f}s "
                 f"({self.rps():.0f} req/s), statuses {statuses or '-'}",
                 f"latency p50 {self.p50():.2f} ms, p99 {self.p99():.2f} ms, "
                 f"max {self.max_latency_ms:.2f} ms"]
        if self.errors:
            lines.append("errors: " + ", ".join(f"{k}: {v}" for k, v in self.errors.items()))
        if self.retried:
            lines.append(f"retried once: {self.retried}")
        for name, values in self.by_header.items():
            lines.append(f"{name}: " + ", ".join(f"{k}: {v}" for k, v in sorted(values.items())))
        lines.append(f"{self.sent - self.failed()} passed, {self.failed()} failed")
        return "\n".join(lines)


class _Recorder:
    """Adds outcomes to a LoadResult; one per run, used from one event loop."""

    def __init__(self, result: LoadResult, count_header: str | None):
        self.result = result
        self.count_header = count_header
        self.counts = result.by_header.setdefault(count_header, {}) if count_header else None
        self.seen = 0
        self.started = time.monotonic()

    def response(self, status: int, header_value: str | None, latency_ms: float):
        r = self.result
        r.sent += 1
        r.statuses[status] = r.statuses.get(status, 0) + 1
        if 200 <= status < 400:
            r.ok += 1
        else:
            self._log_failure(f"HTTP {status}")
        if self.counts is not None:
            key = header_value if header_value is not None else MISSING
            self.counts[key] = self.counts.get(key, 0) + 1
        self._sample(latency_ms)

    def error(self, kind: str):
        r = self.result
        r.sent += 1
        r.errors[kind] = r.errors.get(kind, 0) + 1
        self._log_failure(kind)

    def _log_failure(self, what: str):
        if len(self.result.failures) < FAILURE_LOG:
            self.result.failures.append((time.monotonic() - self.started, what))

    def _sample(self, latency_ms: float):
        r = self.result
        self.seen += 1
        if latency_ms > r.max_latency_ms:
            r.max_latency_ms = latency_ms
        if len(r.latencies_ms) < LATENCY_SAMPLE:
            r.latencies_ms.append(latency_ms)
        else:   # reservoir sampling keeps a uniform, bounded sample
            slot = random.randrange(self.seen)
            if slot < LATENCY_SAMPLE:
                r.latencies_ms[slot] = latency_ms


# --- one connection -------------------------------------------------------------

class _Failure(Exception):
    """A request got no complete response; `kind` is what LoadResult counts."""

    def __init__(self, kind: str, got_bytes: bool):
        super().__init__(kind)
        self.kind = kind
        self.got_bytes = got_bytes


@dataclass
class _Reply:
    status: int
    header_value: str | None
    keep_alive: bool


class _Connection(asyncio.Protocol):
    """A keep-alive client connection that runs one request at a time."""

    def __init__(self, count_header: bytes | None):
        self.count_header = count_header
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.used = 0           # complete responses received so far
        self._reset_message()

    def _reset_message(self):
        self.got_bytes = False
        self.header_value: str | None = None
        self.framed = False        # Content-Length or Transfer-Encoding seen
        self.until_close = False   # body framed by connection close

    # asyncio

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.waiter is None or self.waiter.done():
            self.transport.close()   # bytes nobody asked for: not ours to trust
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail("bad response", e)

    def connection_lost(self, exc):
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.until_close and exc is None:
            self.on_message_complete()
            return
        where = "mid-response" if self.got_bytes else "before response"
        kind = "reset" if isinstance(exc, ConnectionResetError) else "closed"
        self._fail(f"{kind} {where}", exc)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes):
        name = name.lower()
        if name == self.count_header:
            self.header_value = value.decode("latin-1")
        elif name in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self):
        status = self.parser.get_status_code()
        self.until_close = (not self.framed and status >= 200
                            and status not in (204, 304))

    def on_message_complete(self):
        status = self.parser.get_status_code()
        if status < 200:
            self._reset_message()   # 1xx: the real response follows
            self.got_bytes = True
            return
        keep = self.parser.should_keep_alive() and not self.until_close
        self.used += 1
        self._settle(_Reply(status, self.header_value, keep))

    # the request

    def request(self, data: bytes, timeout: float) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        self._reset_message()
        self.waiter = loop.create_future()
        self.timer = loop.call_later(timeout, self._fail, "timeout", None)
        self.transport.write(data)
        return self.waiter

    def _settle(self, reply: _Reply):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(reply)

    def _fail(self, kind: str, exc: BaseException | None):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(_Failure(kind, self.got_bytes))
        self.close()

    def close(self):
        self.closed = True
        if self.transport is not None:
            self.transport.close()


# --- the run ----------------------------------------------------------------------

@dataclass
class _Target:
    host: str
    port: int
    request: bytes
    idempotent: bool


def _target(url: str, method: str, headers: dict | None, body: bytes | None) -> _Target:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise UsageError(f"loadgen: only http://HOST[:PORT]/PATH URLs are supported, got {url!r}")
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    given = {k.lower() for k in (headers or {})}
    lines = [f"{method} {path} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {parts.netloc}")
    if "user-agent" not in given:
        lines.append("User-Agent: zerodown-loadgen")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return _Target(parts.hostname, port, head + (body or b""), method in IDEMPOTENT)


def _connect_error_kind(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect refused"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "connect timeout"
    if isinstance(exc, OSError) and exc.errno in errno.errorcode:
        return f"connect error ({errno.errorcode[exc.errno]})"
    return f"connect error ({type(exc).__name__})"


class _Run:
    """Shared state of one run_load call: the budget, the pace and the tally."""

    def __init__(self, target: _Target, *, requests, deadline, stop, rate,
                 timeout, retry, recorder: _Recorder, count_header):
        self.target = target
        self.left = requests          # None: unbounded by count
        self.deadline = deadline      # time.monotonic() or None
        self.stop = stop
        self.rate = rate
        self.timeout = timeout
        self.retry = retry and target.idempotent
        self.rec = recorder
        self.count_header = count_header.lower().encode() if count_header else None
        self.issued = 0
        self.started = time.monotonic()

    def take(self) -> bool:
        """Reserve one request, or say the run is over."""
        if self.stop is not None and self.stop.is_set():
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        if self.left is not None:
            if self.left <= 0:
                return False
            self.left -= 1
        self.issued += 1
        return True

    async def pace(self) -> bool:
        """With a rate, wait for this request's turn; False if the run ended meanwhile."""
        if not self.rate:
            return True
        due = self.started + (self.issued - 1) / self.rate
        delay = due - time.monotonic()
        if delay > 0:
            await self._wait(delay)
        return self.stop is None or not self.stop.is_set()

    async def _wait(self, delay: float):
        if self.stop is None:
            await asyncio.sleep(delay)
            return
        try:
            await asyncio.wait_for(self.stop.wait(), delay)
        except (TimeoutError, asyncio.TimeoutError):
            pass

    async def connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        t = self.target
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(self.count_header), t.host, t.port),
            self.timeout)
        return conn

    async def worker(self):
        conn: _Connection | None = None
        connect_failures = 0
        try:
            while self.take():
                if not await self.pace():
                    break   # stopped while waiting for its turn: never sent
                conn, connected = await self.one(conn)
                connect_failures = 0 if connected else connect_failures + 1
                if connect_failures:
                    # a dead server must not turn the loop into a busy spin
                    await self._wait(min(0.1, 0.002 * 2 ** min(connect_failures, 6)))
        finally:
            if conn is not None:
                conn.close()

    async def one(self, conn: _Connection | None) -> tuple[_Connection | None, bool]:
        """Send one request (and maybe its one retry); returns (connection, connected)."""
        started = time.perf_counter()
        for attempt in (0, 1):
            if conn is None or conn.closed:
                try:
                    conn = await self.connect()
                except (OSError, asyncio.TimeoutError) as e:
                    self.rec.error(_connect_error_kind(e))
                    return None, False
            reused = conn.used > 0
            try:
                reply = await conn.request(self.target.request, self.timeout)
            except _Failure as f:
                conn = None
                if attempt == 0 and self.retry and reused and not f.got_bytes \
                        and f.kind != "timeout":
                    self.rec.result.retried += 1
                    continue
                self.rec.error(f.kind)
                return None, True
            latency = (time.perf_counter() - started) * 1000
            self.rec.response(reply.status, reply.header_value, latency)
            if not reply.keep_alive:
                conn.close()
                conn = None
            return conn, True
        raise AssertionError("unreachable")


async def run_load(url: str, *, connections: int = 8, duration: float | None = None,
                   requests: int | None = None, method: str = "GET",
                   headers: dict | None = None, body: bytes | None = None,
                   count_header: str | None = "X-Version",
                   retry_idempotent_once: bool = False, timeout: float = 10.0,
                   stop: asyncio.Event | None = None,
                   rate: float | None = None,
                   into: LoadResult | None = None) -> LoadResult:
    """Send requests over `connections` keep-alive connections and count every outcome.

    Stops at `requests` sent, after `duration` seconds or when `stop` is set,
    whichever comes first; at least one of the three is required. Requests in
    flight at the end are awaited (each within `timeout`), so every request
    sent is counted. `into` is filled in place, so another thread can watch.
    """
    if requests is None and duration is None and stop is None:
        raise UsageError("run_load needs a bound: requests, duration or stop")
    if connections < 1:
        raise UsageError(f"run_load needs at least one connection, got {connections}")
    method = method.upper()
    begun = time.monotonic()
    result = into if into is not None else LoadResult()
    recorder = _Recorder(result, count_header)
    deadline = begun + duration if duration is not None else None
    run = _Run(_target(url, method, headers, body), requests=requests,
               deadline=deadline, stop=stop, rate=rate, timeout=timeout,
               retry=retry_idempotent_once, recorder=recorder,
               count_header=count_header)
    await asyncio.gather(*(run.worker() for _ in range(connections)))
    result.duration_s = time.monotonic() - begun
    return result


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is installed, else the standard loop."""
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def run_load_sync(url: str, **kwargs) -> LoadResult:
    """run_load in a fresh event loop (uvloop if available), for synchronous callers."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(run_load(url, **kwargs))


# --- in a background thread ------------------------------------------------------

class LoadInBackground:
    """run_load in its own thread and event loop, for synchronous tests.

        with LoadInBackground(url, connections=8) as load:
            load.wait_for_responses(200)
            ...deploy...
        assert load.result.failed() == 0

    Never runs past `max_duration` seconds (default 120) even if nobody stops it.
    """

    def __init__(self, url: str, *, max_duration: float = 120.0, **kwargs):
        self.url = url
        self.kwargs = kwargs
        duration = kwargs.pop("duration", None)
        self.duration = max_duration if duration is None else min(duration, max_duration)
        self.timeout = kwargs.get("timeout", 10.0)
        self.result: LoadResult | None = None
        self.error: BaseException | None = None
        self._live = LoadResult()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="loadgen", daemon=True)

    def start(self) -> "LoadInBackground":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loadgen thread did not start within 10s")
        if self.error is not None:   # e.g. a bad URL: say so now, not at stop()
            raise self.error
        return self

    def _main(self):
        loop = new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run())
        except BaseException as e:  # handed to the caller in stop()
            self.error = e
        finally:
            self._ready.set()
            loop.close()

    async def _run(self):
        self._stop = asyncio.Event()
        task = asyncio.ensure_future(run_load(
            self.url, duration=self.duration, stop=self._stop, into=self._live,
            **self.kwargs))
        self._ready.set()
        self.result = await task

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def progress(self) -> tuple[int, int, int]:
        """(sent, ok, failed) so far, read from another thread; approximate while running."""
        r = self._live
        return r.sent, r.ok, r.sent - r.ok

    def wait_for_responses(self, n: int, timeout: float = 10.0) -> None:
        """Block until at least n requests have been answered or failed."""
        deadline = time.monotonic() + timeout
        while self.progress()[0] < n:
            if not self._thread.is_alive():
                raise RuntimeError(f"load ended after {self.progress()[0]} of {n} requests "
                                   f"awaited: {self.error or self.result}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"load sent only {self.progress()[0]} of {n} requests "
                                   f"within {timeout:g}s")
            time.sleep(0.005)

    def stop(self) -> LoadResult:
        """Stop sending, wait for requests in flight, and return the result."""
        if self._thread.ident is None:
            raise RuntimeError("LoadInBackground.stop() before start()")
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass   # the loop closed in between: the run is over anyway
        self._thread.join(self.timeout * 2 + 10)
        if self._thread.is_alive():
            raise RuntimeError("loadgen thread did not stop")
        if self.error is not None:
            raise self.error
        return self.result

    def __enter__(self) -> "LoadInBackground":
        return self.start()

    def __exit__(self, *exc_info):
        if exc_info[0] is None:
            self.stop()
        else:   # stop, but do not hide the test's own exception
            try:
                self.stop()
            except Exception:
                pass


# --- command line ------------------------------------------------------------------

def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"header must look like 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zerodown.loadgen",
                                description="HTTP load that counts every response")
    p.add_argument("url")
    p.add_argument("-c", "--connections", type=int, default=8)
    p.add_argument("-d", "--duration", type=float, help="seconds (default 5 without -n)")
    p.add_argument("-n", "--requests", type=int, help="stop after this many requests")
    p.add_argument("-X", "--method", default="GET")
    p.add_argument("-H", "--header", type=_header, action="append", default=[])
    p.add_argument("--data", help="request body")
    p.add_argument("--rate", type=float, help="requests per second, all connections together")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--count-header", default="X-Version",
                   help="count the values of this response header ('' for none)")
    p.add_argument("--retry", action="store_true",
                   help="retry an idempotent request once if a reused connection "
                        "closed before any byte of its response")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    duration = args.duration if args.duration is not None or args.requests else 5.0
    try:
        result = run_load_sync(
            args.url, connections=args.connections, duration=duration,
            requests=args.requests, method=args.method, headers=dict(args.header),
            body=args.data.encode() if args.data is not None else None,
            count_header=args.count_header or None, retry_idempotent_once=args.retry,
            timeout=args.timeout, rate=args.rate)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.summary())
    return 0 if result.failed() == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
