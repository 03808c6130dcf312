"""How long an analysis needs at the traffic it gets: the time to pass a good revision.

A sequential check passes once its evidence reaches the bound, and evidence
grows with requests, so the time it needs is set by the canary's request rate
and by how close the configured tolerance lies to what the stable does. A
fixed default (interval x count = 30 s) paused 7 of 20 good canaries at
500 req/s "undecided" (issue 17); instead the judge measures the rates for a
few seconds and asks: if the canary behaved exactly like the stable (its
error rate and latency histogram, scaled to the requests each side would
have), when would every check pass? Three times that is the default max_duration
(in simulation the slowest of 20 good canaries needed 2.2 times it).
"""

from __future__ import annotations

from zerodown.analysis.checks import Check, assess
from zerodown.analysis.evidence import Counts

RATE_WINDOW = 3.0  # seconds of readings the rates are measured over
FLOOR, CAP = 30.0, 900.0  # the default max_duration stays within these
MARGIN = 3.0  # evidence is random: the default is this many times the expected need


def scaled(like: Counts, n: float) -> Counts:
    """`like`'s error rate and latency shape, for n requests."""
    k = n / like.requests if like.requests else 0.0
    latency = None if like.latency is None else tuple(x * k for x in like.latency)
    return Counts(n, like.failures * k, latency, like.bounds)


def seconds_to_pass(checks: tuple[Check, ...], canary_rate: float, stable_rate: float,
                    like: Counts, max_false_alarm: float, min_requests: int = 0,
                    longest: float = 24 * 3600.0) -> float | None:
    """Seconds until `checks` pass a canary that behaves like `like` at these rates (req/s);
    None if not within `longest` (the tolerance is tighter than what the stable does)."""
    if canary_rate <= 0 or not like.requests or not checks:
        return None

    def passes(t: float) -> bool:
        canary, stable = scaled(like, canary_rate * t), scaled(like, stable_rate * t)
        return assess(checks, canary, stable, max_false_alarm,
                      min_requests=min_requests).verdict == "pass"
    hi = 1.0
    while not passes(hi):
        if hi >= longest:
            return None
        hi *= 2
    lo = hi / 2 if hi > 1 else 0.0
    while hi - lo > max(0.5, hi * 0.02):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if passes(mid) else (mid, hi)
    return hi


def default_max_duration(needed: float | None) -> float:
    """MARGIN x the expected need, within [FLOOR, CAP]; CAP when it would never pass."""
    return CAP if needed is None else min(CAP, max(FLOOR, MARGIN * needed))


SCRAPES = 4  # looks at fresh evidence a max_duration should allow at the least


def said(canary: str, canary_rate: float, needed: float | None, max_duration: float,
         chosen: bool, scrape: float | None = None) -> str:
    """The sentence an analysis says before it judges: what it needs, and how long it waits;
    `scrape`: seconds between two readings of a source that is scraped (Prometheus)."""
    rate = f"at {canary_rate:.3g} req/s on {canary}"
    if canary_rate <= 0:
        head = f"{canary} had no requests in the first {RATE_WINDOW:g}s: no estimate"
    elif needed is None:
        head = (f"{rate} these checks would not pass a revision that behaves like the stable "
                f"within {max_duration:g}s (the tolerance is tighter than the stable does)")
    else:
        head = f"{rate} these checks need ~{needed:.0f}s to pass a revision as good as the stable"
    tail = (f"undecided after {max_duration:g}s (max_duration, chosen from the traffic)" if chosen
            else f"undecided after {max_duration:g}s (max_duration)")
    warn = (" -- too short: raise max_duration or the traffic" if not chosen and needed is not None
            and needed > max_duration else "")
    if scrape:
        tail += f"; the metrics are scraped every {scrape:g}s"
        if SCRAPES * scrape > max_duration:
            warn += (f" -- the scrape interval is too coarse: {max_duration:g}s gives the checks "
                     f"{max_duration / scrape:.0f} fresh looks; scrape at most every "
                     f"{max_duration / SCRAPES:g}s or raise max_duration")
    return f"{head}; {tail}{warn}"
