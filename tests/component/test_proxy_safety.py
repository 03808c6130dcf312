"""The proxy's public listener against hostile or broken clients, on raw sockets.

Every request-smuggling shape is answered 400 and its connection closed, and
no byte of it reaches the backend; heads that are too big, too slow or never
end are cut off; idle keep-alive clients are closed on time.
"""

from __future__ import annotations

import time

import pytest

from tests.support.proxy import Edge, ProxyProcess, assert_refused

HEADER_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 2.0   # longer than the header timeout, so the two cannot be confused
SWEEP_SLACK = 1.0         # the sweeper runs every 0.25 s; leave room on a busy machine
MARKER = b"SMUGGLED"      # in every hostile request, so a leak to the backend is visible


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    proxy = ProxyProcess(tmp_path_factory.mktemp("safety"),
                         extra=["--header-timeout", str(HEADER_TIMEOUT),
                                "--keepalive-timeout", str(KEEPALIVE_TIMEOUT)])
    proxy.start()
    yield Edge(proxy)
    proxy.cleanup()


def assert_path_still_works_and_nothing_leaked(edge, backend, client):
    """A good request on a new connection is served; it is all the backend ever saw."""
    good = client(edge.port)
    good.send(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
    assert good.read_response().status == 200
    seen = backend.received()
    assert MARKER not in seen, f"a hostile request reached the backend: {seen[:300]!r}"
    assert [r.line for r in backend.requests] == [b"GET /after HTTP/1.1"]


SMUGGLING = {
    "content-length-and-chunked": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nContent-Length: 41\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /SMUGGLED HTTP/1.1\r\nHost: t\r\n\r\n"),
    "chunked-and-content-length": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 5\r\n\r\n0\r\n\r\n"),
    "duplicate-content-length-same": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\nContent-Length: 8\r\n\r\n"
        b"SMUGGLED"),
    "duplicate-content-length-different": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\nContent-Length: 0\r\n\r\n"
        b"SMUGGLED"),
    "content-length-abc": b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
    "content-length-negative": b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    "content-length-two-numbers": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nContent-Length: 1 2\r\n\r\nSMUGGLED"),
    "content-length-list": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nContent-Length: 8, 8\r\n\r\nSMUGGLED"),
    "obs-fold-space": (
        b"GET /SMUGGLED HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n"),
    "obs-fold-tab": b"GET /SMUGGLED HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\tContent-Length: 5\r\n\r\n",
    "obs-fold-first-header": b"GET /SMUGGLED HTTP/1.1\r\n Host: t\r\n\r\n",
    "transfer-encoding-chunked-gzip": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
    "transfer-encoding-identity": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\nSMUGGLED"),
    "transfer-encoding-twice": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n"),
    "transfer-encoding-space-before-colon": (
        b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    "bare-lf-in-crlf-head": b"GET /SMUGGLED HTTP/1.1\nHost: t\r\nX-A: 1\r\n\r\n",
}


@pytest.mark.parametrize("payload", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_shape_is_refused_and_never_reaches_the_backend(edge, raw_backend, client,
                                                                   payload):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    c.send(payload)
    assert_refused(c, 400)
    assert_path_still_works_and_nothing_leaked(edge, backend, client)


def test_a_bare_lf_request_is_never_served(edge, raw_backend, client):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    c.send(b"GET /SMUGGLED HTTP/1.1\nHost: t\n\n")
    resp = c.read_response()
    assert resp.status in (400, 408), resp.raw_head
    assert c.closed_within(2.0)
    assert_path_still_works_and_nothing_leaked(edge, backend, client)


def test_a_head_over_32_kib_gets_431(edge, raw_backend, client):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    c.send(b"GET /SMUGGLED HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
    assert_refused(c, 431)
    assert_path_still_works_and_nothing_leaked(edge, backend, client)


def test_an_unfinished_head_over_32_kib_gets_431_without_waiting_for_its_end(edge, raw_backend,
                                                                             client):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    t0 = time.monotonic()
    c.send(b"GET /SMUGGLED HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 40_000)
    assert_refused(c, 431)
    assert time.monotonic() - t0 < HEADER_TIMEOUT, "431 came only with the header timeout"
    assert_path_still_works_and_nothing_leaked(edge, backend, client)


def test_a_head_just_under_the_limit_is_served(edge, raw_backend, client):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    c.send(b"GET /big HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 30_000 + b"\r\n\r\n")
    assert c.read_response().status == 200
    assert backend.requests[0].header_values("x-big") == ["a" * 30_000]


def test_a_slow_client_that_never_finishes_its_head_is_cut_off(edge, raw_backend, client):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    t0 = time.monotonic()
    c.send(b"GET /SMUGGLED HTTP/1.1\r\nHost: t\r\n")
    # a header line every 0.2 s: never idle, never done (slowloris)
    for i in range(int((HEADER_TIMEOUT + SWEEP_SLACK + 1) / 0.2)):
        if c.closed_within(0.2) or c.buf:
            break
        try:
            c.send(b"X-Drip-%d: x\r\n" % i)
        except OSError:  # the proxy closed: fine, the answer is read below
            break
    cut_after = time.monotonic() - t0
    assert c.buf or c.closed_within(0.1), "a head that never ends was never cut off"
    assert bytes(c.buf).startswith(b"HTTP/1.1 408 "), bytes(c.buf)
    assert HEADER_TIMEOUT * 0.75 <= cut_after <= HEADER_TIMEOUT + SWEEP_SLACK, cut_after
    assert c.closed_within(2.0)
    assert backend.connections == 0


def test_a_client_that_sends_nothing_is_closed_after_the_header_timeout(edge, client):
    c = client(edge.port)
    t0 = time.monotonic()
    assert c.closed_within(HEADER_TIMEOUT + SWEEP_SLACK)
    assert time.monotonic() - t0 >= HEADER_TIMEOUT * 0.75


def test_an_idle_keep_alive_client_is_closed_after_the_keepalive_timeout(edge, raw_backend,
                                                                         client):
    edge.fresh_backend(raw_backend)
    c = client(edge.port)
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 200
    # still open past the header timeout: idle between requests is the keep-alive timeout
    assert not c.closed_within(KEEPALIVE_TIMEOUT - 0.5), "closed before the keep-alive timeout"
    assert c.closed_within(0.5 + SWEEP_SLACK), "an idle keep-alive client was never closed"
    assert bytes(c.buf) == b"", "an idle close must not send a response"


def test_a_keep_alive_client_that_keeps_talking_is_not_closed(edge, raw_backend, client):
    edge.fresh_backend(raw_backend)
    c = client(edge.port)
    t0 = time.monotonic()
    for _ in range(5):  # 5 requests 0.5 s apart: 2.5 s in all, more than the keep-alive timeout
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response().status == 200
        assert not c.closed_within(0.5)
    assert time.monotonic() - t0 > KEEPALIVE_TIMEOUT
