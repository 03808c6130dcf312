"""One HTTP/2 stream carried by the HTTP/1.1 machinery: a `ClientConn` per stream.

An HTTP/2 request is written out as the HTTP/1.1 request it means and fed to a
server.ClientConn of its own, whose transport is a `StreamBridge`. So an h2
request meets exactly what an HTTP/1.1 one meets — llhttp and the request
hygiene, routing rules, stickiness, retries, backend pools, timeouts, drain,
metrics, the shadow mirror — with no line of that path changed. The HTTP/1.1
response the ClientConn writes to the bridge is parsed (httptools) and sent
on as HEADERS and DATA frames, within the client's flow-control windows; a
stream whose window is shut pauses its backend connection, as a slow
HTTP/1.1 client does.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from httptools import HttpResponseParser
from httptools.parser.errors import HttpParserError

from zerodown.proxy.clientstate import CLOSED
from zerodown.proxy.plane import Plane
from zerodown.proxy.server import ClientConn

# Hop-by-hop fields of an HTTP/1.1 response that HTTP/2 forbids (RFC 9113 8.2.2)
HOP_BY_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                        b"upgrade", b"te"))
PROTOCOL_ERROR = 1
INTERNAL_ERROR = 2
REFUSED_STREAM = 7
CANCEL = 8


def request_head(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes, int | None]:
    """The HTTP/1.1 head an h2 request means: (head, method, content-length or None).

    h2 has checked the field block (RFC 9113 8.2, 8.3): lower-case names without
    CR, LF or NUL, the pseudo-header fields once each and first, no
    connection-specific field, `te` only `trailers`, Host agreeing with
    :authority, one cookie field. The head meets llhttp and the HTTP/1.1
    hygiene after this, in the ClientConn.
    """
    method = path = authority = b""
    lines = []
    length: int | None = None
    host = b""
    for name, value in headers:
        if name[0] == 58:  # ":"
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            elif name == b":authority":
                authority = value
            continue  # :scheme: the listener's scheme is what X-Forwarded-Proto says
        if name == b"host":
            host = value
            continue
        if name == b"te":
            continue  # only "trailers" gets here, and it is hop-by-hop
        if name == b"content-length":
            length = int(value)
        lines.append(name + b": " + value + b"\r\n")
    if method == b"CONNECT":  # authority-form: the ClientConn refuses it unless told otherwise
        path = authority
    head = b"".join((method, b" ", path, b" HTTP/1.1\r\nHost: ", authority or host, b"\r\n",
                     *lines))
    return head, method, length


class Session(Protocol):
    """What a stream asks of its connection (h2session.H2Session, which imports this file)."""

    plane: Plane
    h2: Any  # h2.connection.H2Connection
    transport: asyncio.Transport
    write_paused: bool
    blocked: set[StreamBridge]

    def want_flush(self) -> None: ...

    def stream_done(self, bridge: StreamBridge) -> None: ...

    def taken(self, n: int) -> None: ...

    def open_stream(self, sid: int, n: int) -> None: ...

    def reset(self, sid: int, code: int) -> None: ...

    def too_large(self, bridge: StreamBridge) -> None: ...


class StreamBridge(asyncio.Transport):
    """The transport of one stream's ClientConn: its writes become h2 frames."""

    def __init__(self, session: Session, stream_id: int, method: bytes):
        super().__init__()
        self.session = session
        self.sid = stream_id
        self.is_head = method == b"HEAD"
        self.client: ClientConn = ClientConn(session.plane)
        self.parser: HttpResponseParser | None = HttpResponseParser(self)
        self.fields: list[tuple[bytes, bytes]] = []
        self.framed = False       # the response says how long it is (length or chunked)
        self.started = False      # the final response's HEADERS went out
        self.ended = False        # END_STREAM or RST_STREAM went out: nothing more to send
        self.pending: list[bytes] = []  # body bytes waiting for the client's window
        self.end_pending = False
        self.chunked = False      # the request body goes to the backend chunked
        self.body_left: int | None = None
        self.body_seen = 0
        self.read_paused = False
        self.unacked = 0          # request body bytes taken, the stream's window not yet reopened
        self.request_done = False  # the client's END_STREAM came

    # -- what the ClientConn calls (asyncio.Transport) -------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.session.transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self.ended

    def write(self, data: bytes | bytearray | memoryview) -> None:
        parser = self.parser
        if parser is None or self.ended:
            return  # a HEAD's answer ends at its headers; a reset stream takes nothing
        try:
            parser.feed_data(bytes(data))
        except HttpParserError:  # cannot be: UpstreamConn parsed the same bytes
            self.reset(INTERNAL_ERROR)

    def writelines(self, pieces: Any) -> None:
        for piece in pieces:
            self.write(piece)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:  # after a refusal (400/431/501): the answer is complete
        self.close()

    def close(self) -> None:
        """The ClientConn is done with the stream."""
        if not self.ended:
            if self.started and not self.framed and not self.pending:
                self.end()  # a body delimited by the backend closing: that was its end
            elif self.started and not self.framed:
                self.end_pending = True
            else:  # cut mid-response, or no response at all
                self.reset(INTERNAL_ERROR)
        self.release()

    def abort(self) -> None:
        if not self.ended:
            self.reset(INTERNAL_ERROR)
        self.release()

    def pause_reading(self) -> None:  # the backend reads slowly: stop opening the window
        self.read_paused = True

    def resume_reading(self) -> None:
        self.read_paused = False
        if self.unacked:
            n, self.unacked = self.unacked, 0
            self.session.open_stream(self.sid, n)

    def set_protocol(self, protocol: Any) -> None:
        raise NotImplementedError("an HTTP/2 stream is not handed to another protocol")

    def get_protocol(self) -> Any:
        return self.client

    # -- the response, parsed (httptools callbacks) ------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()  # type: ignore[union-attr]
        fields, self.fields = self.fields, []
        out = [(b":status", b"%d" % status)]
        framed = False
        for name, value in fields:
            if name in HOP_BY_HOP:
                framed = framed or name == b"transfer-encoding"
                continue
            framed = framed or name == b"content-length"
            out.append((name, value))
        if status < 200:  # interim; 101 cannot happen (h2 requests carry no Upgrade)
            if status != 101:
                self.session.h2.send_headers(self.sid, out)
                self.session.want_flush()
            return
        self.started = True
        self.framed = framed or status in (204, 304)
        end = self.is_head
        self.session.h2.send_headers(self.sid, out, end_stream=end)
        if end:
            self.ended = True
            self.parser = None
            self.session.stream_done(self)
        self.session.want_flush()

    def on_body(self, body: bytes) -> None:
        if self.pending:
            self.pending.append(body)
        else:
            self.push(body)

    def on_message_complete(self) -> None:
        if not self.started:
            return  # an interim response ended; the final one follows
        self.parser = None
        if self.pending:
            self.end_pending = True
        else:
            self.end()

    # -- sending within the windows --------------------------------------------
    def push(self, data: bytes) -> None:
        """Send as much of `data` as the windows allow; keep the rest for a WINDOW_UPDATE."""
        h2 = self.session.h2
        sid = self.sid
        view = memoryview(data)
        while view:
            room = min(h2.local_flow_control_window(sid), h2.max_outbound_frame_size)
            if room <= 0:
                self.pending.append(bytes(view))
                self.session.blocked.add(self)
                self.client.pause_writing()  # the backend waits for this client's window
                break
            h2.send_data(sid, view[:room].tobytes())
            view = view[room:]
        self.session.want_flush()

    def unblock(self) -> None:
        """A window opened: send what waits; go on reading the backend once all is out."""
        pending, self.pending = self.pending, []
        for i, piece in enumerate(pending):
            self.push(piece)
            if self.pending:
                self.pending.extend(pending[i + 1:])
                return
        self.session.blocked.discard(self)
        if self.end_pending:
            self.end()
        elif not self.ended and not self.session.write_paused:
            self.client.resume_writing()

    def end(self) -> None:
        self.ended = True
        self.end_pending = False
        self.session.h2.end_stream(self.sid)
        self.session.want_flush()
        self.session.stream_done(self)

    def reset(self, code: int) -> None:
        self.ended = True
        self.pending = []
        self.session.blocked.discard(self)
        self.session.reset(self.sid, code)
        self.session.stream_done(self)

    # -- the request body --------------------------------------------------------
    def body(self, data: bytes, flow: int) -> None:
        """Request DATA: to the ClientConn, framed as the head said (length or chunked)."""
        self.body_seen += len(data)
        if self.body_seen > self.session.plane.settings.http2_max_body_bytes:
            self.session.too_large(self)
            return
        client = self.client
        if data and client.state != CLOSED:  # the last chunk comes with END_STREAM (session)
            client.data_received(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
        if flow:  # the connection's window reopens at once, this stream's as its backend takes it
            self.session.taken(flow)
            self.unacked += flow
            if not self.read_paused and self.unacked * 4 >= self.session.plane.settings.http2_window:
                n, self.unacked = self.unacked, 0
                self.session.open_stream(self.sid, n)

    def release(self) -> None:
        """Take the ClientConn off the plane's books, once its response is done."""
        client = self.client
        if client.state != CLOSED or client in self.session.plane.clients:
            client.connection_lost(None)

    def cancelled(self) -> None:
        """The client reset the stream, or the connection went: as an HTTP/1.1 client gone."""
        self.ended = True
        self.pending = []
        self.session.blocked.discard(self)
        self.release()
