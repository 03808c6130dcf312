"""Fixtures for proxy component tests: raw backends that record every byte,
and raw-socket clients for tests about bytes on the wire."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from tests.support import HOST
from tests.support.net import wait_until
from tests.support.proxy import ProxyProcess, table_of
from zerodown.model import Rule

IO_TIMEOUT = 5.0  # every blocking socket call in these tests is bounded by this


# -- a backend that records ----------------------------------------------------

@dataclass
class Request:
    head: bytes   # request line and headers, with the blank line
    body: bytes   # decoded (a chunked body is de-chunked)

    @property
    def line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    def header_values(self, name: str) -> list[str]:
        """Every value of header `name` (each field line one entry), in order."""
        want, out = name.lower(), []
        for raw in self.head.split(b"\r\n")[1:]:
            k, sep, v = raw.decode("latin-1").partition(":")
            if sep and k.strip().lower() == want:
                out.append(v.strip())
        return out

    def wants_close(self) -> bool:
        return any("close" in v.lower() for v in self.header_values("connection"))


class BackendConn:
    """One accepted connection of a RawBackend: reads are recorded."""

    def __init__(self, sock: socket.socket, record: bytearray):
        self.sock, self.record, self.buf = sock, record, bytearray()
        sock.settimeout(IO_TIMEOUT)

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(256 * 1024)
        except OSError:
            return False
        self.record += data
        self.buf += data
        return bool(data)

    def read_until(self, marker: bytes) -> bytes | None:
        while (i := self.buf.find(marker)) < 0:
            if not self._fill():
                return None
        out = bytes(self.buf[:i + len(marker)])
        del self.buf[:i + len(marker)]
        return out

    def read_exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_some(self) -> bytes:
        """Whatever is buffered, or the next read; b"" at EOF."""
        if not self.buf and not self._fill():
            return b""
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def read_request(self) -> Request | None:
        head = self.read_until(b"\r\n\r\n")
        if head is None:
            return None
        req = Request(head, b"")
        te = ",".join(req.header_values("transfer-encoding")).lower()
        if "chunked" in te:
            body = bytearray()
            while True:
                size_line = self.read_until(b"\r\n")
                if size_line is None:
                    return None
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    if self.read_until(b"\r\n") is None:  # no trailers in these tests
                        return None
                    break
                chunk = self.read_exactly(size + 2)
                if chunk is None:
                    return None
                body += chunk[:-2]
            req.body = bytes(body)
        else:
            length = int((req.header_values("content-length") or ["0"])[0])
            body = self.read_exactly(length)
            if body is None:
                return None
            req.body = body
        return req

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


def respond_with_head(conn: BackendConn, backend: "RawBackend") -> None:
    """The default handler: 200 whose body is the request head the backend got."""
    while (req := conn.read_request()) is not None:
        backend.requests.append(req)
        close = req.wants_close()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
                  % (len(req.head), b"Connection: close\r\n" if close else b"", req.head))
        if close:
            return


class RawBackend:
    """A TCP backend on 127.0.0.1:0 that records every byte it receives.

    `handler(conn, backend)` runs in a thread per connection; the default
    answers every request with its own head as the body.
    """

    def __init__(self, handler: Callable[[BackendConn, "RawBackend"], None] = respond_with_head):
        self.handler = handler
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.records: list[bytearray] = []   # per accepted connection, in order
        self.requests: list[Request] = []    # filled by handlers that parse requests
        self.socks: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def connections(self) -> int:
        return len(self.records)

    def received(self) -> bytes:
        return b"".join(bytes(r) for r in self.records)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            record = bytearray()
            self.records.append(record)
            self.socks.append(sock)
            t = threading.Thread(target=self._serve, args=(sock, record), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, sock: socket.socket, record: bytearray) -> None:
        try:
            self.handler(BackendConn(sock, record), self)
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        self.acceptor.join(2)
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(2)


@pytest.fixture
def raw_backend():
    """raw_backend(handler=None) -> a started RawBackend, closed when the test ends."""
    started: list[RawBackend] = []

    def factory(handler=None) -> RawBackend:
        b = RawBackend(handler or respond_with_head)
        started.append(b)
        return b

    yield factory
    for b in started:
        b.close()


# -- a raw client ----------------------------------------------------------------

@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""
    extra: dict = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class Client:
    """A raw HTTP/1.1 client connection: bytes out as given, responses parsed by hand."""

    def __init__(self, port: int, timeout: float = IO_TIMEOUT):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def fill(self) -> bool:
        data = self.sock.recv(256 * 1024)
        self.buf += data
        return bool(data)

    def read_until(self, marker: bytes) -> bytes:
        while (i := self.buf.find(marker)) < 0:
            if not self.fill():
                raise EOFError(f"connection closed while waiting for {marker!r}; "
                               f"got {bytes(self.buf)[:300]!r}")
        out = bytes(self.buf[:i + len(marker)])
        del self.buf[:i + len(marker)]
        return out

    def read_exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self.fill():
                raise EOFError(f"connection closed {n - len(self.buf)} bytes short of a body")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, *, head_request: bool = False) -> Response:
        raw = self.read_until(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [(k.strip(), v.strip()) for k, _, v in
                   (line.partition(":") for line in lines[1:] if line)]
        resp = Response(status, headers, b"", raw)
        if head_request or status in (101, 204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            body = bytearray()
            while True:
                size = int(self.read_until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    self.read_until(b"\r\n")
                    break
                body += self.read_exactly(size + 2)[:-2]
            resp.body = bytes(body)
        elif resp.header("content-length") is not None:
            resp.body = self.read_exactly(int(resp.header("content-length")))
        else:  # close-delimited
            while self.fill():
                pass
            resp.body, self.buf = bytes(self.buf), bytearray()
        return resp

    def closed_within(self, timeout: float) -> bool:
        """True if the peer closes (EOF or reset) within `timeout`; extra bytes are kept."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                if not self.fill():
                    return True
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def client():
    """client(port) -> a connected raw Client, closed when the test ends."""
    opened: list[Client] = []

    def factory(port: int, timeout: float = IO_TIMEOUT) -> Client:
        c = Client(port, timeout)
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()


@pytest.fixture
def poll():
    """poll(cond, timeout, what): wait for a condition with a deadline, never a bare sleep."""
    return wait_until


@pytest.fixture
def h2c_proxy(tmp_path, app_factory):
    """A proxy taking HTTP/2 with prior knowledge: v1 serves, v2 takes `X-Canary: 1`
    (test_proxy_http2.py, test_proxy_http2_refusals.py)."""
    p = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge"])
    p.start()
    p.apps = [app_factory("v1"), app_factory("v2")]
    p.apply(table_of(1, ("v1", 100, [p.apps[0]]), ("v2", 0, [p.apps[1]]),
                     rules=[Rule("v2", header="X-Canary", equals="1")]))
    yield p
    p.cleanup()
