"""A backend that stops answering without a reset (a host cut off by a partition):
the proxy's response timeout, its retry of what is safe to retry, its ejection of
the silent backend and the rescue of the requests already waiting on it.

Loopback backends stand in for the cut-off host: one accepts and never answers,
one stops answering on its kept-alive connections; both keep their sockets open,
so no reset or FIN ever tells the proxy (tests/fleet/test_host_faults.py cuts a
real host off).
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

import pytest

from zerodown.loadgen import LoadInBackground, run_load_sync
from zerodown.model import HealthCheck
from tests.support.net import wait_until
from tests.support.proxy import ProxyProcess, table_of

RESPONSE_TIMEOUT = 1.0


def closed_by_peer(conn) -> bool:
    """After a read that gave nothing: did the proxy close (rather than a read time out)."""
    try:
        return conn.sock.recv(1, socket.MSG_PEEK) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def never_answer(conn, backend) -> None:
    """Read whatever comes, answer nothing, keep the connection open until the test ends
    (or the proxy closes it)."""
    conn.sock.settimeout(0.2)
    while not backend.stopping.is_set():
        data = conn.read_some()
        if data:
            backend.requests.append(data)
        elif closed_by_peer(conn):
            return


def answer_until(muted: threading.Event):
    """Answer every request until `muted` is set, then fall silent on the same connections."""
    def handler(conn, backend) -> None:
        conn.sock.settimeout(0.2)
        while not muted.is_set():
            req = conn.read_request()
            if req is None:
                if backend.stopping.is_set() or closed_by_peer(conn):
                    return
                continue  # read timeout: look at the flag again
            if muted.is_set():
                break
            backend.requests.append(req)
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        never_answer(conn, backend)
    return handler


@pytest.fixture
def edge(tmp_path):
    with ProxyProcess(tmp_path, extra=["--response-timeout", str(RESPONSE_TIMEOUT),
                                       "--connect-timeout", "0.5"]) as proxy:
        yield proxy


def backend_stats(proxy, backend, name="v1"):
    return proxy.stats()["backends"][f"{name}-{backend.port}"]


def test_gets_to_a_backend_that_never_answers_are_answered_by_the_other(edge, raw_backend):
    good, silent = raw_backend(), raw_backend(never_answer)
    edge.apply(table_of(1, ("v1", 100, [good, silent])))
    result = run_load_sync(edge.url + "/", connections=8, requests=400, timeout=5)
    assert result.failed() == 0, result.summary()
    assert silent.requests, "the silent backend was never tried: the test proves nothing"
    assert backend_stats(edge, silent)["state"] == "ejected"
    assert backend_stats(edge, silent)["retries"] > 0
    assert backend_stats(edge, good)["saved"] > 0
    assert edge.stats()["revisions"]["v1"]["errors"] == 0


def test_a_backend_silent_on_its_kept_alive_connections_costs_no_request(edge, raw_backend):
    muted = threading.Event()
    good, quiet = raw_backend(), raw_backend(answer_until(muted))
    edge.apply(table_of(1, ("v1", 100, [good, quiet])))
    with LoadInBackground(edge.url + "/", connections=8, duration=30, timeout=5) as load:
        load.wait_for_responses(300)
        assert backend_stats(edge, quiet)["idle_connections"] + \
            backend_stats(edge, quiet)["connections"] > 0  # pooled connections to it exist
        muted.set()  # from now on its connections swallow requests: no reset, no FIN
        wait_until(lambda: backend_stats(edge, quiet)["state"] == "ejected", timeout=10,
                   what="the silent backend ejected")
        n = load.progress()[0]
        load.wait_for_responses(n + 500)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    stats = backend_stats(edge, quiet)
    assert stats["retries"] > 0 and stats["errors"] == 0
    assert backend_stats(edge, good)["saved"] > 0


def test_a_post_is_never_sent_twice_it_gets_504(edge, raw_backend, client):
    silent = raw_backend(never_answer)
    other = raw_backend()
    edge.apply(table_of(1, ("v1", 100, [silent])))
    c = client(edge.port)
    started = time.monotonic()
    c.send(b"POST /order HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
    resp = c.read_response()
    assert resp.status == 504
    assert RESPONSE_TIMEOUT * 0.9 <= time.monotonic() - started < RESPONSE_TIMEOUT + 3
    # another backend now exists, yet a second POST to the silent one is not moved
    edge.apply(table_of(2, ("v1", 100, [silent, other])))
    wait_until(lambda: b"POST /order" in b"".join(silent.requests), what="the POST arrived")
    assert b"".join(silent.requests).count(b"POST /order") == 1
    assert other.requests == []


def test_a_get_with_nowhere_else_to_go_gets_504_at_the_timeout(edge, raw_backend, client):
    silent = raw_backend(never_answer)
    edge.apply(table_of(1, ("v1", 100, [silent])))
    c = client(edge.port)
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 504


def test_requests_waiting_on_a_backend_the_health_checks_take_out_move_at_once(
        tmp_path, raw_backend):
    """With a long response timeout, the health checks are what find the silence: the
    requests already sent to the backend they take out go to the other one then."""
    proxy = ProxyProcess(tmp_path, extra=["--response-timeout", "60"])
    proxy.start()
    try:
        muted = threading.Event()
        good, quiet = raw_backend(), raw_backend(answer_until(muted))
        table = dataclasses.replace(table_of(1, ("v1", 100, [good, quiet])),
                                    health_check=HealthCheck("/healthz", interval=0.2,
                                                             timeout=0.3, fall=2, rise=1))
        proxy.apply(table)
        with LoadInBackground(proxy.url + "/", connections=8, duration=30, timeout=5) as load:
            load.wait_for_responses(300)
            muted.set()
            wait_until(lambda: backend_stats(proxy, quiet)["state"] == "down", timeout=10,
                       what="the silent backend taken out by its health checks")
            n = load.progress()[0]
            load.wait_for_responses(n + 300)
            result = load.stop()
        assert result.failed() == 0, result.summary()  # none waited for the 60 s timeout
        stats = backend_stats(proxy, quiet)
        assert stats["retries"] > 0 and stats["unanswered"] == 0
        assert stats["idle_connections"] == 0
    finally:
        proxy.cleanup()


def test_a_backend_comes_back_by_health_after_a_silence(tmp_path, raw_backend):
    proxy = ProxyProcess(tmp_path, extra=["--response-timeout", "60"])
    proxy.start()
    try:
        muted = threading.Event()
        good, quiet = raw_backend(), raw_backend(answer_until(muted))
        proxy.apply(dataclasses.replace(table_of(1, ("v1", 100, [good, quiet])),
                                        health_check=HealthCheck("/healthz", interval=0.2,
                                                                 timeout=0.3, fall=2, rise=1)))
        muted.set()
        wait_until(lambda: backend_stats(proxy, quiet)["state"] == "down", timeout=10,
                   what="taken out")
        muted.clear()  # new connections are answered again (the silent ones stay silent)
        wait_until(lambda: backend_stats(proxy, quiet)["state"] == "active", timeout=10,
                   what="back in by health")
        before = backend_stats(proxy, quiet)["requests"]
        result = run_load_sync(proxy.url + "/", connections=4, requests=200, timeout=5)
        assert result.failed() == 0, result.summary()
        assert backend_stats(proxy, quiet)["requests"] > before
    finally:
        proxy.cleanup()
