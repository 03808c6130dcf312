"""Who asked for each deployment and why (Store.askers: `history`, the API's list, one
deployment and status) as the service's history grows: N deployments of 3 instances, each
asked by a deploy action as the API records it, on the engine's fakes and a real SQLite
store. Its one statement for the 1000 newest, counted in SQLite VM instructions and timed,
with the partial index events_asked (migration 8) and without it; the API's list of 1000
with by/reason filled and not (interleaved); and `history`'s former way, one read of each
deployment's events.

    .venv/bin/python benchmarks/deployment_askers.py [--deployments 1000] [--timed 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.store_history_paths import _median_ms as _ms  # noqa: E402
from tests.support.engine_world import World, config  # noqa: E402
from tests.unit.test_store_history_paths import FILE, _get  # noqa: E402
from zerodown.api.routes import Api  # noqa: E402
from zerodown.controller import Controller  # noqa: E402
from zerodown.daemon.actions import Who, record  # noqa: E402
from zerodown.daemon.observer import Observer  # noqa: E402
from zerodown.engine.store import Store  # noqa: E402


def _vm_steps(store: Store, act: Callable[[], object]) -> int:
    steps = [0]
    store.db.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1), 1)
    try:
        act()
    finally:
        store.db.set_progress_handler(None, 1)
    return steps[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--timed", type=int, default=15, help="times each is timed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zd-askers-") as tmp:
        engine = World(Path(tmp) / "state").engine(config(3))
        for n in range(args.deployments):
            id = engine.deploy(f"v{n}")
            record(engine.store, "shop", id, "deploy", Who("alice", "unix socket", f"n{n}"),
                   f"deploy v{n}")
            engine.run(id)
        store = engine.store
        ids = [d.id for d in store.deployments("shop", limit=1000)]
        events = store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        print(f"{args.deployments} deployments, {events} events; the newest {len(ids)}:")
        (Path(tmp) / "zerodown.yaml").write_text(FILE)
        ctl = Controller(str(Path(tmp) / "zerodown.yaml"), state_dir=str(Path(tmp) / "state"))
        ctl.watched = ctl.watch()
        api = Api(Observer(ctl, lambda: None), None, "shop", lambda: None)
        listing = lambda: api.deployments(_get("/deployments", limit="1000"))  # noqa: E731
        filled, empty, askers = [], [], Store.askers
        for _ in range(args.timed):  # interleaved: the machine's load falls on both alike
            filled.append(_ms(listing, 1))
            Store.askers = lambda self, ids: {}  # type: ignore[method-assign]
            empty.append(_ms(listing, 1))
            Store.askers = askers  # type: ignore[method-assign]
        print(f"  API list of 1000: {statistics.median(filled):.1f} ms with by/reason, "
              f"{statistics.median(empty):.1f} ms without")
        ask = lambda: store.askers(ids)  # noqa: E731
        per = lambda: [store.events(deployment=i, kind="action", limit=10)  # noqa: E731
                       for i in ids]
        for label in ("with events_asked", "without it"):
            print(f"  askers {label}: {_vm_steps(store, ask)} VM instructions, "
                  f"{_ms(ask, args.timed):.2f} ms; one read per deployment: "
                  f"{_vm_steps(store, per)} VM instructions, {_ms(per, args.timed):.2f} ms")
            store.db.execute("DROP INDEX IF EXISTS events_asked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
