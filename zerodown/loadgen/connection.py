"""One keep-alive client connection of the load generator, one request at a time.

A request ends in a Reply (status, the counted header, keep-alive) or a
Failure whose `kind` is what LoadResult counts ("closed before response",
"reset mid-response", "timeout", "bad response").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httptools


class Failure(Exception):
    """A request got no complete response; `kind` is what LoadResult counts."""

    def __init__(self, kind: str, got_bytes: bool):
        super().__init__(kind)
        self.kind = kind
        self.got_bytes = got_bytes


@dataclass
class Reply:
    status: int
    header_value: str | None
    keep_alive: bool


class Connection(asyncio.Protocol):
    """A keep-alive client connection that runs one request at a time."""

    def __init__(self, count_header: bytes | None, bodiless: bool = False):
        self.count_header = count_header
        # The answer to a HEAD has no body whatever its Content-Length says, and httptools
        # cannot be told so: the reply is taken at its headers and the parser renewed.
        self.bodiless = bodiless
        self.renew = False
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
            assert self.transport is not None  # (data comes once connected)
            self.transport.close()   # bytes nobody asked for: not ours to trust
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail("bad response", e)
        if self.renew:
            self.renew = False
            self.parser = httptools.HttpResponseParser(self)

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
        if self.bodiless and status >= 200:
            self.renew = True
            self.used += 1
            self._settle(Reply(status, self.header_value, self.parser.should_keep_alive()))
            return
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
        self._settle(Reply(status, self.header_value, keep))

    # the request

    def request(self, data: bytes, timeout: float) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        self._reset_message()
        self.waiter = loop.create_future()
        self.timer = loop.call_later(timeout, self._fail, "timeout", None)
        assert self.transport is not None  # (asked once connected)
        self.transport.write(data)
        return self.waiter

    def _settle(self, reply: Reply):
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
            self.waiter.set_exception(Failure(kind, self.got_bytes))
        self.close()

    def close(self):
        self.closed = True
        if self.transport is not None:
            self.transport.close()
