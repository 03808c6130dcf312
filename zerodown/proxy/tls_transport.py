"""TLS on the client's socket itself: OpenSSL reads and writes the file descriptor.

uvloop's SSL transport runs every record through two memory BIOs and its
own app-transport layer: the socket's bytes are read into a buffer, copied
into the incoming BIO, decrypted into a fresh 256 KiB bytes object (shrunk
after), and each response is encrypted into the outgoing BIO, read out as
bytes, then written, with flow-control bookkeeping at every step. Here
OpenSSL does it on the socket, as HAProxy does: one `SSL_read` per readable
event into a bytes object the size of one record, one `SSL_write` per
response (one record, one send). benchmarks/README.md (TLS) has the figures.

`TlsServer` accepts on the listening socket (the same one a hitless restart
hands over) and makes a `TlsTransport` per connection; after the handshake
the protocol the factory gives (ClientConn, or h2session.Negotiated) gets it
as an ordinary asyncio transport: write/writelines, close (after what is
buffered is sent: close_notify, FIN, then the client's late bytes are read
and dropped for LINGER seconds, so a reset never destroys the answer),
abort, pause/resume reading, and pause_writing/resume_writing to the
protocol above HIGH_WATER buffered bytes (a slow reader cannot make the
proxy buffer without bound).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from typing import Any, Callable, Final

from zerodown.proxy.dataplane import LINGER

RECORD: Final = 16384  # the most plaintext one TLS record carries (RFC 8446 5.1)
HIGH_WATER = 64 * 1024  # asyncio's defaults: pause the protocol's writing above, resume below
LOW_WATER = 16 * 1024
ACCEPTS_PER_WAKE = 64  # then the loop serves others; the listening socket stays readable
ACCEPT_PAUSE = 1.0  # seconds without accepting after EMFILE & co, instead of a busy loop
_RETRY_ACCEPT = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ECONNABORTED, errno.EPROTO)

HANDSHAKE: Final = 0
OPEN: Final = 1
CLOSING: Final = 2
LINGERING: Final = 3  # close_notify and FIN sent: the client's last bytes are dropped
DONE: Final = 4


def _nowhere(data: bytes) -> None:
    """data_received before a protocol is there: never called (reads start after it)."""


class TlsServer:
    """Accepts TLS connections on `sock` (listening already: handed over or bound by us)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 factory: Callable[[], Any], context: ssl.SSLContext,
                 handshake_timeout: float, backlog: int = 4096,
                 log: Callable[[str], None] = lambda line: None):
        self.loop, self.sock, self.factory, self.context = loop, sock, factory, context
        self.handshake_timeout, self.log = handshake_timeout, log
        sock.setblocking(False)
        sock.listen(backlog)
        self.fd = sock.fileno()
        self.serving = False  # accepting now
        self.closed = False  # close() was called: never accepting again
        self._start()

    def _start(self) -> None:
        if not self.serving and not self.closed:
            self.serving = True
            self.loop.add_reader(self.fd, self._accept)

    def _pause(self) -> None:
        if self.serving:
            self.serving = False
            self.loop.remove_reader(self.fd)

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                conn, peer = self.sock.accept()
            except OSError as e:
                if e.errno not in _RETRY_ACCEPT:  # out of descriptors or memory: wait, then retry
                    self.log(f"accept on the TLS listener failed ({e}); retrying in "
                             f"{ACCEPT_PAUSE:g}s")
                    self._pause()
                    self.loop.call_later(ACCEPT_PAUSE, self._start)  # unless closed meanwhile
                return
            try:
                TlsTransport(self.loop, conn, peer, self.factory, self.context,
                             self.handshake_timeout)
            except OSError:  # gone between accept and wrap (a reset): nothing to serve
                conn.close()

    def close(self) -> None:
        """Stop accepting for good (the socket itself may live on in a successor)."""
        self.closed = True
        self._pause()

    async def wait_closed(self) -> None:
        return None


class TlsTransport:  # an asyncio transport by duck typing (compiled classes take no Python base)
    """One client's TLS connection: an asyncio transport over `ssl.SSLSocket`'s C object."""

    def __init__(self, loop: asyncio.AbstractEventLoop, conn: socket.socket, peer: Any,
                 factory: Callable[[], Any], context: ssl.SSLContext, handshake_timeout: float):
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as uvloop's TCP transports
        self.loop, self.peer, self.factory = loop, peer, factory
        self.ssl = context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        # _ssl's own object: its read and write are C methods, no Python frame per record
        self.obj: Any = self.ssl._sslobj  # type: ignore[attr-defined]
        if self.obj is None:
            raise OSError(errno.ENOTCONN, "the client is gone")
        # Bound methods kept: a call through them skips a method lookup per record.
        self.ssl_read: Callable[..., Any] = self.obj.read
        self.ssl_write: Callable[[Any], Any] = self.obj.write
        self.ssl_pending: Callable[[], int] = self.obj.pending
        self.deliver: Callable[[bytes], Any] = _nowhere  # the protocol's data_received
        self.fd = self.ssl.fileno()
        self.protocol: Any = None
        self.state = HANDSHAKE
        self.reading = True  # the protocol's wish (pause_reading)
        self.read_wants_write = False  # a read that OpenSSL can only finish by writing
        self.writing = False  # a writer is registered on the loop
        self.stuck: bytes | None = None  # what SSL_write must be called with again
        self.backlog: list[bytes] = []
        self.buffered = 0  # len(stuck) + the backlog's
        self.write_paused = False
        self.timer: asyncio.TimerHandle | None = loop.call_later(handshake_timeout, self.abort)
        loop.add_reader(self.fd, self._readable)  # the client speaks first (ClientHello)

    # -- the loop's callbacks -----------------------------------------------
    def _readable(self) -> None:
        state = self.state
        if state == OPEN or state == CLOSING:
            self._read()
        elif state == HANDSHAKE:
            self._handshake()
        elif state == LINGERING:
            self._drop_late_bytes()

    def _writable(self) -> None:
        if self.state == HANDSHAKE:
            return self._handshake()
        if self.read_wants_write:
            self.read_wants_write = False
            self._read()
        self._flush()

    def _handshake(self) -> None:
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            return self._want_writable(False)
        except ssl.SSLWantWriteError:
            return self._want_writable(True)
        except (OSError, ValueError) as e:  # not TLS, a refused version, a reset, EOF
            return self._teardown(e)
        self._cancel_timer()
        self._want_writable(False)
        self.state = OPEN
        self.set_protocol(self.factory())
        self.protocol.connection_made(self)

    def _read(self) -> None:
        while True:
            try:
                # Straight into a bytes object of the record's size: _ssl allocates RECORD
                # and shrinks it, cheaper than a shared buffer (a buffer argument, parsed on
                # every call) and a copy out of it (benchmarks/README.md, TLS).
                data: bytes = self.ssl_read(RECORD)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLWantWriteError:  # e.g. a TLS 1.3 key update to answer: room first
                self.read_wants_write = True
                return self._want_writable(True)
            except ssl.SSLZeroReturnError:  # the client's close_notify
                return self._peer_closed()
            except ssl.SSLEOFError:  # a FIN without close_notify: a closed connection all the same
                return self._peer_closed()
            except (OSError, ValueError) as e:
                return self._teardown(e)
            if not data:
                return self._peer_closed()
            self.deliver(data)
            # More plaintext already decrypted? (The socket's next bytes wake the loop again.)
            # One SSL_read returns the rest of one record and a record carries at most RECORD
            # bytes, so only a full read can leave any: the usual short request asks no
            # SSL_pending, a C call with the GIL released and taken again.
            if len(data) < RECORD or not self.reading or self.state != OPEN \
                    or not self.ssl_pending():
                return

    def _peer_closed(self) -> None:
        eof = getattr(self.protocol, "eof_received", None)
        if eof is not None:
            eof()
        self.close()

    # -- writing --------------------------------------------------------------
    def write(self, data: Any) -> None:
        if not data or self.state != OPEN:
            return  # closing or closed: nothing more goes out (as asyncio's transports)
        if self.stuck is not None:
            self.backlog.append(data)
            self.buffered += len(data)
            return self._check_high()
        try:
            self.ssl_write(data)  # the whole of it (no partial writes) or nothing new
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            self.stuck = bytes(data)
            self.buffered += len(data)
            self._want_writable(True)
            self._check_high()
        except (OSError, ValueError) as e:
            self._teardown(e)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))  # one record for a head and its body

    def _flush(self) -> None:
        while self.stuck is not None:
            try:
                self.ssl_write(self.stuck)  # OpenSSL wants the same bytes again after WANT_WRITE
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return
            except (OSError, ValueError) as e:
                return self._teardown(e)
            self.buffered -= len(self.stuck)
            if self.backlog:
                self.stuck = b"".join(self.backlog)
                self.backlog.clear()
            else:
                self.stuck = None
        if not self.read_wants_write:
            self._want_writable(False)
        if self.write_paused and self.buffered <= LOW_WATER and self.protocol is not None:
            self.write_paused = False
            self.protocol.resume_writing()
        if self.state == CLOSING:
            self._closed_cleanly()

    def _check_high(self) -> None:
        if not self.write_paused and self.buffered > HIGH_WATER and self.protocol is not None:
            self.write_paused = True
            self.protocol.pause_writing()

    def _want_writable(self, on: bool) -> None:
        if on and not self.writing:
            self.writing = True
            self.loop.add_writer(self.fd, self._writable)
        elif not on and self.writing:
            self.writing = False
            self.loop.remove_writer(self.fd)

    # -- closing --------------------------------------------------------------
    def close(self) -> None:
        """Close after what is buffered went out; the protocol hears connection_lost then."""
        if self.state == HANDSHAKE:
            return self._teardown(None)
        if self.state != OPEN:
            return
        self.state = CLOSING
        self._stop_reading()
        if self.stuck is None:
            self._closed_cleanly()

    def _closed_cleanly(self) -> None:
        """close_notify and FIN; the client's late bytes are read and dropped until it
        closes too or LINGER passes (closing with bytes unread would send a reset)."""
        self.state = LINGERING
        self._lose(None)
        try:
            self.obj.shutdown()  # sends close_notify; the client's own is not waited for here
        except (OSError, ValueError):
            pass
        try:
            socket.socket.shutdown(self.ssl, socket.SHUT_WR)
        except OSError:
            return self._teardown(None)
        self._want_writable(False)
        self.loop.add_reader(self.fd, self._readable)
        self.reading = True
        self.timer = self.loop.call_later(LINGER, self._teardown, None)

    def _drop_late_bytes(self) -> None:
        try:
            more = socket.socket.recv(self.ssl, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            more = b""
        if not more:
            self._teardown(None)

    def abort(self) -> None:
        self._teardown(None)

    def _teardown(self, exc: BaseException | None) -> None:
        if self.state == DONE:
            return
        self.state = DONE
        self._cancel_timer()
        self._stop_reading()
        self._want_writable(False)
        self.stuck, self.backlog, self.buffered = None, [], 0
        self._lose(exc if isinstance(exc, Exception) else None)
        self.ssl.close()

    def _lose(self, exc: Exception | None) -> None:
        protocol, self.protocol = self.protocol, None
        if protocol is not None:
            self.loop.call_soon(protocol.connection_lost, exc)

    def _stop_reading(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.fd)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # -- the rest of asyncio.Transport ------------------------------------------
    def pause_reading(self) -> None:
        if self.state == OPEN:
            self._stop_reading()

    def resume_reading(self) -> None:
        if self.state == OPEN and not self.reading:
            self.reading = True
            self.loop.add_reader(self.fd, self._readable)
            if self.ssl_pending():  # decrypted already: no readable event will say so
                self.loop.call_soon(self._readable)

    def is_reading(self) -> bool:
        return self.state == OPEN and self.reading

    def is_closing(self) -> bool:
        return self.state != OPEN

    def can_write_eof(self) -> bool:
        return False  # TLS has no half-close; close() sends close_notify

    def write_eof(self) -> None:
        raise NotImplementedError("TLS has no half-close: close() sends close_notify")

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return LOW_WATER, HIGH_WATER

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol
        self.deliver = protocol.data_received

    def get_protocol(self) -> Any:
        return self.protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.peer
        if name in ("ssl_object", "socket"):
            return self.ssl
        if self.state == DONE:
            return default
        if name == "sockname":
            return self.ssl.getsockname()
        if name == "sslcontext":
            return self.ssl.context
        if name == "cipher":
            return self.ssl.cipher()
        if name == "compression":
            return self.ssl.compression()
        if name == "peercert":
            return self.ssl.getpeercert()
        return default
