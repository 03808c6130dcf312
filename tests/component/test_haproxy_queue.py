"""router.queue_timeout with a real HAProxy 2.6: a request queued behind an instance at its
router.max_conns_per_backend gets 503 once the queue timeout passes, on a server written in
the configuration and on one added at run time alike."""

from __future__ import annotations


import pytest

from zerodown.model import Backend, RevisionRoute, RoutingTable
from zerodown.routers.haproxy import HAProxyRouter
from tests.component.test_proxy_queue_timeout import answer_after, burst
from tests.support.net import free_port
from tests.support.installed import needs

pytestmark = needs("haproxy")

QUEUE_TIMEOUT = 0.5
WORK = 1.5  # each request's time in the backend: longer than the queue timeout


@pytest.fixture
def router(tmp_path):
    r = HAProxyRouter(tmp_path / "haproxy", f"127.0.0.1:{free_port()}", service="shop",
                      options={"max_conns_per_backend": 1, "queue_timeout": f"{QUEUE_TIMEOUT}s"})
    r.ensure_running()
    yield r
    r.stop()


def only(version: int, backend) -> RoutingTable:
    return RoutingTable(version, (RevisionRoute("r1", 100, (
        Backend(f"shop-r1-{backend.port}", backend.address),)),))


def test_a_request_queued_past_the_queue_timeout_gets_503(router, raw_backend, client):
    port = int(router.listen.rpartition(":")[2])
    for version in (1, 2):  # 2: a new instance, added through the Runtime API
        busy = raw_backend(answer_after(WORK))
        router.apply(only(version, busy))
        results = burst(client, port, 2)
        assert sorted(status for status, _ in results) == [200, 503], (version, results)
        took_503 = next(took for status, took in results if status == 503)
        assert QUEUE_TIMEOUT * 0.9 <= took_503 < WORK, (version, results)
        assert len(busy.requests) == 1, "the 503 was queued, never sent"
