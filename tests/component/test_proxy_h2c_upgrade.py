"""HTTP/1.1 `Upgrade: h2c` (RFC 7540 3.2, removed by RFC 9113) is answered as HTTP/1.1: the
proxy drops the ask before the backend, so a backend that would upgrade never opens a
tunnel through which a client speaks HTTP/2 to it directly, past the proxy's routing,
hygiene and forwarded headers ("h2c smuggling"). A 101 the proxy did not forward an upgrade
for is a broken response (502), never a tunnel. Real curl for the common ask, raw sockets for
the bytes."""

from __future__ import annotations

import subprocess

from tests.support.proxy import table_of


def upgrades_to_h2c(conn, backend) -> None:
    """A backend that takes any `Upgrade: h2c` (as Go's h2c handler does: it looks at Upgrade
    and at Connection's HTTP2-Settings only) and records what it gets over the tunnel."""
    while (req := conn.read_request()) is not None:
        backend.requests.append(req)
        if "h2c" in ",".join(req.header_values("upgrade")).lower():
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                      b"Upgrade: h2c\r\n\r\n")
            while data := conn.read_some():
                backend.tunnelled += data
            return
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(req.body),
                                                                         req.body))


def backend_for(proxy, raw_backend):
    backend = raw_backend(upgrades_to_h2c)
    backend.tunnelled = bytearray()
    proxy.apply(table_of(1, ("v1", 100, [backend])))
    return backend


def hop_headers(req) -> list[str]:
    return [*req.header_values("upgrade"), *req.header_values("http2-settings"),
            *(t for v in req.header_values("connection") for t in v.split(","))]


def test_curl_asking_for_h2c_gets_http11_and_the_backend_never_sees_the_ask(proxy, raw_backend):
    backend = backend_for(proxy, raw_backend)
    done = subprocess.run(["curl", "-s", "--http2", "-o", "/dev/null", "-w",
                           "%{http_code} %{http_version}", "-d", "x=1", proxy.url + "/form"],
                          capture_output=True, text=True, timeout=20)
    assert done.stdout == "200 1.1", done
    req, = backend.requests
    assert req.line == b"POST /form HTTP/1.1" and req.body == b"x=1"
    assert hop_headers(req) == [], req.head


def test_the_connection_goes_on_as_http11_after_an_h2c_ask(proxy, raw_backend, client):
    backend = backend_for(proxy, raw_backend)
    c = client(proxy.port)
    c.send(b"POST /a HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings, keep-alive\r\n"
           b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 5\r\n"
           b"\r\nhello")
    first = c.read_response()
    assert (first.status, first.body) == (200, b"hello")
    c.send(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")  # the same connection, still HTTP/1.1
    assert c.read_response().status == 200
    assert [r.line for r in backend.requests] == [b"POST /a HTTP/1.1", b"GET /b HTTP/1.1"]
    assert [t.strip().lower() for t in hop_headers(backend.requests[0])] == ["keep-alive"]


def test_a_101_to_a_request_not_forwarded_as_an_upgrade_is_a_502_never_a_tunnel(
        proxy, raw_backend, client):
    """`Upgrade: h2c` without `upgrade` in Connection is no upgrade to llhttp (nor to RFC
    9110 7.8), so it is forwarded as a plain request; a backend that switches anyway gets no
    tunnel: the client's next bytes never reach it."""
    backend = backend_for(proxy, raw_backend)
    c = client(proxy.port)
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: HTTP2-Settings\r\nUpgrade: h2c\r\n"
           b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    assert c.read_response().status == 502
    try:
        c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nSMUGGLED")
    except OSError:
        pass  # already closed: nothing can pass
    assert c.closed_within(2.0)
    assert b"SMUGGLED" not in bytes(backend.tunnelled)
    assert proxy.stats()["revisions"]["v1"]["errors"] >= 1
