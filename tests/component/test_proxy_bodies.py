"""HTTP/1.1 bodies through the real proxy process: request and response bodies streamed
both ways (content-length, chunked, to the close), a slow reader holding the backend back,
HEAD's headers without a body and 100-continue — checked on raw sockets where the bytes
matter. The rest of HTTP/1.1: test_proxy_protocol.py."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.support.http1 import MB, chunked, send_in_background, serve, sha


# -- bodies -----------------------------------------------------------------------

@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_5mb_request_body_round_trips_exactly(proxy, app_factory, client, framing):
    app = app_factory("v1")
    serve(proxy, app)
    body = os.urandom(5 * MB)
    if framing == "chunked":
        request = (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + chunked(body))
    else:
        request = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (
            len(body), body)
    c = client(proxy.port, timeout=15)
    sender = send_in_background(c, request)
    resp = c.read_response()
    sender.join(5)
    assert resp.status == 200
    assert (len(resp.body), sha(resp.body)) == (len(body), sha(body))
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # the connection is still in step
    assert c.read_response().body == b"hello from v1\n"


def big_response(conn, backend) -> None:
    """backend.payload with a Content-Length, until the close, or chunked with
    the second half held back until the test has the first (so it streamed)."""
    while (req := conn.read_request()) is not None:
        payload = backend.payload
        if req.line.startswith(b"GET /eof"):  # no length: the body ends with the connection
            conn.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + payload)
            return
        if req.line.startswith(b"GET /whole"):
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload))
            for i in range(0, len(payload), MB):
                conn.send(payload[i:i + MB])
        else:
            half = len(payload) // 2
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            conn.send(b"%x\r\n%s\r\n" % (half, payload[:half]))
            backend.streamed = backend.gate.wait(5)
            conn.send(chunked(payload[half:]))


def test_a_large_response_streams_through(proxy, raw_backend, client):
    backend = raw_backend(big_response)
    backend.payload, backend.gate, backend.streamed = os.urandom(8 * MB), threading.Event(), None
    serve(proxy, backend)
    c = client(proxy.port, timeout=15)
    c.send(b"GET /whole HTTP/1.1\r\nHost: t\r\n\r\n")
    resp = c.read_response()
    assert resp.status == 200
    assert sha(resp.body) == sha(backend.payload)

    c.send(b"GET /held HTTP/1.1\r\nHost: t\r\n\r\n")
    head = c.read_until(b"\r\n\r\n")
    assert b"chunked" in head.lower()
    size = int(c.read_until(b"\r\n"), 16)
    first = c.read_exactly(size)  # arrives although the backend has not finished: streamed
    backend.gate.set()
    assert c.read_until(b"\r\n") == b"\r\n"
    rest = bytearray()
    while (n := int(c.read_until(b"\r\n").split(b";")[0], 16)) != 0:
        rest += c.read_exactly(n + 2)[:-2]
    c.read_until(b"\r\n")
    assert backend.streamed is True
    assert sha(first + bytes(rest)) == sha(backend.payload)


def test_a_close_delimited_response_streams_through(proxy, raw_backend, client):
    backend = raw_backend(big_response)
    backend.payload = os.urandom(2 * MB)
    serve(proxy, backend)
    c = client(proxy.port, timeout=15)
    c.send(b"GET /eof HTTP/1.1\r\nHost: t\r\n\r\n")
    resp = c.read_response()  # reads to the close
    assert resp.status == 200
    assert sha(resp.body) == sha(backend.payload)


def flood(conn, backend) -> None:
    """One response of backend.total bytes, counting what the socket took."""
    if conn.read_request() is None:
        return
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % backend.total)
    piece = b"z" * (256 * 1024)
    for _ in range(backend.total // len(piece)):
        conn.send(piece)
        backend.sent += len(piece)


def test_a_client_that_reads_slowly_holds_the_backend_back(proxy, raw_backend, client):
    """Flow control: the proxy stops reading the backend while the client does not
    read, instead of buffering the whole response in memory."""
    backend = raw_backend(flood)
    backend.total, backend.sent = 96 * MB, 0
    serve(proxy, backend)
    c = client(proxy.port, timeout=15)
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    last, still = -1, 0
    for _ in range(100):  # until the backend is stuck for 0.3 s (bounded: 10 s)
        time.sleep(0.1)
        last, still = backend.sent, (still + 1 if backend.sent == last else 0)
        if still == 3:
            break
    assert still == 3, f"the backend was never held back ({backend.sent} bytes sent)"
    assert backend.sent < 32 * MB, f"the proxy took {backend.sent} bytes the client did not read"
    got = 0
    head = c.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    while got < backend.total:  # and it all arrives once the client reads
        got += len(c.buf)
        c.buf.clear()
        if got < backend.total:
            assert c.fill(), f"closed after {got} of {backend.total} bytes"
    assert got == backend.total


# -- HEAD and 100-continue ----------------------------------------------------------

def test_head_gets_headers_without_a_body_and_the_connection_stays_usable(proxy, app_factory,
                                                                         client):
    app = app_factory("v1")
    serve(proxy, app)
    c = client(proxy.port)
    for _ in range(3):  # a fresh upstream connection first, then pooled ones
        c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
        head = c.read_response(head_request=True)
        assert head.status == 200
        assert head.header("content-length") == str(len(b"hello from v1\n"))
        assert not c.closed_within(0.1) and bytes(c.buf) == b"", \
            f"bytes after the response to HEAD: {bytes(c.buf)!r}"
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response().body == b"hello from v1\n"


def head_aware_chunked(conn, backend) -> None:
    """Chunked responses; to HEAD the same headers and, rightly, no body."""
    while (req := conn.read_request()) is not None:
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        if not req.line.startswith(b"HEAD "):
            conn.send(b"6\r\nchunky\r\n0\r\n\r\n")


def test_head_to_a_chunked_backend_ends_at_the_headers(proxy, raw_backend, client):
    backend = raw_backend(head_aware_chunked)
    serve(proxy, backend)
    c = client(proxy.port)
    for _ in range(2):
        c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response(head_request=True).header("transfer-encoding") == "chunked"
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response().body == b"chunky"
    assert backend.connections == 1


def test_expect_100_continue(proxy, app_factory, client):
    app = app_factory("v1")
    serve(proxy, app)
    c = client(proxy.port)
    for i in range(2):  # a fresh upstream connection, then a pooled one
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n"
               b"Expect: 100-continue\r\n\r\n")
        interim = c.read_response()  # before a single body byte was sent
        assert interim.status == 100
        c.send(b"hello-%d" % i)
        final = c.read_response()
        assert (final.status, final.body) == (200, b"hello-%d" % i)
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().body == b"hello from v1\n"
