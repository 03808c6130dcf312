"""Always-valid sequential tests on rates: e-values that may be looked at after every poll.

Each function returns log E for one null hypothesis about the rate of "bad"
outcomes (failed requests, requests slower than a bound) in a Tally. E is a
mixture likelihood over the data seen so far divided by the *largest*
likelihood any null rate gives it:

    E_t = Q_t / sup_{theta in H0} P_theta,t

Q (a Beta(1/2, 20) mixture for each rate) is a probability on the
whole sequence, so Q_t / P_theta,t is a martingale under every theta, and E_t
is below it. Ville's inequality then bounds the chance that E *ever* reaches
1/alpha under H0 by alpha: the judge may stop the first time it does, poll as
often as it likes, and see data in batches of any size. No normal
approximation is involved, so it holds with 3 requests as with 3 million.
The price is the mixture's regret, about 0.5 ln(n) per rate, which is why
a decision needs a few dozen failures' worth of evidence, not a few. The
prior (mean 2.4%) puts its weight where error rates and the share of slow
requests live; it changes how fast a verdict comes, never its validity
(benchmarks/analysis/run.py at commit 315f92c, before the stable's record
became the prior: b = 20 decided a +5-point regression in 6 s median, and
8 s with PRIOR edited to Jeffreys' Beta(1/2, 1/2) for that one run).

The model: each request is bad independently with a fixed rate per revision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRIOR = (0.5, 20.0)  # Beta(a, b) over each rate
# The stable revision served before the analysis began: its rate then makes its prior,
# worth at most this many requests (a rate drifts; a prior of millions would not follow).
HISTORY_CAP = 10_000.0
_ITERATIONS = 60  # bisection steps for the constrained maximum: 2^-60 of the unit interval


@dataclass(frozen=True)
class Tally:
    """n trials of which k were bad. Counts may be fractional (interpolated latency buckets)."""

    n: float
    k: float

    def __post_init__(self) -> None:
        if not 0 <= self.k <= self.n:
            raise ValueError(f"a tally needs 0 <= bad <= trials, got {self.k} of {self.n}")

    @property
    def rate(self) -> float | None:
        return self.k / self.n if self.n else None


def log_mixture(t: Tally, prior: tuple[float, float] = PRIOR) -> float:
    """ln of the Beta-mixture probability of the sequence (no binomial coefficient)."""
    a, b = prior
    return (math.lgamma(t.k + a) + math.lgamma(t.n - t.k + b) - math.lgamma(t.n + a + b)
            - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)))


def prior_from(history: Tally | None, cap: float = HISTORY_CAP) -> tuple[float, float]:
    """PRIOR plus what was seen before the analysis began (at most `cap` trials' worth).

    Any prior fixed before the data it weighs keeps E valid; one near the true rate
    only makes the mixture's regret smaller. For the stable revision, whose history is
    long, that regret (0.5 ln n nats for n requests) was the largest cost of a verdict.
    """
    if history is None or history.n <= 0:
        return PRIOR
    w = min(1.0, cap / history.n)
    return PRIOR[0] + w * history.k, PRIOR[1] + w * (history.n - history.k)


def log_likelihood(t: Tally, p: float) -> float:
    """ln P_p of the sequence, with 0 * ln 0 = 0."""
    out = 0.0
    if t.k:
        out += t.k * math.log(p) if p > 0 else -math.inf
    if t.n - t.k:
        out += (t.n - t.k) * math.log1p(-p) if p < 1 else -math.inf
    return out


# --- one rate against a fixed one -------------------------------------------

def above(t: Tally, p0: float) -> float:
    """ln E against H0: rate <= p0 (large: the rate is above p0)."""
    mle = t.k / t.n if t.n else 0.0
    return log_mixture(t) - log_likelihood(t, min(mle, p0))


def below(t: Tally, p0: float) -> float:
    """ln E against H0: rate >= p0 (large: the rate is below p0)."""
    mle = t.k / t.n if t.n else 1.0
    return log_mixture(t) - log_likelihood(t, max(mle, p0))


# --- one rate against another, with an additive tolerance ---------------------

def worse(canary: Tally, stable: Tally, tolerance: float,
          stable_prior: tuple[float, float] = PRIOR) -> float:
    """ln E against H0: canary's rate <= stable's + tolerance (large: the canary is worse)."""
    return _two(canary, stable, tolerance, lambda pc, ps: pc <= ps + tolerance, stable_prior)


def better(canary: Tally, stable: Tally, tolerance: float,
           stable_prior: tuple[float, float] = PRIOR) -> float:
    """ln E against H0: canary's rate >= stable's + tolerance (large: the canary is within it)."""
    return _two(canary, stable, tolerance, lambda pc, ps: pc >= ps + tolerance, stable_prior)


def _two(c: Tally, s: Tally, d: float, in_null, stable_prior: tuple[float, float]) -> float:
    numerator = log_mixture(c) + log_mixture(s, stable_prior)
    pc, ps = c.rate, s.rate
    if pc is None or ps is None or in_null(pc, ps):
        # The unconstrained maximum lies in H0 (or a side has no data): E <= 1.
        pc = pc if pc is not None else min(max((ps or 0.0) + d, 0.0), 1.0)
        ps = ps if ps is not None else min(max(pc - d, 0.0), 1.0)
        return numerator - log_likelihood(c, pc) - log_likelihood(s, ps)
    # The joint log-likelihood is concave, so the null's maximum lies on its
    # boundary pc = ps + d: one concave function of ps, maximal where its slope is 0.
    lo, hi = max(0.0, -d), min(1.0, 1.0 - d)
    for _ in range(_ITERATIONS):
        mid = (lo + hi) / 2
        if _slope(c, s, d, mid) > 0:
            lo = mid
        else:
            hi = mid
    p = (lo + hi) / 2
    return numerator - log_likelihood(c, p + d) - log_likelihood(s, p)


def _slope(c: Tally, s: Tally, d: float, p: float) -> float:
    """d/dp of ln P_{p+d}(canary) + ln P_p(stable), inside the open interval."""
    q = p + d
    return ((c.k / q if c.k else 0.0) - ((c.n - c.k) / (1 - q) if c.n - c.k else 0.0)
            + (s.k / p if s.k else 0.0) - ((s.n - s.k) / (1 - p) if s.n - s.k else 0.0))


def threshold(alpha: float) -> float:
    """The ln E at which to reject with error probability at most alpha: ln(1/alpha)."""
    if not 0 < alpha < 1:
        raise ValueError(f"an error probability must lie strictly between 0 and 1, got {alpha}")
    return math.log(1 / alpha)
