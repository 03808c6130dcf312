"""The proxy reports requests a backend has not answered yet, per revision by age and per
backend: analysis counts a hanging version's requests as failed, and a drain need not
wait for what a hung backend will never answer (issue 11)."""

from __future__ import annotations

import socket

from tests.support.net import HOST, wait_until
from tests.support.proxy import table_of


def test_unanswered_requests_are_counted_per_revision_by_age_and_per_backend(proxy, app_factory):
    app = app_factory("v1", env={"APP_LATENCY_MS": "600000"})  # accepts, never answers
    proxy.apply(table_of(1, ("r1", 100, [app])))
    clients = []
    try:
        for _ in range(3):
            s = socket.create_connection((HOST, proxy.port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(s)
        backend = f"r1-{app.port}"
        assert wait_until(lambda: proxy.admin.unanswered(backend) == (0, 3, 3), 10,
                          "three requests in flight, none answered")
        ages = proxy.stats()["revisions"]["r1"]["unanswered"]
        assert sum(ages) == 3
        assert proxy.stats()["backends"][backend]["unanswered"] == 3
    finally:
        for s in clients:
            s.close()


def test_a_request_its_client_gave_up_on_counts_as_failed_for_analysis(proxy, app_factory):
    """A client whose time-out is shorter than unanswered_after leaves before the request
    counts as unanswered: the proxy records that it gave up, and analysis counts it failed."""
    from zerodown.analysis.sources import ProxySource
    app = app_factory("v1", env={"APP_LATENCY_MS": "600000"})
    proxy.apply(table_of(1, ("r1", 100, [app])))
    s = socket.create_connection((HOST, proxy.port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert wait_until(lambda: proxy.admin.unanswered(f"r1-{app.port}")[2] == 1, 10, "sent")
    s.close()  # the client gives up
    assert wait_until(lambda: proxy.stats()["revisions"]["r1"]["abandoned"] == 1, 10, "seen")
    counts = ProxySource(proxy).counts("r1")
    assert (counts.requests, counts.failures) == (1, 1)
    ok = socket.create_connection((HOST, proxy.port))  # a client that reads its answer is not
    ok.close()                                          # counted: nothing was in flight
    assert proxy.stats()["revisions"]["r1"]["abandoned"] == 1
