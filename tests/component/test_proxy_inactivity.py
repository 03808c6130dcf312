"""The proxy's timeouts count inactivity, each against the side that is inactive.

--response-timeout bounds a backend's silence: from the last byte of the request it
took to its first response byte, and then between two reads of its response. A client
slow to send its body is not the backend's fault (--body-timeout bounds it: 408), nor is
a client slow to read the response. Real proxy process, real sockets: loopback backends
that answer, stop reading or stall as each test needs.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvloop

from tests.support.h2client import H2Client
from tests.support.net import HOST, wait_until
from tests.support.proxy import ProxyProcess, table_of
from zerodown.model import Backend, RevisionRoute, RoutingTable
from zerodown.proxy.dataplane import DataPlane
from zerodown.proxy.inactivity import sweep_exchange
from zerodown.proxy.settings import ProxySettings

RESPONSE_TIMEOUT = 1.0
UPLOAD = 64 << 20  # more than every socket buffer on the way holds


@pytest.fixture
def edge(tmp_path):
    with ProxyProcess(tmp_path, extra=["--response-timeout", str(RESPONSE_TIMEOUT),
                                       "--body-timeout", "1.5"]) as proxy:
        yield proxy


def backend_stats(proxy, backend) -> dict:
    return proxy.stats()["backends"][f"v1-{backend.port}"]


def answer_ok(conn, backend) -> None:
    """Read each whole request (its body too), then answer 200."""
    while (req := conn.read_request()) is not None:
        backend.requests.append(req)
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (
            len(str(len(req.body))), len(req.body)))


def read_head_then_nothing(conn, backend) -> None:
    """Take a request's head, then never read again (its socket fills up), until the end."""
    backend.requests.append(conn.read_until(b"\r\n\r\n"))
    backend.stopping.wait(30)


def test_a_slow_upload_is_not_the_backends_fault(edge, raw_backend, client):
    """A body trickled over 3 s, three times the response timeout: answered 200, and the
    backend, which answered as soon as the body ended, is not ejected."""
    backend = raw_backend(answer_ok)
    edge.apply(table_of(1, ("v1", 100, [backend])))
    c = client(edge.port, timeout=10)
    c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 6000\r\n\r\n")
    started = time.monotonic()
    for _ in range(6):
        c.send(b"x" * 1000)
        time.sleep(0.5)  # the client's own pace: the scenario, not a wait for a condition
    resp = c.read_response()
    assert time.monotonic() - started >= 3 * RESPONSE_TIMEOUT  # the test proves it
    assert resp.status == 200 and resp.body == b"6000", resp
    stats = backend_stats(edge, backend)
    assert stats["state"] == "active" and stats["errors"] == 0, stats


def test_a_client_stalled_mid_body_gets_408_and_the_backend_is_not_blamed(
        edge, raw_backend, client):
    backend = raw_backend(answer_ok)
    edge.apply(table_of(1, ("v1", 100, [backend])))
    c = client(edge.port, timeout=10)
    started = time.monotonic()
    c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf")
    resp = c.read_response()
    assert resp.status == 408, resp
    assert 1.4 <= time.monotonic() - started < 4, "--body-timeout 1.5 bounds the stall"
    assert c.closed_within(5)
    stats = backend_stats(edge, backend)
    assert stats["state"] == "active" and stats["errors"] == 0, stats
    assert edge.stats()["rejected"] == 1


def test_a_backend_that_stops_reading_the_body_is_timed_out(edge, raw_backend, client):
    """The backend takes the head and no more: once its socket is full nothing moves, and
    response_timeout later the POST gets 504 (never sent twice) and the backend is ejected."""
    stuck = raw_backend(read_head_then_nothing)
    edge.apply(table_of(1, ("v1", 100, [stuck])))
    c = client(edge.port, timeout=10)
    size = 256 << 20  # more than every socket buffer on the way holds

    def upload() -> None:
        try:
            c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b"x" * (1 << 20)
            for _ in range(size >> 20):
                c.send(chunk)
        except OSError:
            pass  # the proxy answered and closed while it still sent

    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    try:
        wait_until(lambda: stuck.requests, what="the head reached the backend")
        resp = c.read_response()
        assert resp.status == 504, resp
        stats = backend_stats(edge, stuck)
        assert stats["state"] == "ejected", stats
        assert len(stuck.requests) == 1 and stuck.connections == 1  # not sent twice
    finally:
        c.close()
        sender.join(10)


def stall_after(first: bytes):
    """Answer a response head saying 10 bytes and send `first` of them, then nothing more
    (the socket stays open: no FIN tells the proxy)."""
    def handler(conn, backend) -> None:
        backend.requests.append(conn.read_request())
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + first)
        backend.stopping.wait(30)
    return handler


def test_a_response_stalled_mid_body_is_cut_with_a_log_line(edge, raw_backend, client):
    stalled = raw_backend(stall_after(b"12345"))
    edge.apply(table_of(1, ("v1", 100, [stalled])))
    c = client(edge.port, timeout=10)
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    head = c.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert c.read_exactly(5) == b"12345"
    assert c.closed_within(RESPONSE_TIMEOUT + 3), "a stalled response must not hang forever"
    assert bytes(c.buf) == b"", "the client sees the response end short"
    wait_until(lambda: "stalled mid-response" in edge.proc.log(), what="the log line")
    stats = backend_stats(edge, stalled)
    assert stats["cut"] == 1, stats
    assert stats["state"] == "active", stats  # a pause mid-stream may be the app's: no ejection


def trickle(pieces: int, pause: float):
    """A response whose body comes one byte every `pause` seconds."""
    def handler(conn, backend) -> None:
        backend.requests.append(conn.read_request())
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % pieces)
        for _ in range(pieces):
            time.sleep(pause)  # the backend's pace: the scenario
            conn.send(b"x")
    return handler


def test_a_response_that_keeps_moving_is_never_cut(edge, raw_backend, client):
    """Inactivity, not total time: a body sent over 3 s, a byte every 0.5 s, arrives whole."""
    slow = raw_backend(trickle(6, 0.5))
    edge.apply(table_of(1, ("v1", 100, [slow])))
    c = client(edge.port, timeout=10)
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    resp = c.read_response()
    assert resp.status == 200 and resp.body == b"x" * 6, resp


def big_answer(size: int):
    def handler(conn, backend) -> None:
        while (req := conn.read_request()) is not None:
            backend.requests.append(req)
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"y" * size)
    return handler


def test_a_client_slow_to_read_the_response_is_not_the_backends_fault(
        edge, raw_backend, client):
    """The client reads nothing for 2.5 s: the backend, held back by the client, is not cut."""
    size = 32 << 20
    backend = raw_backend(big_answer(size))
    edge.apply(table_of(1, ("v1", 100, [backend])))
    c = client(edge.port, timeout=10)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(2.5)  # the client's pace: the scenario
    resp = c.read_response()
    assert resp.status == 200 and len(resp.body) == size
    stats = backend_stats(edge, backend)
    assert stats["cut"] == 0 and stats["state"] == "active", stats


def test_an_http2_stream_stalled_mid_body_gets_408_and_the_connection_serves_on(
        tmp_path, raw_backend):
    """The same bound per HTTP/2 stream: the stalled stream is answered 408, its backend not
    blamed, and the connection's other streams are served."""
    with ProxyProcess(tmp_path, extra=["--http2-prior-knowledge", "--response-timeout",
                                       str(RESPONSE_TIMEOUT), "--body-timeout", "1.5"]) as proxy:
        backend = raw_backend(answer_ok)
        proxy.apply(table_of(1, ("v1", 100, [backend])))
        c = H2Client(HOST, proxy.port)
        try:
            stalled = c.request("POST", "/upload", headers=[("content-length", "100")],
                                end=False)
            c.send_body(stalled, b"half", end=False)
            started = time.monotonic()
            answer, = c.wait_all([stalled])
            assert answer.status == 408, answer
            assert 1.4 <= time.monotonic() - started < 4
            ok, = c.wait_all([c.request("POST", "/upload", body=b"whole")])
            assert ok.status == 200 and ok.body == b"5", ok
            stats = backend_stats(proxy, backend)
            assert stats["state"] == "active" and stats["errors"] == 0, stats
        finally:
            c.close()


def test_a_backend_connection_attached_again_does_not_inherit_the_last_requests_backlog():
    """`backlog` is the sweeper's last reading of a request's unwritten bytes on its backend
    connection; a connection attached to a request starts it from nothing, or its first
    sweep would read the last request's backlog shrinking to none as progress and restart
    the silence clock. The connection is a keep-alive one: an upload backs up on it and is
    answered, then, given back to the idle pool, it is attached again for the client's next
    request (a GET the backend leaves unanswered: only response_timeout may end it).
    In-process (the real proxy objects, loop and sockets), the sweep called by the test:
    a reading at a chosen time, no race with the sweeper's own."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # the proxy's loop
        runner.run(_backlog_not_inherited())


async def _backlog_not_inherited() -> None:
    loop = asyncio.get_running_loop()
    settings = ProxySettings()
    heads: asyncio.Queue = asyncio.Queue()
    answer, done = asyncio.Event(), asyncio.Event()

    async def backend(reader, writer) -> None:
        await heads.put(await reader.readuntil(b"\r\n\r\n"))
        await answer.wait()  # meanwhile the upload piles up in the proxy's buffer
        await reader.readexactly(UPLOAD)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await heads.put(await reader.readuntil(b"\r\n\r\n"))  # the next request: no answer
        await done.wait()
        writer.close()

    app = await asyncio.start_server(backend, HOST, 0)
    plane = DataPlane(loop, settings)  # not start()ed: no sweeper of its own
    plane.apply(RoutingTable(1, (RevisionRoute("v1", 100, (Backend(
        "b", f"{HOST}:{app.sockets[0].getsockname()[1]}"),)),)), durable=False)
    proxy = await loop.create_server(plane.protocol, HOST, 0)
    reader, writer = await asyncio.open_connection(HOST, proxy.sockets[0].getsockname()[1])
    try:
        writer.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % UPLOAD
                     + b"x" * UPLOAD)
        await asyncio.wait_for(heads.get(), 10)
        client = next(iter(plane.clients))
        deadline = loop.time() + 10
        while client.up is None or not client.up.transport.get_write_buffer_size():
            assert loop.time() < deadline, "the upload never backed up in the proxy"
            await asyncio.sleep(0.01)
        sweep_exchange(client, loop.time(), settings)
        assert client.backlog > 0  # the first connection's reading
        answer.set()
        assert (await asyncio.wait_for(reader.readuntil(b"ok"), 10)).startswith(b"HTTP/1.1 200")
        writer.write(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.wait_for(heads.get(), 10)
        assert client.up is not None and client.up.transport.get_write_buffer_size() == 0
        sent_at = client.sent_at
        sweep_exchange(client, sent_at + 0.5, settings)  # nothing moved since it was sent
        assert client.sent_at == sent_at, "a spurious progress restarted the silence clock"
        sweep_exchange(client, sent_at + settings.response_timeout + 0.1, settings)
        assert b"504" in await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
    finally:
        done.set()
        writer.close()
        proxy.close()
        app.close()
        plane.close()
        await app.wait_closed()
