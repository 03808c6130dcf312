"""The client side of the embedded proxy: one `ClientConn` per accepted connection.

The hot path is lean on purpose. One compiled pass (headscan.HeadScan) finds
where a request head ends, whether it names anything a rule looks at and its
Host lines; the head is validated by llhttp (httptools) without a Python call per header,
routed by `Routes.pick` on the raw bytes and forwarded with three headers
appended. Bodies stream through verbatim in both directions; the
parser only tracks where a message ends. One request is in flight per
connection at a time; pipelined bytes wait raw until the response is done.
"""

from __future__ import annotations

import asyncio
import re
from time import perf_counter
from typing import Callable, Final

from httptools import HttpRequestParser
from httptools.parser.errors import HttpParserError, HttpParserUpgrade

from zerodown.proxy.chunked import BAD, ChunkedEnd
from zerodown.proxy.clientstate import BODY, CLOSED, DISCARD, HEAD, HTTP2, TUNNEL, WAIT
from zerodown.proxy.exchange import Exchange
from zerodown.proxy.plane import Plane
from zerodown.proxy.headscan import HeadScan, usual_line
from zerodown.proxy.hygiene import ASKS_H2C, origin_form, without_h2c
from zerodown.proxy.prefix import stripped
from zerodown.proxy.retries import fallback
from zerodown.proxy.routing import strip_client_forwarded
from zerodown.proxy.upstream import RevisionTarget

# Final: mypyc compiles these to constants, not a dictionary lookup per use.
_PREFACE_HEAD: Final = b"PRI * HTTP/2.0\r\n\r\n"  # llhttp reads it as a request head
_HOST: Final = re.compile(rb"\r\n[Hh][Oo][Ss][Tt][ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r\n")
_perf_counter: Final = perf_counter  # a C static in the compiled module, not a globals lookup
_CONTENT_LENGTH: Final = re.compile(rb"\r\n(?i:content-length)[ \t]*:[ \t]*(\d+)")


def _host_value(head: bytes) -> bytes | None:
    """The Host field's value of a head not written `Host: ` exactly (rare)."""
    m = _HOST.search(head)
    return m.group(1) if m else None


def _forwarded_host(head: bytes) -> bytes:
    """`X-Forwarded-Host: <Host>` line; nearly every client writes `Host: ` exactly."""
    i = head.find(b"\r\nHost: ")
    if i >= 0:
        return b"X-Forwarded-Host: " + head[i + 8:head.find(b"\r\n", i + 8)] + b"\r\n"
    m = _HOST.search(head)
    return b"X-Forwarded-Host: " + m.group(1) + b"\r\n" if m else b""


class ClientConn(Exchange):  # an asyncio protocol, by duck typing (compiled classes take no Python base)
    """The request side of a client connection; what follows it is exchange.Exchange's."""

    __slots__ = ("parser", "feed", "keeps", "fwd", "scan")

    def __init__(self, plane: Plane):
        super().__init__(plane)
        self.parser = HttpRequestParser(self)
        # Bound methods kept: a call through them skips a method lookup per request.
        self.feed: Callable[[bytes], None] = self.parser.feed_data
        self.keeps: Callable[[], bool] = self.parser.should_keep_alive
        self.scan = HeadScan()  # of the head being read

    # -- asyncio callbacks --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.write = self.transport.write
        peer = transport.get_extra_info("peername")
        ip = peer[0] if isinstance(peer, tuple) else "unix"
        self.peer = ip
        self.fwd = b"X-Forwarded-For: " + ip.encode() + self.plane.forwarded_proto
        self.last_active = self.loop.time()
        clients = self.plane.clients
        clients.add(self)
        if len(clients) > self.plane.client_limit:  # near the descriptor limit
            self.plane.make_room(self)

    def data_received(self, data: bytes) -> None:
        try:
            state = self.state
            if state == HEAD:
                if self.buf:
                    data, self.buf = self.buf + data, b""
                self._take_head(data)
            elif state == BODY:
                rest = self._take_body(data)
                if rest:
                    self.buf = rest  # pipelined behind the body: waits for the response
            elif state == TUNNEL:
                self.up.write(data)  # type: ignore[union-attr]
            elif state == WAIT:
                self.buf += data  # pipelined: waits, unparsed, for the response in flight
                if len(self.buf) > self.max_head and not self.paused:
                    self.paused = True
                    self.transport.pause_reading()
            elif state == DISCARD:
                self._discard(data)
        except Exception as e:  # a bug one request shape triggers: this connection pays, once
            self._crashed(e)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = CLOSED
        self.plane.clients.discard(self)
        if self.waiting_for is not None:
            self.waiting_for.forget(self)
            self.waiting_for = None
        up, self.up = self.up, None
        if up is not None:  # gone mid-exchange: that upstream connection cannot be reused
            up.client = None
            up.transport.close()
        pool = self.pool
        if pool is not None:
            if up is None or not up.got:  # it gave up waiting: a version that hangs shows so
                pool.stats.abandoned += 1
            self._leave_pool()

    # Back-pressure: a client that reads slowly slows the backend feeding it. The
    # flag outlives the exchange: the upstream connection is unpaused before it goes
    # back to the pool, and the next one is paused on arrival (attached()).
    def pause_writing(self) -> None:
        self.write_paused = True
        if self.up is not None:
            self.up.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.up is not None:
            self.up.transport.resume_reading()

    # -- parser callbacks ---------------------------------------------------
    def on_message_complete(self) -> None:
        self.msg_done = True
        self.keep_alive = self.keeps()  # only right inside this callback

    # -- request side -------------------------------------------------------
    def _take_head(self, data: bytes) -> None:
        while True:  # once per pipelined request answered at once (a 503 needs no backend)
            end = self.scan.run(data, self.plane.marks)
            if end < 0:
                if len(data) > self.max_head:
                    return self._reject(431, f"request head over {self.max_head} bytes")
                if not self.head_since:
                    self.head_since = self.clock()
                self.buf = data
                return
            if end > self.max_head:
                return self._reject(431, f"request head over {self.max_head} bytes")
            head = data if end == len(data) else data[:end]
            self.msg_done = self.upgrade = self.keep_alive = False
            try:
                self.feed(head)
            except HttpParserUpgrade:
                self.upgrade = True
                self.keep_alive = False
                if ASKS_H2C(head) is not None:  # rare: answered as HTTP/1.1 (hygiene.py)
                    head = self._without_h2c(head)
                    if not head:
                        return
            except HttpParserError as e:
                return self._reject(400, f"malformed request head ({e})")
            self.head_since = 0.0
            rest = data[end:] if end != len(data) else b""
            head = self._checked(head)
            if not head:
                if self.state == HTTP2:  # off the hot path: only a refused head gets here
                    self.plane.clients.discard(self)
                    self.plane.h2c(self.plane, self.transport, data)
                return  # refused and answered
            self._begin(head)
            if rest and self.state == BODY:
                # Body bytes that came with the head are checked before the head goes
                # anywhere: a broken body is answered 400 with nothing sent to a backend.
                rest = self._take_body(rest)
                if self.state == CLOSED:
                    return
            self._dispatch(head)
            if not rest:
                return
            state = self.state
            if state == WAIT:
                self.buf = rest  # pipelined: waits, unparsed, for the response in flight
                return
            if state != HEAD:
                return  # closed: nothing more is read
            data = rest

    def _without_h2c(self, head: bytes) -> bytes:
        """The head without its h2c ask, parsed again by a fresh parser (the old one stopped
        at the upgrade); b"" once refused and answered."""
        head = without_h2c(head)
        self.scan.run(head, self.plane.marks)  # its lines moved
        self.parser = HttpRequestParser(self)
        self.feed = self.parser.feed_data
        self.keeps = self.parser.should_keep_alive
        self.msg_done = self.upgrade = False  # llhttp ended the message at the upgrade
        try:
            self.feed(head)
        except HttpParserUpgrade:  # another protocol asked beside h2c (a WebSocket): as always
            self.upgrade = True
        except HttpParserError as e:
            self._reject(400, f"malformed request head ({e})")
            return b""
        return head

    def _checked(self, head: bytes) -> bytes:
        """`head` as it may be forwarded (RFC 9110/9112), or b"" once refused and answered.

        What the head scan found for the usual head; hygiene.py for the rare one.
        """
        scan = self.scan
        if self.refused_initials[head[0]] or not usual_line(head, scan.line_end):
            usual = head
            head = self._unusual_line(head)  # rare: a method to refuse, another target form
            if not head:
                return b""
            if head is not usual:  # made origin-form: its Host line is new
                scan.run(head, self.plane.marks)
        hosts = scan.hosts
        if hosts != 1 and (hosts > 1 or head[scan.line_end - 1] == 49):  # 0 in HTTP/1."1"
            self._reject(400, f"{hosts} Host header fields (RFC 9112 3.2: exactly one)")
            return b""
        return head

    def _unusual_line(self, head: bytes) -> bytes:
        """_checked() for a request line other than `METHOD /target HTTP/1.x`."""
        space = head.find(b" ")
        if head[:space] in self.refused:
            self._reject(501, f"method {head[:space]!r} is refused (--refuse-methods)")
            return b""
        # llhttp checked that the request line ends in HTTP/<digit>.<digit>: which digits
        line_end = head.find(b"\r\n")
        minor = head[line_end - 1]
        if head[line_end - 3] != 49 or minor > 49 or minor < 48:  # "1" "." "0"|"1"
            if head == _PREFACE_HEAD and self.plane.h2c is not None and not self.served:
                self.state = HTTP2
                return b""
            self._reject(400, f"not HTTP/1.0 or 1.1: {head[:min(line_end, 80)]!r}")
            return b""  # an HTTP/2 preface (PRI * HTTP/2.0), HTTP/0.9, garbage
        if head[space + 1] != 47 and not (head[space + 1] == 42 and head.startswith(b"OPTIONS ")):
            head = origin_form(head, space, line_end)  # 47 "/", 42 "*"
            if not head:
                self._reject(400, "request target is neither origin-form nor absolute-form")
        return head

    def _begin(self, head: bytes) -> None:
        """The request's framing: is a body to come, and how is it delimited."""
        self.is_head = head[0] == 72 and head.startswith(b"HEAD ")  # 72: "H"
        if self.msg_done or self.upgrade:
            self.state = WAIT
        else:
            self.state = BODY
            self.body_size = 0
            self.body_kept = True
            m = _CONTENT_LENGTH.search(head)
            self.cl_left = int(m.group(1)) if m else None
            self.chunks = None if m else ChunkedEnd()

    def _dispatch(self, head: bytes) -> None:
        now = self.clock()
        self.t0 = _perf_counter()  # latency: the loop's clock ticks in whole ms under uvloop
        plane = self.plane
        scan = self.scan
        i = scan.host_at  # `Host: ` exactly, as nearly every client writes it
        host = head[i + 8:scan.host_end] if i >= 0 else None
        sites = plane.sites
        if sites is not None:  # several services on this listener: this request's, by Host and path
            picked_plane = sites.pick(host if i >= 0 else _host_value(head), head)
            if picked_plane is None:
                return self._reply_error(404, "no service here for this host and path")
            self.host = None  # the tail below says this service's prefix (or none): built again
            # The planes share one set of marks (Services.remark), but a keep-alive connection
            # a removed service served was scanned by that plane's: they differ once only the
            # default is left (its own marks) or once the drained plane is dropped (not remarked)
            if picked_plane.marks is not plane.marks:
                scan.run(head, picked_plane.marks)
            plane = self.plane = picked_plane
            if plane.strip_prefix:  # mounted under a prefix: its backends see paths from /
                head = stripped(head, plane.strip_prefix)
        if host != self.host or i < 0:  # the tail of forwarded headers is cached per host
            self.host = host
            self.tail = self.fwd + plane.prefix_line + (_forwarded_host(head) if i < 0 else
                                    b"X-Forwarded-Host: " + host + b"\r\n") + b"\r\n"  # type: ignore[operator]
        routes = plane.routes
        scanned = scan.look
        # The client does not choose what the backend believes about scheme and host
        # (X-Forwarded-For is appended to, as is customary).
        self.head = (strip_client_forwarded(head) if scanned else head)[:-2] + self.tail
        if self.tried:
            self.tried = ()
        picked, self.inject = routes.pick(head, scanned)
        mirror = plane.mirror
        if mirror is not None:  # a shadow runs: keep this response if it wants a copy
            if mirror.wants(head):
                self.capture, self.captured = [], 0
            else:
                self.capture = None
        if plane.stopping:
            self.announce_close()
        target: RevisionTarget | None = picked  # typed: native attribute access below
        if target is None:
            return self._reply_error(503, "no backend serves this service")
        self.target = target
        self.sent_at = now
        pool = target.choose(now)
        if pool is None:
            pool = fallback(plane, target, now)
            if pool is None:
                return self._reply_error(503, "no backend available")
        self.pool = pool
        pool.stats.in_flight += 1
        idle = pool.idle
        if idle and not self.is_head and not self.write_paused:  # a warm connection: send now
            up = idle.pop()
            up.client = self
            up.got = False
            self.attached(up)
        else:
            self.waiting_for = pool
            pool.acquire(self)

    def _take_body(self, data: bytes) -> bytes:
        """Pass on a piece of the body; the bytes after its end (the next request)."""
        left = self.cl_left
        rest = b""
        if left is not None:
            if len(data) > left:
                data, rest = data[:left], data[left:]
            self.cl_left = left - len(data)
        else:
            end = self.chunks.feed(data)  # type: ignore[union-attr]
            if end == BAD:
                self._abort_exchange("malformed chunked body")
                return b""
            if 0 <= end < len(data):
                data, rest = data[:end], data[end:]
        try:
            self.feed(data)
        except HttpParserError as e:
            self._abort_exchange(f"malformed body ({e})")
            return b""
        self._forward_body(data)
        if self.msg_done and self.state == BODY:
            self.state = WAIT
        return rest

    def _forward_body(self, piece: bytes) -> None:
        """Send a piece of the body, or hold it while the request waits for a backend
        connection. What is held is bounded: past body_buffer_limit the client's reading
        pauses until a connection takes the body (attached() resumes it; on HTTP/2 the
        stream's window stays shut), and a body kept for a retry past retry_body_limit
        is let go (such a request is never sent twice)."""
        up = self.up
        if up is not None:
            up.write(piece)  # the backend connection's own flow control pauses the client
            self.progress = True  # the backend is given more: its silence counts from here
            if self.body_kept:
                self.body_size += len(piece)
                if self.body_size <= self.settings.retry_body_limit:
                    self.body.append(piece)
                else:
                    self.body_kept = False
                    self.body = []
        elif self.state == BODY:  # queued: nothing sent yet, all of it held until a connection comes
            self.body.append(piece)
            size = self.body_size = self.body_size + len(piece)
            if size > self.settings.retry_body_limit:
                self.body_kept = False  # sent once, then let go
            if size > self.settings.body_buffer_limit and not self.paused:
                self.paused = True
                self.transport.pause_reading()

    def _discard(self, data: bytes) -> None:
        """DISCARD: the rest of a body already answered, through the parser (its end,
        the next request's start), to no backend; then the next request."""
        rest = self._take_body(data)
        if self.state == DISCARD and self.msg_done:
            self.state = WAIT
            if rest:
                self.buf = rest
            self._next_request(True)
