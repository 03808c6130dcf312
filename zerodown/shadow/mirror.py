"""The mirror: copies of requests sent to a shadow revision beside the hot path.

    mirror = Mirror(("127.0.0.1", 9001), Spec(ignore=...), capacity=1024, workers=4)
    mirror.start()                       # on the proxy's event loop
    mirror.offer(head, body, stable)     # never waits: False (and counted) when full
                                         # stable: an Answer, or the raw bytes the user got

A user's request is answered by stable alone; offer() only puts a copy in a
bounded queue and returns. A few worker tasks send each copy on a connection of
its own (`Connection: close`), within `timeout`, and compare the shadow's answer
with stable's (diff.py). A shadow that is slow or hangs holds only its workers:
the queue fills and later copies are dropped and counted, never waited for.
Not wired into the proxy yet (see zerodown/shadow/__init__.py).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque

import httptools

from zerodown.shadow.diff import Answer, Difference, Spec, compare

_CONNECTION = re.compile(rb"\r\n(connection|keep-alive):[^\r\n]*", re.I)


def closing(head: bytes) -> bytes:
    """The request head with `Connection: close` instead of the user's connection headers."""
    if not head.endswith(b"\r\n\r\n"):
        raise ValueError("a request head ends with an empty line (\\r\\n\\r\\n)")
    return _CONNECTION.sub(b"", head[:-2]) + b"Connection: close\r\n\r\n"


class _Reader:
    """httptools callbacks collecting one response."""

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.done = True


def parse_response(raw: bytes) -> Answer:
    """One whole HTTP/1.1 response (chunked or not) as an Answer."""
    got = _Reader()
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
                 max_body: int = 1 << 20):
        self.address, self.spec, self.timeout, self.max_body = address, spec, timeout, max_body
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=capacity)
        self.workers = workers
        self.offered = self.dropped = self.compared = self.differing = 0
        self.timed_out = self.failed = 0
        self.examples: deque[tuple[str, Difference]] = deque(maxlen=examples)
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._work()) for _ in range(self.workers)]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def offer(self, head: bytes, body: bytes, stable: Answer | bytes) -> bool:
        """Queue a copy of a request stable answered; never waits. False: dropped (counted).
        `stable` may be the raw response bytes as they went to the user (the proxy then only
        keeps a reference to them; they are parsed by a worker, off the user's path)."""
        try:
            self.queue.put_nowait((head, body, stable))
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        self.offered += 1
        return True

    def stats(self) -> dict:
        return {"offered": self.offered, "dropped": self.dropped, "compared": self.compared,
                "differing": self.differing, "timed_out": self.timed_out, "failed": self.failed,
                "queued": self.queue.qsize(),
                "examples": [{"request": line, "what": d.what, "where": d.where,
                              "stable": d.stable, "shadow": d.shadow}
                             for line, d in self.examples]}

    async def _work(self) -> None:
        while True:
            head, body, stable = await self.queue.get()
            try:
                if isinstance(stable, bytes):
                    stable = parse_response(stable)
            except (ValueError, httptools.HttpParserError):
                self.failed += 1
                continue
            try:
                shadow = await asyncio.wait_for(self._send(head, body), self.timeout)
            except asyncio.TimeoutError:
                self.timed_out += 1
                continue
            except (OSError, ValueError, httptools.HttpParserError):
                self.failed += 1
                continue
            self.compared += 1
            found = compare(stable, shadow, self.spec)
            if found is not None:
                self.differing += 1
                self.examples.append((head.split(b"\r\n", 1)[0].decode("latin-1"), found))

    async def _send(self, head: bytes, body: bytes) -> Answer:
        reader, writer = await asyncio.open_connection(*self.address)
        try:
            writer.write(closing(head) + body)
            got = _Reader()
            parser = httptools.HttpResponseParser(got)
            size = 0
            while not got.done:
                data = await reader.read(65536)
                if not data:
                    parser.feed_data(b"")  # the end of a body read to the close
                    if not got.done:
                        raise ValueError("the shadow closed before its answer ended")
                    break
                size += len(data)
                if size > self.max_body:
                    raise ValueError("the shadow's answer is larger than max_body")
                parser.feed_data(data)
            return Answer(parser.get_status_code(), tuple(got.headers), b"".join(got.body))
        finally:
            writer.close()
