"""The judge the engine calls for an Analyze step: poll a metric source, decide, explain.

    judge = Judge(source_for, clock, on_event)
    verdict, why = judge(step, deployment, check)   # "pass" | "fail" | "inconclusive"

It reads the canary's and the stable revision's cumulative counts every
`poll` seconds and looks at what arrived since the step began:

- method "sequential": checks.assess on every poll; returns as soon as a
  check fails or every check passed, "inconclusive" when still undecided
  after max_duration (on_inconclusive: pause), or waits on (wait).
- method "fixed": one measurement per `interval`, `count` of them, failing
  after more than `failure_limit` failed measurements.

A PromQL `query` is measured once per interval either way. `check()` runs on
every poll: it raises when the deployment was paused or aborted elsewhere.
Every `interval` a measurement event carries the evidence; the verdict's
`why` carries it too.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from zerodown.analysis.checks import Assessment, Check, assess, checks_for
from zerodown.analysis.duration import (FLOOR, RATE_WINDOW, default_max_duration,
                                        seconds_to_pass, said)
from zerodown.analysis.evidence import NOTHING, Counts, Window
from zerodown.analysis.sources import MetricsError
from zerodown.analysis.words import verdict_words
from zerodown.plan import Analyze
from zerodown.protocols import Clock, MetricSource
from zerodown.strategies.options import AnalysisConfig

POLL = 1.0  # seconds between readings: a sequential test may stop at any of them

OnEvent = Callable[[str, str, "int | None"], None]  # (kind, text, deployment id)


def config_of(spec: Mapping[str, Any]) -> AnalysisConfig:
    """An Analyze step's spec (AnalysisConfig fields as a dict) back as the dataclass."""
    names = {f.name for f in dataclasses.fields(AnalysisConfig)}
    return AnalysisConfig(**{k: v for k, v in spec.items() if k in names})


class Judge:
    def __init__(self, source_for: Callable[[AnalysisConfig], MetricSource], clock: Clock,
                 on_event: OnEvent | None = None, poll: float = POLL):
        self.source_for, self.clock, self.poll = source_for, clock, poll
        # deployment id -> the max_duration its latest analysis chose from the traffic (the
        # gate before a canary's promotion waits as long as its background analysis would)
        self.durations: dict[int | None, float] = {}
        self.on_event = on_event or (lambda kind, text, deployment: None)

    def __call__(self, step: Analyze, deployment: Any = None,
                 check: Callable[[], object] = lambda: None,
                 source: MetricSource | None = None) -> tuple[str, str]:
        """`source`: read from it rather than the one the step's config names (a shadow's
        diff counts, engine/steps.py shadow)."""
        cfg = config_of(step.spec)
        did = getattr(deployment, "id", None)
        canary = f"r{step.revision}"
        stable = f"r{step.against}" if step.against is not None else None
        watch = (Sequential if cfg.method == "sequential" else Fixed)(cfg, stable is not None)
        if not watch.checks and cfg.query is None:
            why = (f"the thresholds compare {canary} with the stable revision, and there is none "
                   "to compare with")
            self.on_event("analysis.inconclusive", why, did)
            return "inconclusive", why
        # a background analysis goes on after its pass, each round with half the budget of
        # false alarms (engine/monitor.py): said as that, not as a new analysis beginning
        again = int(step.spec.get("round", 1)) > 1
        self.on_event("analysis.started", f"analyzing {canary}" + (f" against {stable}" if stable
                      else "") + (" on after its pass, until the promotion" if again else "")
                      + f" ({watch.describe()})", did)
        verdict, why = Run(self, cfg, source or self.source_for(cfg), canary, stable, watch,
                           did).until(check)
        self.on_event(f"analysis.{ {'pass': 'passed', 'fail': 'failed'}.get(verdict, verdict) }",
                      f"{canary} {verdict}: {why}", did)
        return verdict, why


class Run:
    """One Analyze step's readings: windows of counts, the query's measurements, errors."""

    def __init__(self, judge: Judge, cfg: AnalysisConfig, source: MetricSource, canary: str,
                 stable: str | None, watch, did: int | None):
        self.judge, self.cfg, self.source, self.watch, self.did = judge, cfg, source, watch, did
        self.names = (canary, stable)
        self.windows: tuple[Window, Window | None] = (Window(), Window() if stable else None)
        self.query = QueryTally(cfg)
        self.error: str | None = None

    def until(self, check: Callable[[], object]) -> tuple[str, str]:
        clock = self.judge.clock
        start = clock.now()
        self.read()
        next_report = start + self.cfg.interval
        planned = False
        # Prometheus's evidence moves once a scrape: measure the rates over two of them.
        scrape = getattr(self.source, "resolution", lambda: None)()
        rate_window = max(RATE_WINDOW, 2 * scrape) if scrape else RATE_WINDOW
        while True:
            check()
            clock.sleep(self.judge.poll)
            self.read()
            now = clock.now()
            elapsed = now - start
            if not planned and elapsed >= rate_window:
                planned = True
                self.plan(elapsed, scrape)
            report = now >= next_report
            if report:
                next_report += self.cfg.interval
                self.measure_query()
            verdict, why = self.watch.look(self.windows[0].seen(self.cfg.unanswered_after),
                                           self.windows[1], elapsed, self.query)
            if self.error:
                why += f"; last metrics error: {self.error}"
            if verdict is not None:
                return verdict, self.said(verdict, why, elapsed)
            if report:
                self.judge.on_event("analysis.measurement", f"{self.names[0]} after "
                                    f"{elapsed:.0f}s: {why}", self.did)

    def said(self, verdict: str, why: str, elapsed: float) -> str:
        """A decided verdict in plain words (words.py), its numbers in an event of their own
        (`history -v`, the API's events); the fixed method and a query say theirs as they are."""
        last = getattr(self.watch, "assessment", None)  # Fixed has none
        facts = [f.facts for f in last.shown() if f.facts is not None] if last else []
        if verdict not in ("fail", "pass") or not facts or (verdict == "fail" and
                                                             self.query.failed):
            return f"{why} (after {elapsed:.1f}s)"
        self.judge.on_event("analysis.evidence", f"{self.names[0]} after {elapsed:.1f}s: {why}",
                            self.did)
        requests = max(f.requests for f in facts)
        return verdict_words(self.names[0], verdict, facts, requests) + f" ({elapsed:.1f}s)"

    def plan(self, elapsed: float, scrape: float | None) -> None:
        """Measure the rates, say how long the checks need at them, and (unless
        max_duration is set) wait that long, with a margin, before calling it undecided."""
        canary, stable = self.windows
        rate = canary.total.requests / elapsed
        srate = stable.total.requests / elapsed if stable is not None else 0.0
        like = canary.total
        if stable is not None:  # the stable's record before the analysis, else its window
            base = stable.base if stable.base is not None and stable.base.requests >= 100 else None
            like = base or stable.total
        elif self.cfg.max_diff_rate is not None:  # a shadow as good as the stable differs never
            like = Counts(like.requests, 0, like.latency, like.bounds)
        text = self.watch.plan(self.names[0], rate, srate, like, scrape)
        if text:
            self.judge.durations[self.did] = self.watch.max_duration
            self.judge.on_event("analysis.planned", text, self.did)

    def read(self) -> None:
        (canary, stable), (canary_window, stable_window) = self.names, self.windows
        self.windows = (self._read(canary, canary_window),  # no stable revision: none to read
                        None if stable is None or stable_window is None else
                        self._read(stable, stable_window))

    def _read(self, name: str, window: Window) -> Window:
        try:
            return window.read(self.source.counts(name))
        except MetricsError as e:
            if str(e) != self.error:
                self.judge.on_event("analysis.metrics_error", str(e), self.did)
            self.error = str(e)
            return window

    def measure_query(self) -> None:
        if self.cfg.query is None:
            return
        try:
            self.query.add(self.source.query(self.names[0], self.cfg.query, self.cfg.interval))
        except MetricsError as e:
            self.error = str(e)
            self.query.add(None)


@dataclasses.dataclass
class QueryTally:
    """The PromQL query's measurements: each within its bounds, outside them, or without data."""

    cfg: AnalysisConfig
    good: int = 0
    bad: int = 0
    empty: int = 0
    last: float | None = None

    def add(self, value: float | None) -> None:
        self.last = value
        if value is None:
            self.empty += 1
        elif _out(self.cfg, value):
            self.bad += 1
        else:
            self.good += 1

    @property
    def failed(self) -> bool:
        return self.cfg.query is not None and self.bad > self.cfg.failure_limit

    @property
    def passed(self) -> bool:
        return self.cfg.query is None or self.good >= self.cfg.count

    def describe(self) -> str:
        bounds = " and ".join(x for x in (
            f">= {self.cfg.query_min:g}" if self.cfg.query_min is not None else "",
            f"<= {self.cfg.query_max:g}" if self.cfg.query_max is not None else "") if x)
        return (f"query last {self.last if self.last is None else f'{self.last:.4g}'} (must be "
                f"{bounds}): {self.good} good, {self.bad} bad, {self.empty} without data")


def _checks(cfg: AnalysisConfig, stable: bool) -> tuple[Check, ...]:
    return checks_for(cfg.success_rate, cfg.latency_p99, cfg.max_success_rate_drop,
                      cfg.max_latency_ratio, stable, cfg.max_diff_rate)


class Sequential:
    def __init__(self, cfg: AnalysisConfig, stable: bool):
        self.cfg, self.checks = cfg, _checks(cfg, stable)
        # the last look's (its facts give the verdict in words)
        self.assessment: Assessment | None = None
        self.passed: frozenset[str] = frozenset()
        self.max_duration: float | None = cfg.max_duration  # None: chosen by plan()

    def describe(self) -> str:
        until = (f"for up to {self.max_duration:g}s" if self.max_duration is not None else
                 f"for as long as the traffic needs (measured over the first {RATE_WINDOW:g}s)")
        return (f"sequential: {', '.join(c.name for c in self.checks) or 'query'}, false alarms "
                f"at most {100 * self.cfg.max_false_alarm:g}%, {until}")

    def plan(self, canary: str, rate: float, stable_rate: float, like: Counts,
             scrape: float | None = None) -> str:
        needed = seconds_to_pass(self.checks, rate, stable_rate, like,
                                 self.cfg.max_false_alarm, self.cfg.min_requests)
        chosen = self.max_duration is None
        if chosen:
            self.max_duration = default_max_duration(needed) if rate > 0 else FLOOR
        assert self.max_duration is not None
        return said(canary, rate, needed, self.max_duration, chosen, scrape)

    def look(self, canary: Counts, stable_window: Window | None, elapsed: float,
             query: QueryTally) -> tuple[str | None, str]:
        stable = (stable_window.seen(self.cfg.unanswered_after) if stable_window is not None
                  else None)
        if stable_window is not None:
            self.checks = tuple(c.with_stable(stable_window) for c in self.checks)
        a = assess(self.checks, canary, stable, self.cfg.max_false_alarm, self.passed,
                   self.cfg.min_requests)
        self.assessment = a
        self.passed |= {f.check for f in a.findings if f.verdict == "pass"}
        why = "; ".join(x for x in (a.why(), query.describe() if self.cfg.query else "") if x)
        if a.verdict == "fail" or query.failed:
            return "fail", why
        if (a.verdict == "pass" or not self.checks) and query.passed and \
                canary.requests >= self.cfg.min_requests:
            return "pass", why
        if self.max_duration is not None and elapsed >= self.max_duration and \
                self.cfg.on_inconclusive == "pause":
            few = (f"{canary.requests:.0f} requests, {self.cfg.min_requests} needed; "
                   if canary.requests < self.cfg.min_requests else "")
            return "inconclusive", f"undecided after {self.max_duration:g}s: {few}{why}"
        return None, why


class Fixed:
    """Flagger's shape: every `interval` one measurement of that interval's counts."""

    def __init__(self, cfg: AnalysisConfig, stable: bool):
        self.cfg, self.checks = cfg, _checks(cfg, stable)
        self.seen: tuple[Counts, Counts | None] = (NOTHING, None)
        self.taken, self.failed, self.empty = 0, 0, 0
        self.last = "no measurement yet"

    def describe(self) -> str:
        return (f"fixed: {self.cfg.count} measurements every {self.cfg.interval:g}s, "
                f"{self.cfg.failure_limit} failed ones tolerated")

    def plan(self, canary: str, rate: float, stable_rate: float, like: Counts,
             scrape: float | None = None) -> str:
        return ""  # count x interval decides how long

    def look(self, canary: Counts, stable_window: Window | None, elapsed: float,
             query: QueryTally) -> tuple[str | None, str]:
        stable = stable_window.total if stable_window is not None else None
        if elapsed < (self.taken + 1) * self.cfg.interval:
            return None, self.last
        c = canary.increase_since(self.seen[0])
        s = stable.increase_since(self.seen[1] or NOTHING) if stable is not None else None
        self.seen, self.taken = (canary, stable), self.taken + 1
        results = [chk.measure(c, s) for chk in self.checks]
        if self.cfg.query is not None:
            results.append((None if query.last is None else not _out(self.cfg, query.last),
                            query.describe()))
        if any(ok is False for ok, _ in results):
            self.failed += 1
            state = "failed"
        elif c.requests < self.cfg.min_requests or any(ok is None for ok, _ in results):
            self.empty += 1
            state = f"without enough data ({c.requests:.0f} requests, {self.cfg.min_requests} needed)"
        else:
            state = "ok"
        self.last = (f"measurement {self.taken} of {self.cfg.count} {state}: "
                     + "; ".join(text for _, text in results)
                     + f" ({self.failed} failed, {self.empty} without data so far)")
        if self.failed > self.cfg.failure_limit:
            return "fail", self.last
        if self.taken >= self.cfg.count:
            return ("inconclusive" if self.empty else "pass"), self.last
        return None, self.last


def _out(cfg: AnalysisConfig, value: float) -> bool:
    return ((cfg.query_max is not None and value > cfg.query_max)
            or (cfg.query_min is not None and value < cfg.query_min))
