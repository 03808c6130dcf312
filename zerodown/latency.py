"""The latency histogram: one shape shared by whoever measures latency and whoever judges it.

The embedded proxy fills one per backend and revision (proxy/metrics.py), the
HAProxy/nginx stats and the Prometheus source convert theirs to it, and the
analysis reads it (analysis/evidence.py). A histogram is a sequence of counts:
counts[i] latencies of at most BOUNDS[i] seconds (and above BOUNDS[i - 1]), the
last count above them all (+Inf), so it has len(BOUNDS) + 1 entries.

Plain typed Python: the compiled proxy (proxy/accel.py) binds BOUNDS into a
C static of its own metrics module, so this file needs no compiling.
"""

from __future__ import annotations

import bisect
from typing import Final, Sequence

# Latency bucket upper bounds in seconds: 1-2.5-5 per decade from 0.1 ms to
# 60 s, plus finer steps where web latencies live, so p99 estimates are sharp.
BOUNDS: Final[tuple[float, ...]] = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005,
    0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4,
    0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
)

Histogram = Sequence[float]  # counts per bucket of some bounds (BOUNDS unless said), +Inf last


def empty(bounds: Sequence[float] = BOUNDS) -> list[int]:
    """A histogram with nothing in it yet."""
    return [0] * (len(bounds) + 1)


def bucket(seconds: float, bounds: Sequence[float] = BOUNDS) -> int:
    """The index of the bucket a latency of `seconds` is counted in."""
    return bisect.bisect_left(bounds, seconds)


def quantile(counts: Histogram, q: float, bounds: Sequence[float] = BOUNDS) -> float | None:
    """The q-quantile (0..1) in seconds of a latency histogram (`counts[i]` below
    `bounds[i]`, the last one above them all), interpolated within a bucket; None if empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank, seen = q * total, 0.0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            lo = bounds[i - 1] if i > 0 else 0.0
            hi = bounds[i] if i < len(bounds) else bounds[-1]
            return lo + (hi - lo) * ((rank - seen) / n)
        seen += n
    return bounds[-1]
