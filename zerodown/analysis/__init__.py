"""Automated analysis: judge a new revision from live metrics, in seconds.

    judge = judge_for(config, router, clock, on_event=store_event)
    Engine(store, runtime, router, clock, config, judge=judge)

The engine calls judge(step, deployment, check) for each Analyze step and
gets (verdict, why): "pass", "fail" or "inconclusive", with the evidence.

    sequential.py  always-valid e-values on rates (pure)
    evidence.py    counts, windows of counts, latency histograms (pure)
    checks.py      success rate and latency checks, sequential and fixed (pure)
    sources.py     the embedded proxy's stats, Prometheus's HTTP API, a shadow's diff counts
    judge.py       the polling loop
"""

from __future__ import annotations

import os
from typing import Mapping

from zerodown.analysis.judge import POLL, Judge, OnEvent, config_of
from zerodown.analysis.sources import MetricsError, PrometheusSource, ProxySource, ShadowSource
from zerodown.protocols import Clock, Router
from zerodown.strategies.options import AnalysisConfig

__all__ = ["Judge", "MetricsError", "PrometheusSource", "ProxySource", "ShadowSource", "config_of",
           "judge_for"]


def judge_for(config, router: Router, clock: Clock, on_event: OnEvent | None = None,
              poll: float = POLL) -> Judge:
    """The judge for `config`'s service (a ServiceConfig): metrics from the router's proxy,
    or from the Prometheus an analysis names. on_event(kind, text, deployment id)."""
    def source_for(analysis: AnalysisConfig):
        if analysis.prometheus:
            return PrometheusSource(analysis.prometheus, config.service,
                                    analysis.prometheus_templates,
                                    token=prometheus_token(analysis, config.file))
        return ProxySource(router)
    return Judge(source_for, clock, on_event, poll)


def prometheus_token(analysis: AnalysisConfig, config_file: str | None,
                     environ: Mapping[str, str] = os.environ) -> str | None:
    """The bearer token an analysis names (read now, never stored); MetricsError if absent."""
    if analysis.prometheus_token_env is not None:
        token = environ.get(analysis.prometheus_token_env)
        if not token:
            raise MetricsError(f"analysis.prometheus_token_env: ${analysis.prometheus_token_env} "
                               f"is not set in the controller's environment")
        return token
    if analysis.prometheus_token_file is not None:
        base = os.path.dirname(os.path.abspath(config_file or "zerodown.yaml"))
        path = os.path.join(base, analysis.prometheus_token_file)
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise MetricsError(f"analysis.prometheus_token_file: cannot read {path}: "
                               f"{getattr(e, 'strerror', None) or e}") from None
    return None
