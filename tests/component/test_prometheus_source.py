"""PrometheusSource against a real Prometheus (Debian package `prometheus`) scraping a real
embedded proxy's read-only /metrics listener (`--metrics`) with a bearer token."""

from __future__ import annotations

import re

import json
import os
import shutil
import time
import urllib.request
from dataclasses import asdict

import pytest

from zerodown.analysis import Judge, MetricsError, PrometheusSource
from zerodown.engine.runner import SystemClock
from zerodown.loadgen import LoadInBackground
from zerodown.plan import Analyze
from zerodown.strategies.options import AnalysisConfig
from tests.support import ManagedProcess
from tests.support.net import HOST, free_port, wait_until
from tests.support.proxy import ProxyProcess, table_of

TOKEN = "s3cret-scrape-token"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SCRAPE = "scrape_configs:\n" \
         "  - job_name: zerodown\n" \
         "    scrape_interval: 1s\n" \
         "    authorization: {credentials: %s}\n" \
         "    static_configs: [{targets: ['%s']}]\n"


@pytest.fixture
def proxy_tcp(tmp_path):
    """The proxy with a read-only /metrics listener on TCP behind a bearer token (its admin
    API stays on the unix socket: a scraper never gets the table)."""
    metrics = f"{HOST}:{free_port()}"
    p = ProxyProcess(tmp_path, extra=["--metrics", metrics, "--service", "shop"],
                     env={"ZERODOWN_METRICS_TOKEN": TOKEN})
    p.metrics_address = metrics
    p.start()
    yield p
    p.cleanup()


@pytest.fixture
def prometheus(tmp_path, proxy_tcp):
    if not os.path.exists(PROMETHEUS) and not os.environ.get("CI"):
        pytest.skip("prometheus is not installed: bash scripts/setup.sh")  # never under CI
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "prometheus.yml").write_text(SCRAPE % (TOKEN, proxy_tcp.metrics_address))
    port = free_port()
    proc = ManagedProcess([PROMETHEUS, f"--config.file={folder / 'prometheus.yml'}",
                           f"--storage.tsdb.path={folder / 'data'}",
                           f"--web.listen-address={HOST}:{port}"], port=port, name="prometheus")
    url = f"http://{HOST}:{port}"
    try:
        wait_until(lambda: _ready(url) or not proc.alive, 30, "prometheus ready")
        assert proc.alive, proc.log()[-3000:]
        yield url
    finally:
        proc.stop(10)
        proc.cleanup()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _targets_up(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=2) as r:
        active = json.loads(r.read())["data"]["activeTargets"]
    return bool(active) and all(t["health"] == "up" for t in active)


def test_counts_and_queries_come_from_the_scraped_proxy(prometheus, proxy_tcp, app_factory):
    stable, canary = app_factory("v1"), app_factory("v2", env={"APP_ERROR_RATE": "0.2"})
    proxy_tcp.apply(table_of(1, ("r1", 50, [stable]), ("r2", 50, [canary])))
    source = PrometheusSource(prometheus, "shop")
    assert source.counts("r2") is None  # nothing scraped yet: unknown, not zero
    wait_until(lambda: _targets_up(prometheus), 20, "the proxy scraped with the token")
    with LoadInBackground(proxy_tcp.url + "/", connections=2, rate=200, max_duration=30) as load:
        load.wait_for_responses(300)
        seen = wait_until(lambda: (c := source.counts("r2")) and c.requests >= 100 and c, 20,
                          "r2's requests in Prometheus")
    stats = proxy_tcp.stats()["revisions"]["r2"]
    assert 0 < seen.requests <= stats["requests"]
    assert 0 < seen.failures <= stats["responses"]["5xx"]
    assert seen.latency is not None and sum(seen.latency) == pytest.approx(seen.requests)
    assert seen.bounds[:3] == (0.0001, 0.00025, 0.0005)
    up = source.query("r2", 'sum(up{job="zerodown"})', 60)
    assert up == 1.0
    rate = source.query("r2", 'sum(rate(zerodown_requests_total{service="{service}",'
                              'revision="{revision}"}[{window}]))', 10)
    assert rate is not None and rate > 0
    assert source.query("r9", 'sum(zerodown_requests_total{revision="{revision}"})', 10) is None
    assert source.resolution() == 1.0  # the scrape interval, from Prometheus's targets


def test_errors_name_the_query_and_what_came_back(prometheus):
    source = PrometheusSource(prometheus, "shop")
    with pytest.raises(MetricsError, match=r"refused 'sum\(\(': HTTP 400: .*parse error"):
        source.query("r1", "sum((", 10)
    with pytest.raises(MetricsError, match=r"returned 2 series .* \(wrap it in sum"):
        source.query("r1", 'label_replace(vector(1), "x", "a", "", "") or '
                           'label_replace(vector(2), "x", "b", "", "")', 10)
    with pytest.raises(MetricsError, match=f"cannot query Prometheus at http://{HOST}:1"):
        PrometheusSource(f"http://{HOST}:1", "shop", timeout=1).counts("r1")


def test_the_judge_fails_a_bad_canary_from_prometheus(prometheus, proxy_tcp, app_factory):
    stable, canary = app_factory("v1"), app_factory("v2", env={"APP_ERROR_RATE": "0.1"})
    proxy_tcp.apply(table_of(1, ("r1", 50, [stable]), ("r2", 50, [canary])))
    wait_until(lambda: _targets_up(prometheus), 20, "the proxy scraped with the token")
    spec = asdict(AnalysisConfig(max_success_rate_drop=0.01, prometheus=prometheus,
                                 max_duration=40, interval=2))
    judge = Judge(lambda cfg: PrometheusSource(cfg.prometheus, "shop"), SystemClock(), poll=0.5)
    with LoadInBackground(proxy_tcp.url + "/", connections=2, rate=300, max_duration=60) as load:
        load.wait_for_responses(100)
        began = time.monotonic()
        verdict, why = judge(Analyze(2, spec, 1))
    assert verdict == "fail", why
    assert time.monotonic() - began < 15 and re.search(r"r2 fails [\d.]+% of requests vs stable [\d.]+% .*: failed after", why)
