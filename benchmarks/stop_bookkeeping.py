"""What a stop's intent costs a deployment (engine/stopping.py): each old instance is
written `stopping` before its stop is sent and `stopped` once confirmed, one row write
more per instance than when the Stop step wrote `stopped` at once. A rolling deployment
of N instances (max_surge 10%) on the fake runtime and router, store with
synchronous=OFF (the disk is not measured): SQLite row changes, commits, and the
engine's CPU time (process_time: a loaded machine moves wall time several-fold), with
stops at once and in the background (`stops_slowly`, as the local and ssh runtimes).

    .venv/bin/python benchmarks/stop_bookkeeping.py                 # 1000 instances
    .venv/bin/python benchmarks/stop_bookkeeping.py --sizes 1000,3000 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.deploy_bench import config_text  # noqa: E402
from zerodown.config import parse_config  # noqa: E402
from zerodown.engine.runner import Engine  # noqa: E402
from zerodown.engine.store import Store  # noqa: E402
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime  # noqa: E402


class BackgroundStops(FakeRuntime):
    stops_slowly = True  # each stop in a thread of its own, awaited later


def rolling(n: int, runtime: type[FakeRuntime]) -> tuple[int, int, float]:
    """(row changes, commits, CPU seconds) of the second deployment of n instances."""
    with tempfile.TemporaryDirectory(prefix="zd-stops-") as tmp:
        cfg = parse_config(config_text(8080, n, max(1, n // 10), interval="1s"),
                           file=str(Path(tmp) / "zerodown.yaml"))
        store = Store(str(Path(tmp) / "zerodown.db"), synchronous="OFF")
        commits = [0]
        tx = store._tx

        def counted(*args, **kw):
            commits[0] += 1
            return tx(*args, **kw)
        store._tx = counted  # type: ignore[method-assign]
        engine = Engine(store, runtime(), FakeRouter(), FakeClock(), cfg)
        engine.run(engine.deploy("v1"))
        changes, before, began = store.db.total_changes, commits[0], time.process_time()
        engine.run(engine.deploy("v2"))
        cpu = time.process_time() - began
        out = (store.db.total_changes - changes, commits[0] - before, cpu)
        store.close()
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000")
    p.add_argument("--rounds", type=int, default=5, help="deployments timed; min and median")
    args = p.parse_args()
    for name, runtime in (("at once", FakeRuntime), ("in the background", BackgroundStops)):
        for n in (int(s) for s in args.sizes.split(",")):
            runs = [rolling(n, runtime) for _ in range(args.rounds)]
            changes, commits = runs[0][0], runs[0][1]
            cpu = [r[2] for r in runs]
            print(f"stops {name:17} {n:>6} instances: {changes} row changes "
                  f"({changes / n:.2f} per instance), {commits} commits, CPU min "
                  f"{min(cpu):.2f} s, median {statistics.median(cpu):.2f} s")


if __name__ == "__main__":
    main()
