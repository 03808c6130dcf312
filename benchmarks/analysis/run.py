"""How fast, and how safely, analysis aborts a bad canary: zerodown's sequential judge next
to a fixed-interval threshold check of Flagger's shape (interval 60 s, 5 failed checks).

    .venv/bin/python benchmarks/analysis/run.py [--runs 30] [--aa-runs 200] [--seed 1]

Traffic is simulated (zerodown/analysis/simulate.py) on a FakeClock and goes
through the same Judge code as a deployment: 500 req/s, the canary at 10%.
Latencies are drawn from the histogram the real example app showed behind
the real proxy (measured.json, made by measure.py); the stable fails
--baseline-error of requests (the example app itself fails none). The stable
has served 5 minutes before the canary takes traffic. Regressions: the canary
fails 5 or 2 more points of requests, or is 50% slower. A/A: the canary is
the stable's twin; any abort is a false alarm. A/A drifting: the twins' latency moves
together with the load, 1x / 1.6x / 2.5x in turn every 20 s from the canary's start
(real traffic is not stationary; a stable p99 fixed from its past failed such twins).

Per scenario: how often it was aborted, the time from the canary taking
traffic to the abort (median and 90th percentile), and how many user
requests failed on the canary before it (median).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from zerodown.analysis.judge import Judge  # noqa: E402
from zerodown.analysis.simulate import Behaviour, SimulatedSource  # noqa: E402
from zerodown.fakes import FakeClock  # noqa: E402
from zerodown.plan import Analyze  # noqa: E402
from zerodown.strategies.options import AnalysisConfig  # noqa: E402

MEASURED = Path(__file__).with_name("measured.json")
RPS, CANARY_WEIGHT, HISTORY = 500, 10, 300.0
THRESHOLDS = dict(max_success_rate_drop=0.01, max_latency_ratio=1.2)
METHODS = {
    "zerodown sequential": AnalysisConfig(**THRESHOLDS, max_false_alarm=0.01, max_duration=300),
    "fixed 60s x5 (Flagger)": AnalysisConfig(**THRESHOLDS, method="fixed", interval=60, count=10,
                                             failure_limit=4),
}


def latency() -> tuple[float, ...]:
    return tuple(json.loads(MEASURED.read_text())["counts"])


DRIFT = (1.0, 1.6, 2.5)  # both sides' slowdown, in turn, every DRIFT_EVERY seconds
DRIFT_EVERY = 20.0


def one(cfg: AnalysisConfig, canary: Behaviour, stable: Behaviour, seed: int,
        drift: bool = False):
    """(verdict, seconds from the canary's first request to the verdict, canary failures)."""
    clock = FakeClock(limit=HISTORY + 3600)
    source = SimulatedSource(clock, {"r1": stable}, rps=RPS, seed=seed)
    clock.advance(HISTORY)
    source.set("r2", canary)  # the canary takes traffic now
    source.set("r1", Behaviour(100 - canary.weight, stable.error_rate, stable.latency))
    began = clock.now()
    phase = [0]

    def moved() -> None:  # the load moves both sides' latency together
        now = int((clock.now() - began) // DRIFT_EVERY) % len(DRIFT)
        if drift and now != phase[0]:
            phase[0] = now
            for name, b in (("r1", source.revisions["r1"]), ("r2", source.revisions["r2"])):
                source.set(name, Behaviour(b.weight, b.error_rate, b.latency, DRIFT[now]))
    verdict, _ = Judge(lambda _: source, clock)(Analyze(2, asdict(cfg), 1), None, moved)
    return verdict, clock.now() - began, source.failures("r2")


def scenario(cfg, canary, stable, runs, seed, drift=False):
    return [one(cfg, canary, stable, seed + i, drift) for i in range(runs)]


def row(method: str, name: str, results) -> str:
    aborted = [(t, f) for v, t, f in results if v == "fail"]
    times = sorted(t for t, _ in aborted)
    passed = [t for v, t, _ in results if v == "pass"]
    if not times:
        tail = f"{'-':>8} {'-':>8} {'-':>9}"
    else:
        tail = (f"{statistics.median(times):7.0f}s {times[int(0.9 * (len(times) - 1))]:7.0f}s "
                f"{statistics.median(f for _, f in aborted):9.0f}")
    other = (f"{len(passed)} passed (median {statistics.median(passed):.0f}s)" if passed else "")
    inconclusive = sum(v == "inconclusive" for v, _, _ in results)
    if inconclusive:
        other += f"{', ' if other else ''}{inconclusive} inconclusive"
    return (f"{method:24} {name:14} {len(aborted):4}/{len(results):<4} {tail}  {other}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30, help="runs per regression (default 30)")
    p.add_argument("--aa-runs", type=int, default=200, help="A/A runs (default 200)")
    p.add_argument("--drift-runs", type=int, default=50, help="drifting A/A runs (default 50)")
    p.add_argument("--baseline-error", type=float, default=0.005,
                   help="share of the stable's requests that fail (default 0.005)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    began = time.monotonic()
    lat, base = latency(), args.baseline_error
    stable = Behaviour(100 - CANARY_WEIGHT, base, lat)
    regressions = {
        "+5 pt errors": Behaviour(CANARY_WEIGHT, base + 0.05, lat),
        "+2 pt errors": Behaviour(CANARY_WEIGHT, base + 0.02, lat),
        "+50% latency": Behaviour(CANARY_WEIGHT, base, lat, slowdown=1.5),
    }
    print(f"{RPS} req/s, canary {CANARY_WEIGHT}%, stable failing {100 * base:g}%, thresholds "
          f"{THRESHOLDS}; simulated traffic, fake clock, the same Judge as deployments\n")
    print(f"{'method':24} {'scenario':14} {'aborted':>9} {'median':>8} {'p90':>8} "
          f"{'failed on':>9}")
    print(f"{'':24} {'':14} {'':9} {'to abort':>8} {'to abort':>8} {'canary':>9}")
    for method, cfg in METHODS.items():
        for name, canary in regressions.items():
            print(row(method, name, scenario(cfg, canary, stable, args.runs, args.seed)),
                  flush=True)
        twin = Behaviour(CANARY_WEIGHT, base, lat)
        aa = scenario(cfg, twin, stable, args.aa_runs, args.seed + 10_000)
        false = sum(v == "fail" for v, _, _ in aa)
        print(row(method, "A/A", aa) + f"  -> false aborts {100 * false / len(aa):.1f}%",
              flush=True)
        drifting = scenario(cfg, twin, stable, args.drift_runs, args.seed + 20_000, drift=True)
        false = sum(v == "fail" for v, _, _ in drifting)
        print(row(method, "A/A drifting", drifting)
              + f"  -> false aborts {100 * false / len(drifting):.1f}%", flush=True)
    print(f"\n({time.monotonic() - began:.0f}s; latency from {MEASURED.name}: "
          f"{json.loads(MEASURED.read_text())['made_by']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
