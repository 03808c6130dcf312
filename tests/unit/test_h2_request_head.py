"""An HTTP/2 request's fields written as the HTTP/1.1 head the proxy forwards (h2stream)."""

from __future__ import annotations

import pytest

from zerodown.proxy.h2stream import request_head

BASE = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"shop.test"),
        (b":path", b"/a?b=1")]


@pytest.mark.parametrize("fields, head, length", [
    (BASE, b"GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\n", None),
    (BASE + [(b"accept", b"*/*"), (b"cookie", b"a=1; b=2")],
     b"GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\naccept: */*\r\ncookie: a=1; b=2\r\n", None),
    # no :authority: Host from the host field; te (only "trailers" passes h2) is hop-by-hop
    ([(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/echo"), (b"host", b"h.test"),
      (b"te", b"trailers"), (b"content-length", b"5")],
     b"POST /echo HTTP/1.1\r\nHost: h.test\r\ncontent-length: 5\r\n", 5),
    # :authority wins over a host field that agrees (h2 refused one that disagrees)
    (BASE + [(b"host", b"shop.test")], b"GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\n", None),
    # CONNECT is authority-form: the ClientConn refuses it (501) unless told otherwise
    ([(b":method", b"CONNECT"), (b":authority", b"db.test:5432")],
     b"CONNECT db.test:5432 HTTP/1.1\r\nHost: db.test:5432\r\n", None),
])
def test_request_head(fields, head, length):
    got, method, got_length = request_head(fields)
    assert got == head
    assert method == fields[0][1]
    assert got_length == length
