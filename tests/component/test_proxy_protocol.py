"""HTTP/1.1 through the real proxy process: keep-alive, forwarding headers,
streamed bodies both ways, HEAD, 100-continue, pipelining, upgrades and
HTTP/1.0 — checked on raw sockets where the bytes matter."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from tests.support.proxy import table_of

MB = 1024 * 1024


def serve(proxy, *backends, version: int = 1) -> None:
    proxy.apply(table_of(version, ("v1", 100, list(backends))))


def backend_stats(proxy, backend) -> dict:
    return proxy.stats()["backends"][f"v1-{backend.port}"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunked(data: bytes, sizes=(1, 7_000, 65_536, 300_001)) -> bytes:
    """`data` in chunked framing, with chunk sizes that vary."""
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        piece = data[i:i + n]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        i, k = i + n, k + 1
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def send_in_background(c, data: bytes) -> threading.Thread:
    """Send a big request while the test reads: neither side may wait on the other."""
    t = threading.Thread(target=c.send, args=(data,), daemon=True)
    t.start()
    return t


# -- keep-alive ------------------------------------------------------------------

def test_keep_alive_on_both_sides(proxy, app_factory, client):
    app = app_factory("v1")
    serve(proxy, app)
    for _ in range(3):  # three client connections one after another ...
        c = client(proxy.port)
        for _ in range(60):  # ... each carrying many requests
            c.send(b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
            resp = c.read_response()
            assert (resp.status, resp.body) == (200, b"hello from v1\n")
            assert (resp.header("connection") or "").lower() != "close"
        assert not c.closed_within(0.05), "the proxy closed a keep-alive client connection"
        c.close()
    stats = backend_stats(proxy, app)
    assert stats["requests"] == 180
    assert stats["connections"] == 1, "180 sequential requests needed more than one upstream " \
                                      f"connection: {stats}"


# -- forwarding headers ----------------------------------------------------------

def test_forwarded_headers_reach_the_backend(proxy, raw_backend, client):
    backend = raw_backend()
    serve(proxy, backend)
    c = client(proxy.port)
    c.send(b"GET /a?b=c HTTP/1.1\r\nHost: shop.example:8080\r\nX-Keep: 1\r\n\r\n")
    assert c.read_response().status == 200
    c.send(b"GET /lower HTTP/1.1\r\nhost:   shop.example  \r\nX-Keep: 2\r\n\r\n")
    assert c.read_response().status == 200
    first, second = backend.requests
    assert first.line == b"GET /a?b=c HTTP/1.1"
    assert first.header_values("host") == ["shop.example:8080"]
    assert first.header_values("x-keep") == ["1"]
    assert first.header_values("x-forwarded-for") == ["127.0.0.1"]
    assert first.header_values("x-forwarded-proto") == ["http"]
    assert first.header_values("x-forwarded-host") == ["shop.example:8080"]
    assert second.header_values("x-forwarded-host") == ["shop.example"]
    assert second.header_values("x-forwarded-for") == ["127.0.0.1"]


def test_client_supplied_forwarded_headers_do_not_win(proxy, raw_backend, client):
    """The proxy is the edge: what it forwards about the connection must be its own."""
    backend = raw_backend()
    serve(proxy, backend)
    c = client(proxy.port)
    c.send(b"GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 6.6.6.6\r\n"
           b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n\r\n")
    assert c.read_response().status == 200
    req, = backend.requests
    hops = [h.strip() for v in req.header_values("x-forwarded-for") for h in v.split(",")]
    assert hops[-1] == "127.0.0.1", hops  # the address the proxy saw comes last
    assert req.header_values("x-forwarded-proto") == ["http"]
    assert req.header_values("x-forwarded-host") == ["shop.example"]


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


# -- HEAD, 100-continue, pipelining ----------------------------------------------------

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


def test_pipelined_requests_are_all_answered_in_order(proxy, app_factory, client):
    app = app_factory("v1")
    serve(proxy, app)
    c = client(proxy.port)
    c.send(b"GET /slow?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n"
           b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"
           b"GET /slow?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"
           b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
           b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
           b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nlast")
    bodies = [c.read_response(head_request=(i == 3)).body for i in range(6)]
    assert bodies == [b"slept 50 ms\n", b"first", b"slept 0 ms\n", b"", b"ok", b"last"]
    assert not c.closed_within(0.1) and bytes(c.buf) == b""


def test_a_big_body_pipelined_behind_a_slow_request_is_answered(proxy, app_factory, client):
    """While a response is pending the proxy holds pipelined bytes back (and stops
    reading past a limit); they must all be delivered after it."""
    app = app_factory("v1")
    serve(proxy, app)
    body = os.urandom(300_000)
    c = client(proxy.port)
    sender = send_in_background(
        c, b"GET /slow?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n"
           b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
           b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" % (len(body), body))
    assert c.read_response().body == b"slept 200 ms\n"
    assert sha(c.read_response().body) == sha(body)
    assert c.read_response().body == b"ok"
    sender.join(5)


def test_pipelined_requests_without_a_backend_each_get_503(proxy, client):
    c = client(proxy.port, timeout=1.5)  # the table is empty: every request is the proxy's 503
    c.send(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n"
           b"GET /3 HTTP/1.1\r\nHost: t\r\n\r\n")
    statuses = []
    for _ in range(3):
        try:
            statuses.append(c.read_response().status)
        except TimeoutError:
            break
    assert statuses == [503, 503, 503], "pipelined requests after a 503 were never answered"


def test_a_request_pipelined_behind_a_chunked_body_is_answered(proxy, app_factory, client):
    app = app_factory("v1")
    serve(proxy, app)
    c = client(proxy.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nfirst\r\n0\r\n\r\n"
           b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    first = c.read_response()
    assert (first.status, first.body) == (200, b"first")
    second = c.read_response()
    assert (second.status, second.body) == (200, b"ok")


# -- upgrade (WebSocket-style tunnel) -------------------------------------------------

def upgrade_then_echo(conn, backend) -> None:
    req = conn.read_request()
    if req is None:
        return
    backend.requests.append(req)
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              b"\r\nserver-hello;")
    while data := conn.read_some():
        if data.endswith(b"quit;"):
            conn.send(b"BYE;")
            return  # the backend ends the tunnel
        conn.send(data.upper())
    backend.eof.set()


def test_an_upgrade_gets_101_and_then_bytes_flow_both_ways(proxy, raw_backend, client):
    backend = raw_backend(upgrade_then_echo)
    backend.eof = threading.Event()
    serve(proxy, backend)
    c = client(proxy.port)
    c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
           b"early;")  # bytes right behind the head belong to the tunnel too
    resp = c.read_response()
    assert resp.status == 101
    assert c.read_until(b"server-hello;") == b"server-hello;"
    assert c.read_until(b"EARLY;") == b"EARLY;"
    for i in range(3):
        c.send(b"ping-%d;" % i)
        assert c.read_until(b";") == b"PING-%d;" % i
    blob = os.urandom(MB).hex().encode()  # 2 MB of lowercase hex, both ways
    sender = send_in_background(c, blob + b";")
    echoed = c.read_until(b";")
    sender.join(5)
    assert echoed == blob.upper() + b";"
    c.close()
    assert backend.eof.wait(5), "closing the client did not close the tunnel's backend side"

    other = client(proxy.port)  # and the backend ending a tunnel ends the client's side
    other.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    assert other.read_response().status == 101
    other.send(b"quit;")
    assert other.read_until(b"BYE;").endswith(b"BYE;")
    assert other.closed_within(2.0), "the backend ended the tunnel; the client's side stayed open"


# -- HTTP/1.0 and backends that close ------------------------------------------------

def test_an_http10_client_gets_its_response_and_a_close(proxy, app_factory, client):
    app = app_factory("v1")
    serve(proxy, app)
    c = client(proxy.port)
    c.send(b"GET / HTTP/1.0\r\n\r\n")
    resp = c.read_response()
    assert (resp.status, resp.body) == (200, b"hello from v1\n")
    assert c.closed_within(2.0), "an HTTP/1.0 connection without keep-alive stayed open"
    assert bytes(c.buf) == b""


def answer_and_close(conn, backend) -> None:
    req = conn.read_request()
    if req is not None:
        backend.requests.append(req)
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye")


def test_a_backend_answering_connection_close_does_not_break_the_next_request(
        proxy, raw_backend, client):
    backend = raw_backend(answer_and_close)
    serve(proxy, backend)
    c = client(proxy.port)
    for i in range(6):
        method = b"POST" if i % 2 else b"GET"  # a POST cannot be retried: it must just work
        c.send(b"%s /n%d HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n" % (method, i))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"bye"), i
        if (resp.header("connection") or "").lower() == "close":
            assert c.closed_within(2.0)
            c = client(proxy.port)
    assert [r.line.split()[1] for r in backend.requests] == [b"/n%d" % i for i in range(6)]
    assert backend.connections == 6  # a closed upstream connection is never reused


def close_when_idle(conn, backend) -> None:
    """Keep-alive, but a very short idle timeout, as many app servers have."""
    conn.sock.settimeout(0.1)
    try:
        while (req := conn.read_request()) is not None:
            backend.requests.append(req)
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    except TimeoutError:
        pass


def test_a_backend_closing_idle_connections_does_not_fail_requests(proxy, raw_backend, client,
                                                                   poll):
    backend = raw_backend(close_when_idle)
    serve(proxy, backend)
    c = client(proxy.port)
    for i in range(4):
        c.send(b"POST /n%d HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx" % i)
        assert c.read_response().status == 200, i
        poll(lambda: backend_stats(proxy, backend)["connections"] == 0, 5,
             "the proxy to notice the backend closed its idle connection")
    assert backend.connections == 4


def test_an_empty_chunked_body_and_a_pipelined_request_in_one_read(proxy, raw_backend, client):
    backend = raw_backend()
    serve(proxy, backend)
    c = client(proxy.port)
    c.send(b"POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
           b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 200
    assert c.read_response().status == 200
    first, second = backend.requests
    assert first.body == b"" and second.line.startswith(b"GET /b ")
