"""Simulated traffic as a MetricSource, for tests and benchmarks on a FakeClock.

    clock = FakeClock()
    source = SimulatedSource(clock, rps=500, seed=1, revisions={
        "r1": Behaviour(weight=90, error_rate=0.005, latency=MEASURED),
        "r2": Behaviour(weight=10, error_rate=0.055, latency=MEASURED, slowdown=1.5)})
    judge = Judge(lambda cfg: source, clock)

Requests are made lazily, up to clock.now(), whenever counts() is read: `rps`
a second, split by weight; each fails with its revision's error rate and
takes a latency drawn from a histogram (bucket counts over BOUNDS, e.g.
measured through the real proxy), uniformly within its bucket, times `slowdown`.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field

from zerodown import latency
from zerodown.analysis.evidence import Counts
from zerodown.latency import BOUNDS


@dataclass(frozen=True)
class Behaviour:
    weight: float
    error_rate: float = 0.0
    latency: tuple[float, ...] = (1.0,)  # relative frequency per bucket of BOUNDS (+Inf last)
    slowdown: float = 1.0


@dataclass
class _Made:
    requests: int = 0
    failures: int = 0
    buckets: list[int] = field(default_factory=latency.empty)


class SimulatedSource:
    def __init__(self, clock, revisions: dict[str, Behaviour], rps: float = 500.0,
                 seed: int = 0):
        self.clock, self.revisions, self.rps = clock, dict(revisions), rps
        self.rng = random.Random(seed)
        self.made = {name: _Made() for name in revisions}
        self._at, self._owed = clock.now(), {name: 0.0 for name in revisions}

    def counts(self, revision: str) -> Counts | None:
        self._advance()
        made = self.made.get(revision)
        if made is None:
            return None
        return Counts(made.requests, made.failures, tuple(made.buckets))

    def query(self, revision: str, metric: str, window: float) -> float | None:
        return None

    def set(self, revision: str, behaviour: Behaviour) -> None:
        """Change a revision's behaviour from now on (traffic made so far stays)."""
        self._advance()
        self.revisions[revision] = behaviour
        self.made.setdefault(revision, _Made())
        self._owed.setdefault(revision, 0.0)

    def failures(self, revision: str) -> int:
        self._advance()
        return self.made[revision].failures

    def _advance(self) -> None:
        now = self.clock.now()
        elapsed, self._at = now - self._at, now
        if elapsed <= 0:
            return
        total = sum(b.weight for b in self.revisions.values()) or 1.0
        for name, b in self.revisions.items():
            self._owed[name] += self.rps * elapsed * b.weight / total
            n = int(self._owed[name])
            self._owed[name] -= n
            if n:
                self._make(name, b, n)

    def _make(self, name: str, b: Behaviour, n: int) -> None:
        made, rng = self.made[name], self.rng
        made.requests += n
        made.failures += _bernoulli(rng, n, b.error_rate)
        buckets = made.buckets
        picks = rng.choices(range(len(b.latency)), weights=b.latency, k=n)
        if b.slowdown == 1.0:
            for i, count in Counter(picks).items():
                buckets[i] += count
            return
        for i in picks:  # a latency within its bucket, slowed down, into its new bucket
            lo = BOUNDS[i - 1] if i > 0 else 0.0
            hi = BOUNDS[i] if i < len(BOUNDS) else BOUNDS[-1] * 2
            buckets[latency.bucket((lo + (hi - lo) * rng.random()) * b.slowdown)] += 1


def _bernoulli(rng: random.Random, n: int, p: float) -> int:
    """How many of n trials with chance p succeed: by geometric gaps, so O(n p), not O(n)."""
    if p <= 0:
        return 0
    if p >= 1:
        return n
    hits, at, log_q = 0, -1, math.log1p(-p)
    while True:
        at += 1 + int(math.log(1.0 - rng.random()) / log_q)
        if at >= n:
            return hits
        hits += 1
