"""What a rolling deployment one instance at a time writes to the state store as the
service grows: the engine on fakes (tests/support/engine_world.py: no processes, no
network), the store a real SQLite file; the first deployment starts N instances, the
second (measured) replaces them one at a time (max_surge 1: N Route steps). The store's
checkpoints are left out, so the WAL after the deployment holds every page it wrote:
its bytes, its commits, and the deployment's time (deploy + run).

    .venv/bin/python benchmarks/store_routes.py [--sizes 10 50 200]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.engine_world import World, config  # noqa: E402
from zerodown.engine import wal_sync  # noqa: E402
from zerodown.engine.store import Store  # noqa: E402


def wal_frames(path: str) -> int:
    """Frames in the WAL file (its 32-byte header, then page + 24 bytes a frame)."""
    wal = Path(f"{path}-wal")
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    return (wal.stat().st_size - 32) // (page + 24) if wal.exists() and wal.stat().st_size else 0


def measure(n: int) -> tuple[int, int, int, float]:
    """(frames, commits, route steps, seconds) of the second deployment of `n` instances."""
    with tempfile.TemporaryDirectory(prefix="zd-routes-") as tmp:
        engine = World(Path(tmp)).engine(config(n))
        engine.run(engine.deploy("v1"))
        path = engine.store.path
        engine.store._wal._checkpoints.submit(lambda: None).result()
        engine.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        commits, routes = [0], [0]
        committed = engine.store._wal.committed
        engine.store._wal.committed = lambda: (commits.__setitem__(0, commits[0] + 1),
                                               committed())[1]
        stage = Store.stage_table
        Store.stage_table = lambda self, *a, **k: (routes.__setitem__(0, routes[0] + 1),
                                                   stage(self, *a, **k))[1]
        try:
            began = time.perf_counter()
            engine.run(engine.deploy("v2"))
            took = time.perf_counter() - began
        finally:
            Store.stage_table = stage
        frames = wal_frames(path)
        engine.store.close()
        return frames, commits[0], routes[0], took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    args = parser.parse_args()
    wal_sync.checkpoint = lambda *a, **k: None  # every page written stays in the WAL
    for n in args.sizes:
        frames, commits, routes, took = measure(n)
        print(f"{n:5} instances: {frames:7} pages written ({frames * 4096 / 1e6:6.1f} MB), "
              f"{commits} commits ({frames / max(commits, 1):.1f} pages a commit), "
              f"{routes} route steps, deploy + run {took:6.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
