"""The example service zerodown deploys: a small, fast HTTP/1.1 server.

Standard library only, so it runs with any python3:

    python app.py --port 8001 [--host 127.0.0.1] [--version v2]

Routes: GET / (hello + X-Version), GET /healthz, GET /slow?ms=N,
POST /echo, GET /version (JSON), GET /stats (JSON counters for tests),
GET /item?id=N (JSON of item N, the same from every version, with a `time` and a
`request_id` that differ on every answer: what a shadow's comparison ignores).

Knobs, by environment variable, so a deploy tool can make a bad version:
APP_VERSION, APP_ERROR_RATE (0..1 of `/` answered 500), APP_LATENCY_MS
(added to `/`), APP_UNHEALTHY=1 (healthz 503), APP_UNHEALTHY_FILE (healthz 503
while that file exists, to turn sick at run time), APP_START_DELAY (seconds
before listening), APP_CRASH_AFTER (exit 3, N seconds after listening),
APP_DRAIN_TIMEOUT (bound on the graceful drain, default 30 s), APP_DIFF_RATE (0..1 of
`/item` answered with another `price`: a version that answers differently),
APP_IGNORE_TERM=1 (SIGTERM ignored: an app stuck in its shutdown, which only the
SIGKILL a stop sends after its grace ends).

SIGTERM/SIGINT: stop accepting at once, close idle keep-alive connections,
answer in-flight requests with `Connection: close`, exit 0 (without the
interpreter's teardown: nothing is left to flush). A second signal exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
MAX_SLOW_MS = 120_000
HIGH_WATER = 256 * 1024

REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 413: "Payload Too Large",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           503: "Service Unavailable"}
STATUS_LINES = {code: f"HTTP/1.1 {code} {reason}\r\n".encode()
                for code, reason in REASONS.items()}


class BadRequest(Exception):
    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status = status


@dataclass
class Knobs:
    version: str
    error_rate: float = 0.0
    latency_ms: float = 0.0
    unhealthy: bool = False
    unhealthy_file: str = ""
    start_delay: float = 0.0
    crash_after: float | None = None
    drain_timeout: float = 30.0
    diff_rate: float = 0.0
    ignore_term: bool = False

    @classmethod
    def from_env(cls, version: str, env=os.environ) -> "Knobs":
        crash = env.get("APP_CRASH_AFTER")
        return cls(version=version,
                   error_rate=float(env.get("APP_ERROR_RATE") or 0),
                   latency_ms=float(env.get("APP_LATENCY_MS") or 0),
                   unhealthy=env.get("APP_UNHEALTHY", "") not in ("", "0"),
                   unhealthy_file=env.get("APP_UNHEALTHY_FILE", ""),
                   start_delay=float(env.get("APP_START_DELAY") or 0),
                   crash_after=float(crash) if crash else None,
                   drain_timeout=float(env.get("APP_DRAIN_TIMEOUT") or 30),
                   diff_rate=float(env.get("APP_DIFF_RATE") or 0),
                   ignore_term=env.get("APP_IGNORE_TERM", "") not in ("", "0"))


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    delay_s: float = 0.0


# --- request parsing --------------------------------------------------------

def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Request line and headers of one request head (without the blank line)."""
    lines = head.split(b"\r\n")
    try:
        method, target, version = lines[0].decode("latin-1").split(" ")
    except ValueError:
        raise BadRequest(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise BadRequest(400, "unsupported HTTP version")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "malformed header")
        headers[name.lower()] = value.strip()
    return method, target, version, headers


def parse_chunked(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """A whole chunked body from buf[start:]: (body, end) or None if incomplete."""
    body, pos = bytearray(), start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";")[0].strip(), 16)
        except ValueError:
            raise BadRequest(400, "malformed chunk size") from None
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)   # skip trailers, if any
            if end < 0:
                return None
            return bytes(body), end + 4
        if len(body) + size > MAX_BODY:
            raise BadRequest(413, "body too large")
        if len(buf) < eol + 2 + size + 2:
            return None
        body += buf[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


# --- routes -----------------------------------------------------------------

class App:
    """Routes and counters; knows nothing about sockets."""

    def __init__(self, knobs: Knobs):
        self.knobs = knobs
        self.requests: dict[str, int] = {}
        self.in_flight = 0
        self.connections = 0

    def handle(self, req: Request) -> Response:
        url = urlsplit(req.target)
        path = url.path
        self.requests[path] = self.requests.get(path, 0) + 1
        route = ROUTES.get(path)
        if route is None:
            return Response(404, b"not found\n")
        methods, handler = route
        if req.method not in methods:
            return Response(405, b"method not allowed\n")
        return handler(self, req, url.query)

    def root(self, req: Request, query: str) -> Response:
        k = self.knobs
        if k.error_rate and random.random() < k.error_rate:
            return Response(500, b"injected error\n", delay_s=k.latency_ms / 1000)
        body = f"hello from {k.version}\n".encode()
        return Response(200, body, delay_s=k.latency_ms / 1000)

    def healthz(self, req: Request, query: str) -> Response:
        if self.knobs.unhealthy or (self.knobs.unhealthy_file
                                    and os.path.exists(self.knobs.unhealthy_file)):
            return Response(503, b"unhealthy")
        return Response(200, b"ok")

    def slow(self, req: Request, query: str) -> Response:
        try:
            ms = float(parse_qs(query).get("ms", ["100"])[0])
        except ValueError:
            return Response(400, b"ms must be a number\n")
        ms = min(max(ms, 0.0), MAX_SLOW_MS)
        return Response(200, f"slept {ms:g} ms\n".encode(), delay_s=ms / 1000)

    def echo(self, req: Request, query: str) -> Response:
        ctype = req.headers.get("content-type", "application/octet-stream")
        return Response(200, req.body, content_type=ctype)

    def version(self, req: Request, query: str) -> Response:
        return self._json({"version": self.knobs.version, "pid": os.getpid()})

    def item(self, req: Request, query: str) -> Response:
        try:
            n = int(parse_qs(query).get("id", ["1"])[0])
        except ValueError:
            return Response(400, b"id must be an integer\n")
        price = (n * 37) % 1000
        if self.knobs.diff_rate and random.random() < self.knobs.diff_rate:
            price += 1  # the knob: a version whose answer differs now and then
        return self._json({"id": n, "name": f"item {n}", "price": price, "time": time.time(),
                           "request_id": random.getrandbits(64)})

    def stats(self, req: Request, query: str) -> Response:
        return self._json({"version": self.knobs.version, "pid": os.getpid(),
                           "in_flight": self.in_flight,
                           "connections": self.connections,
                           "requests": self.requests})

    @staticmethod
    def _json(obj) -> Response:
        return Response(200, json.dumps(obj).encode(), content_type="application/json")


GET = ("GET", "HEAD")
ROUTES = {"/": (GET, App.root), "/healthz": (GET, App.healthz),
          "/slow": (GET, App.slow), "/echo": (("POST", "PUT"), App.echo),
          "/version": (GET, App.version), "/stats": (GET, App.stats), "/item": (GET, App.item)}


# --- the connection ---------------------------------------------------------

class HttpConnection(asyncio.Protocol):
    """One client connection: parse requests in order, answer each in turn."""

    def __init__(self, server: "Server"):
        self.server = server
        self.app = server.app
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.busy = False            # a request is being answered (delayed)
        self.closing = False         # answer what is in flight, then close
        self.write_paused = False
        self.sent_continue = False
        self.timer: asyncio.TimerHandle | None = None

    # asyncio callbacks

    def connection_made(self, transport):
        self.transport = transport
        self.server.connections.add(self)
        self.app.connections += 1
        if self.server.shutting_down:
            self.shutdown()

    def connection_lost(self, exc):
        self.server.forget(self)
        self.app.connections -= 1
        if self.timer is not None:
            self.timer.cancel()
            self.app.in_flight -= 1
            self.timer = None

    def data_received(self, data):
        self.buf += data
        self.process()

    def eof_received(self):
        if not self.busy and not self.write_paused:
            return False   # nothing more can complete: let asyncio close
        self.closing = True
        return True        # half-closed: still answer the request in flight

    def pause_writing(self):
        self.write_paused = True
        self.transport.pause_reading()

    def resume_writing(self):
        self.write_paused = False
        self.transport.resume_reading()
        self.process()

    # graceful shutdown

    @property
    def idle(self) -> bool:
        return not self.busy and not self.buf

    def shutdown(self):
        """Close now if idle, else after the request in flight is answered."""
        self.closing = True
        if self.idle:
            self.transport.close()

    # request loop

    def process(self):
        while not self.busy and not self.write_paused and self.buf:
            if self.transport.is_closing():
                return
            try:
                req = self.next_request()
            except BadRequest as e:
                self.closing = True
                self.send(Response(e.status, f"{e}\n".encode()), head_only=False)
                return
            if req is None:
                return
            self.dispatch(req)

    def next_request(self) -> Request | None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                raise BadRequest(431, "request head too large")
            return None
        method, target, version, headers = parse_head(bytes(self.buf[:end]))
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parsed = parse_chunked(self.buf, start)
            if parsed is None:
                self.maybe_continue(headers)
                return None
            body, stop = parsed
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise BadRequest(400, "bad content-length") from None
            if length < 0 or length > MAX_BODY:
                raise BadRequest(413, "body too large")
            if len(self.buf) < start + length:
                self.maybe_continue(headers)
                return None
            body, stop = bytes(self.buf[start:start + length]), start + length
        del self.buf[:stop]
        self.sent_continue = False
        return Request(method, target, version, headers, body)

    def maybe_continue(self, headers: dict[str, str]):
        if headers.get("expect", "").lower() == "100-continue" and not self.sent_continue:
            self.sent_continue = True
            self.transport.write(STATUS_LINES[100] + b"\r\n")

    def dispatch(self, req: Request):
        if not req.keep_alive:
            self.closing = True
        resp = self.app.handle(req)
        head_only = req.method == "HEAD"
        if resp.delay_s <= 0:
            self.send(resp, head_only)
            return
        self.busy = True
        self.app.in_flight += 1
        self.timer = asyncio.get_running_loop().call_later(
            resp.delay_s, self.finish_delayed, resp, head_only)

    def finish_delayed(self, resp: Response, head_only: bool):
        self.timer = None
        self.busy = False
        self.app.in_flight -= 1
        self.send(resp, head_only)
        self.process()

    def send(self, resp: Response, head_only: bool):
        close = self.closing
        head = b"".join((
            STATUS_LINES.get(resp.status) or f"HTTP/1.1 {resp.status} X\r\n".encode(),
            b"Content-Type: ", resp.content_type.encode(), b"\r\n",
            b"Content-Length: ", str(len(resp.body)).encode(), b"\r\n",
            self.server.version_header,
            b"Connection: close\r\n\r\n" if close else b"\r\n"))
        self.transport.write(head if head_only else head + resp.body)
        if close:
            self.buf.clear()
            self.transport.close()


# --- the server -------------------------------------------------------------

@dataclass
class Server:
    app: App
    connections: set = field(default_factory=set)
    shutting_down: bool = False
    all_closed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self):
        self.version_header = f"X-Version: {self.app.knobs.version}\r\n".encode()

    def forget(self, conn: HttpConnection):
        self.connections.discard(conn)
        if self.shutting_down and not self.connections:
            self.all_closed.set()

    def shutdown_connections(self) -> int:
        """Close idle connections; returns how many stay busy."""
        self.shutting_down = True
        busy = 0
        for conn in list(self.connections):
            busy += not conn.idle
            conn.shutdown()
        if not self.connections:
            self.all_closed.set()
        return busy


def log(knobs: Knobs, msg: str):
    print(f"app {knobs.version} pid {os.getpid()}: {msg}", file=sys.stderr, flush=True)


async def serve(host: str, port: int, knobs: Knobs) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = []

    def on_signal(signum: int):
        signals.append(signum)
        if len(signals) > 1:
            log(knobs, f"second signal {signal.Signals(signum).name}, exiting at once")
            os._exit(128 + signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        if sig == signal.SIGTERM and knobs.ignore_term:
            signal.signal(sig, signal.SIG_IGN)
        else:
            loop.add_signal_handler(sig, on_signal, sig)
    if knobs.start_delay > 0:   # the knob is the point: a slow starter
        try:
            await asyncio.wait_for(stop.wait(), knobs.start_delay)
        except TimeoutError:
            pass
        if stop.is_set():
            log(knobs, "stopped before listening")
            return 0
    server = Server(App(knobs))
    try:
        listener = await loop.create_server(lambda: HttpConnection(server), host, port,
                                            reuse_address=True, backlog=1024)
    except OSError as e:
        log(knobs, f"cannot listen on {host}:{port}: {e}")
        return 2
    bound = listener.sockets[0].getsockname()
    log(knobs, f"listening on {bound[0]}:{bound[1]}")
    if knobs.crash_after is not None:
        loop.call_later(knobs.crash_after, crash, knobs)
    await stop.wait()
    listener.close()               # stop accepting: new connections are refused
    busy = server.shutdown_connections()
    try:
        await asyncio.wait_for(server.all_closed.wait(), knobs.drain_timeout)
        how = f"drained {busy} busy connection(s)"
    except TimeoutError:
        how = (f"drain timed out after {knobs.drain_timeout:g}s with "
               f"{len(server.connections)} connection(s) open")
    name = signal.Signals(signals[0]).name
    log(knobs, f"stopped on {name}, {how}")
    return 0


def crash(knobs: Knobs):
    log(knobs, f"crashing on purpose after {knobs.crash_after:g}s (APP_CRASH_AFTER)")
    os._exit(3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="zerodown example service")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--version", default=os.environ.get("APP_VERSION") or "v1")
    args = p.parse_args(argv)
    knobs = Knobs.from_env(args.version)
    return asyncio.run(serve(args.host, args.port, knobs))


if __name__ == "__main__":
    code = main()
    # Drained and logged (log() flushes): the interpreter's own teardown after that is
    # ~10 ms of CPU for nothing, on the cores the next batch of a rollout boots on.
    sys.stdout.flush()
    os._exit(code)
