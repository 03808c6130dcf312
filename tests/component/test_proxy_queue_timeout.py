"""A request queued behind a full backend pool was never sent: its wait is bounded by
--queue-timeout, and its backend's silence (--response-timeout) counts only from when
it was sent. A busy backend is never ejected for the queue behind it.

A real slow backend (a socket answering after a pause) and a pool of one connection:
a burst larger than the pool queues in the proxy.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.support.proxy import ProxyProcess, table_of


def answer_after(seconds: float):
    """Answer each request 200 after `seconds`, one at a time on each connection."""
    def handler(conn, backend) -> None:
        while (req := conn.read_request()) is not None:
            backend.requests.append(req)
            time.sleep(seconds)  # the backend's own work time, not a wait for a condition
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    return handler


def burst(client, port: int, n: int) -> list[tuple[int, float]]:
    """Send n GETs at once on n connections; each one's status and seconds to answer."""
    conns = [client(port, timeout=10) for _ in range(n)]
    started = time.monotonic()
    for c in conns:
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")

    def answer(c) -> tuple[int, float]:
        return c.read_response().status, time.monotonic() - started
    with ThreadPoolExecutor(n) as pool:  # read at once: each one's own time to answer
        return list(pool.map(answer, conns))


def start_proxy(tmp_path, *extra: str) -> ProxyProcess:
    proxy = ProxyProcess(tmp_path, extra=["--max-conns-per-backend", "1", *extra])
    proxy.start()
    return proxy


def test_a_queue_longer_than_the_response_timeout_ejects_nothing(tmp_path, raw_backend, client):
    """5 GETs of 0.3 s through one connection: the last waits ~1.2 s queued, more than the
    0.5 s response timeout, yet each was answered 0.3 s after it was sent."""
    proxy = start_proxy(tmp_path, "--response-timeout", "0.5")  # the default queue timeout
    try:
        slow = raw_backend(answer_after(0.3))
        proxy.apply(table_of(1, ("v1", 100, [slow])))
        results = burst(client, proxy.port, 5)
        assert [status for status, _ in results] == [200] * 5, results
        assert max(took for _, took in results) > 1.0  # they did queue: the test proves it
        stats = proxy.stats()["backends"][f"v1-{slow.port}"]
        assert stats["state"] == "active", stats
        assert stats["retries"] == 0 and stats["errors"] == 0, stats
        assert len(slow.requests) == 5  # each sent once
    finally:
        proxy.cleanup()


def test_the_queue_wait_is_bounded_and_moves_the_request_elsewhere(
        tmp_path, raw_backend, client):
    """Queued past --queue-timeout behind a busy backend: it goes to the other backend
    (it was never sent, so that is always safe) and the busy one is not ejected."""
    proxy = start_proxy(tmp_path, "--response-timeout", "10", "--queue-timeout", "0.3")
    try:
        busy, free = raw_backend(answer_after(2.0)), raw_backend(answer_after(0.0))
        proxy.apply(table_of(1, ("v1", 100, [busy])))
        first = client(proxy.port, timeout=10)
        first.send(b"GET /long HTTP/1.1\r\nHost: t\r\n\r\n")
        deadline = time.monotonic() + 5
        while not busy.requests:  # the busy backend's one connection is taken
            assert time.monotonic() < deadline, "the first request never reached the backend"
            time.sleep(0.01)
        proxy.apply(table_of(2, ("v1", 100, [busy, free])))
        # the round-robin may queue the next ones on `busy`: each must end on `free` in time
        results = burst(client, proxy.port, 4)
        assert [status for status, _ in results] == [200] * 4, results
        assert max(took for _, took in results) < 1.5, results  # not behind the 2 s request
        assert first.read_response().status == 200
        stats = proxy.stats()["backends"][f"v1-{busy.port}"]
        assert stats["state"] == "active", stats
        assert stats["retries"] > 0, "nothing queued on the busy backend: the test proves nothing"
    finally:
        proxy.cleanup()


def test_queued_past_the_queue_timeout_with_nowhere_else_to_go_gets_503(
        tmp_path, raw_backend, client):
    proxy = start_proxy(tmp_path, "--response-timeout", "10", "--queue-timeout", "0.3")
    try:
        busy = raw_backend(answer_after(1.5))
        proxy.apply(table_of(1, ("v1", 100, [busy])))
        results = burst(client, proxy.port, 2)
        assert sorted(status for status, _ in results) == [200, 503], results
        took_503 = next(took for status, took in results if status == 503)
        assert 0.25 <= took_503 < 1.4, results  # the queue timeout, not the backend's answer
        stats = proxy.stats()["backends"][f"v1-{busy.port}"]
        assert stats["state"] == "active", stats
        assert len(busy.requests) == 1  # the 503 was never sent
    finally:
        proxy.cleanup()
