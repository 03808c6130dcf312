"""One load run: `connections` workers sharing a budget (requests, duration, stop), an
optional pace (rate), and one tally; run_load and its synchronous form."""

from __future__ import annotations

import asyncio
import errno
import ssl
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from zerodown.errors import UsageError
from zerodown.loadgen.connection import Connection, Failure
from zerodown.loadgen.result import LoadResult, Recorder

try:
    import uvloop
    _new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
except ImportError:  # pragma: no cover - uvloop is a dependency, but stay usable
    _new_loop = asyncio.new_event_loop

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


@dataclass
class _Target:
    host: str
    port: int
    request: bytes
    idempotent: bool
    tls: ssl.SSLContext | None = None  # https: the client context (cafile, or the system's)
    server_name: str | None = None
    bodiless: bool = False  # HEAD: its answer ends at the headers


def _target(url: str, method: str, headers: dict | None, body: bytes | None,
            cafile: str | None = None, server_name: str | None = None) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"loadgen: only http(s)://HOST[:PORT]/PATH URLs are supported, got {url!r}")
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
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
    tls = ssl.create_default_context(cafile=cafile) if https else None
    return _Target(parts.hostname, port, head + (body or b""), method in IDEMPOTENT, tls,
                   (server_name or parts.hostname) if https else None, method == "HEAD")


def _connect_error_kind(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect refused"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "connect timeout"
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno in errno.errorcode:
        return f"connect error ({errno.errorcode[exc.errno]})"
    return f"connect error ({type(exc).__name__})"


class _Run:
    """Shared state of one run_load call: the budget, the pace and the tally."""

    def __init__(self, target: _Target, *, requests, deadline, stop, rate,
                 timeout, retry, recorder: Recorder, count_header):
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

    async def connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        t = self.target
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: Connection(self.count_header, t.bodiless), t.host, t.port,
                                   ssl=t.tls, server_hostname=t.server_name),
            self.timeout)
        return conn

    async def worker(self):
        conn: Connection | None = None
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

    async def one(self, conn: Connection | None) -> tuple[Connection | None, bool]:
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
            retriable = attempt == 0 and self.retry and reused
            if not retriable:
                self.rec.result.unguarded += 1
            try:
                reply = await conn.request(self.target.request, self.timeout)
            except Failure as f:
                conn = None
                if retriable and not f.got_bytes and f.kind != "timeout":
                    self.rec.result.retried += 1
                    continue
                self.rec.error(f.kind)
                return None, True
            finally:
                if not retriable:
                    self.rec.result.unguarded -= 1
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
                   into: LoadResult | None = None,
                   cafile: str | None = None, server_name: str | None = None) -> LoadResult:
    """Send requests over `connections` keep-alive connections and count every outcome.

    Stops at `requests` sent, after `duration` seconds or when `stop` is set,
    whichever comes first; at least one of the three is required. Requests in
    flight at the end are awaited (each within `timeout`), so every request
    sent is counted. `into` is filled in place, so another thread can watch.
    An https URL is verified against `cafile` (else the system's authorities), for
    `server_name` (SNI; default the URL's host) when the URL names an address.
    """
    if requests is None and duration is None and stop is None:
        raise UsageError("run_load needs a bound: requests, duration or stop")
    if connections < 1:
        raise UsageError(f"run_load needs at least one connection, got {connections}")
    method = method.upper()
    begun = time.monotonic()
    result = into if into is not None else LoadResult()
    recorder = Recorder(result, count_header)
    deadline = begun + duration if duration is not None else None
    run = _Run(_target(url, method, headers, body, cafile, server_name), requests=requests,
               deadline=deadline, stop=stop, rate=rate, timeout=timeout,
               retry=retry_idempotent_once, recorder=recorder,
               count_header=count_header)
    await asyncio.gather(*(run.worker() for _ in range(connections)))
    result.duration_s = time.monotonic() - begun
    return result


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is installed, else the standard loop."""
    return _new_loop()


def run_load_sync(url: str, **kwargs) -> LoadResult:
    """run_load in a fresh event loop (uvloop if available), for synchronous callers."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(run_load(url, **kwargs))
