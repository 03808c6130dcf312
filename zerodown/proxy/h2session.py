"""HTTP/2 from clients: one `H2Session` per connection, its streams proxied as HTTP/1.1.

    zerodown proxy ... --tls-cert site.pem --tls-key site.key --http2   # ALPN h2 over TLS
    zerodown proxy ... --http2-prior-knowledge                          # h2c on a plain listener

The frames are the `h2` library's (RFC 9113: HPACK, flow control, stream
states, field validation). Each request becomes an HTTP/1.1 request on a
ClientConn of its own (h2stream.py), so routing, stickiness, retries, drain
and metrics are those of HTTP/1.1 and the HTTP/1.1 path does not change.

Limits: at most `--http2-max-streams` streams open at once (SETTINGS; a client
opening more breaks the protocol and loses the connection), a field block of
at most `--max-head-bytes`, request bodies up to `--http2-max-body-bytes`
(413), `--http2-window` bytes of request body in flight per stream. A
malformed field block (RFC 9113 8.1.1: connection-specific fields, bad or
missing pseudo-header fields, upper-case names, CR/LF/NUL, a Host that
disagrees with :authority) or DATA that disagrees with content-length is
never forwarded: the connection ends with GOAWAY PROTOCOL_ERROR (RFC 9113
5.4.1 lets a stream error be treated as a connection error). A client that
resets most of its streams (the "rapid reset" flood) gets GOAWAY
ENHANCE_YOUR_CALM.

Drain: the session sits in the plane's client set in state WAIT, so when the
proxy stops (shutdown, handover) `begin_stop` calls `announce_close`: a
GOAWAY naming the last stream taken goes out, open streams finish, and the
connection closes when the last one is done. Streams the client opened after
it are refused (REFUSED_STREAM: never processed, safe to retry).
"""

from __future__ import annotations

import asyncio
from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (ConnectionTerminated, DataReceived, RequestReceived, StreamEnded,
                       StreamReset, WindowUpdated)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes
from hyperframe.frame import GoAwayFrame

from zerodown.proxy.clientstate import CLOSED, WAIT
from zerodown.proxy.h2stream import (CANCEL, INTERNAL_ERROR, PROTOCOL_ERROR, REFUSED_STREAM,
                                      StreamBridge, request_head)
from zerodown.proxy.plane import Plane

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NO_ERROR = 0
ENHANCE_YOUR_CALM = 11
RESETS_ALLOWED = 100  # client resets before the flood check looks at the ratio


class H2Session:  # an asyncio protocol, and a member of plane.clients (the sweeper's view)
    def __init__(self, plane: Plane):
        self.plane = plane
        self.loop = plane.loop
        s = plane.settings
        # What is received is checked (RFC 9113 8.2, 8.3); what is sent needs no second
        # look: a response head llhttp parsed, names lower-cased, hop-by-hop fields dropped.
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None,
                                               validate_outbound_headers=False,
                                               normalize_outbound_headers=False))
        self.h2.local_settings = type(self.h2.local_settings)(client=False, initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: s.http2_max_streams,
            SettingCodes.MAX_HEADER_LIST_SIZE: s.max_head_bytes,
            SettingCodes.INITIAL_WINDOW_SIZE: s.http2_window,
            SettingCodes.ENABLE_PUSH: 0})
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.streams: dict[int, StreamBridge] = {}
        self.blocked: set[StreamBridge] = set()
        self.write_paused = False
        self.flush_soon = False
        self.goaway_at: int | None = None  # last stream id taken, once GOAWAY went out
        self.resets = 0
        self.answered = 0
        self.credit = 0  # request body bytes taken off the connection, its window not yet reopened
        # What the sweeper reads of every client (dataplane._sweep): never HEAD, so it
        # never closes a session for idleness (the session's own timer does), and
        # begin_stop always announces the close (GOAWAY).
        self.state = WAIT
        self.buf = b""
        self.head_since = 0.0
        self.served = 0
        self.last_active = self.loop.time()
        self.pool = None
        self.up = None
        self.t0 = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks ------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.plane.clients.add(self)
        self.h2.initiate_connection()
        # The connection's window, for every stream's request bodies together
        self.h2.increment_flow_control_window(
            max(0, self.plane.settings.http2_window * 4 - 65535))
        self.flush()
        self.timer = self.loop.call_later(self.plane.settings.header_timeout, self._idle)

    def data_received(self, data: bytes) -> None:
        if self.state == CLOSED:
            return
        try:
            self._received(data)
        except Exception as e:  # a bug some frame triggers: this connection pays, once
            self.plane.errors.line(f"error on the HTTP/2 connection from {self.peer()}: "
                                   f"{type(e).__name__}: {e}")
            try:
                self.h2.close_connection(INTERNAL_ERROR)
            except Exception:  # already closing: the socket goes all the same
                pass
            self._close_now()

    def _received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as e:  # h2 queued GOAWAY with the error's code
            self.plane.rejected += 1
            self.plane.errors.line(f"HTTP/2 from {self.peer()}: {type(e).__name__}: {e}")
            self._close_now()
            return
        self.last_active = self.loop.time()
        for event in events:
            kind = type(event)
            if kind is RequestReceived:
                self._request(event)  # type: ignore[arg-type]
            elif kind is DataReceived:
                self._data(event)  # type: ignore[arg-type]
            elif kind is StreamEnded:  # request trailers (TrailersReceived) are dropped
                self._body_end(event.stream_id)  # type: ignore[attr-defined]
            elif kind is WindowUpdated:
                self._window(event.stream_id)  # type: ignore[attr-defined]
            elif kind is StreamReset:
                self._reset_by_client(event.stream_id)  # type: ignore[attr-defined]
            elif kind is ConnectionTerminated:
                self._close_now()
                return
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = CLOSED
        self.plane.clients.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        streams, self.streams = self.streams, {}
        for bridge in streams.values():
            bridge.cancelled()

    def pause_writing(self) -> None:  # the client reads slowly: so do its backends
        self.write_paused = True
        for bridge in self.streams.values():
            bridge.client.pause_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        for bridge in self.streams.values():
            if bridge not in self.blocked:
                bridge.client.resume_writing()

    # -- events -------------------------------------------------------------------
    def _request(self, event: RequestReceived) -> None:
        sid = event.stream_id
        if self.goaway_at is not None and sid > self.goaway_at:
            self.reset(sid, REFUSED_STREAM)  # opened after our GOAWAY: never processed
            return
        head, method, length = request_head(event.headers)
        bridge = StreamBridge(self, sid, method)
        self.streams[sid] = bridge
        if length is not None and length > self.plane.settings.http2_max_body_bytes:
            self.too_large(bridge)
            return
        ended = bridge.request_done = event.stream_ended is not None
        if ended and length:  # h2 checks DATA against content-length, not HEADERS' END_STREAM
            self._malformed(bridge, f"content-length {length} on a request with no body")
            return
        if not ended and length is None:
            bridge.chunked = True
            head += b"Transfer-Encoding: chunked\r\n"
        client = bridge.client
        client.connection_made(bridge)
        client.data_received(head + b"\r\n")

    def _malformed(self, bridge: StreamBridge, why: str) -> None:
        """RFC 9113 8.1.1: a malformed request; the stream is reset, nothing is forwarded."""
        self.plane.rejected += 1
        self.plane.errors.line(f"HTTP/2 from {self.peer()}: stream {bridge.sid}: {why}")
        bridge.reset(PROTOCOL_ERROR)
        bridge.release()

    def _data(self, event: DataReceived) -> None:
        bridge = self.streams.get(event.stream_id)
        if bridge is None or bridge.ended and bridge.client.state == CLOSED:
            self.acknowledge(event.stream_id, event.flow_controlled_length)
            return
        bridge.body(event.data, event.flow_controlled_length)

    def _body_end(self, sid: int) -> None:
        """END_STREAM on HEADERS or DATA has come; a chunked body needs its last chunk."""
        bridge = self.streams.get(sid)
        if bridge is None:
            return
        bridge.request_done = True
        if bridge.chunked and bridge.client.state != CLOSED:
            bridge.client.data_received(b"0\r\n\r\n")

    def _window(self, sid: int) -> None:
        if sid == 0:
            for bridge in list(self.blocked):
                bridge.unblock()
        else:
            one = self.streams.get(sid)
            if one is not None and one in self.blocked:
                one.unblock()

    def _reset_by_client(self, sid: int) -> None:
        bridge = self.streams.pop(sid, None)
        if bridge is None:
            return
        if not bridge.ended:
            self.resets += 1
            if self.resets > RESETS_ALLOWED and self.resets > self.answered:
                self.plane.errors.line(f"HTTP/2 from {self.peer()}: {self.resets} streams "
                                       f"reset by the client: GOAWAY ENHANCE_YOUR_CALM")
                self.h2.close_connection(ENHANCE_YOUR_CALM)
                self._close_now()
        bridge.cancelled()

    # -- what streams call --------------------------------------------------------
    def stream_done(self, bridge: StreamBridge) -> None:
        """The stream's response is sent (or reset): its ClientConn leaves soon after,
        once it has counted the response (it is still inside its callbacks now)."""
        if self.streams.pop(bridge.sid, None) is not None:
            self.answered += 1
            self.served += 1
            if not bridge.request_done:  # answered before the body ended: stop sending it
                self.reset(bridge.sid, NO_ERROR)
        self.loop.call_soon(bridge.release)
        if self.goaway_at is not None and not self.streams:
            self.loop.call_soon(self._close_when_flushed)

    def taken(self, n: int) -> None:
        """A stream took `n` bytes of body off the connection: the connection's window opens
        again at once (a quarter of --http2-window at a time), apart from the stream's own,
        which opens as its backend takes them (open_stream). So a stream waiting for its
        backend holds back only itself, never the other streams' uploads; what that costs
        is each open stream's window and --body-buffer-limit, not the connection's."""
        self.credit += n
        if self.credit * 4 >= self.plane.settings.http2_window:
            n, self.credit = self.credit, 0
            self._open_window(n, None)

    def open_stream(self, sid: int, n: int) -> None:
        self._open_window(n, sid)

    def _open_window(self, n: int, sid: int | None) -> None:
        try:
            self.h2.increment_flow_control_window(n, sid)
        except (ProtocolError, KeyError):  # the stream or the connection closed meanwhile
            pass
        self.want_flush()

    def acknowledge(self, sid: int, n: int) -> None:
        try:
            self.h2.acknowledge_received_data(n, sid)
        except (ProtocolError, KeyError):  # the stream closed meanwhile: nothing to open
            pass
        self.want_flush()

    def reset(self, sid: int, code: int) -> None:
        try:
            self.h2.reset_stream(sid, code)
        except ProtocolError:  # already closed both ways
            pass
        self.want_flush()

    def too_large(self, bridge: StreamBridge) -> None:
        """A request body over --http2-max-body-bytes: 413 if nothing was answered yet, and
        the stream ends (RFC 9113 8.1: a response may end a request early)."""
        self.plane.rejected += 1
        self.plane.errors.line(f"413 to {self.peer()}: HTTP/2 request body over "
                               f"{self.plane.settings.http2_max_body_bytes} bytes")
        bridge.client.connection_lost(None)  # its backend exchange, if any, is cut
        if bridge.started or bridge.ended:
            if not bridge.ended:
                bridge.reset(CANCEL)
            return
        bridge.ended = True
        body = b"request body too large\n"
        self.h2.send_headers(bridge.sid, [(b":status", b"413"), (b"content-type", b"text/plain"),
                                          (b"content-length", b"%d" % len(body))])
        self.h2.send_data(bridge.sid, body, end_stream=True)
        self.stream_done(bridge)  # and RST_STREAM NO_ERROR: the rest of the body is not read

    def want_flush(self) -> None:
        """Frames are queued: write them once this turn of the loop is over (one write for
        every stream that answered in it)."""
        if not self.flush_soon:
            self.flush_soon = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_soon = False
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # -- drain and idleness ---------------------------------------------------------
    def announce_close(self) -> None:
        """The proxy stops: GOAWAY, finish the open streams, then close.

        Written by hand: h2's close_connection() would end the open streams too."""
        if self.goaway_at is not None or self.state == CLOSED:
            return
        self.goaway_at = self.h2.highest_inbound_stream_id
        self.flush()
        self.transport.write(GoAwayFrame(stream_id=0, last_stream_id=self.goaway_at,
                                         error_code=NO_ERROR).serialize())
        if not self.streams:
            self.loop.call_soon(self._close_when_flushed)

    def timed_out(self, why: str) -> None:  # the sweeper's hook; streams time out alone
        pass

    def _idle(self) -> None:
        """Close a connection with no open stream for --keepalive-timeout (before its first
        request: --header-timeout), saying so with GOAWAY."""
        s = self.plane.settings
        limit = s.keepalive_timeout if self.served else s.header_timeout
        if self.plane.stopping:
            limit = min(limit, s.shutdown_grace)
        wait = self.last_active + limit - self.loop.time()
        if self.streams or wait > 0:
            self.timer = self.loop.call_later(wait if wait > 0 else limit, self._idle)
            return
        self.announce_close()

    def _close_when_flushed(self) -> None:
        if self.streams or self.state == CLOSED:
            return
        self.flush()
        self._close_now()

    def _close_now(self) -> None:
        self.flush()
        self.state = CLOSED
        self.plane.clients.discard(self)
        if self.transport is not None:
            self.transport.close()

    def peer(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return peer[0] if isinstance(peer, tuple) else "?"


class Negotiated:
    """The protocol of a TLS connection until ALPN is known: then HTTP/2 or HTTP/1.1
    takes the transport, and this object is out of the way (no cost per request)."""

    def __init__(self, plane: Plane, http1: Any):
        self.plane, self.http1 = plane, http1

    def connection_made(self, transport: Any) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        protocol = H2Session(self.plane) if chosen == "h2" else self.http1()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)

    def data_received(self, data: bytes) -> None:  # never: the protocol was replaced
        raise RuntimeError("data before the protocol was chosen")

    def connection_lost(self, exc: Exception | None) -> None:
        pass


def prior_knowledge(plane: Plane, transport: Any, data: bytes) -> None:
    """A plain connection opened with the HTTP/2 preface (h2c, RFC 9113 3.3): HTTP/2 takes
    it over from the ClientConn that read the preface. `data` starts with the preface."""
    session = H2Session(plane)
    transport.set_protocol(session)
    session.connection_made(transport)
    session.data_received(data)
