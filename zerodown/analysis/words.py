"""An analysis verdict in plain words: "r7 fails 5.2% of requests vs stable 0.5% (limit
+1 pt)". Pure, over the facts each check records (checks.py); the statistics behind the
verdict (e-values and their bound) stay in the measurement events (`history -v`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Facts:
    kind: str  # "errors" | "latency" | "diffs" (a shadow's differing answers)
    canary: float | None  # errors: the share failed (0..1); latency: p99 in seconds
    stable: float | None  # the same of the stable revision (None: not compared)
    limit: float  # errors: a share, or points above stable; latency: seconds, or x stable
    relative: bool  # the limit is against the stable revision
    requests: float  # the canary's requests counted


def _pct(share: float | None) -> str:
    if share is None:
        return "n/a"
    value = 100 * share
    return f"{value:.1f}%" if value >= 0.1 or value == 0 else f"{value:.2g}%"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.3g} ms"


def fact_words(revision: str, f: Facts) -> str:
    if f.kind == "diffs":
        return (f"{revision} answers {_pct(f.canary)} of copied requests unlike stable "
                f"(limit {_pct(f.limit)})")
    if f.kind == "errors":
        head = f"{revision} fails {_pct(f.canary)} of requests"
        if f.relative:
            return f"{head} vs stable {_pct(f.stable)} (limit +{100 * f.limit:.3g} pt)"
        return f"{head} (limit {_pct(f.limit)})"
    head = f"{revision} answers 99% of requests within {_ms(f.canary)}"
    if f.relative:
        return f"{head} vs stable {_ms(f.stable)} (limit {f.limit:g}x stable)"
    return f"{head} (limit {_ms(f.limit)})"


def verdict_words(revision: str, verdict: str, facts: Sequence[Facts], requests: float) -> str:
    """`canary r7 fails 5.2% of requests vs stable 0.5% (limit +1 pt): failed after 412
    requests`; every fact for a pass or an undecided verdict, the failing ones for a fail."""
    said = "; ".join(fact_words(revision, f) for f in facts) or f"{revision}: no check"
    outcome = {"fail": "failed", "pass": "passed"}.get(verdict, "undecided")
    counted = "compared copies" if facts and all(f.kind == "diffs" for f in facts) else "requests"
    return f"{said}: {outcome} after {requests:.0f} {counted}"
