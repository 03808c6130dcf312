"""The proxy's read-only /metrics listener, for a Prometheus to scrape (issue 17, point 4).

Scraping used to need the 0600 admin socket: a hand-made TCP bridge that exposed
the admin API (the table) without authentication."""

from __future__ import annotations

from tests.support import HOST, free_port, get, request
from tests.support.proxy import ProxyProcess, table_of


def test_metrics_listener_serves_metrics_and_nothing_that_touches_the_table(tmp_path, app_factory):
    port = free_port()
    proxy = ProxyProcess(tmp_path, extra=["--metrics", f"{HOST}:{port}"])
    try:
        proxy.start()
        app = app_factory("v1")
        proxy.apply(table_of(1, ("r1", 100, [app])))
        assert get(proxy.port, "/").status == 200
        metrics = get(port, "/metrics")
        assert metrics.status == 200
        assert 'zerodown_requests_total{service="zerodown",revision="r1"} 1' in metrics.text
        assert get(port, "/table").status == 404
        assert get(port, "/stats").status == 404
        assert request("PUT", port, "/table", body=b"{}").status == 405
    finally:
        proxy.cleanup()


def test_metrics_listener_with_a_token_refuses_scrapes_without_it(tmp_path):
    port = free_port()
    proxy = ProxyProcess(tmp_path, extra=["--metrics", f"{HOST}:{port}"],
                         env={"ZERODOWN_METRICS_TOKEN": "s3cret"})
    try:
        proxy.start()
        assert get(port, "/metrics").status == 401
        assert get(port, "/metrics", headers={"Authorization": "Bearer wrong"}).status == 401
        ok = get(port, "/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200
    finally:
        proxy.cleanup()


def test_a_successor_proxy_binds_the_metrics_listener_beside_its_predecessor(tmp_path):
    port = free_port()
    proxy = ProxyProcess(tmp_path, extra=["--metrics", f"{HOST}:{port}"])
    try:
        proxy.start()
        proxy.start()  # the hitless handover: both hold the port for a moment
        assert get(port, "/healthz").status == 200
    finally:
        proxy.cleanup()
