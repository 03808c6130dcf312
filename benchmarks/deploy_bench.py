"""Control-plane benchmarks.

    .venv/bin/python benchmarks/deploy_bench.py                 # both
    .venv/bin/python benchmarks/deploy_bench.py --only critical-path --instances 8 --surge 2
    .venv/bin/python benchmarks/deploy_bench.py --only scale --sizes 1000,3000,10000

critical-path: a real rolling deployment of N local instances of the example
app behind the embedded proxy, timed against its critical path, batches x
(start + health) where start + health is measured on the same machine by
starting single instances. Target: ratio <= 1.15.

scale: planning plus bookkeeping (store writes, routing tables) of a rolling
deployment of N instances on the fake runtime and router with a fake clock,
so only the engine's own cost is measured; it should grow linearly with N.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zerodown import example  # noqa: E402
from zerodown.config import parse_config  # noqa: E402
from zerodown.engine.runner import Engine, SystemClock  # noqa: E402
from zerodown.engine.store import Store  # noqa: E402
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime  # noqa: E402
from zerodown.model import Revision, Slot  # noqa: E402
from zerodown.routers import router_for  # noqa: E402
from zerodown.runtimes import runtime_for  # noqa: E402

SYNC = "FULL"  # the engine's default; --synchronous NORMAL shows what fsync costs


def config_text(port: int, instances: int, surge: int, interval: str = "20ms",
                start_delay: float = 0) -> str:
    return example.config_text("bench", f"127.0.0.1:{port}", instances=instances,
                               strategy=f"{{kind: rolling, max_surge: {surge}, max_unavailable: 0}}",
                               health_interval=interval, drain_timeout="5s", stop_grace="3s",
                               start_delay=start_delay)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_plus_health(runtime, config, batch: int, samples: int) -> float:
    """Median seconds from starting `batch` instances together to all passing a health probe.

    A batch, not one instance: instances started together share the machine, and
    that is what a deployment's batch waits for."""
    revision = Revision(config.service, 999, "probe", config.app, config.health)
    times = []
    for n in range(samples):
        began = time.monotonic()
        started = [runtime.start(revision, Slot(1000 + n * batch + i)) for i in range(batch)]
        waiting = list(started)
        while waiting:
            waiting = [x for x in waiting if not runtime.healthy(x, revision)[0]]
            if waiting:
                time.sleep(config.health.interval)
        times.append(time.monotonic() - began)
        for instance in started:
            runtime.stop(instance, grace=3)
    return statistics.median(times)


def critical_path(instances: int, surge: int, samples: int, repeats: int = 3,
                  start_delay: float = 0) -> dict:
    with tempfile.TemporaryDirectory(prefix="zd-bench-") as tmp:
        folder = Path(tmp)
        (folder / "zerodown.yaml").write_text(config_text(free_port(), instances, surge,
                                                          start_delay=start_delay))
        config = parse_config((folder / "zerodown.yaml").read_text(), file=str(folder / "zerodown.yaml"))
        state = folder / "state"
        state.mkdir()
        store = Store(str(state / "zerodown.db"), synchronous=SYNC)
        runtime, router = runtime_for(config, state), router_for(config, state)
        router.ensure_running()
        engine = Engine(store, runtime, router, SystemClock(), config)
        try:
            engine.run(engine.deploy("v1"))
            one = start_plus_health(runtime, config, surge, samples)
            times = []
            for n in range(2, 2 + repeats):  # several deployments: one is too noisy here
                began = time.monotonic()
                phase = engine.run(engine.deploy(f"v{n}"))
                times.append(time.monotonic() - began)
            took = statistics.median(times)
        finally:
            for instance in runtime.adopt(config.service):
                runtime.stop(instance, grace=3)
            router.stop()
            store.close()
    batches = math.ceil(instances / surge)
    path = batches * one
    return {"instances": instances, "surge": surge, "phase": str(phase), "deploy_s": took,
            "start_plus_health_s": one, "batches": batches, "critical_path_s": path,
            "ratio": took / path}


def scale(sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="zd-scale-") as tmp:
            config = parse_config(config_text(8080, n, max(1, n // 10), interval="1s"),
                                  file=str(Path(tmp) / "zerodown.yaml"))
            store = Store(str(Path(tmp) / "zerodown.db"), synchronous="OFF")
            engine = Engine(store, FakeRuntime(), FakeRouter(), FakeClock(), config)
            began = time.perf_counter()
            engine.run(engine.deploy("v1"))
            first = time.perf_counter() - began
            began = time.perf_counter()
            engine.run(engine.deploy("v2"))
            second = time.perf_counter() - began
            store.close()
        rows.append({"instances": n, "first_deploy_s": first, "rolling_s": second,
                     "us_per_instance": second / n * 1e6})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=["critical-path", "scale"])
    p.add_argument("--instances", type=int, default=8)
    p.add_argument("--surge", type=int, default=2)
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3, help="deployments timed; the median counts")
    p.add_argument("--start-delay", type=float, default=0,
                   help="seconds the example app takes to start (APP_START_DELAY); 0: it is ready "
                        "in ~0.15 s, where a typical web service takes a second or more")
    p.add_argument("--sizes", default="1000,3000,10000")
    p.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"],
                   help="SQLite durability for the critical-path run (FULL: the engine's default)")
    args = p.parse_args(argv)
    global SYNC
    SYNC = args.synchronous
    if args.only in (None, "critical-path"):
        r = critical_path(args.instances, args.surge, args.samples, args.repeats,
                          args.start_delay)
        print(f"rolling deployment of {r['instances']} instances, max_surge {r['surge']}: "
              f"{r['deploy_s']:.2f} s, median of {args.repeats} ({r['phase']})")
        print(f"critical path: {r['batches']} batches x {r['start_plus_health_s'] * 1000:.0f} ms "
              f"(start + health of a batch, median of {args.samples}) = {r['critical_path_s']:.2f} s")
        print(f"ratio {r['ratio']:.2f} (target <= 1.15): {'PASS' if r['ratio'] <= 1.15 else 'MISS'}")
    if args.only in (None, "scale"):
        rows = scale([int(s) for s in args.sizes.split(",")])
        print(f"\n{'instances':>10} {'first deploy s':>15} {'rolling s':>10} {'us/instance':>12}")
        for r in rows:
            print(f"{r['instances']:>10} {r['first_deploy_s']:>15.2f} {r['rolling_s']:>10.2f} "
                  f"{r['us_per_instance']:>12.0f}")
        growth = rows[-1]["rolling_s"] / rows[0]["rolling_s"]
        size = rows[-1]["instances"] / rows[0]["instances"]
        print(f"x{size:.0f} instances -> x{growth:.1f} time (linear would be x{size:.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
