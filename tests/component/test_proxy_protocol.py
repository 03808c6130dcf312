"""HTTP/1.1 through the real proxy process: keep-alive, forwarding headers, pipelining,
upgrades and HTTP/1.0 and backends that close — checked on raw sockets where the bytes
matter. Bodies, HEAD and 100-continue: test_proxy_bodies.py."""

from __future__ import annotations

import os
import threading

from tests.support.http1 import MB, send_in_background, serve, sha


def backend_stats(proxy, backend) -> dict:
    return proxy.stats()["backends"][f"v1-{backend.port}"]


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


# -- pipelining ----------------------------------------------------------------------

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
