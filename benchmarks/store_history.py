"""A deployment's own time in the controller as the service's history grows: the engine on
fakes (tests/support/engine_world.py: no processes, no network), the state store a real
SQLite file, N deployments of 3 instances before the ones timed, back to back (as the
daemon with several services or a CI pipeline). What grows with N is the store's work:
every past deployment leaves stopped instance rows, a revision and a finished deployment
behind. At each mark too: the store's WAL file (its size then, its largest so far) and
the longest any write waited for the write lock so far, beside a checkpoint (which may
hold it) and elsewhere.

    .venv/bin/python benchmarks/store_history.py [--upto 1000] [--timed 20]
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.engine_world import World, config  # noqa: E402
from zerodown.engine import wal_sync  # noqa: E402
from zerodown.engine.store import Store  # noqa: E402


class Waits:
    """Each write's wait for its lock (Store._begin_write, timed around it), and when the
    store's worker checkpointed (wal_sync.checkpoint): the longest wait beside one of
    those, and the longest elsewhere (the machine's scheduling, at the same load)."""

    def __init__(self):
        self.writes: list[tuple[float, float]] = []
        self.checkpoints: list[tuple[float, float]] = []
        Store._begin_write = self._timed(Store._begin_write, self.writes)
        wal_sync.checkpoint = self._timed(wal_sync.checkpoint, self.checkpoints)

    @staticmethod
    def _timed(call, spans: list):
        def timed(*args):
            began = time.perf_counter()
            try:
                return call(*args)
            finally:
                spans.append((began, time.perf_counter()))
        return timed

    def longest(self) -> str:
        beside, elsewhere, c = 0.0, 0.0, sorted(self.checkpoints)
        for began, ended in self.writes:
            i = bisect.bisect_left(c, (ended,))  # those begun before the write ended
            near = any(b < ended and e > began for b, e in c[max(0, i - 2):i])
            if near:
                beside = max(beside, ended - began)
            else:
                elsewhere = max(elsewhere, ended - began)
        return f"longest write wait beside a checkpoint {beside * 1000:.1f} ms, elsewhere " \
               f"{elsewhere * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upto", type=int, default=1000, help="past deployments, at most (1000)")
    parser.add_argument("--timed", type=int, default=20, help="deployments timed at each mark")
    args = parser.parse_args()
    marks = [m for m in (0, 10, 100, 300, 1000) if m <= args.upto]  # (the fakes' ports end past ~5000)
    waits = Waits()
    with tempfile.TemporaryDirectory(prefix="zd-history-") as tmp:
        engine = World(Path(tmp)).engine(config(3))
        wal, largest = f"{engine.store.path}-wal", 0

        def deploy(version: str) -> None:
            nonlocal largest
            engine.run(engine.deploy(version))
            largest = max(largest, os.path.getsize(wal) if os.path.exists(wal) else 0)
        done = 0
        for mark in marks:
            while done < mark:
                deploy(f"h{done}")
                done += 1
            took = []
            for n in range(args.timed):
                began = time.perf_counter()
                deploy(f"m{mark}-{n}")
                took.append(time.perf_counter() - began)
            done += args.timed
            size = os.path.getsize(wal) if os.path.exists(wal) else 0
            print(f"{mark:6} past deployments: deploy + run {statistics.median(took) * 1000:5.1f} ms "
                  f"(median of {args.timed}), WAL {size / 1e6:6.1f} MB (largest {largest / 1e6:.1f}),"
                  f" {waits.longest()}",
                  flush=True)
        engine.store._wal._checkpoints.submit(lambda: None).result()  # (before the folder goes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
