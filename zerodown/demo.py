"""`zerodown demo`: each strategy's trade-offs, measured.

Brings up the example service (4 instances of v1 behind the embedded proxy),
keeps a load generator running throughout, and ships a new version with each
of the four strategies (and an A/B test). For each it prints: how long the
deployment took, the requests served and failed meanwhile, the lowest serving
capacity, the peak number of instances, how long two versions served at once,
the largest share of users on the new version before it had them all, and
what a rollback would cost at the best and the worst moment of the deployment
(a table switch, or instances to start again) — the costs each strategy trades
(in-place shrinks capacity; rolling mixes versions; surge and blue/green need
spare instances; canary exposes few users), with the failed-request count
that must stay 0.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from zerodown import example
from zerodown.controller import Controller
from zerodown.engine.lifecycle import Phase
from zerodown.errors import ZerodownError
from zerodown.loadgen import LoadInBackground
from zerodown.plan import Route, Start, WaitHealthy
from zerodown.strategies.exposure import exposure, restarts_to_undo
from zerodown.undisturbed import undisturbed

INSTANCES = 4
STRATEGIES = [  # (label, strategy section); each deploys the next version
    ("in-place, batch 1", "{kind: in-place, batch_size: 1}"),
    ("rolling, surge 1", "{kind: rolling, max_surge: 1, max_unavailable: 0}"),
    ("rolling, surge 0 (in turn)", "{kind: rolling, max_surge: 0, max_unavailable: 1}"),
    ("rolling, surge 2", "{kind: rolling, max_surge: 2, max_unavailable: 0}"),
    ("blue/green", "{kind: blue-green, scale_down_delay: 2s}"),
    ("canary 10% → 50%", "{kind: canary, steps: [{weight: 10}, {pause: 2s}, {weight: 50}, "
     "{pause: 2s}], sticky: {mode: cookie, name: zd-canary}}"),
    ("a/b test 50/50, B wins", "{kind: ab-test, split: 50}"),
]
AB_HOLD = 2.0  # seconds the A/B test holds its split before the demo decides for B


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder: Path) -> Path:
    path = folder / "zerodown.yaml"
    path.write_text(example.config_text("demo", f"127.0.0.1:{free_port()}", instances=INSTANCES,
                                        strategy=STRATEGIES[0][1]))
    return path


@dataclass
class Row:
    strategy: str
    outcome: str
    seconds: float
    served: int
    failed: int
    lowest_capacity: int
    peak_instances: int
    mixed_seconds: float
    exposed: float  # % of users on the new version at most before it had them all
    rollback: str  # what going back costs, best … worst moment
    hosts: str = ""  # on a fleet: where the new version ran once it was done


class Observer:
    """Samples the load balancer's table and the running instances every few ms."""

    def __init__(self, ctl: Controller, period: float = 0.01):
        self.ctl, self.period = ctl, period
        self.lowest, self.peak, self.mixed = 10**9, 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Observer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        router, service = self.ctl.router(), self.ctl.config().service
        store = self.ctl.open_store()  # its own connection: this is another thread
        last = time.monotonic()
        try:
            while not self._stop.wait(self.period):
                table = router.client.table()
                live = [r for r in table.revisions if r.weight > 0 and r.backends]
                now = time.monotonic()
                if len(live) > 1:
                    self.mixed += now - last
                last = now
                self.lowest = min(self.lowest, sum(len(r.backends) for r in live))
                # Instances the deployment holds (a stopped one may take a moment more to
                # exit).
                self.peak = max(self.peak, len(store.instances(service, live=True)))
        except ZerodownError:
            # the proxy gone: the demo is ending (a Ctrl-C landed in __enter__'s start or
            # cut __exit__'s join, and the teardown stopped the proxy under this thread).
            # A look is all this is: the deployment itself says a proxy lost mid-way.
            pass
        finally:
            store.close()


def deploy(ctl: Controller, version: str, strategy: str, load: LoadInBackground, label: str,
           instances: int = INSTANCES) -> Row:
    engine = ctl.engine()
    sent0, ok0, failed0 = load.progress()
    began = time.monotonic()
    with Observer(ctl) as seen:
        id = engine.deploy(version, strategy=_section(strategy))
        phase = engine.run(id, stop_when_paused=True)
        if phase is Phase.PAUSED:  # the A/B test holds until someone decides: B wins
            time.sleep(AB_HOLD)
            engine.promote(id)
            phase = engine.run(id)
    took = time.monotonic() - began
    load.wait_for_responses(load.progress()[0] + 200)  # traffic after the deploy counts too
    sent, ok, failed = load.progress()
    d = engine.store.deployment(id)
    return Row(label, str(phase.value if isinstance(phase, Phase) else phase), took, sent - sent0,
               failed - failed0, seen.lowest, seen.peak, seen.mixed,
               exposure(d.steps, d.to_revision),
               # every moment while it runs: after its last step it is over, and going
               # back is a new deployment
               rollback_text(restarts_to_undo(d.steps, d.from_revision, instances)[:-1],
                             d.steps, engine.store.steps(id)))


def rollback_text(restarts: list[int], steps, records) -> str:
    """Best … worst moment for a rollback: a table switch (timed as this deployment's
    Route steps took), or instances to start again (timed as its starts took to get healthy)."""
    routes = [r.finished_at - r.started_at for s, r in zip(steps, records)
              if isinstance(s, Route) and r.finished_at]
    switch = f"switch {1000 * statistics.median(routes):.0f}ms" if routes else "switch"
    worst = max(restarts)
    if worst == 0:
        return f"{switch} throughout"
    per = [(r.finished_at - r.started_at) / len(s.instances) for s, r in zip(steps, records)
           if isinstance(s, (Start, WaitHealthy)) and r.finished_at and s.instances]
    restart = sum(per) * 2 / len(per) if per else 0.0  # a start and a health wait per instance
    best = switch if min(restarts) == 0 else f"restart {min(restarts)}"
    return f"{best} … restart {worst} (est. {worst * restart:.1f}s)"


def _section(text: str) -> dict:
    import yaml
    return yaml.safe_load(text)


def render(rows: list[Row], total, instances: int = INSTANCES) -> str:
    width = max((len(r.hosts) for r in rows), default=0)
    width = max(width, len("hosts (new version)")) if width else 0  # a column on a fleet only
    where = f"{'hosts (new version)':{width}}  " if width else ""
    head = (f"{'strategy':28} {'outcome':>10} {'seconds':>8} {'served':>8} {'failed':>7} "
            f"{'lowest capacity':>16} {'peak instances':>15} {'2 versions, s':>15} "
            f"{'exposed early':>14}  {where}rollback (best … worst moment)")
    lines = [head, "-" * len(head)]
    for r in rows:
        hosts = f"{r.hosts:{width}}  " if width else ""
        lines.append(f"{r.strategy:28} {r.outcome:>10} {r.seconds:8.2f} {r.served:8d} {r.failed:7d} "
                     f"{r.lowest_capacity:>10d} of {instances} "
                     f"{r.peak_instances:>15d} {r.mixed_seconds:15.2f} {r.exposed:13.0f}%  "
                     f"{hosts}{r.rollback}")
    lines += ["", "peak instances: processes alive at once, those draining and exiting included "
              "(max_surge counts the routed and the starting ones, as Kubernetes does: "
              "docs/strategies.md)",
              "exposed early: the largest share of users on the new version before it had "
              "them all (0% for blue/green: the preview only)",
              "rollback: what going back would take at the best and the worst moment of the "
              "deployment — a routing-table switch (as long as this run's took), or old "
              "instances to start again (est.: this run's time per instance, one at a time)"]
    lines += ["", f"whole run: {total.summary()}"]
    return "\n".join(lines)


def run(folder: Path) -> int:
    return ship_all(Controller(str(write_config(folder))), STRATEGIES, INSTANCES)


def ship_all(ctl: Controller, strategies: list[tuple[str, str]], instances: int,
             where=lambda version: "") -> int:
    """v1, then each strategy's version under load; the table printed; 0 if every
    deployment succeeded and no request failed. `where(version)`: the hosts column."""
    print(f"bringing up {instances} instances of v1 behind the embedded proxy ...", flush=True)
    rows = []
    try:  # the proxy, once started, is stopped below whatever fails after
        ctl.ensure_router()
        engine = ctl.engine()
        engine.run(engine.deploy("v1"))
        url = f"http://{ctl.config().listen}/"
        with LoadInBackground(url, connections=8, duration=300) as load:
            load.wait_for_responses(500)
            for n, (label, strategy) in enumerate(strategies, start=2):
                print(f"deploying v{n} with {label} under load ...", flush=True)
                rows.append(deploy(ctl, f"v{n}", strategy, load, label, instances))
                rows[-1].hosts = where(f"v{n}")
            total = load.stop()
    finally:  # whole, or what it did not reach runs on after the demo: a second Ctrl-C
        with undisturbed("stopping the demo's instances and proxy"):
            runtime, router = ctl.runtime(), ctl.router()
            try:
                for instance in runtime.adopt(ctl.config().service):
                    runtime.stop(instance, grace=5)
            finally:
                router.stop()
                ctl.close()
    print()
    print(render(rows, total, instances))
    return 0 if total.failed() == 0 and all(r.outcome == "succeeded" for r in rows) else 1
