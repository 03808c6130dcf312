"""A request body the proxy holds is bounded: a large upload queued behind a full
backend pool pauses its client (HTTP/1.1: the socket is not read; HTTP/2: the
stream's window is not opened again) past --body-buffer-limit, instead of growing
the proxy's memory by the whole body; it goes on once a backend connection takes
it. The proxy's memory is its serving process's VmRSS, read while the client
pushes as hard as it can."""

from __future__ import annotations

import re
import socket
import threading
import time
from http.client import HTTPConnection

import pytest

from tests.support.h2client import H2Client
from tests.support.net import HOST, get, wait_until
from tests.support.proxy import ProxyProcess, table_of

MiB = 1 << 20
PIECE = b"x" * (256 * 1024)
QUIET = 0.5  # the client has sent nothing for this long: the proxy stopped taking its body


def rss(pid: int) -> int:
    """The process's resident memory in bytes (/proc/PID/status VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        kb = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    return int(kb.group(1)) * 1024  # type: ignore[union-attr]


class CountingBackend:
    """One connection's requests in turn: GET /hold is answered once `release` is set (so
    it holds the proxy's only connection to this backend); any other request's body is
    read and dropped, piece by piece, and answered with its length."""

    def __init__(self) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.holding = threading.Event()
        self.release = threading.Event()
        self.heads: list[bytes] = []
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = sock.recv(1 << 20)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                if head.startswith(b"GET /hold"):
                    self.holding.set()
                    self.release.wait(60)
                    body = b"held"
                else:
                    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                    left = int(m.group(1)) if m else 0
                    size, taken = left, min(left, len(buf))
                    buf, left = buf[taken:], left - taken
                    while left:
                        data = sock.recv(min(left, 1 << 20))
                        if not data:
                            return
                        left -= len(data)
                    body = b"%d" % size
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        self.release.set()
        self.listener.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    proxy = ProxyProcess(tmp_path_factory.mktemp("bodybuf"),
                         extra=["--max-conns-per-backend", "1", "--http2-prior-knowledge"])
    proxy.start()
    proxy.versions = iter(range(1, 1000))
    yield proxy
    proxy.cleanup()


@pytest.fixture
def backend(edge):
    b = CountingBackend()
    edge.apply(table_of(next(edge.versions), ("v1", 100, [b])))
    yield b
    b.close()


def hold_the_pool(edge, backend) -> threading.Thread:
    """A request that holds the backend's only connection until `backend.release`."""
    held: list = []
    t = threading.Thread(target=lambda: held.append(get(edge.port, "/hold", timeout=60)))
    t.held = held  # type: ignore[attr-defined]
    t.start()
    wait_until(backend.holding.is_set, what="the holding request at the backend")
    return t


def peak_growth(pid: int, base: int, sent: list[int], size: int, timeout: float = 60) -> int:
    """Watch the proxy's memory while the client pushes its body: until the client has sent
    everything or has sent nothing more for QUIET seconds. The largest growth seen."""
    peak, last, since = 0, -1, time.monotonic()
    deadline = since + timeout
    while sent[0] < size and time.monotonic() < deadline:
        peak = max(peak, rss(pid) - base)
        if sent[0] != last:
            last, since = sent[0], time.monotonic()
        elif time.monotonic() - since > QUIET:
            break
        time.sleep(0.02)
    return max(peak, rss(pid) - base)


def growth_until_done(pid: int, base: int, worker: threading.Thread, timeout: float = 120) -> int:
    """The largest growth of the proxy's memory until `worker` ends (the body flows)."""
    peak, deadline = 0, time.monotonic() + timeout
    while worker.is_alive() and time.monotonic() < deadline:
        peak = max(peak, rss(pid) - base)
        worker.join(0.02)
    assert not worker.is_alive(), "the upload did not complete once the backend took it"
    return peak


def queued_upload(edge, backend, size: int, bound: int, upload) -> int:
    """`upload(sent)` in a thread (it counts the bytes it has sent in sent[0]) while a
    request holds the backend's only connection: the proxy grows by less than `bound` and
    the client is paused before its end; then the hold ends and the upload must complete.
    The proxy's largest growth while the body flows."""
    holder = hold_the_pool(edge, backend)
    pid = edge.serving_pid()
    base = rss(pid)
    sent = [0]
    uploader = threading.Thread(target=upload, args=(sent,))
    uploader.start()
    held = peak_growth(pid, base, sent, size)
    assert held < bound, f"the proxy grew by {held // MiB} MiB holding a queued upload"
    assert sent[0] < size, "the proxy took the whole upload while no backend could"
    backend.release.set()
    flowing = growth_until_done(pid, base, uploader)
    holder.join(10)
    assert holder.held[0].status == 200  # type: ignore[attr-defined]
    return flowing


def test_an_upload_queued_behind_a_full_pool_pauses_its_client(edge, backend):
    size, bound = 200 * MiB, 40 * MiB
    answers: list = []

    def upload(sent: list[int]) -> None:
        def body():
            for _ in range(size // len(PIECE)):
                sent[0] += len(PIECE)
                yield PIECE
        conn = HTTPConnection(HOST, edge.port, timeout=60)
        conn.request("POST", "/upload", body=body(), headers={"Content-Length": str(size)})
        r = conn.getresponse()
        answers.append((r.status, r.read()))
        conn.close()

    flowing = queued_upload(edge, backend, size, bound, upload)
    assert answers == [(200, b"%d" % size)]
    assert flowing < bound, f"the proxy grew by {flowing // MiB} MiB passing the upload on"


def test_an_http2_upload_queued_behind_a_full_pool_keeps_its_window_shut(edge, backend):
    size, bound = 48 * MiB, 20 * MiB
    answers: list = []

    def upload(sent: list[int]) -> None:
        c = H2Client(HOST, edge.port, timeout=60)
        sid = c.request("POST", "/upload", headers=[("content-length", str(size))], end=False)
        pieces = size // len(PIECE)
        for i in range(pieces):
            sent[0] += len(PIECE)
            c.send_body(sid, PIECE, end=i == pieces - 1)
        answers.extend(c.wait_all([sid], timeout=60))
        c.close()

    queued_upload(edge, backend, size, bound, upload)
    assert [(a.status, bytes(a.body)) for a in answers] == [(200, b"%d" % size)]



def test_http2_uploads_waiting_for_a_connection_do_not_hold_back_the_one_being_sent(edge, backend):
    """Streams queued behind a full pool keep their own windows shut, not the connection's:
    eight of them send a window's worth each (2 MiB, more than the connection's window)
    while the stream that holds the backend's connection still has its body to send; it
    must get through, and then each queued one (a deadlock until response_timeout when
    the queued streams' bytes held the connection's window shut)."""
    window, size = 256 * 1024, 1 * MiB
    c = H2Client(HOST, edge.port, timeout=20)
    try:
        sending = c.request("POST", "/upload", headers=[("content-length", str(size))], end=False)
        wait_until(lambda: backend.heads, what="the first upload's head at the backend")
        queued = [c.request("POST", "/upload", headers=[("content-length", str(window))],
                            end=False) for _ in range(8)]
        for sid in queued:
            c.send_body(sid, b"q" * window)
        c.send_body(sending, b"s" * size)
        answers = c.wait_all([sending, *queued], timeout=30)
    finally:
        c.close()
    assert [(a.status, bytes(a.body)) for a in answers] == \
        [(200, b"%d" % size)] + [(200, b"%d" % window)] * 8


def close_unanswered(conn, backend) -> None:
    """Read a request's head and close without a word: a backend going away."""
    conn.read_until(b"\r\n\r\n")


def test_a_body_over_the_retry_limit_is_not_kept_even_when_it_came_while_queued(
        tmp_path, raw_backend, client):
    """A PUT whose whole body arrived before its backend connection was open (queued, or
    connecting) is held to be sent, not kept for a retry past --retry-body-limit: when
    that backend goes away unanswered, 502, never sent again (it was: the body held
    while queued counted as kept whatever its size)."""
    proxy = ProxyProcess(tmp_path, extra=["--retry-body-limit", "4096"])
    proxy.start()
    try:
        going, good = raw_backend(close_unanswered), raw_backend()
        proxy.apply(table_of(1, ("v1", 100, [going, good])))
        c = client(proxy.port)
        body = b"y" * 16384
        c.send(b"PUT /doc HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        resp = c.read_response()
        assert resp.status == 502, resp.raw_head
        assert b"PUT /doc" in going.received()
        assert b"PUT /doc" not in good.received()
        # within the limit it is kept: the other backend answers the same PUT
        going, good = raw_backend(close_unanswered), raw_backend()
        proxy.apply(table_of(2, ("v1", 100, [going, good])))
        c = client(proxy.port)
        c.send(b"PUT /small HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
        assert c.read_response().status == 200
        assert b"PUT /small" in going.received() and b"PUT /small" in good.received()
    finally:
        proxy.cleanup()


class GoneMidBody:
    """A backend that reads a request's head, none of its body, and closes (a reset: the
    body unread) once `gone` is set: a backend dying while a large upload streams to it."""

    def __init__(self) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.gone = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        sock, _ = self.listener.accept()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        self.gone.wait(30)
        sock.close()

    def close(self) -> None:
        self.gone.set()
        self.listener.close()


def test_an_upload_its_backend_stopped_reading_is_read_and_dropped_after_the_502(edge):
    """The backend stops reading an upload (the proxy stops reading its client: the
    backend connection's flow control), then dies: the 502 is followed by a lingering
    close that reads and drops the rest of the body, so the client, still sending,
    finishes and reads its answer (the client stayed paused: its send hung until the
    proxy reset the connection, with the answer unread)."""
    backend = GoneMidBody()
    edge.apply(table_of(next(edge.versions), ("v1", 100, [backend])))
    size = 16 * MiB
    sent = [0]
    outcome: list = []

    def upload() -> None:
        try:
            with socket.create_connection((HOST, edge.port), timeout=10) as s:
                s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
                for _ in range(size // len(PIECE)):
                    s.sendall(PIECE)
                    sent[0] += len(PIECE)
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
                outcome.append(answer)
        except OSError as e:
            outcome.append(e)

    uploader = threading.Thread(target=upload)
    uploader.start()
    try:
        peak_growth(edge.serving_pid(), 0, sent, size)
        assert sent[0] < size, "the backend never stopped reading"
        backend.gone.set()
        uploader.join(20)
        assert not uploader.is_alive()
        assert outcome and isinstance(outcome[0], bytes), outcome
        assert outcome[0].startswith(b"HTTP/1.1 502 "), outcome[0][:100]
    finally:
        backend.close()
