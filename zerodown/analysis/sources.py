"""Metric sources (zerodown.protocols.MetricSource): the embedded proxy's counters, or Prometheus.

Both give a revision's *cumulative* counts (requests, 5xx, latency
histogram) for the judge to difference; Prometheus also answers `query`, one
PromQL value:

    ProxySource(router)                          router.stats() of the embedded proxy
    PrometheusSource("http://127.0.0.1:9090", "shop")   PromQL over /api/v1/query

Third-party failures (a refused connection, a PromQL error) become
MetricsError, naming the source, the query and what came back.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request

from zerodown.analysis.evidence import Counts
from zerodown.errors import ZerodownError
from zerodown.latency import BOUNDS
from zerodown.schema import Invalid, parse_duration


class MetricsError(ZerodownError):
    """A metric source could not be read (unreachable, bad query, unexpected answer)."""


class ProxySource:
    """A router's stats(): per revision requests, responses by class, latency buckets."""

    def __init__(self, router):
        self.router = router

    def counts(self, revision: str) -> Counts:
        try:
            stats = self.router.stats()
        except ZerodownError as e:
            raise MetricsError(f"cannot read the proxy's stats: {e}") from None
        return _proxy_counts(stats.get("revisions", {}).get(revision))

    def query(self, revision: str, metric: str, window: float) -> float | None:
        """None: a query is PromQL, and an analysis with one names its Prometheus
        (strategies/options.py refuses it otherwise), so this source never gets one."""
        return None


def _proxy_counts(entry: dict | None) -> Counts:
    if not entry:
        return Counts()
    buckets = entry.get("buckets")
    latency = bounds = None
    if buckets and len(buckets.get("counts", ())) == len(buckets.get("bounds_s", ())) + 1:
        latency, bounds = tuple(buckets["counts"]), tuple(buckets["bounds_s"])
    waiting = entry.get("unanswered")
    bounds = bounds or BOUNDS
    # A request its client gave up on before any answer came is one the revision failed:
    # a version that hangs is seen so even by clients whose time-out is short.
    gave_up = entry.get("abandoned", 0)
    return Counts(entry.get("requests", 0) + gave_up,
                  entry.get("responses", {}).get("5xx", 0) + gave_up, latency,
                  bounds, tuple(waiting) if waiting and len(waiting) == len(bounds) + 1 else None)


class ShadowSource:
    """A shadow's comparisons as Counts for the diff-rate check: requests = copies compared,
    failures = copies whose answer differed. `read()` gives the mirror's stats (the proxy's
    GET /shadow: compared, differing, dropped, ..., examples), or None when none runs."""

    def __init__(self, read):
        self.read = read
        self.last: dict | None = None  # the latest stats read: counts beside, examples

    def counts(self, revision: str) -> Counts | None:
        try:
            stats = self.read()
        except ZerodownError as e:
            raise MetricsError(f"cannot read the shadow's counts: {e}") from None
        if stats is None:
            return None
        self.last = stats
        return Counts(stats.get("compared", 0), stats.get("differing", 0))

    def query(self, revision: str, metric: str, window: float) -> float | None:
        return None


SERIES = 'service="{service}",revision="{revision}"'
TEMPLATES = {  # what the embedded proxy's /metrics exports
    "requests": "sum(zerodown_requests_total{%s})" % SERIES,
    "failures": 'sum(zerodown_responses_total{%s,code="5xx"})' % SERIES,
    "latency": "sum by (le) (zerodown_request_duration_seconds_bucket{%s})" % SERIES,
}


class PrometheusSource:
    """PromQL over Prometheus's HTTP API. Templates hold {service}, {revision} and, in
    query(), {window} (a PromQL duration like 30s); they are replaced literally,
    so PromQL's own braces need no escaping."""

    def __init__(self, url: str, service: str, templates: dict[str, str] | None = None,
                 timeout: float = 5.0, token: str | None = None):
        self.url, self.service, self.timeout, self.token = url.rstrip("/"), service, timeout, token
        self.templates = {**TEMPLATES, **(templates or {})}

    def counts(self, revision: str) -> Counts | None:
        """None until Prometheus has scraped the revision's series."""
        requests = self._value(self._fill("requests", revision))
        if requests is None:
            return None
        failures = self._value(self._fill("failures", revision)) or 0.0
        return Counts(requests, failures, *self._histogram(self._fill("latency", revision)))

    def query(self, revision: str, metric: str, window: float) -> float | None:
        """`metric`: a PromQL template, or the name of one of the templates."""
        promql = self.templates.get(metric, metric)
        return self._value(self.fill(promql, revision, window))

    def fill(self, template: str, revision: str, window: float = 60.0) -> str:
        return (template.replace("{service}", self.service).replace("{revision}", revision)
                .replace("{window}", f"{max(1, round(window))}s"))

    def _fill(self, name: str, revision: str) -> str:
        return self.fill(self.templates[name], revision)

    def _value(self, promql: str) -> float | None:
        data = self.ask(promql)
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar" and result:
            value = float(result[1])
        elif kind == "vector" and result:
            if len(result) > 1:
                raise MetricsError(f"Prometheus at {self.url} returned {len(result)} series for "
                                   f"{promql!r}; a check needs one value (wrap it in sum(...))")
            value = float(result[0]["value"][1])
        else:
            return None
        return None if math.isnan(value) else value

    def _histogram(self, promql: str) -> tuple[tuple[float, ...] | None, tuple[float, ...]]:
        series = self.ask(promql).get("result") or []
        try:
            cumulative = sorted((float(s["metric"]["le"]), float(s["value"][1])) for s in series)
        except (KeyError, ValueError, TypeError):
            raise MetricsError(f"Prometheus at {self.url}: {promql!r} did not return series "
                               "by `le` (a histogram's buckets)") from None
        if not cumulative or not math.isinf(cumulative[-1][0]):
            return None, BOUNDS
        counts = [c - (cumulative[i - 1][1] if i else 0.0) for i, (_, c) in enumerate(cumulative)]
        return tuple(max(0.0, c) for c in counts), tuple(le for le, _ in cumulative[:-1])

    def resolution(self) -> float | None:
        """Seconds between two scrapes: the longest scrape interval of Prometheus's active
        targets (a check sees new evidence only that often). None if it does not say."""
        try:
            targets = self._get("/api/v1/targets", "its targets").get("activeTargets") or []
            intervals = [parse_duration(t["scrapeInterval"]) for t in targets
                         if isinstance(t, dict) and t.get("scrapeInterval")]
        except (MetricsError, Invalid, ValueError, TypeError):
            return None
        return max(intervals) if intervals else None

    def ask(self, promql: str) -> dict:
        """The `data` of /api/v1/query for `promql`, evaluated now."""
        return self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}),
                         repr(promql))

    def _get(self, path: str, what: str) -> dict:
        url = f"{self.url}{path}"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"}
                                     if self.token else {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            body = _json_or_none(e.read())
            why = body.get("error") if isinstance(body, dict) else None
            raise MetricsError(f"Prometheus at {self.url} refused {what}: HTTP {e.code}"
                               f"{': ' + why if why else ''}") from None
        except (OSError, ValueError) as e:
            raise MetricsError(f"cannot query Prometheus at {self.url}: {e}") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            raise MetricsError(f"Prometheus at {self.url} answered {what} with "
                               f"{str(body)[:200]}")
        return body.get("data") or {}


def _json_or_none(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return None
