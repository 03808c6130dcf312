"""Request counters and latency histograms, cheap enough for the hot path.

One `Stats` per backend and one per revision. Recording a response is a few
list increments; percentiles and the Prometheus text are computed only when
somebody asks (admin API), never per request. The histogram's shape (BOUNDS,
quantile) is zerodown/latency.py, shared with the analysis.
"""

from __future__ import annotations

from typing import Final

from zerodown import latency
from zerodown.latency import quantile

# A C static in the compiled module (a Final bound from another module), so the hot
# path's bucket search does not look BOUNDS up in zerodown.latency on every request.
BOUNDS: Final[tuple[float, ...]] = latency.BOUNDS
CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")


class Stats:
    """Counters of one backend or revision. `record` is the hot-path entry."""

    __slots__ = ("requests", "by_class", "buckets", "latency_sum", "in_flight",
                 "errors", "retries", "abandoned", "saved", "cut")

    def __init__(self) -> None:
        self.requests = 0
        self.by_class = [0, 0, 0, 0, 0, 0]  # index = status // 100 (0 unused)
        self.buckets = latency.empty()  # last one is +Inf
        self.latency_sum = 0.0
        self.in_flight = 0
        self.errors = 0  # responses the proxy generated (502/503/504) for this target
        self.retries = 0
        self.abandoned = 0  # requests whose client left before any response byte came
        self.saved = 0  # requests answered by a backend after one or more retries
        self.cut = 0  # responses cut off mid-way (the backend closed, or a drain deadline)

    def record(self, status: int, seconds: float) -> None:
        self.requests += 1
        self.by_class[status // 100 if 100 <= status < 600 else 5] += 1
        i = 0  # bisect_left(BOUNDS, seconds), from the bottom: a few steps for most responses
        for bound in BOUNDS:  # (a compiled loop, where a call to bisect costs ~300 instructions)
            if seconds <= bound:
                break
            i += 1
        self.buckets[i] += 1
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
        self.abandoned += other.abandoned
        self.saved += other.saved
        self.cut += other.cut

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
            "abandoned": self.abandoned,
            "saved": self.saved,
            "cut": self.cut,
            "in_flight": self.in_flight,
            "latency_ms": {"p50": ms(self.percentile(0.5)), "p90": ms(self.percentile(0.9)),
                           "p99": ms(self.percentile(0.99)),
                           "mean": ms(self.latency_sum / self.requests) if self.requests else None},
            "buckets": {"bounds_s": list(BOUNDS), "counts": list(self.buckets)},
        }


def _labels(**kv: str) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in kv.items()) + "}"


def prometheus_text(service: str, revisions: dict[str, Stats],
                    backends: dict[str, tuple[str, Stats]]) -> str:
    """Prometheus exposition format (text 0.0.4) of every revision and backend."""
    return prometheus_services([(service, revisions, backends)])


def prometheus_services(services: list[tuple[str, dict[str, Stats],
                                             dict[str, tuple[str, Stats]]]]) -> str:
    """prometheus_text of several services sharing a proxy: one family each, every
    service's series in it (a family may be declared only once)."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    series = [(_labels(service=service, revision=r), s)
              for service, revisions, _ in services for r, s in revisions.items()]
    bseries = [(_labels(service=service, revision=r, backend=b), s)
               for service, _, backends in services for b, (r, s) in backends.items()]
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
