"""Request hygiene (RFC 9110/9112) and broken bodies, on a real proxy with raw sockets.

Refused requests get their answer before any byte reaches a backend, and
each costs one log line at most, however many come.
"""

from __future__ import annotations

import time

import pytest

from tests.support.net import wait_until
from tests.support.proxy import Edge, ProxyProcess, assert_refused, table_of

MARKER = b"SMUGGLED"
LOG_RATE = 5


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    proxy = ProxyProcess(tmp_path_factory.mktemp("hygiene"),
                         extra=["--error-log-per-second", str(LOG_RATE)])
    proxy.start()
    yield Edge(proxy)
    proxy.cleanup()


REFUSED = {
    "bad-chunk-size": (400, b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"zz\r\nSMUGGLED\r\n0\r\n\r\n"),
    "chunk-size-with-garbage": (400, b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n5 5\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-too-long": (400, b"POST /SMUGGLED HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                                 b"\r\n\r\n" + b"1" * 20 + b"\r\nx\r\n0\r\n\r\n"),
    "http2-preface": (400, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    "http2-version": (400, b"GET /SMUGGLED HTTP/2.0\r\nHost: t\r\n\r\n"),
    "two-host-headers": (400, b"GET /SMUGGLED HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    "two-host-headers-case": (400, b"GET /SMUGGLED HTTP/1.1\r\nHost: a\r\nhOsT: b\r\n\r\n"),
    "two-host-headers-lower": (400, b"GET /SMUGGLED HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n"),
    # another case before the one written `Host: `: was missed (the second was looked for after it)
    "two-host-headers-case-first": (400, b"GET /SMUGGLED HTTP/1.1\r\nhOST: a\r\nHost: b\r\n\r\n"),
    "http11-without-host": (400, b"GET /SMUGGLED HTTP/1.1\r\nX-A: 1\r\n\r\n"),
    "userinfo-in-target": (400, b"GET http://u@t/SMUGGLED HTTP/1.1\r\nHost: t\r\n\r\n"),
    "other-scheme": (400, b"GET ftp://t/SMUGGLED HTTP/1.1\r\nHost: t\r\n\r\n"),
    "asterisk-not-options": (400, b"GET * HTTP/1.1\r\nHost: t\r\nX-SMUGGLED: 1\r\n\r\n"),
    "connect": (501, b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\nX-SMUGGLED: 1\r\n\r\n"),
    "trace": (501, b"TRACE /SMUGGLED HTTP/1.1\r\nHost: t\r\n\r\n"),
}


@pytest.mark.parametrize("status,payload", REFUSED.values(), ids=REFUSED.keys())
def test_refused_before_anything_reaches_the_backend(edge, raw_backend, client, status, payload):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    c.send(payload)
    assert_refused(c, status)
    good = client(edge.port)
    good.send(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
    assert good.read_response().status == 200
    assert MARKER not in backend.received()
    assert [r.line for r in backend.requests] == [b"GET /after HTTP/1.1"]


def test_a_broken_chunk_after_the_head_was_forwarded_gets_a_400_and_both_sides_close(
        edge, raw_backend, client, poll):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    c.send(b"POST /stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    poll(lambda: b"hello" in backend.received(), 5, "the streamed head and first chunk")
    c.send(b"zz\r\nmore\r\n0\r\n\r\n")
    assert_refused(c, 400)
    poll(lambda: all(s.fileno() == -1 or _closed(s) for s in backend.socks), 5,
         "the backend connection closed")


def _closed(sock) -> bool:
    try:
        sock.settimeout(0.01)
        return sock.recv(1, 2) == b""  # MSG_PEEK
    except (BlockingIOError, TimeoutError, OSError):
        return False


def test_an_absolute_form_target_is_sent_in_origin_form_with_host_from_it(edge, raw_backend,
                                                                          client):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    c.send(b"GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n")
    assert c.read_response().status == 200
    c.send(b"GET HTTP://example.com?q HTTP/1.1\r\n\r\n")
    assert c.read_response().status == 200
    first, second = backend.requests
    assert first.line == b"GET /a/b?c=d HTTP/1.1"
    assert first.header_values("host") == ["example.com:8080"]
    assert first.header_values("x-forwarded-host") == ["example.com:8080"]
    assert second.line == b"GET /?q HTTP/1.1"
    assert second.header_values("host") == ["example.com"]


def test_http10_without_host_and_options_asterisk_are_served(edge, raw_backend, client):
    backend = edge.fresh_backend(raw_backend)
    c = client(edge.port)
    c.send(b"GET /old HTTP/1.0\r\n\r\n")
    assert c.read_response().status == 200
    c = client(edge.port)
    c.send(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 200
    assert [r.line for r in backend.requests] == [b"GET /old HTTP/1.0", b"OPTIONS * HTTP/1.1"]


def test_refused_requests_write_a_bounded_number_of_log_lines_and_no_traceback(edge, client):
    before = len(edge.proxy.proc.log())
    t0 = time.monotonic()
    for _ in range(60):
        c = client(edge.port)
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        assert_refused(c, 400)
    elapsed = time.monotonic() - t0
    time.sleep(1.1)  # the next second's first line says how many were held back
    c = client(edge.port)
    c.send(b"PRI * HTTP/2.0\r\n\r\n")
    assert_refused(c, 400)
    log = wait_until(lambda: "held" in (new := edge.proxy.proc.log()[before:]) and new, 5,
                     "the held-back count")
    lines = [l for l in log.splitlines() if l.startswith("zerodown proxy:")]
    assert len(lines) <= LOG_RATE * (elapsed + 3), f"{len(lines)} lines for 61 bad requests"
    assert "Traceback" not in edge.proxy.proc.log()


def test_connect_and_trace_are_forwarded_when_configured(tmp_path, raw_backend, client):
    proxy = ProxyProcess(tmp_path, extra=["--refuse-methods", ""])
    try:
        proxy.start()
        backend = raw_backend()
        proxy.apply(table_of(1, ("v1", 100, [backend])))
        c = client(proxy.port)
        c.send(b"TRACE /x HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response().status == 200
        wait_until(lambda: backend.requests, 5, "the TRACE at the backend")
        assert backend.requests[0].line == b"TRACE /x HTTP/1.1"
    finally:
        proxy.cleanup()
