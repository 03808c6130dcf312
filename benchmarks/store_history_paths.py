"""What a long-lived controller does besides deploying, as the service's history grows:
the dashboard's status tick (daemon/observer.py), `zerodown history --json` (20
deployments), the API's deployment list (20, and its most: 1000), and a rollback's check of its target. The engine
on fakes (tests/support/engine_world.py), the state store a real SQLite file, N
deployments of 3 instances before each mark, and the size of the store's WAL file then.

    .venv/bin/python benchmarks/store_history_paths.py [--upto 1000] [--timed 20]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.engine_world import World, config  # noqa: E402
from tests.unit.test_store_history_paths import FILE, _get  # noqa: E402
from zerodown.api.routes import Api  # noqa: E402
from zerodown.commands.inspect import cmd_history  # noqa: E402
from zerodown.controller import Controller  # noqa: E402
from zerodown.daemon.observer import Observer  # noqa: E402


def _median_ms(act, times: int) -> float:
    took = []
    for _ in range(times):
        began = time.perf_counter()
        act()
        took.append(time.perf_counter() - began)
    return statistics.median(took) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upto", type=int, default=1000, help="past deployments, at most (1000)")
    parser.add_argument("--timed", type=int, default=20, help="times each is timed at each mark")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zd-paths-") as tmp:
        world = World(Path(tmp) / "state")
        engine = world.engine(config(3))
        (Path(tmp) / "zerodown.yaml").write_text(FILE)
        ctl = Controller(str(Path(tmp) / "zerodown.yaml"), state_dir=str(Path(tmp) / "state"))
        ctl.watched = ctl.watch()
        observer = Observer(ctl, lambda: None)
        api = Api(observer, None, "shop", lambda: None)
        history = Namespace(json=True, limit=20, verbose=False, no_color=True)

        def quiet_history():
            with contextlib.redirect_stdout(io.StringIO()):
                cmd_history(history, ctl)
        done = 0
        for mark in (m for m in (2, 10, 100, 300, 1000) if m <= args.upto):
            while done < mark:
                engine.run(engine.deploy(f"h{done}"))
                done += 1
            observer.tick()  # (the events since the last mark read once)
            row = {name: _median_ms(act, args.timed) for name, act in (
                ("tick", observer.tick), ("history", quiet_history),
                ("api", lambda: api.deployments(_get("/deployments"))),
                ("api 1000", lambda: api.deployments(_get("/deployments", limit="1000"))),
                ("rollback check", engine.rollback_target))}
            wal = Path(tmp) / "state" / "zerodown.db-wal"
            print(f"{mark:5} past deployments: " + ", ".join(
                f"{name} {ms:6.2f} ms" for name, ms in row.items())
                + f", WAL {wal.stat().st_size / 1e6 if wal.exists() else 0:.1f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
