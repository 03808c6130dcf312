"""The floor under a fleet deployment's overhead (benchmarks/fleet_deploy.py prints it).

The critical path (fleet_deploy.py) counts only the app's own times. Any controller that
drives the hosts over SSH and the load balancer over its admin interface, and keeps its
state durable, also pays some links along that path, whatever it is written in. Counted
along the plan, at the least:

- the pre-flight: every host asked once before anything changes (an unreachable host is
  refused with nothing touched): a round trip to the slowest host;
- each Start: its request's way to the host (the spawn begins when it arrives): half a
  round trip;
- each WaitHealthy: the host telling the controller its instance listens (half a round
  trip) and one probe from where the load balancer runs (an HTTP request);
- each Route: an admin call; the plan's last Drain (nothing boots beside it): one;
- each step that acts, made durable before it acts (the deployment's creation, each Start,
  Route and Stop): a synced write;
- the last Stop: its request's way and the exits' report: a round trip.

Each cost is the median of `rounds` measurements made right after the deployment in its
conditions (under its load, or without): an agent call on every host at once (the
slowest answer of each round), a health probe of a serving instance from here, a read of
the load balancer's table in force, a small write and fdatasync in the state folder.
The floor is their sum; (critical path + floor) / critical path is the best ratio such a
controller could show in these conditions.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

from zerodown.plan import Drain, Route, Start, Stop, WaitHealthy


def median_ms(act: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        act()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def costs(stack, rounds: int = 15) -> dict[str, float]:
    """Milliseconds of each link, measured now: trip, probe, admin, sync."""
    runtime = stack.runtime
    names = list(runtime.hosts)
    pool = ThreadPoolExecutor(len(names))

    def every_host() -> None:  # the cheapest agent call: a registry read, no instance
        list(pool.map(lambda n: runtime.hosts[n].table(runtime.remote_dir, "live_entry",
                                                        "floor-probe"), names))
    serving = [i for i in runtime.adopt(stack.config.service) if i.address]
    health = stack.config.health
    sync_path = Path(stack.state_dir) / "floor-sync"
    fd = os.open(sync_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def sync() -> None:
        os.write(fd, b"x" * 128)
        os.fdatasync(fd)
    try:
        return {"trip": median_ms(every_host, rounds),
                "probe": median_ms(lambda: runtime._probe(serving[0].address, health), rounds),
                "admin": median_ms(stack.router.in_force, rounds),
                "sync": median_ms(sync, rounds)}
    finally:
        os.close(fd)
        sync_path.unlink()
        pool.shutdown()


def counts(steps: Sequence) -> dict[str, float]:
    """How many of each link the plan's critical path holds (see the module docstring)."""
    starts = sum(isinstance(s, Start) for s in steps)
    waits = sum(isinstance(s, WaitHealthy) for s in steps)
    routes = sum(isinstance(s, Route) for s in steps)
    stops = sum(isinstance(s, Stop) for s in steps)
    last_drain = int(len(steps) >= 2 and isinstance(steps[-2], Drain)
                     and isinstance(steps[-1], Stop))
    return {"trip": 1 + 0.5 * starts + 0.5 * waits + (1 if stops else 0), "probe": waits,
            "admin": routes + last_drain, "sync": 1 + starts + routes + stops}


def floor(stack, steps: Sequence, rounds: int = 15) -> tuple[float, str]:
    """Seconds of the links `steps`' critical path holds at the least, and how they add up."""
    each, many = costs(stack, rounds), counts(steps)
    total = sum(each[k] * many[k] for k in each) / 1000
    return total, " + ".join(f"{k} {each[k]:.1f} ms x {many[k]:g}" for k in each)
