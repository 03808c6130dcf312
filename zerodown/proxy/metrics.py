"""Request counters and latency histograms, cheap enough for the hot path.

One `Stats` per backend and one per revision. Recording a response is a few
list increments; percentiles and the Prometheus text are computed only when
somebody asks (admin API), never per request.
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
_bisect_left: Final = bisect.bisect_left  # Final: a C static in the compiled module
CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")


class Stats:
    """Counters of one backend or revision. `record` is the hot-path entry."""

    __slots__ = ("requests", "by_class", "buckets", "latency_sum", "in_flight",
                 "errors", "retries")

    def __init__(self) -> None:
        self.requests = 0
        self.by_class = [0, 0, 0, 0, 0, 0]  # index = status // 100 (0 unused)
        self.buckets = [0] * (len(BOUNDS) + 1)  # last one is +Inf
        self.latency_sum = 0.0
        self.in_flight = 0
        self.errors = 0  # responses the proxy generated (502/503/504) for this target
        self.retries = 0

    def record(self, status: int, seconds: float) -> None:
        self.requests += 1
        self.by_class[status // 100 if 100 <= status < 600 else 5] += 1
        self.buckets[_bisect_left(BOUNDS, seconds)] += 1
        self.latency_sum += seconds

    def absorb(self, other: Stats) -> None:
        """Add `other`'s counts to these (a departed backend's history joins its revision)."""
        self.requests += other.requests
        self.by_class = [a + b for a, b in zip(self.by_class, other.by_class)]
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets)]
        self.latency_sum += other.latency_sum
        self.in_flight += other.in_flight
        self.errors += other.errors
        self.retries += other.retries

    def percentile(self, q: float) -> float | None:
        """Estimated q-quantile (0..1) in seconds, interpolated within a bucket."""
        return quantile(self.buckets, q)

    def to_dict(self) -> dict:
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v * 1000, 3)
        return {
            "requests": self.requests,
            "responses": dict(zip(CLASSES, self.by_class[1:])),
            "errors": self.errors,
            "retries": self.retries,
            "in_flight": self.in_flight,
            "latency_ms": {"p50": ms(self.percentile(0.5)), "p90": ms(self.percentile(0.9)),
                           "p99": ms(self.percentile(0.99)),
                           "mean": ms(self.latency_sum / self.requests) if self.requests else None},
            "buckets": {"bounds_s": list(BOUNDS), "counts": list(self.buckets)},
        }


def quantile(counts: Sequence[float], q: float,
             bounds: Sequence[float] = BOUNDS) -> float | None:
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


def _labels(**kv: str) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in kv.items()) + "}"


def prometheus_text(service: str, revisions: dict[str, Stats],
                    backends: dict[str, tuple[str, Stats]]) -> str:
    """Prometheus exposition format (text 0.0.4) of every revision and backend."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    series = [(_labels(service=service, revision=r), s) for r, s in revisions.items()]
    bseries = [(_labels(service=service, revision=r, backend=b), s)
               for b, (r, s) in backends.items()]
    family("zerodown_requests_total", "counter", "Requests answered, by revision.")
    out += [f"zerodown_requests_total{lab} {s.requests}" for lab, s in series]
    family("zerodown_responses_total", "counter", "Responses by status class and revision.")
    for lab, s in series:
        for cls, n in zip(CLASSES, s.by_class[1:]):
            out.append(f'zerodown_responses_total{lab[:-1]},code="{cls}"}} {n}')
    family("zerodown_proxy_errors_total", "counter", "Responses the proxy generated (502/503/504).")
    out += [f"zerodown_proxy_errors_total{lab} {s.errors}" for lab, s in series]
    family("zerodown_in_flight", "gauge", "Requests in flight, by revision.")
    out += [f"zerodown_in_flight{lab} {s.in_flight}" for lab, s in series]
    family("zerodown_request_duration_seconds", "histogram", "Time to the last response byte.")
    for lab, s in series:
        cum = 0
        for bound, n in zip(BOUNDS + (float("inf"),), s.buckets):
            cum += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'zerodown_request_duration_seconds_bucket{lab[:-1]},le="{le}"}} {cum}')
        out.append(f"zerodown_request_duration_seconds_sum{lab} {s.latency_sum}")
        out.append(f"zerodown_request_duration_seconds_count{lab} {cum}")
    family("zerodown_backend_requests_total", "counter", "Requests answered, by backend.")
    out += [f"zerodown_backend_requests_total{lab} {s.requests}" for lab, s in bseries]
    family("zerodown_backend_in_flight", "gauge", "Requests in flight, by backend.")
    out += [f"zerodown_backend_in_flight{lab} {s.in_flight}" for lab, s in bseries]
    return "\n".join(out) + "\n"
