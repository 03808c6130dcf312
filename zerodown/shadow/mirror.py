"""The mirror: copies of requests sent to a shadow revision beside the hot path.

    mirror = Mirror(("127.0.0.1", 9001), Spec(ignore=...), capacity=1024, workers=4)
    mirror.start()                       # on the proxy's event loop
    mirror.offer(head, body, stable)     # never waits: False (and counted) when full
                                         # stable: an Answer, or the raw bytes the user got

A user's request is answered by stable alone; offer() only puts a copy in a
bounded queue and returns. A few worker tasks send each copy, each worker on a
connection to the shadow it keeps alive, within `timeout`, and compare the shadow's answer
with stable's (diff.py). A shadow that is slow or hangs holds only its workers:
the queue fills and later copies are dropped and counted, never waited for.
ProxyMirror is what the embedded proxy holds while a shadow runs (its admin API's
PUT /shadow makes one): the Tap its hot path feeds and the Outbox (outbox.py) that
runs a Mirror off the proxy's event loop, in a worker process by default.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import TYPE_CHECKING

import httptools

from zerodown.shadow.diff import Answer, Difference, Spec, compare

if TYPE_CHECKING:
    from zerodown.proxy.tap import Tap
    from zerodown.shadow.outbox import Outbox

_CONNECTION = re.compile(rb"\r\n(connection|keep-alive):[^\r\n]*", re.I)


def keeping(head: bytes) -> bytes:
    """The request head without the user's connection headers (HTTP/1.1: kept alive)."""
    if not head.endswith(b"\r\n\r\n"):
        raise ValueError("a request head ends with an empty line (\\r\\n\\r\\n)")
    return _CONNECTION.sub(b"", head[:-2]) + b"\r\n"


class _BareReader:
    """httptools callbacks collecting one response but its headers (none compared: the
    parser is not even asked to call back for each)."""

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.done = False
        self.headers_done = False
        self.keep = False  # read at the headers: llhttp forgets it once the message ends
        self.parser: httptools.HttpResponseParser | None = None

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.keep = self.parser is not None and self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.done = True


class _Reader(_BareReader):
    """... and its headers."""

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))


def parse_response(raw: bytes, headers: bool = True) -> Answer:
    """One whole HTTP/1.1 response (chunked or not) as an Answer (without its headers
    unless `headers`)."""
    got = _Reader() if headers else _BareReader()
    parser = httptools.HttpResponseParser(got)
    parser.feed_data(raw)
    if not got.done:
        parser.feed_data(b"")  # a body that ran to the close
    if not got.done:
        raise ValueError("an incomplete response")
    return Answer(parser.get_status_code(), tuple(got.headers), b"".join(got.body))


class Mirror:
    def __init__(self, address: tuple[str, int], spec: Spec, *, capacity: int = 1024,
                 workers: int = 4, timeout: float = 2.0, examples: int = 10,
                 max_body: int = 1 << 20, stable: tuple[str, int] | None = None):
        self.address, self.spec, self.timeout, self.max_body = address, spec, timeout, max_body
        self.stable = stable  # replay each copy offered without stable's answer there
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=capacity)
        self.workers = workers
        self.offered = self.dropped = self.compared = self.differing = 0
        self.timed_out = self.failed = 0
        self.examples: deque[tuple[str, Difference]] = deque(maxlen=examples)
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        # Each worker's exchange, since when (loop time; None between exchanges), and
        # whether the watchdog cut it: one timer for all, not one per copy (a copy's
        # asyncio.timeout cost a quarter of the worker's CPU). A copy is cut between
        # `timeout` and 1.25 x `timeout` after it was sent.
        self._since: list[float | None] = [None] * self.workers
        self._expired = [False] * self.workers
        self._tasks = [asyncio.ensure_future(self._work(i)) for i in range(self.workers)]
        self._tasks.append(asyncio.ensure_future(self._watchdog()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.timeout / 4)
            now = loop.time()
            for i, since in enumerate(self._since):
                if since is not None and now - since >= self.timeout:
                    self._since[i] = None
                    self._expired[i] = True
                    self._tasks[i].cancel()  # raised where the worker awaits its exchange

    def offer(self, head: bytes, body: bytes, stable: Answer | bytes) -> bool:
        """Queue a copy of a request stable answered; never waits. False: dropped (counted).
        `stable` may be the raw response bytes as they went to the user (the proxy then only
        keeps a reference to them; they are parsed by a worker, off the user's path)."""
        if self.queue.full():  # checked, not caught: a full queue is the common case under load
            self.dropped += 1
            return False
        self.queue.put_nowait((head, body, stable))
        self.offered += 1
        return True

    def stats(self) -> dict:
        return {"offered": self.offered, "dropped": self.dropped, "compared": self.compared,
                "differing": self.differing, "timed_out": self.timed_out, "failed": self.failed,
                "queued": self.queue.qsize(),
                "examples": [{"request": line, "what": d.what, "where": d.where,
                              "stable": d.stable, "shadow": d.shadow}
                             for line, d in list(self.examples)]}  # list(): one C call, safe
                                                                 # against a worker thread

    async def _work(self, i: int) -> None:
        conn: list = []  # this worker's connection to the shadow, kept alive: [reader, writer]
        replay: list = []  # ... and to stable, when copies come without stable's answer
        loop = asyncio.get_running_loop()
        headers = bool(self.spec.headers)
        while True:
            head, body, stable = await self.queue.get()
            try:
                if isinstance(stable, bytes) and stable:
                    stable = parse_response(stable, headers)
            except (ValueError, httptools.HttpParserError):
                self.failed += 1
                continue
            try:
                self._since[i] = loop.time()
                if not stable:  # Diffy-style (comparator.py): stable answers a replay first
                    if self.stable is None:
                        raise ValueError("a copy without stable's answer, and no stable to ask")
                    try:
                        stable = await exchange(replay, self.stable, head, body, self.max_body,
                                                headers)
                    except (OSError, ValueError, httptools.HttpParserError):
                        _drop(replay)
                        raise
                shadow = await self._send(conn, head, body)
                self._since[i] = None  # before any other await: the watchdog cuts no more
            except asyncio.CancelledError:
                if not self._expired[i]:
                    raise  # close()
                self._expired[i] = False
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                self.timed_out += 1
                _drop(conn)
                _drop(replay)  # whichever of the two it was waiting for
                continue
            except (OSError, ValueError, httptools.HttpParserError):
                self._since[i] = None
                self.failed += 1
                _drop(conn)
                continue
            self.compared += 1
            found = compare(stable, shadow, self.spec)
            if found is not None:
                self.differing += 1
                self.examples.append((head.split(b"\r\n", 1)[0].decode("latin-1"), found))

    async def _send(self, conn: list, head: bytes, body: bytes) -> Answer:
        return await exchange(conn, self.address, head, body, self.max_body,
                              bool(self.spec.headers))


async def exchange(conn: list, address: tuple[str, int], head: bytes, body: bytes,
                   max_body: int, headers: bool = True) -> Answer:
    """One exchange on a kept-alive connection `conn` ([reader, writer], or empty: opened
    then; opened again, once, when the kept one turns out closed before any byte came).
    The Answer's headers only if `headers` (compare() reads only those a Spec names)."""
    for attempt in (0, 1):
        reused = bool(conn)
        if not conn:
            conn[:] = await asyncio.open_connection(*address)
        reader, writer = conn
        writer.write(keeping(head) + body)
        got = _Reader() if headers else _BareReader()
        parser = got.parser = httptools.HttpResponseParser(got)
        size, is_head = 0, head.startswith(b"HEAD ")
        while not got.done and not (is_head and got.headers_done):
            data = await reader.read(65536)
            if not data:
                if size == 0 and reused and attempt == 0:
                    break  # the server had closed the kept connection: a new one
                parser.feed_data(b"")  # the end of a body read to the close
                if not got.done:
                    raise ValueError("the server closed before its answer ended")
                _drop(conn)
                break
            size += len(data)
            if size > max_body:
                raise ValueError("an answer larger than max_body")
            parser.feed_data(data)
        else:
            if not got.keep or is_head:  # a HEAD's parser still waits for a body: not reused
                _drop(conn)
            return Answer(parser.get_status_code(), tuple(got.headers), b"".join(got.body))
        if got.done:
            return Answer(parser.get_status_code(), tuple(got.headers), b"".join(got.body))
        _drop(conn)
    raise ValueError("the server closed the connection twice before answering")


def _drop(conn: list) -> None:
    if conn:
        conn[1].close()
        conn.clear()


SAFE = ("GET", "HEAD", "OPTIONS")


class ProxyMirror:
    """What the embedded proxy holds while a shadow runs: the Tap its hot path feeds
    (zerodown/proxy/tap.py), the Outbox that takes the copies off to be compared, and
    `settings`, echoed with the counts by the admin API's GET /shadow."""

    def __init__(self, tap: Tap, outbox: Outbox, settings: dict):
        self.tap, self.outbox, self.settings = tap, outbox, settings
        tap.owner = self

    def start(self) -> None:
        self.outbox.start()

    async def close(self) -> None:
        await self.outbox.close()

    def stats(self) -> dict:
        return {**self.settings, **self.outbox.stats()}


RUNNERS = ("process", "thread", "loop")


def read_settings(doc: object) -> dict:
    """PUT /shadow's body, checked and with its defaults filled in (JSON: it also travels
    to the worker process); ValueError naming the bad field."""
    from zerodown.shadow.diff import PathError, parse_path
    if not isinstance(doc, dict):
        raise ValueError("a JSON object: {\"address\": \"host:port\", \"percent\": 100, ...}")
    known = {"address", "percent", "methods", "headers", "body", "ignore", "capacity",
             "workers", "timeout_s", "runner", "nice"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    host, _, port = str(doc.get("address", "")).rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address: {doc.get('address')!r} is not host:port")
    percent = doc.get("percent", 100)
    if not isinstance(percent, (int, float)) or not 0 < percent <= 100:
        raise ValueError(f"percent: {percent!r} is not a number in (0, 100]")
    methods = doc.get("methods", ["GET", "HEAD"])
    if not isinstance(methods, list) or not methods or not all(
            isinstance(m, str) and m.isalpha() and m.isupper() for m in methods):
        raise ValueError(f"methods: {methods!r} is not a list of methods like [\"GET\", \"HEAD\"]")
    body = doc.get("body", "json")
    if body not in ("json", "exact", "none"):
        raise ValueError(f"body: {body!r} is not one of json, exact, none")
    ignore = doc.get("ignore", [])
    try:
        for path in ignore:
            parse_path(path)
    except (PathError, TypeError, AttributeError) as e:
        raise ValueError(f"ignore: {e}") from None
    runner = doc.get("runner", "process")
    if runner not in RUNNERS:
        raise ValueError(f"runner: {runner!r} is not one of {', '.join(RUNNERS)}")
    numbers = {}
    for key, default, low, high in (("capacity", 1024, 1, 1 << 20), ("workers", 4, 1, 256),
                                    ("timeout_s", 2.0, 0.001, 3600), ("nice", NICE, 0, 19)):
        value = doc.get(key, default)
        if not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError(f"{key}: {value!r} is not a number from {low} to {high}")
        numbers[key] = value
    return {"address": f"{host}:{port}", "percent": percent, "methods": methods,
            "headers": [str(h) for h in doc.get("headers", [])], "body": body,
            "ignore": list(ignore), "runner": runner, "capacity": int(numbers["capacity"]),
            "workers": int(numbers["workers"]), "timeout_s": float(numbers["timeout_s"]),
            "nice": int(numbers["nice"])}


def make_mirror(settings: dict) -> Mirror:
    """The Mirror that read_settings' `settings` describe (not started)."""
    from zerodown.shadow.diff import parse_path
    host, _, port = settings["address"].rpartition(":")
    spec = Spec(tuple(settings["headers"]), settings["body"],
                tuple(parse_path(p) for p in settings["ignore"]))
    stable = None
    if settings.get("stable"):  # comparator.py's: replayed to stable too
        shost, _, sport = settings["stable"].rpartition(":")
        stable = (shost.strip("[]"), int(sport))
    return Mirror((host.strip("[]"), int(port)), spec, capacity=settings["capacity"],
                  workers=settings["workers"], timeout=settings["timeout_s"], stable=stable)


# The worker process's niceness: it compares with the CPU users leave over (measured in
# benchmarks/README.md, "Shadow traffic").
NICE = 19


def from_settings(doc: object) -> ProxyMirror:
    """PUT /shadow's body -> a ProxyMirror (not started); ValueError naming the bad field."""
    from zerodown.proxy.tap import Tap
    from zerodown.shadow.outbox import Outbox
    settings = read_settings(doc)
    tap = Tap(tuple(m.encode() + b" " for m in settings["methods"]), float(settings["percent"]),
              settings["capacity"])
    shown = {k: settings[k] for k in ("address", "percent", "methods", "runner")}
    shown["unsafe_methods"] = sorted(set(settings["methods"]) - set(SAFE))
    return ProxyMirror(tap, Outbox(settings, tap), shown)
