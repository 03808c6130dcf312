"""The proxy at its descriptor limit (RLIMIT_NOFILE, lowered with prlimit for the test).

Unauthenticated admin connections are bounded in number and in idle time,
and idle public connections are shed oldest first, so the public listener
keeps answering however many connections are opened.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.support import HOST
from tests.support.net import free_port, get, wait_until
from tests.support.proxy import ProxyProcess, table_of

NOFILE = 200       # the proxy's whole descriptor limit in these tests
RESERVE = 40       # --fd-reserve: clients and backend connections get the rest (160)
FLOOD = 300        # more connections than the proxy has descriptors


def connect(port: int) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=5)


def served_quickly(port: int, within: float = 2.0) -> None:
    t0 = time.monotonic()
    assert get(port, "/", headers={"Host": "t"}, timeout=within).status == 200
    assert time.monotonic() - t0 < within


def closed(sock: socket.socket, within: float) -> bytes | None:
    """What the peer sent before closing within `within`, or None if it did not close."""
    sock.settimeout(within)
    got = b""
    try:
        while data := sock.recv(4096):
            got += data
        return got
    except (socket.timeout, TimeoutError):
        return None
    except ConnectionResetError:
        return got


@pytest.fixture
def opened():
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()


def test_unauthenticated_admin_connections_cannot_starve_the_public_listener(tmp_path,
                                                                             raw_backend,
                                                                             opened):
    admin_port = free_port()
    proxy = ProxyProcess(tmp_path, admin=f"{HOST}:{admin_port}", token="s3cret", nofile=NOFILE,
                         extra=["--fd-reserve", str(RESERVE), "--max-admin-connections", "8",
                                "--admin-timeout", "1"])
    try:
        proxy.start()
        proxy.apply(table_of(1, ("v1", 100, [raw_backend()])))
        for _ in range(FLOOD):
            try:
                opened.append(connect(admin_port))
            except OSError:
                pass
        served_quickly(proxy.port)
        # the idle ones are closed after the admin timeout, and the admin API answers again
        assert closed(opened[0], 3.0) is not None, "an idle admin connection was kept"
        wait_until(lambda: _admin_answers(proxy), 5, "the admin API answering again")
        served_quickly(proxy.port)
        assert "Traceback" not in proxy.proc.log()
    finally:
        proxy.cleanup()


def _admin_answers(proxy: ProxyProcess) -> bool:
    try:
        return proxy.admin.stats()["version"] == 1
    except Exception:
        return False


def test_idle_public_connections_are_shed_oldest_first_at_the_limit(tmp_path, raw_backend,
                                                                    opened):
    proxy = ProxyProcess(tmp_path, nofile=NOFILE, extra=["--fd-reserve", str(RESERVE)])
    try:
        proxy.start()
        proxy.apply(table_of(1, ("v1", 100, [raw_backend()])))
        for i in range(FLOOD):  # each served once, then idle on keep-alive
            s = connect(proxy.port)
            s.sendall(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
            assert s.recv(65536).startswith(b"HTTP/1.1 200 "), f"connection {i} was not served"
            opened.append(s)
        served_quickly(proxy.port, 1.0)
        assert closed(opened[0], 2.0) == b"", "the oldest idle connection was not closed cleanly"
        assert closed(opened[-1], 0.2) is None, "the newest connection was closed"
        assert proxy.admin.stats()["shed"] >= FLOOD - (NOFILE - RESERVE)
        assert "Traceback" not in proxy.proc.log()
    finally:
        proxy.cleanup()


def test_a_newcomer_gets_a_503_when_every_client_is_mid_request(tmp_path, raw_backend, opened):
    proxy = ProxyProcess(tmp_path, nofile=NOFILE, extra=["--fd-reserve", str(RESERVE)])
    try:
        proxy.start()
        proxy.apply(table_of(1, ("v1", 100, [raw_backend()])))
        refused = 0
        for _ in range(NOFILE):  # heads begun, never finished: none of them is idle
            s = connect(proxy.port)
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
            opened.append(s)
        for s in opened[-20:]:
            got = closed(s, 2.0)
            refused += got is not None and got.startswith(b"HTTP/1.1 503 ")
        assert refused >= 10, f"only {refused} of the last 20 got a 503"
        assert closed(opened[0], 0.2) is None, "a client mid-request was shed"
    finally:
        proxy.cleanup()
