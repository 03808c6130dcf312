"""A plan's size as the service's instances grow: built, kept in memory, stored, read back
and shown by the API. The engine on fakes (tests/support/engine_world.py: no processes, no
network), the state store a real SQLite file; a first deployment starts N instances, then
per strategy (rolling one at a time: max_surge 1, ~2N Route steps; a canary: 4 Routes of N
instances) the deployment measured is created (planned and written) and read back.

    .venv/bin/python benchmarks/plan_size.py [--sizes 100 200 500 1000]

Columns: `build` plan_for's time (pure code, best of 3); `memory` what the built plan holds
(tracemalloc, after a collection); `stored` the plan's bytes in the `plans` table; `write`
the deployment's creation (Engine.deploy: plan + the store's transaction); `read` a fresh
connection's first read of the deployment (its plan parsed: what a controller does before
it runs the first step, and after a restart); `read memory` what that parsed plan holds;
`api` the bytes of the API's plan answer (deployments/{id}'s plan_steps, JSON).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.engine_world import ROLLING, World, config  # noqa: E402
from zerodown.engine.store import Store  # noqa: E402
from zerodown.gather import plan_steps  # noqa: E402
from zerodown.model import InstanceRef, Slot  # noqa: E402
from zerodown.plan import ServiceState, Target  # noqa: E402
from zerodown.strategies import plan_for  # noqa: E402

CANARY = "{kind: canary, steps: [{weight: 10}, {weight: 25}, {weight: 50}]}"
STRATEGIES = {"rolling surge 1": ROLLING, "canary 10/25/50": CANARY}


def held(make) -> tuple[object, int]:
    """(make(), the bytes it still holds once made)."""
    gc.collect()
    tracemalloc.start()
    try:
        value = make()
        gc.collect()
        return value, tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def measure(n: int, strategy: str) -> dict:
    cfg = config(n, strategy)
    state = ServiceState("shop", 1, tuple(InstanceRef(1, Slot(i)) for i in range(n)))
    build = []
    for _ in range(3):
        began = time.perf_counter()
        plan = plan_for(cfg.strategy, state, Target(2, n))
        build.append(time.perf_counter() - began)
    del plan
    _, memory = held(lambda: plan_for(cfg.strategy, state, Target(2, n)))
    with tempfile.TemporaryDirectory(prefix="zd-plan-size-") as tmp:
        engine = World(Path(tmp)).engine(cfg)
        engine.run(engine.deploy("v1"))
        began = time.perf_counter()
        id = engine.deploy("v2")
        write = time.perf_counter() - began
        stored = engine.store.db.execute("SELECT length(steps) FROM plans WHERE deployment = ?",
                                         (id,)).fetchone()[0]
        engine.store.close()
        store = Store(engine.store.path)
        began = time.perf_counter()
        d = store.deployment(id)
        read = time.perf_counter() - began
        steps = len(d.steps)
        del d
        store._plans.clear()
        _, read_memory = held(lambda: store.deployment(id))
        api = len(json.dumps(plan_steps(store, store.deployment(id), cfg)))
        store.close()
    return {"steps": steps, "build": min(build), "memory": memory, "stored": stored,
            "write": write, "read": read, "read_memory": read_memory, "api": api}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500, 1000])
    args = parser.parse_args()
    print("| strategy | instances | steps | build | memory | stored | write | read "
          "| read memory | api |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, strategy in STRATEGIES.items():
        for n in args.sizes:
            m = measure(n, strategy)
            print(f"| {name} | {n} | {m['steps']} | {m['build'] * 1e3:.1f} ms "
                  f"| {m['memory'] / 1e6:.2f} MB | {m['stored'] / 1e6:.2f} MB "
                  f"| {m['write'] * 1e3:.0f} ms | {m['read'] * 1e3:.0f} ms "
                  f"| {m['read_memory'] / 1e6:.2f} MB | {m['api'] / 1e3:.0f} kB |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
