"""Helpers of the HTTP/1.1 tests through the real proxy process (test_proxy_protocol.py,
test_proxy_bodies.py): a table serving the backends given, and big bodies framed,
compared and sent."""

from __future__ import annotations

import hashlib
import threading

from tests.support.proxy import table_of

MB = 1024 * 1024


def serve(proxy, *backends, version: int = 1) -> None:
    proxy.apply(table_of(version, ("v1", 100, list(backends))))


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
