"""Analysis end to end: the real proxy, real example apps, paced load, the deployment's Judge.

    .venv/bin/python benchmarks/analysis/e2e.py            # ~6 min: every scenario below
    .venv/bin/python benchmarks/analysis/e2e.py --only aa-latency --runs 20 --cap 30

One `zerodown proxy`, two stable instances of examples/app (revision r1) and
`rps` requests a second from zerodown.loadgen. Canaries are judged in batches of
`--parallel`: each is a fresh app process of its own revision at 10% of the
traffic (50 req/s at 500 req/s), all judged at once against r1 by their own
Judge (ProxySource on the proxy's /stats, the system clock, a poll a second):
the same code a deployment runs. A run ends at the verdict or after `--cap`
seconds (undecided). Scenarios:

    bad-5pt      the canary fails 5% of requests (APP_ERROR_RATE), the stable none:
                 time from the canary's first request to the abort, and the canary's
                 failed requests by then (median, p90)
    aa-errors    an identical canary, max_success_rate_drop 0.01: false aborts, and
                 the time to pass (to promote a good canary)
    aa-latency   an identical canary, max_latency_ratio 1.2: false aborts

--windows N: instead, one identical canary for N seconds, and each second's p99 of
the canary and of the stable side by side (how much latency moves with the load).

Thresholds as in run.py (the simulation): max_success_rate_drop 0.01,
max_latency_ratio 1.2, max_false_alarm 0.01.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.procs import start_app  # noqa: E402
from tests.support.proxy import ProxyProcess, table_of  # noqa: E402
from zerodown.analysis.judge import Judge  # noqa: E402
from zerodown.analysis.sources import ProxySource  # noqa: E402
from zerodown.latency import BOUNDS, quantile  # noqa: E402
from zerodown.loadgen import LoadInBackground  # noqa: E402
from zerodown.plan import Analyze  # noqa: E402
from zerodown.engine.runner import SystemClock  # noqa: E402
from zerodown.strategies.options import AnalysisConfig  # noqa: E402

WEIGHT = 10  # percent of the traffic per canary
SCENARIOS = {  # name: (the canary app's environment, the analysis)
    "bad-5pt": ({"APP_ERROR_RATE": "0.05"}, dict(max_success_rate_drop=0.01)),
    "aa-errors": ({}, dict(max_success_rate_drop=0.01)),
    "aa-latency": ({}, dict(max_latency_ratio=1.2)),
}


class Bench:
    def __init__(self, workdir: Path, rps: float):
        self.proxy = ProxyProcess(workdir)
        self.proxy.start()
        self.stable = [start_app("v1"), start_app("v1")]
        self.version = 1
        self.revision = 1
        self.apply(())
        self.load = LoadInBackground(self.proxy.url + "/", connections=16, rate=rps,
                                     max_duration=3600).start()
        self.load.wait_for_responses(int(rps * 3))  # the stable has served a while

    def apply(self, canaries) -> None:
        self.version += 1
        share = 100 - WEIGHT * len(canaries)
        self.proxy.apply(table_of(self.version, ("r1", share, self.stable),
                                  *((f"r{n}", WEIGHT, [app]) for n, app in canaries)))

    def batch(self, env: dict, spec: dict, count: int, cap: float) -> list[tuple]:
        """`count` canaries at once: (verdict, seconds, the canary's failed requests) each."""
        apps = [start_app("v1", env=env) for _ in range(count)]
        canaries = [(self.revision + 1 + i, app) for i, app in enumerate(apps)]
        self.revision += count
        results: list[tuple] = [None] * count  # type: ignore[list-item]
        cfg = asdict(AnalysisConfig(**spec, max_false_alarm=0.01, max_duration=cap))
        source = ProxySource(self.proxy)
        try:
            began = time.monotonic()
            self.apply(canaries)

            def judge(i: int, n: int) -> None:
                verdict, _ = Judge(lambda _: source, SystemClock())(Analyze(n, cfg, 1))
                took = time.monotonic() - began
                failed = self.proxy.stats()["revisions"].get(f"r{n}", {}).get(
                    "responses", {}).get("5xx", 0)
                results[i] = (verdict, took, failed)
            threads = [threading.Thread(target=judge, args=(i, n)) for i, (n, _) in
                       enumerate(canaries)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            self.apply(())
            for app in apps:
                app.cleanup()
        return results

    def windows(self, seconds: int) -> None:
        """Each second's p99 of a fresh identical canary and of the stable."""
        app = start_app("v1")
        self.revision += 1
        name = f"r{self.revision}"
        try:
            self.apply([(self.revision, app)])
            last = {n: self.proxy.stats()["revisions"].get(n, {}).get("buckets", {}).get(
                "counts", [0.0] * (len(BOUNDS) + 1)) for n in ("r1", name)}
            for second in range(1, seconds + 1):
                time.sleep(1)
                revisions = self.proxy.stats()["revisions"]
                cells = []
                for n in (name, "r1"):
                    now = revisions.get(n, {}).get("buckets", {}).get("counts", last[n])
                    delta = [a - b for a, b in zip(now, last[n])]
                    last[n] = now
                    p99 = quantile(delta, 0.99)
                    cells.append(f"{sum(delta):5.0f} req p99 {1000 * (p99 or 0):6.2f} ms")
                print(f"{second:3}s  canary {cells[0]}   stable {cells[1]}", flush=True)
        finally:
            self.apply(())
            app.cleanup()

    def close(self) -> None:
        for app in self.stable:
            app.cleanup()
        self.proxy.cleanup()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))]


def report(name: str, results: list[tuple], cap: float) -> str:
    fails = [(t, f) for v, t, f in results if v == "fail"]
    passes = [t for v, t, _ in results if v == "pass"]
    undecided = sum(v not in ("fail", "pass") for v, _, _ in results)
    out = f"{name:11} {len(fails):3}/{len(results):<3} aborted"
    if fails:
        times, failed = [t for t, _ in fails], [f for _, f in fails]
        out += (f", to abort {statistics.median(times):.1f}s median / {pct(times, 0.9):.1f}s p90"
                f", failed on the canary {statistics.median(failed):.0f} median / "
                f"{pct(failed, 0.9):.0f} p90")
    if passes:
        out += (f"; {len(passes)} passed, {statistics.median(passes):.1f}s median / "
                f"{pct(passes, 0.9):.1f}s p90")
    if undecided:
        out += f"; {undecided} undecided at {cap:g}s"
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    p.add_argument("--runs", type=int, default=20, help="runs per scenario (default 20)")
    p.add_argument("--parallel", type=int, default=4, help="canaries judged at once (default 4)")
    p.add_argument("--cap", type=float, default=30, help="seconds before a run is undecided")
    p.add_argument("--rps", type=float, default=500)
    p.add_argument("--windows", type=int, default=0, help="per-second p99s for N seconds")
    args = p.parse_args()
    began = time.monotonic()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"{args.rps:g} req/s, each canary {WEIGHT}% ({args.rps * WEIGHT / 100:g} req/s), "
          f"{args.parallel} at once, runs capped at {args.cap:g}s; load average {load}\n",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="zd-analysis-e2e-") as tmp:
        bench = Bench(Path(tmp), args.rps)
        try:
            if args.windows:
                bench.windows(args.windows)
            for name in ([] if args.windows else args.only.split(",")):
                env, spec = SCENARIOS[name]
                results: list[tuple] = []
                while len(results) < args.runs:
                    count = min(args.parallel, args.runs - len(results))
                    results += bench.batch(env, spec, count, args.cap)
                print(report(name, results, args.cap), flush=True)
        finally:
            summary = bench.load.stop()
            bench.close()
        print(f"\nload: {summary.summary()}")
    print(f"({time.monotonic() - began:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
