"""What a load run counts: every request sent and how it ended (LoadResult), and the
recorder that adds each outcome to it."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

LATENCY_SAMPLE = 100_000
FAILURE_LOG = 50
MISSING = "(missing)"


@dataclass
class LoadResult:
    """Every request sent and how it ended."""

    sent: int = 0
    ok: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    latencies_ms: list[float] = field(default_factory=list)   # bounded reservoir
    by_header: dict[str, dict[str, int]] = field(default_factory=dict)
    duration_s: float = 0.0
    max_latency_ms: float = 0.0
    failures: list[tuple[float, str]] = field(default_factory=list)  # first few (t, what)
    # A live gauge, 0 once the run ends: requests in flight now that a cut connection would
    # fail, because no retry is left for them (a retry itself, a first request on a new
    # connection, or any request without retry_idempotent_once). A test that cuts
    # connections on purpose waits for 0 to know that retrying clients lose nothing.
    unguarded: int = 0

    def failed(self) -> int:
        """Responses that were not 2xx/3xx, plus requests that got no response."""
        bad = sum(n for code, n in self.statuses.items() if not 200 <= code < 400)
        return bad + sum(self.errors.values())

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100) of latency in ms; 0.0 with no sample."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]

    def p50(self) -> float:
        return self.percentile(50)

    def p99(self) -> float:
        return self.percentile(99)

    def rps(self) -> float:
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {"sent": self.sent, "ok": self.ok, "failed": self.failed(),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "errors": dict(self.errors), "retried": self.retried,
                "by_header": self.by_header, "duration_s": round(self.duration_s, 3),
                "rps": round(self.rps(), 1), "p50_ms": round(self.p50(), 3),
                "p99_ms": round(self.p99(), 3),
                "max_ms": round(self.max_latency_ms, 3),
                "failures": [[round(t, 3), what] for t, what in self.failures]}

    def summary(self) -> str:
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        lines = [f"{self.sent} requests in {self.duration_s:.2f}s "
                 f"({self.rps():.0f} req/s), statuses {statuses or '-'}",
                 f"latency p50 {self.p50():.2f} ms, p99 {self.p99():.2f} ms, "
                 f"max {self.max_latency_ms:.2f} ms"]
        if self.errors:
            lines.append("errors: " + ", ".join(f"{k}: {v}" for k, v in self.errors.items()))
        if self.retried:
            lines.append(f"retried once: {self.retried}")
        for name, values in self.by_header.items():
            lines.append(f"{name}: " + ", ".join(f"{k}: {v}" for k, v in sorted(values.items())))
        lines.append(f"{self.sent - self.failed()} passed, {self.failed()} failed")
        return "\n".join(lines)


class Recorder:
    """Adds outcomes to a LoadResult; one per run, used from one event loop."""

    def __init__(self, result: LoadResult, count_header: str | None):
        self.result = result
        self.count_header = count_header
        self.counts = result.by_header.setdefault(count_header, {}) if count_header else None
        self.seen = 0
        self.started = time.monotonic()

    def response(self, status: int, header_value: str | None, latency_ms: float):
        r = self.result
        r.sent += 1
        r.statuses[status] = r.statuses.get(status, 0) + 1
        if 200 <= status < 400:
            r.ok += 1
        else:
            self._log_failure(f"HTTP {status}")
        if self.counts is not None:
            key = header_value if header_value is not None else MISSING
            self.counts[key] = self.counts.get(key, 0) + 1
        self._sample(latency_ms)

    def error(self, kind: str):
        r = self.result
        r.sent += 1
        r.errors[kind] = r.errors.get(kind, 0) + 1
        self._log_failure(kind)

    def _log_failure(self, what: str):
        if len(self.result.failures) < FAILURE_LOG:
            self.result.failures.append((time.monotonic() - self.started, what))

    def _sample(self, latency_ms: float):
        r = self.result
        self.seen += 1
        if latency_ms > r.max_latency_ms:
            r.max_latency_ms = latency_ms
        if len(r.latencies_ms) < LATENCY_SAMPLE:
            r.latencies_ms.append(latency_ms)
        else:   # reservoir sampling keeps a uniform, bounded sample
            slot = random.randrange(self.seen)
            if slot < LATENCY_SAMPLE:
                r.latencies_ms[slot] = latency_ms
