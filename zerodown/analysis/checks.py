"""The checks an analysis makes, as pure functions of counts: a Finding each.

Sequential checks (assess) turn a revision's window of counts into two
e-values, one that the canary is worse than allowed (fail) and one that it
is within what is allowed (pass); see sequential.py. Fixed checks (measure)
compare point estimates of one interval's counts with the thresholds, the
way a threshold poller does.

    success_rate: 0.99          ErrorRate(limit=0.01)    failed requests at most 1%
    max_success_rate_drop: .01  ErrorRate(drop=0.01)     at most the stable's rate + 1 point
    latency_p99: 300ms          Latency(0.3)             at most 1% of requests slower than 300 ms
    max_latency_ratio: 1.5      Latency(ratio=1.5)       ... slower than 1.5 x the stable's p99

Latency is judged as a rate too: the share of requests slower than a bound
(p99 <= bound  <=>  at most 1% slower), counted from the histogram with
interpolation inside a bucket. Against the stable revision, the bound is
fixed once from the stable's own history (a `reference` p99 from at least
REFERENCE_REQUESTS requests), so that it does not move with the data it judges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from zerodown.analysis import sequential as seq
from zerodown.analysis.evidence import Counts, Window
from zerodown.analysis.sequential import Tally

QUANTILE = 0.99  # latency thresholds are on the p99
REFERENCE_REQUESTS = 1000  # the stable's p99 is fixed from at least this many requests


@dataclass(frozen=True)
class Finding:
    check: str  # "success rate", "latency p99"
    verdict: str  # "fail" | "pass" | "open"
    evidence: str  # counts, rates, the statistic and its bound


@dataclass(frozen=True)
class ErrorRate:
    """The canary's share of failed (5xx) requests: at most `limit`, or at most the stable's + `drop`."""

    limit: float | None = None
    drop: float | None = None
    history: Tally | None = None  # the stable's requests before the analysis began

    @property
    def name(self) -> str:
        return "success rate" if self.drop is None else "success rate vs stable"

    def with_stable(self, stable: Window) -> ErrorRate:
        """This check with the stable's record before the analysis (its window's base)
        as the prior of its rate, fixed the first time there is one."""
        before = stable.base
        if before is None or self.drop is None or self.history is not None:
            return self
        return replace(self, history=Tally(before.requests, before.failures))

    def assess(self, canary: Counts, stable: Counts | None, bound: float) -> Finding:
        c = Tally(canary.requests, canary.failures)
        if self.drop is None:
            assert self.limit is not None
            fail, ok = seq.above(c, self.limit), seq.below(c, self.limit)
            against = f"allowed {100 * (1 - self.limit):.4g}% at least"
        else:
            s = Tally(stable.requests, stable.failures) if stable else Tally(0, 0)
            prior = seq.prior_from(self.history)
            fail, ok = seq.worse(c, s, self.drop, prior), seq.better(c, s, self.drop, prior)
            against = f"stable {_success(s)}, allowed {100 * self.drop:.3g} points below"
        return _finding(self.name, fail, ok, bound, f"canary {_success(c)}, {against}")

    def measure(self, canary: Counts, stable: Counts | None) -> tuple[bool | None, str]:
        rate = canary.error_rate
        if self.drop is None:
            assert self.limit is not None
            return (None if rate is None else rate <= self.limit,
                    f"success {_pct(rate)} (at least {100 * (1 - self.limit):.4g}%)")
        base = stable.error_rate if stable else None
        if rate is None or base is None:
            return None, f"success {_pct(rate)} vs stable {_pct(base)}"
        return rate <= base + self.drop, (f"success {_pct(rate)} vs stable {_pct(base)} "
                                          f"(at most {100 * self.drop:.3g} points below)")


@dataclass(frozen=True)
class Latency:
    """At most 1 - QUANTILE of the canary's requests slower than `seconds`, or than
    `ratio` times the stable's p99 once `reference` (that p99) is fixed."""

    seconds: float | None = None
    ratio: float | None = None
    reference: float | None = None

    @property
    def name(self) -> str:
        return "latency p99" if self.ratio is None else "latency p99 vs stable"

    @property
    def limit(self) -> float | None:
        if self.ratio is None:
            return self.seconds
        return None if self.reference is None else self.ratio * self.reference

    def with_stable(self, stable: Window) -> Latency:
        """Fix the stable's p99 from its latest cumulative counts, once they are enough;
        self until then."""
        last = stable.last
        if self.ratio is None or self.reference is not None or last is None or \
                last.latency is None or sum(last.latency) < REFERENCE_REQUESTS:
            return self
        return replace(self, reference=last.quantile(QUANTILE))

    def assess(self, canary: Counts, stable: Counts | None, bound: float) -> Finding:
        limit = self.limit
        if limit is None:
            return Finding(self.name, "open", f"waiting for {REFERENCE_REQUESTS} requests of the "
                                              "stable revision to fix its p99")
        slow = canary.slower_than(limit)
        if slow is None:
            return Finding(self.name, "open", "the metric source has no latency histogram")
        t = Tally(sum(canary.latency or ()), slow)
        share = 1 - QUANTILE
        of = "" if self.ratio is None else f" = {self.ratio:g} x stable p99 {_ms(self.reference)}"
        return _finding(self.name, seq.above(t, share), seq.below(t, share), bound,
                        f"canary p99 {_ms(canary.quantile(QUANTILE))}, {_share(t)} slower than "
                        f"{_ms(limit)}{of} (allowed {100 * share:g}%)")

    def measure(self, canary: Counts, stable: Counts | None) -> tuple[bool | None, str]:
        p99 = canary.quantile(QUANTILE)
        limit = self.seconds
        if self.ratio is not None:
            base = stable.quantile(QUANTILE) if stable else None
            limit = None if base is None else self.ratio * base
        if p99 is None or limit is None:
            return None, f"p99 {_ms(p99)} (limit {_ms(limit)})"
        return p99 <= limit, f"p99 {_ms(p99)} (at most {_ms(limit)})"


Check = ErrorRate | Latency


def checks_for(success_rate: float | None = None, latency_p99: float | None = None,
               max_success_rate_drop: float | None = None,
               max_latency_ratio: float | None = None, stable: bool = True) -> tuple[Check, ...]:
    """The checks an analysis's thresholds ask for; comparisons only when there is a stable."""
    out: list[Check] = []
    if success_rate is not None:
        out.append(ErrorRate(limit=1 - success_rate))
    if max_success_rate_drop is not None and stable:
        out.append(ErrorRate(drop=max_success_rate_drop))
    if latency_p99 is not None:
        out.append(Latency(seconds=latency_p99))
    if max_latency_ratio is not None and stable:
        out.append(Latency(ratio=max_latency_ratio))
    return tuple(out)


@dataclass(frozen=True)
class Assessment:
    verdict: str | None  # "fail" | "pass" | None: not yet
    findings: tuple[Finding, ...]

    def why(self) -> str:
        shown = [f for f in self.findings if f.verdict == "fail"] if self.verdict == "fail" \
            else self.findings
        return "; ".join(f"{f.check} {f.verdict if f.verdict != 'open' else 'undecided'}: "
                         f"{f.evidence}" for f in shown)


def assess(checks: tuple[Check, ...], canary: Counts, stable: Counts | None,
           max_false_alarm: float, passed: frozenset[str] = frozenset(),
           min_requests: int = 0) -> Assessment:
    """One look at the evidence. Each check may fail a good canary with a chance of at
    most max_false_alarm / len(checks), so all together at most max_false_alarm.
    `passed`: names of checks that passed at an earlier look (a pass is kept)."""
    bound = seq.threshold(max_false_alarm / max(1, len(checks)))
    findings = tuple(c.assess(canary, stable, bound) for c in checks)
    if any(f.verdict == "fail" for f in findings):
        return Assessment("fail", findings)
    done = all(f.verdict == "pass" or f.check in passed for f in findings)
    enough = canary.requests >= min_requests
    return Assessment("pass" if findings and done and enough else None, findings)


def _finding(name: str, fail: float, ok: float, bound: float, evidence: str) -> Finding:
    verdict = "fail" if fail >= bound else "pass" if ok >= bound else "open"
    stat = (f"E(worse)={_e(fail)}" if verdict != "pass" else f"E(within)={_e(ok)}")
    if verdict == "open":
        stat += f", E(within)={_e(ok)}"
    return Finding(name, verdict, f"{evidence}; {stat}, decides at {_e(bound)}")


def _e(log_e: float) -> str:
    if log_e > 700:
        return "inf" if math.isinf(log_e) else f"e^{log_e:.0f}"
    return f"{math.exp(log_e):.3g}"


def _success(t: Tally) -> str:
    if not t.n:
        return "no requests"
    return f"{100 * (1 - t.k / t.n):.2f}% ({t.k:.0f} of {t.n:.0f} failed)"


def _share(t: Tally) -> str:
    return f"{100 * t.k / t.n:.2f}% of {t.n:.0f}" if t.n else "none of 0"


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * (1 - rate):.2f}%"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.3g}ms"
