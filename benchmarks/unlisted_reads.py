"""What a deployment pays for the hosts runtime.hosts no longer lists (engine/unlisted.py):
the live rows' hosts asked once before the pre-flight (`acted_on`) and once before the
adopt (`recorded`), a query each (Store.live_hosts), and, only when a live row is recorded
on a host off the list, the state read and the plan made before the pre-flight to find
the hosts it acts on (kept by unlisted.Once for create_deployment, which then reads the
rows and compares: not planned twice). A store file in a temp folder, N routed
instances of r1 spread over H hosts (slot i on host i mod H), each recorded.

    .venv/bin/python benchmarks/unlisted_reads.py                    # 1000x50, 2000x100
    .venv/bin/python benchmarks/unlisted_reads.py --sizes 10000x100 --rounds 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodown.engine import unlisted  # noqa: E402
from zerodown.engine.records import Change  # noqa: E402
from zerodown.engine.store import Store  # noqa: E402
from zerodown.model import Instance, InstanceRef, Slot  # noqa: E402
from zerodown.plan import Target  # noqa: E402
from zerodown.schema import Amount  # noqa: E402
from zerodown.strategies import plan_for  # noqa: E402
from zerodown.strategies.options import RollingStrategy  # noqa: E402


def best(call, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return min(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x50", "2000x100"],
                        help="INSTANCESxHOSTS")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    strategy = RollingStrategy(Amount(1, False), Amount(0, False))
    for size in args.sizes:
        n, h = (int(x) for x in size.split("x"))
        hosts = [f"app{i}" for i in range(h)]
        with tempfile.TemporaryDirectory() as folder:
            store = Store(str(Path(folder) / "zerodown.db"))
            with store.db:   # r1 serving, as a first deployment leaves it
                store.db.execute("INSERT INTO services (name, config, stable, updated) "
                                 "VALUES ('shop', '{}', 1, 0)")
                store.db.execute("INSERT INTO revisions (service, number, version, config, "
                                 "created) VALUES ('shop', 1, 'v1', '{}', 0)")
            store.set_instances("shop", [Change(InstanceRef(1, Slot(i)), "routed", Instance(
                "shop", 1, Slot(i), f"10.0.0.{i % 250}:{8000 + i}", 1000 + i, "v1",
                runs_on=hosts[i % h])) for i in range(n)])

            def engine(listed):
                return SimpleNamespace(store=store, service="shop", config=SimpleNamespace(
                    runtime=SimpleNamespace(kind="ssh", options={"hosts": listed})))

            def plan_of(state, rev, listed):
                return plan_for(strategy, state, Target(rev, n, tuple(listed)))
            same, moved = engine(hosts), engine(hosts[:-1])
            read = best(lambda: unlisted.recorded(store, "shop"), args.rounds)
            listed = best(lambda: unlisted.acted_on(same, lambda s, r: plan_of(s, r, hosts)),
                          args.rounds)
            off = best(lambda: unlisted.acted_on(moved, lambda s, r: plan_of(
                s, r, hosts[:-1])), args.rounds)
            once = unlisted.Once(lambda s, r: plan_of(s, r, hosts[:-1]))
            assert unlisted.acted_on(moved, once) == (hosts[-1],)
            again = best(lambda: once(store.service_state("shop"), 2), args.rounds)
            print(f"{n} instances on {h} hosts: recorded {read:.1f} ms, acted_on (every host "
                  f"listed) {listed:.1f} ms, acted_on (one host off the list: planned) "
                  f"{off:.1f} ms, the deployment's plan then (read + Once) {again:.1f} ms")
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
