"""Prometheus as zerodown.yaml configures it: a bearer token from the controller's environment
or a file, and PromQL templates for exporters other than the embedded proxy's — asked of a
real HTTP server on 127.0.0.1 that records what it was sent."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from zerodown.analysis import MetricsError, judge_for
from zerodown.analysis.sources import TEMPLATES
from zerodown.config import parse_config
from zerodown.errors import ConfigError
from zerodown.fakes import FakeClock
from zerodown.strategies.options import PROMETHEUS_TEMPLATES


@pytest.fixture
def prometheus():
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["query"][0]
            seen.append((query, self.headers.get("Authorization", "")))
            result = ([{"metric": {"le": "+Inf"}, "value": [0, "7"]}] if "bucket" in query
                      else [{"metric": {}, "value": [0, "7"]}])
            body = json.dumps({"status": "success",
                               "data": {"resultType": "vector", "result": result}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def config(tmp_path, analysis: dict):
    file = tmp_path / "zerodown.yaml"
    file.write_text(yaml.safe_dump({
        "service": "shop", "listen": "127.0.0.1:8080", "app": {"command": "app"},
        "strategy": {"kind": "canary", "steps": [{"weight": 10}, {"analysis": analysis}]}}))
    return parse_config(file.read_text(), file=str(file))


def test_a_token_from_the_environment_and_templates_reach_prometheus(tmp_path, prometheus,
                                                                    monkeypatch):
    url, seen = prometheus
    monkeypatch.setenv("ZD_PROM_TOKEN", "tok-1")
    cfg = config(tmp_path, {"success_rate": 0.99, "prometheus": url,
                            "prometheus_token_env": "ZD_PROM_TOKEN", "prometheus_templates": {
                                "requests": 'sum(http_requests_total{app="{service}",'
                                            'rev="{revision}"})'}})
    analysis = cfg.strategy.steps[1].analysis
    source = judge_for(cfg, router=None, clock=FakeClock()).source_for(analysis)
    counts = source.counts("r2")
    assert counts.requests == 7
    assert seen[0] == ('sum(http_requests_total{app="shop",rev="r2"})', "Bearer tok-1")
    assert seen[1][0] == TEMPLATES["failures"].replace("{service}", "shop").replace(
        "{revision}", "r2")  # the templates not given keep the embedded proxy's
    assert "tok-1" not in json.dumps(cfg.source)  # only the variable's name is recorded


def test_a_token_from_a_file_and_a_missing_token_is_a_clear_error(tmp_path, prometheus,
                                                                 monkeypatch):
    url, seen = prometheus
    (tmp_path / "prom.token").write_text("tok-file\n")
    cfg = config(tmp_path, {"success_rate": 0.99, "prometheus": url,
                            "prometheus_token_file": "prom.token"})
    judge = judge_for(cfg, router=None, clock=FakeClock())
    judge.source_for(cfg.strategy.steps[1].analysis).counts("r2")
    assert seen[0][1] == "Bearer tok-file"
    monkeypatch.delenv("ZD_NOPE", raising=False)
    cfg = config(tmp_path, {"success_rate": 0.99, "prometheus": url,
                            "prometheus_token_env": "ZD_NOPE"})
    with pytest.raises(MetricsError, match=r"\$ZD_NOPE is not set"):
        judge_for(cfg, None, FakeClock()).source_for(cfg.strategy.steps[1].analysis)


@pytest.mark.parametrize("analysis, error", [
    ({"success_rate": 0.99, "prometheus_token_env": "T"}, "prometheus_token_env needs prometheus"),
    ({"success_rate": 0.99, "prometheus": "http://p:9090", "prometheus_token_env": "T",
      "prometheus_token_file": "f"}, "one token source, not both"),
    ({"success_rate": 0.99, "prometheus": "http://p:9090",
      "prometheus_templates": {"request": "x"}}, 'unknown template "request" (did you mean'),
])
def test_prometheus_settings_are_checked(tmp_path, analysis, error):
    with pytest.raises(ConfigError, match=error.replace("(", r"\(").replace("$", r"\$")):
        config(tmp_path, analysis)


def test_the_template_names_are_the_sources():
    assert set(PROMETHEUS_TEMPLATES) == set(TEMPLATES)
