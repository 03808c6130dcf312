"""A backend that answers before the whole request body was sent (a 413 or 401 to a
large POST): its connection is not pooled — the rest of the body, or the backend's
next read, would mix with the next request — and the client's connection is kept
only once the rest of its body is read and dropped (up to --discard-body-limit),
else the answer says `Connection: close` and the proxy closes after it, lingering.
The rule nginx and HAProxy follow: a backend connection is reused only if the
request was fully sent and the response fully read with a known length."""

from __future__ import annotations

import socket

import pytest

from tests.component.conftest import Request, respond_with_head
from tests.support.h2client import H2Client
from tests.support.net import HOST, wait_until
from tests.support.proxy import ProxyProcess, table_of

EARLY_BODY = b"not accepted\n"


def answer_early(status: int):
    """Answer a POST as soon as its head is read (its body unread), other requests as
    respond_with_head does; go on serving the connection."""
    def handler(conn, backend) -> None:
        head = conn.read_until(b"\r\n\r\n")
        if head is None:
            return
        backend.requests.append(Request(head, b""))
        body = EARLY_BODY if head.startswith(b"POST") else head
        conn.send(b"HTTP/1.1 %d Early\r\nContent-Length: %d\r\n\r\n%s"
                  % (status if head.startswith(b"POST") else 200, len(body), body))
        respond_with_head(conn, backend)
    return handler


def answer_early_then_read_on(conn, backend) -> None:
    """A backend that never discards a body it did not read: the head of its answer at
    once, the rest of its answer only once the whole request body has reached it; then
    it reads on where the request's head ended, the body first, as the next request."""
    head = conn.read_until(b"\r\n\r\n")
    backend.requests.append(Request(head, b""))
    if not head.startswith(b"POST"):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(head), head))
        return respond_with_head(conn, backend)
    conn.send(b"HTTP/1.1 413 Early\r\nContent-Length: %d\r\n\r\n" % len(EARLY_BODY))
    length = int(Request(head, b"").header_values("content-length")[0])
    body = conn.read_exactly(length)
    conn.buf[:0] = body  # left unread, as by a server that never reads what it refused
    conn.send(EARLY_BODY)
    respond_with_head(conn, backend)


def continue_first(conn, backend) -> None:
    """Expect: 100-continue done right: 100, the body, then the answer; then as usual."""
    head = conn.read_until(b"\r\n\r\n")
    conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = conn.read_exactly(int(Request(head, b"").header_values("content-length")[0]))
    backend.requests.append(Request(head, body))
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    respond_with_head(conn, backend)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    proxy = ProxyProcess(tmp_path_factory.mktemp("early"), extra=["--http2-prior-knowledge"])
    proxy.start()
    proxy.versions = iter(range(1, 1000))
    yield proxy
    proxy.cleanup()


def routed(edge, backend):
    edge.apply(table_of(next(edge.versions), ("v1", 100, [backend])))
    return backend


def post_head(length: int, path: str = "/upload") -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (path.encode(), length)


def early_answered(edge, backend, client, length: int, status: int) -> tuple:
    """A client that sent a POST's head and 1000 bytes of its `length`-byte body to
    `backend`, routed, and got its early answer (`status`) before sending the rest:
    (the client, that answer)."""
    routed(edge, backend)
    c = client(edge.port)
    c.send(post_head(length) + b"x" * 1000)
    resp = c.read_response()
    assert (resp.status, resp.body) == (status, EARLY_BODY)
    return c, resp


def next_get_is_clean(edge, backend, client) -> None:
    """A GET on a new client connection reaches the backend as itself, on a connection
    that carried nothing before it."""
    c = client(edge.port)
    c.send(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    resp = c.read_response()
    assert resp.status == 200 and resp.body.startswith(b"GET /next "), resp.body[:200]
    first = bytes(backend.records[0])
    assert b"GET /next" not in first, "the early-answered connection carried the next request"


def test_a_backend_connection_answered_before_the_body_ended_is_not_reused(
        edge, raw_backend, client):
    backend = raw_backend(answer_early(413))
    early_answered(edge, backend, client, 1_000_000, 413)
    next_get_is_clean(edge, backend, client)
    assert backend.connections == 2


def test_a_large_rest_of_the_body_closes_the_client_connection_announced(
        edge, raw_backend, client):
    routed(edge, raw_backend(answer_early(413)))
    c = client(edge.port)
    c.send(post_head(1_000_000) + b"x" * 1000)
    wait_until(lambda: c.sock.recv(1, socket.MSG_PEEK) != b"", timeout=5, what="the answer")
    c.send(b"y" * 100_000)  # still sending when the answer came: read and dropped, no reset
    resp = c.read_response()
    assert (resp.status, resp.body) == (413, EARLY_BODY)
    assert (resp.header("connection") or "").lower() == "close", resp.raw_head
    assert c.closed_within(5), "the proxy kept a connection whose body it will not read"


def test_a_small_rest_of_the_body_is_read_and_dropped_and_the_connection_kept(
        edge, raw_backend, client):
    backend = raw_backend(answer_early(401))
    c, resp = early_answered(edge, backend, client, 2000, 401)
    assert (resp.header("connection") or "keep-alive").lower() != "close", resp.raw_head
    # the rest of the body, then the next request: the rest never reaches a backend as one
    c.send(b"z" * 1000 + b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    resp = c.read_response()
    assert resp.status == 200 and resp.body.startswith(b"GET /next "), resp.body[:200]
    assert b"z" not in backend.received()
    assert b"GET /next" not in bytes(backend.records[0])


def test_an_answer_started_before_the_body_ended_does_not_pool_even_once_it_has(
        edge, raw_backend, client):
    """The rest of the body reached the backend before its answer ended: the connection
    is still not reused (what the backend does with a body it answered before reading
    is its own business: this one reads it as the next request)."""
    backend = routed(edge, raw_backend(answer_early_then_read_on))
    c = client(edge.port)
    c.send(post_head(2000) + b"x" * 1000)
    wait_until(lambda: c.sock.recv(1, socket.MSG_PEEK) != b"", timeout=5, what="the answer")
    c.send(b"z" * 1000)  # the rest, while the answer is under way
    resp = c.read_response()
    assert (resp.status, resp.body) == (413, EARLY_BODY)
    c.send(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")  # the same client connection
    resp = c.read_response()
    assert resp.status == 200 and resp.body.startswith(b"GET /next "), resp.body[:200]
    assert backend.connections == 2


def test_a_chunked_body_answered_early_closes_the_client_connection_announced(
        edge, raw_backend, client):
    backend = routed(edge, raw_backend(answer_early(413)))
    c = client(edge.port)
    c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3e8\r\n" + b"x" * 1000 + b"\r\n")
    resp = c.read_response()
    assert resp.status == 413
    assert (resp.header("connection") or "").lower() == "close", resp.raw_head
    c.send(b"3\r\nabc\r\n0\r\n\r\n")
    assert c.closed_within(5)
    next_get_is_clean(edge, backend, client)


def test_100_continue_keeps_both_connections(edge, raw_backend, client):
    """An interim 100 comes while the body is still to be sent: that is no early answer."""
    backend = routed(edge, raw_backend(continue_first))
    c = client(edge.port)
    c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    assert c.read_response().status == 100
    c.send(b"hello")
    resp = c.read_response()
    assert (resp.status, resp.body) == (200, b"hello")
    assert resp.header("connection") is None, resp.raw_head
    c.send(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    resp = c.read_response()
    assert resp.status == 200 and resp.body.startswith(b"GET /next ")
    assert backend.connections == 1  # the backend connection was pooled and reused


def test_http2_a_stream_answered_before_its_body_ended_does_not_pool_its_connection(
        edge, raw_backend, client):
    backend = routed(edge, raw_backend(answer_early(413)))
    h2 = H2Client(HOST, edge.port)
    try:
        sid = h2.request("POST", "/upload", body=b"x" * 1000, end=False,
                         headers=[("content-length", "1000000")])
        (answer,) = h2.wait_all([sid])
        assert answer.status == 413
        assert h2.get("/next").body.startswith(b"GET /next ")
    finally:
        h2.close()
    assert b"GET /next" not in bytes(backend.records[0])
    assert backend.connections == 2
