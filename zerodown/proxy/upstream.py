"""Backends as the proxy sees them: a bounded pool of reused connections each.

An `UpstreamConn` carries one request at a time for a client connection
(exchange.Exchange, the part of server.ClientConn that talks to backends) and
streams the response back verbatim, parsing it only to learn where it ends. A
`BackendPool` hands out idle connections, opens new ones up to a bound and
queues the rest, and remembers passive-health failures. Nothing here decides
routing: that is routing.Routes.

This file and exchange.py name each other's classes, and only this one's name
for the other is typing-only (TYPE_CHECKING): the compiled build (accel.py)
compiles both together and calls Exchange's methods natively, where a
Protocol in its place would cost a Python attribute lookup per call on the
hot path. It is the one import cycle tests/unit/test_layers.py allows.
"""

from __future__ import annotations

import asyncio
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Callable

from httptools import HttpResponseParser
from httptools.parser.errors import HttpParserCallbackError, HttpParserError, HttpParserUpgrade

from zerodown.proxy.metrics import Stats
from zerodown.proxy.settings import ProxySettings
from zerodown.proxy.tap import MAX_BODY

if TYPE_CHECKING:
    from zerodown.proxy.exchange import Exchange


def not_connected(data: bytes) -> None:
    """`write` of a connection before asyncio made it: a bug if ever called."""
    raise ConnectionError("not connected yet")


class _HeadResponseEnd(Exception):
    """Raised inside the parser to end a response to HEAD at its headers."""


class _HeadWatcher:
    """Parser callbacks for a response to HEAD: it ends with its headers,
    whatever Content-Length says (llhttp cannot be told so from Python)."""

    __slots__ = ("conn",)

    def __init__(self, conn: UpstreamConn):
        self.conn = conn

    def on_headers_complete(self) -> None:
        conn = self.conn
        status = conn.parser.get_status_code()
        if status >= 200:
            conn.status, conn.done, conn.keep = status, True, conn.parser.should_keep_alive()
            raise _HeadResponseEnd


class UpstreamConn:  # an asyncio protocol, by duck typing
    __slots__ = ("pool", "transport", "parser", "client", "status", "done", "got",
                 "reused", "idle_since", "tunnel", "keep", "write_paused", "write", "feed",
                 "status_code", "keeps",
                 "gone")

    def __init__(self, pool: BackendPool):
        self.pool = pool
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self._new_parser(self)
        # Bound methods kept: a call through them skips a method lookup per request.
        self.write: Callable[[bytes], object] = not_connected
        self.client: Exchange | None = None
        self.status = 0
        self.done = False
        self.got = False       # a response byte arrived for the current request
        self.reused = False    # this connection carried an earlier request
        self.idle_since = 0.0
        self.tunnel = False
        self.keep = False
        self.write_paused = False
        self.gone = False      # connection_lost came: never hand this connection out

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.write = self.transport.write

    def _new_parser(self, callbacks: UpstreamConn | _HeadWatcher) -> None:
        self.parser = HttpResponseParser(callbacks)
        self.feed: Callable[[bytes], None] = self.parser.feed_data
        self.status_code: Callable[[], int] = self.parser.get_status_code
        self.keeps: Callable[[], bool] = self.parser.should_keep_alive

    def send(self, client: Exchange) -> None:
        """Carry `client`'s current request (head and any body read so far)."""
        self.client = client
        self.got = False
        if client.is_head:
            self._new_parser(_HeadWatcher(self))
        client.attached(self)

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None:  # nothing asked: a broken or closing backend
            self.transport.close()
            return
        if self.tunnel:
            client.write(data)
            return
        client.progress = True  # the response moves: the sweeper's inactivity clock restarts
        first = not self.got
        if first:
            self.got = True
            if not client.msg_done and client.inject is None:
                client.inject = b""  # answered before the body ended: see inject_into
        if client.inject is not None:  # a header to add where the final response starts
            data = client.inject_into(data)
        try:
            self.feed(data)
        except HttpParserUpgrade:
            if not client.upgrade:  # a 101 to a request the proxy forwarded as no upgrade:
                self.client = None  # a tunnel would pass the client's bytes on unread
                self.transport.close()
                client.upstream_broken(self, "backend switched protocols unasked", first)
                return
            self.tunnel = True
            client.write(data)
            client.start_tunnel(self)
            return
        except HttpParserCallbackError as e:
            if not isinstance(e.__context__, _HeadResponseEnd):
                raise
            self._new_parser(self)  # the HEAD parser stopped mid-message
        except HttpParserError:
            self.client = None
            self.transport.close()
            client.upstream_broken(self, "invalid response from backend", first)
            return
        capture = client.capture
        if capture is not None:  # a shadow compares this response: a reference, no copy
            client.captured += len(data)
            if client.captured > MAX_BODY:
                client.capture_too_large()
            else:
                capture.append(data)
        client.write(data)
        if self.done:  # the response ended: this connection is free for the next request
            self.done = False
            self.client = None
            self.reused = True
            if client.write_paused:  # paused for this client's sake: not for the next one
                self.transport.resume_reading()
            if self.write_paused:  # the client was paused for ours: let it go on
                client.paused = False
                client.transport.resume_reading()
            status, keep, pool = self.status, self.keep, self.pool
            now = client.clock()
            if not keep or client.early:  # reused only if the request was all sent before
                client.early = False  # the answer began: else the body's rest, or the
                self.transport.close()  # backend's next read, would meet the next request
            elif pool.waiters or pool.draining:
                pool.release(self, now)
            else:
                self.idle_since = now
                pool.idle.append(self)
            client.response_done(status, keep, now)

    def on_message_complete(self) -> None:
        status = self.status_code()
        if status >= 200 or status < 100:  # 1xx are interim: the final response follows
            self.status, self.done = status, True
            self.keep = self.keeps()  # llhttp forgets it after this callback

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.pool.lost(self)
        client, self.client = self.client, None
        if client is None:
            return
        if self.tunnel:
            client.transport.close()
        elif not self.got:
            client.upstream_failed(self, sent=True)
        else:  # mid-response: the end of a close-delimited body, or a truncation
            client.upstream_eof(self)

    # A slow backend slows the client sending it a body. The client's `paused` says so
    # too: should this connection go away before it drains, whoever answers the client
    # next reads on (exchange._next_request, _linger), where it stayed paused for good.
    def pause_writing(self) -> None:
        self.write_paused = True
        client = self.client
        if client is not None:
            client.paused = True
            client.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        client = self.client
        if client is not None:
            client.progress = True  # it took what waited: not silent
            client.paused = False
            client.transport.resume_reading()


class BackendPool:
    """One backend: address, idle connections, a bound, a queue, health, stats."""

    __slots__ = ("id", "revision", "address", "host", "port", "loop", "settings", "idle",
                 "conns", "opening", "waiters", "stats", "ejected_until", "fails", "draining",
                 "drain_deadline", "limit", "down", "check_fails", "check_oks", "silent")

    def __init__(self, backend_id: str, revision: str, address: str,
                 loop: asyncio.AbstractEventLoop, settings: ProxySettings):
        host, _, port = address.rpartition(":")
        self.id, self.revision, self.address = backend_id, revision, address
        self.host, self.port = host.strip("[]"), int(port)
        self.loop, self.settings = loop, settings
        self.limit = settings.max_conns_per_backend
        self.idle: list[UpstreamConn] = []  # LIFO: the warmest connection goes first
        self.conns: set[UpstreamConn] = set()
        self.opening = 0
        self.waiters: deque[Exchange] = deque()
        self.stats = Stats()
        self.ejected_until = 0.0
        self.fails = 0
        self.draining = False
        self.drain_deadline = 0.0
        self.down = False  # taken out by active health checks (health.py)
        self.check_fails = 0
        self.check_oks = 0
        # A request to it got no answer within response_timeout, and none answered since:
        # what a host cut off without a reset looks like. The requests still waiting on it
        # are moved elsewhere (when safe) instead of each waiting out its own timeout.
        self.silent = False

    def acquire(self, client: Exchange) -> None:
        """Give `client` a connection now, or as soon as the bound allows."""
        if self.idle:
            self.idle.pop().send(client)
        elif len(self.conns) + self.opening < self.limit:
            self._connect(client)
        else:
            self.waiters.append(client)

    def forget(self, client: Exchange) -> None:
        try:
            self.waiters.remove(client)
        except ValueError:
            pass

    def release(self, conn: UpstreamConn, now: float) -> None:
        if self.draining:
            conn.transport.close()
            return
        while self.waiters:
            client = self.waiters.popleft()
            if client.waiting_for is self:
                client.sent_at = now  # its response_timeout counts from here, not its wait
                conn.send(client)
                return
        conn.idle_since = now
        self.idle.append(conn)

    def lost(self, conn: UpstreamConn) -> None:
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        while self.waiters and len(self.conns) + self.opening < self.limit:
            client = self.waiters.popleft()
            if client.waiting_for is self:
                self._connect(client)

    def busy(self) -> list[UpstreamConn]:
        return [c for c in self.conns if c.client is not None]

    def _connect(self, client: Exchange) -> None:
        self.opening += 1
        coro = self.loop.create_connection(partial(UpstreamConn, self), self.host, self.port)  # type: ignore[type-var]
        task = self.loop.create_task(asyncio.wait_for(coro, self.settings.connect_timeout))
        task.add_done_callback(partial(self._connected, client))

    def _connected(self, client: Exchange, task: asyncio.Task) -> None:
        try:
            self._on_connect_result(client, task)
        except Exception:  # never strand a request: whatever broke, it gets an answer
            if client.waiting_for is self:
                client.upstream_failed(None, sent=False)
            raise

    def _on_connect_result(self, client: Exchange, task: asyncio.Task) -> None:
        self.opening -= 1
        if task.cancelled() or task.exception() is not None:
            self.failed()
            if client.waiting_for is self:
                client.upstream_failed(None, sent=False)
            return
        _, conn = task.result()
        if conn.gone:  # reset before this callback ran (a backend dying as we connected)
            self.failed()
            if client.waiting_for is self:
                client.upstream_failed(None, sent=False)
            return
        self.conns.add(conn)
        if client.waiting_for is self:
            client.sent_at = self.loop.time()  # response_timeout counts from the send
            conn.send(client)
        else:  # the client left while we connected: keep the connection for the next one
            self.release(conn, self.loop.time())

    def failed(self) -> None:
        """Passive health: eject for a while, longer on each consecutive failure."""
        self.fails += 1
        s = self.settings
        backoff = s.eject_base * 2.0 ** min(self.fails - 1, 30)  # capped: no float overflow
        self.ejected_until = max(self.ejected_until, self.loop.time() + min(s.eject_max, backoff))

    def timed_out(self) -> None:
        """No answer within response_timeout: eject (passive health, as `failed`), and
        close the idle connections, which lead to the same silence."""
        self.failed()
        self.silent = True
        self.close_idle()

    def unreachable(self, now: float) -> bool:
        """Taken out as not answering (health checks, or a timeout not answered since):
        a request waiting on it for its first byte will not get one."""
        return self.down or (self.silent and self.ejected_until > now)

    def close_idle(self, older_than: float | None = None) -> None:
        keep = []
        for conn in self.idle:
            if older_than is None or conn.idle_since < older_than:
                conn.transport.close()
            else:
                keep.append(conn)
        self.idle[:] = keep

    def status(self, now: float) -> str:
        if self.draining:
            return "draining"
        if self.down:
            return "down"
        return "ejected" if self.ejected_until > now else "active"


class RevisionTarget:
    """The backends of one revision, chosen round-robin by weight, skipping ejected ones."""

    __slots__ = ("name", "pools", "ring", "next")

    def __init__(self, name: str, pools: list[tuple[BackendPool, int]]):
        self.name = name
        self.pools = [p for p, _ in pools]
        self.ring = [p for p, w in pools for _ in range(w)]
        self.next = 0

    def choose(self, now: float) -> BackendPool | None:
        ring = self.ring
        n = len(ring)
        for _ in range(n):
            i = self.next
            self.next = i + 1 if i + 1 < n else 0
            pool = ring[i]
            if pool.ejected_until <= now:
                return pool
        return None  # all ejected: the caller tries another revision first

    def choose_excluding(self, now: float, exclude: tuple) -> BackendPool | None:
        """For a retry: the next backend that was not tried yet, healthy ones first."""
        rest = [p for p in self.pools if p not in exclude]
        healthy = [p for p in rest if p.ejected_until <= now]
        if healthy:
            self.next = (self.next + 1) % max(1, len(self.ring))
            return healthy[self.next % len(healthy)]
        return min(rest, key=lambda p: p.ejected_until) if rest else None
