"""A deployment's own time in the controller as the service's history grows: the engine on
fakes (tests/support/engine_world.py: no processes, no network), the state store a real
SQLite file, N deployments of 3 instances before the ones timed. What grows with N is the
store's work: every past deployment leaves stopped instance rows, a revision and a
finished deployment behind.

    .venv/bin/python benchmarks/store_history.py [--upto 1000] [--timed 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.engine_world import World, config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upto", type=int, default=1000, help="past deployments, at most (1000)")
    parser.add_argument("--timed", type=int, default=20, help="deployments timed at each mark")
    args = parser.parse_args()
    marks = [m for m in (0, 10, 100, 300, 1000) if m <= args.upto]  # (the fakes' ports end past ~5000)
    with tempfile.TemporaryDirectory(prefix="zd-history-") as tmp:
        engine = World(Path(tmp)).engine(config(3))
        done = 0
        for mark in marks:
            while done < mark:
                engine.run(engine.deploy(f"h{done}"))
                done += 1
            took = []
            for n in range(args.timed):
                began = time.perf_counter()
                engine.run(engine.deploy(f"m{mark}-{n}"))
                took.append(time.perf_counter() - began)
            done += args.timed
            print(f"{mark:6} past deployments: deploy + run {statistics.median(took) * 1000:5.1f} ms "
                  f"(median of {args.timed})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
