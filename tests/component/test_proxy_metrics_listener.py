"""The proxy's read-only /metrics listener, for a Prometheus to scrape (issue 17, point 4).

Scraping used to need the 0600 admin socket: a hand-made TCP bridge that exposed
the admin API (the table) without authentication."""

from __future__ import annotations

import threading

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


def test_scrapes_during_handovers_are_never_reset(tmp_path):
    """The metrics listener is handed over with the public one (hosts the same socket):
    a scrape waiting in the old process's queue when it stops is answered by the new one.
    Each serving process bound its own beside its predecessor (SO_REUSEPORT), and a
    scrape that reached the one stopping was reset (CI saw it once)."""
    port = free_port()
    proxy = ProxyProcess(tmp_path, extra=["--metrics", f"{HOST}:{port}"])
    stop, failed, answered = threading.Event(), [], []

    def scrape():
        while not stop.is_set() and len(answered) < 20000:  # bounded
            try:
                answered.append(get(port, "/healthz").status)
            except OSError as e:
                failed.append(repr(e))
    try:
        proxy.start()
        scrapers = [threading.Thread(target=scrape) for _ in range(3)]
        for scraper in scrapers:
            scraper.start()
        try:
            for _ in range(8):
                proxy.start()  # the hitless handover
        finally:
            stop.set()
            for scraper in scrapers:
                scraper.join(30)
        assert not failed, f"{len(failed)} scrapes failed, e.g. {failed[:3]}"
        assert answered and set(answered) == {200}
        assert get(port, "/healthz").status == 200
    finally:
        proxy.cleanup()


def test_the_embedded_router_opens_the_metrics_listener_its_config_asks_for(tmp_path,
                                                                             monkeypatch):
    from zerodown.config import parse_config
    from zerodown.routers import router_for
    port = free_port()
    cfg = parse_config(f"""
service: shop
listen: {HOST}:{free_port()}
app: {{command: ["app", "--port", "{{port}}"]}}
router: {{kind: embedded, metrics: "{HOST}:{port}", metrics_token_env: ZD_TEST_METRICS_TOKEN}}
""")
    monkeypatch.setenv("ZD_TEST_METRICS_TOKEN", "t0ken")
    router = router_for(cfg, tmp_path / "state")
    try:
        router.ensure_running()
        assert get(port, "/metrics").status == 401
        assert get(port, "/metrics", headers={"Authorization": "Bearer t0ken"}).status == 200
        assert "t0ken" not in " ".join(router.argv())  # never on the command line
    finally:
        router.stop()


def test_embedded_router_options_are_checked_by_name():
    import pytest

    from zerodown.errors import ConfigError
    from zerodown.routers.embedded_options import parse_options
    assert parse_options({"metrics": "127.0.0.1:9464"}).metrics == "127.0.0.1:9464"
    for options, key in (({"metrics": "nowhere"}, "router.metrics"),
                         ({"metrics_token_env": "X"}, "router.metrics_token_env"),
                         ({"metrics": "127.0.0.1:1", "metrics_token_env": "no-dash"},
                          "router.metrics_token_env"),
                         ({"admin": "tcp"}, "router.admin")):
        with pytest.raises(ConfigError) as e:
            parse_options(options)
        assert e.value.key == key
