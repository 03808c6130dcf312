"""A seeded corpus of malformed requests against a real proxy (tests/support/http_fuzz.py).

Every connection gets a well-formed response or a clean close (never a
reset, never silence), a request the proxy refused never reaches the
backend, the proxy writes no traceback, and it still serves afterwards.
Set ZERODOWN_FUZZ_SEED / ZERODOWN_FUZZ_CASES to explore further.
"""

from __future__ import annotations

import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import HOST
from tests.support.http_fuzz import Case, corpus
from tests.support.net import get
from tests.support.proxy import ProxyProcess, table_of

SEED = int(os.environ.get("ZERODOWN_FUZZ_SEED", "20261103"))
CASES = int(os.environ.get("ZERODOWN_FUZZ_CASES", "400"))
QUIET = 0.4   # no byte for this long: the client closes its sending side
CLOSE = 4.0   # ...and the proxy must then end the connection within this
STATUS_LINE = re.compile(rb"HTTP/1\.1 [1-5]\d\d [^\r\n]*\r\n")


def exchange(port: int, case: Case) -> tuple[bytes, str]:
    """(bytes received, how it ended: "eof" or "reset")."""
    sock = socket.create_connection((HOST, port), timeout=CLOSE)
    got = b""
    try:
        try:
            sock.sendall(case.payload)
        except OSError:
            pass  # refused before it all went out: what came back is read below
        sock.settimeout(QUIET)
        half_closed = False
        while True:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                if half_closed:
                    return got, "silence"
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(CLOSE)
                half_closed = True
                continue
            except ConnectionResetError:
                return got, "reset"
            if not data:
                return got, "eof"
            got += data
    finally:
        sock.close()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    p = ProxyProcess(tmp_path_factory.mktemp("fuzz"), extra=["--header-timeout", "1"])
    p.start()
    yield p
    p.cleanup()


def test_malformed_requests_get_an_answer_or_a_clean_close(proxy, raw_backend):
    backend = raw_backend()
    proxy.apply(table_of(1, ("v1", 100, [backend])))
    cases = corpus(SEED, CASES)
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(lambda c: exchange(proxy.port, c), cases))
    seen = backend.received()
    problems = []
    for case, (got, ended) in zip(cases, outcomes):
        if ended != "eof":
            problems.append((case, f"ended by {ended}", got[:100]))
        elif got and not STATUS_LINE.match(got):
            problems.append((case, "not an HTTP/1.1 response", got[:100]))
        elif got and b"Content-Length: 0\r\nConnection: close" in got.split(b"\r\n\r\n")[0] \
                and case.marker in case.payload and case.marker in seen:
            problems.append((case, "refused, yet it reached the backend", got[:100]))
    assert not problems, "\n".join(f"#{c.index} {c.mutations} {c.payload[:120]!r}: {why}: {g!r}"
                                   for c, why, g in problems[:10])
    refused = sum(1 for got, _ in outcomes if b" 400 " in got[:13] or b" 501 " in got[:13])
    assert refused > CASES // 4, f"only {refused} of {CASES} refused: is the corpus malformed?"
    log = proxy.proc.log()
    assert "Traceback" not in log, log[-2000:]
    assert get(proxy.port, "/after", headers={"Host": "t"}).status == 200
