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
    max_diff_rate: 0.001        DiffRate(0.001)          a shadow: at most 0.1% of copies differ

Latency is judged as a rate too: the share of requests slower than a bound
(p99 <= bound  <=>  at most 1% slower), counted from the histogram with
interpolation inside a bucket. Against the stable revision, the bound comes
from the stable's requests in the *same window* as the canary's: latency
drifts with load for both sides, and a p99 fixed from the stable's earlier
history judged a loaded canary against an idle past (10 of 20 identical
canaries failed, issue 17). The stable's p99 in the window is itself an
estimate, so half of the check's false-alarm budget goes to an always-valid
confidence bound on it: a canary fails only when more than 1% of its requests
are slower than `ratio` x an *upper* bound of the stable's p99, and passes
only when fewer than 1% are slower than `ratio` x a *lower* bound. If the
upper bound holds (chance 1 - alpha/2, at every look) a canary within the
ratio is failed with a chance of at most alpha/2 more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from zerodown.analysis import sequential as seq
from zerodown.analysis.evidence import Counts, Window
from zerodown.analysis.sequential import Tally
from zerodown.analysis.words import Facts

QUANTILE = 0.99  # latency thresholds are on the p99
_BISECTIONS = 40  # steps to find a bound on the stable's p99 within its histogram's range


@dataclass(frozen=True)
class Finding:
    check: str  # "success rate", "latency p99"
    verdict: str  # "fail" | "pass" | "open"
    evidence: str  # counts, rates, the statistic and its bound
    facts: Facts | None = None  # the same in numbers, for plain words (words.py)


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
            limit = self.limit
            fail, ok = seq.above(c, self.limit), seq.below(c, self.limit)
            against = f"allowed {100 * (1 - self.limit):.4g}% at least"
        else:
            s = Tally(stable.requests, stable.failures) if stable else Tally(0, 0)
            prior = seq.prior_from(self.history)
            limit = self.drop
            fail, ok = seq.worse(c, s, self.drop, prior), seq.better(c, s, self.drop, prior)
            against = f"stable {_success(s)}, allowed {100 * self.drop:.3g} points below"
        relative = self.drop is not None
        facts = Facts("errors", c.k / c.n if c.n else None,
                      (s.k / s.n if s.n else None) if relative else None,
                      limit, relative, c.n)
        return replace(_finding(self.name, fail, ok, bound, f"canary {_success(c)}, {against}"),
                       facts=facts)

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
    `ratio` times the stable's p99 over the same window."""

    seconds: float | None = None
    ratio: float | None = None

    @property
    def name(self) -> str:
        return "latency p99" if self.ratio is None else "latency p99 vs stable"

    def with_stable(self, stable: Window) -> Latency:
        """Nothing from before the window: the stable is judged beside the canary (assess)."""
        return self

    def assess(self, canary: Counts, stable: Counts | None, bound: float) -> Finding:
        if canary.latency is None or (self.ratio is not None and
                                      (stable is None or stable.latency is None)):
            return Finding(self.name, "open", "the metric source has no latency histogram")
        share = 1 - QUANTILE
        n = sum(canary.latency)
        p99 = f"canary p99 {_ms(canary.quantile(QUANTILE))}"
        if self.ratio is None:
            assert self.seconds is not None
            t = Tally(n, canary.slower_than(self.seconds) or 0.0)
            return replace(_finding(self.name, seq.above(t, share), seq.below(t, share), bound,
                                    f"{p99}, {_share(t)} slower than {_ms(self.seconds)} "
                                    f"(allowed {100 * share:g}%)"),
                           facts=Facts("latency", canary.quantile(QUANTILE), None,
                                       self.seconds, False, canary.requests))
        assert stable is not None
        half = bound + math.log(2)  # alpha/2 for the stable's p99, alpha/2 for the canary
        high, low = stable_p99_bounds(stable, half)
        fail = ok = -math.inf
        slow = Tally(n, 0)
        if high is not None:
            slow = Tally(n, canary.slower_than(self.ratio * high) or 0.0)
            fail = seq.above(slow, share)
        if low is not None:
            ok = seq.below(Tally(n, canary.slower_than(self.ratio * low) or 0.0), share)
        finding = _finding(self.name, fail, ok, half,
                           f"{p99}, stable p99 {_ms(stable.quantile(QUANTILE))} in the same "
                           f"window (between {_ms(low)} and {_ms(high)}); {_share(slow)} slower "
                           f"than {self.ratio:g} x stable p99 at most (allowed {100 * share:g}%)")
        return replace(finding, facts=Facts("latency", canary.quantile(QUANTILE),
                                            stable.quantile(QUANTILE), self.ratio, True,
                                            canary.requests))

    def measure(self, canary: Counts, stable: Counts | None) -> tuple[bool | None, str]:
        p99 = canary.quantile(QUANTILE)
        limit = self.seconds
        if self.ratio is not None:
            base = stable.quantile(QUANTILE) if stable else None
            limit = None if base is None else self.ratio * base
        if p99 is None or limit is None:
            return None, f"p99 {_ms(p99)} (limit {_ms(limit)})"
        return p99 <= limit, f"p99 {_ms(p99)} (at most {_ms(limit)})"


def stable_p99_bounds(stable: Counts, log_e: float) -> tuple[float | None, float | None]:
    """(upper, lower) always-valid bounds on the stable's p99 in seconds: the smallest
    latency of which fewer than 1% are slower, and the largest of which more than 1% are,
    each with an e-value of at least e^log_e. None: its requests do not tell yet."""
    if not stable.latency:
        return None, None
    n, share = sum(stable.latency), 1 - QUANTILE
    top = stable.bounds[-1]

    def slower(seconds: float) -> Tally:
        return Tally(n, stable.slower_than(seconds) or 0.0)

    high = None
    if seq.below(slower(top), share) >= log_e:
        lo, hi = 0.0, top  # below() grows with the latency: find where it first decides
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if seq.below(slower(mid), share) >= log_e else (mid, hi)
        high = hi
    low = None
    if seq.above(slower(0.0), share) >= log_e:
        lo, hi = 0.0, top  # above() shrinks as the latency grows: find where it last decides
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if seq.above(slower(mid), share) >= log_e else (lo, mid)
        low = lo
    return high, low


@dataclass(frozen=True)
class DiffRate:
    """A shadow's share of compared copies whose answer differed from stable's: at most
    `limit`. Its Counts are a shadow's (sources.ShadowSource): requests = copies compared,
    failures = copies that differed; the same e-values as a success rate's."""

    limit: float
    name = "diff rate"

    def with_stable(self, stable: Window) -> DiffRate:
        return self

    def assess(self, canary: Counts, stable: Counts | None, bound: float) -> Finding:
        t = Tally(canary.requests, canary.failures)
        finding = _finding(self.name, seq.above(t, self.limit), seq.below(t, self.limit), bound,
                           f"{_share(t)} compared copies differed (allowed "
                           f"{100 * self.limit:.4g}% at most)")
        return replace(finding, facts=Facts("diffs", t.rate, None, self.limit, False, t.n))

    def measure(self, canary: Counts, stable: Counts | None) -> tuple[bool | None, str]:
        rate = canary.error_rate
        return (None if rate is None else rate <= self.limit,
                f"differing {'n/a' if rate is None else f'{100 * rate:.3g}%'} "
                f"(at most {100 * self.limit:.4g}%)")


Check = ErrorRate | Latency | DiffRate


def checks_for(success_rate: float | None = None, latency_p99: float | None = None,
               max_success_rate_drop: float | None = None,
               max_latency_ratio: float | None = None, stable: bool = True,
               max_diff_rate: float | None = None) -> tuple[Check, ...]:
    """The checks an analysis's thresholds ask for; comparisons only when there is a stable."""
    out: list[Check] = []
    if max_diff_rate is not None:
        out.append(DiffRate(max_diff_rate))
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

    def shown(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "fail"] if self.verdict == "fail" \
            else list(self.findings)

    def why(self) -> str:
        shown = self.shown()
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
