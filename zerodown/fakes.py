"""Test fakes for every seam, shipped with the library: FakeRuntime, FakeRouter, FakeClock.

They pass the same contract suite as the real drivers (tests/contract/), so
a test of the engine on fakes says something about the engine on processes:

    clock = FakeClock()
    runtime, router = FakeRuntime(healthy_after=2), FakeRouter(drain_polls=1)
    engine = Engine(store, runtime, router, clock, config)

Crashes: a `Faults` object shared by the fakes counts their calls and raises
SimulatedCrash at the Nth one, before or after the call takes effect (after:
the instance was started, but the controller never heard back). SimulatedCrash
derives from BaseException so no `except Exception` in the engine swallows it,
just as none survives a SIGKILL.

A `journal` list, shared by the fakes, records what happened in order:
("start" | "stop" | "healthy" | "drained", instance id, pid) and
("apply", RoutingTable), so a test can check that no table ever routed an
instance before a probe found it healthy.
"""

from __future__ import annotations

import copy
import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Collection, Iterable, Iterator

from zerodown.errors import ConfigError
from zerodown.model import EMPTY_TABLE, Instance, Revision, RoutingTable, Slot
from zerodown.table_version import check_newer


class SimulatedCrash(BaseException):
    """The controller died here (raised by a fake at the call a test chose)."""


class Faults:
    """Counts calls to the fakes sharing it; arm(n) makes the nth raise SimulatedCrash."""

    def __init__(self) -> None:
        self.calls = 0
        self.at: int | None = None
        self.when = "before"
        self.names: list[str] = []  # what each call was, to name a crash point

    def arm(self, at: int, when: str = "before") -> None:
        assert when in ("before", "after")
        self.at, self.when = at, when

    @contextmanager
    def call(self, name: str) -> Iterator[None]:
        self.calls += 1
        self.names.append(name)
        n = self.calls
        if n == self.at and self.when == "before":
            self.at = None
            raise SimulatedCrash(f"crash before call {n} ({name})")
        yield
        if n == self.at and self.when == "after":
            self.at = None
            raise SimulatedCrash(f"crash after call {n} ({name})")


class FakeClock:
    """now() and sleep(): sleeping advances time at once. `on_sleep(clock)` runs after each sleep."""

    def __init__(self, start: float = 1_000_000.0, on_sleep=None, limit: float | None = None):
        self.start = self.time = start
        self.on_sleep = on_sleep
        self.limit = limit  # seconds of fake time after which sleep() fails: a test never hangs
        self.slept = 0

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)
        self.slept += 1
        if self.limit is not None and self.time - self.start > self.limit:
            raise TimeoutError(f"fake time passed {self.limit:g}s: is something waiting forever?")
        if self.on_sleep is not None:
            self.on_sleep(self)

    def advance(self, seconds: float) -> None:
        self.time += seconds


@dataclass
class FakeProcess:
    instance: Instance
    version: str
    alive: bool = True
    probes: int = 0


class FakeRuntime:
    """Instances in memory, at 127.0.0.1:<port>.

    healthy_after: probes a new instance answers 503 to before it answers 200.
    never_healthy: versions (Revision.version) whose instances never become healthy.
    missing: versions whose release check_release refuses (as a deleted folder would be).
    The processes outlive a controller crash; `restarted()` is the same machine
    seen by a new controller (for adopt()).
    """

    def __init__(self, *, healthy_after: int = 1, never_healthy: Iterable[str] = (),
                 faults: Faults | None = None, journal: list | None = None,
                 first_port: int = 41000, missing: Iterable[str] = ()):
        self.healthy_after, self.never_healthy = healthy_after, set(never_healthy)
        self.missing = set(missing)
        self.faults = faults or Faults()
        self.journal = journal if journal is not None else []
        self.processes: dict[tuple[str, int, int], FakeProcess] = {}  # the current life per ref
        self.spawned: list[FakeProcess] = []  # every life, in order
        self.violations: list[str] = []  # two live instances in one slot
        self._slots: dict[tuple[str, int], FakeProcess] = {}  # the last life in each slot
        self._ports = itertools.count(first_port)
        self._pids = itertools.count(1000)

    def restarted(self) -> FakeRuntime:
        return copy.copy(self)  # shares the processes: they outlive the controller

    def start(self, revision: Revision, slot: Slot) -> Instance:
        with self.faults.call("runtime.start"):
            key = (revision.service, revision.number, slot.index)
            proc = self.processes.get(key)
            if proc is not None and proc.alive:
                return proc.instance  # idempotent: that instance already runs
            busy = self._slots.get((revision.service, slot.index))
            if busy is not None and busy.alive:
                self.violations.append(f"r{revision.number} started in slot {slot.index}, "
                                       f"where {busy.instance.id} still runs")
            inst = Instance(revision.service, revision.number, slot, f"127.0.0.1:{next(self._ports)}",
                            next(self._pids), revision.version)
            self.processes[key] = proc = FakeProcess(inst, revision.version)
            self._slots[(revision.service, slot.index)] = proc
            self.spawned.append(proc)
            self.journal.append(("start", inst.id, inst.pid))
            return inst

    def stop(self, instance: Instance, grace: float) -> None:
        with self.faults.call("runtime.stop"):
            proc = self._proc(instance)
            if proc is not None and proc.alive:
                proc.alive = False
                self.journal.append(("stop", instance.id, proc.instance.pid))

    def alive(self, instance: Instance) -> bool:
        with self.faults.call("runtime.alive"):
            proc = self._proc(instance)
            return proc is not None and proc.alive

    def healthy(self, instance: Instance, revision: Revision) -> tuple[bool, str]:
        with self.faults.call("runtime.healthy"):
            proc = self._proc(instance)
            if proc is None or not proc.alive:
                return False, "connection refused"
            proc.probes += 1
            ok = proc.version not in self.never_healthy and proc.probes >= self.healthy_after
            if ok:
                self.journal.append(("healthy", instance.id, proc.instance.pid))
            return ok, "HTTP 200" if ok else "HTTP 503"

    def adopt(self, service: str, recorded: Collection[str] = ()) -> list[Instance]:
        with self.faults.call("runtime.adopt"):
            return [p.instance for p in self.processes.values()
                    if p.alive and p.instance.service == service]

    def logs(self, instance: Instance) -> str:
        return f"/var/fake/{instance.id}.log"

    def check_release(self, app: object, version: str, keep: frozenset[str] = frozenset(),
                      unlisted: Collection[str] = ()) -> None:
        if version in self.missing:
            raise ConfigError(f"version {version}: release folder releases/{version} does not "
                              f"exist (fake)", key="app.cwd")

    def kill(self, instance_id: str) -> None:
        """The process dies by itself (for tests)."""
        for proc in self.processes.values():
            if proc.instance.id == instance_id:
                proc.alive = False

    def running(self, service: str | None = None) -> set[str]:
        return {p.instance.id for p in self.processes.values()
                if p.alive and service in (None, p.instance.service)}

    def _proc(self, instance: Instance) -> FakeProcess | None:
        proc = self.processes.get((instance.service, instance.revision, instance.slot.index))
        # An Instance from an earlier life (another pid) is not this process.
        if proc is None or (instance.pid is not None and proc.instance.pid != instance.pid):
            return None
        return proc


class FakeRouter:
    """Records every table applied; drained() is true `drain_polls` polls after a backend left.

    `in_flight[backend_id] = n` holds a backend undrained (`hung[backend_id] = n`: n of
    them with no answer yet); `serve(n)` sends n requests through the table in force, by
    weight, for stats().
    """

    def __init__(self, *, drain_polls: int = 0, faults: Faults | None = None,
                 journal: list | None = None):
        self.drain_polls = drain_polls
        self.faults = faults or Faults()
        self.journal = journal if journal is not None else []
        self.table: RoutingTable = EMPTY_TABLE
        self.applied: list[RoutingTable] = []  # every table that changed something
        self.in_flight: dict[str, int] = {}
        self.hung: dict[str, int] = {}
        self.requests: dict[tuple[str, str], int] = {}  # (revision, backend) -> count
        self._left: dict[str, int] = {}  # backend -> polls since it left the table
        self._routed: set[str] = set()  # the table's backend ids, kept: drained() is polled a lot

    def apply(self, table: RoutingTable) -> bool:
        with self.faults.call("router.apply"):
            if table == self.table:
                return False
            check_newer(table, self.table)
            routed = set(table.backends())
            self._left.update({b: 0 for b in self._routed - routed})
            for b in routed:
                self._left.pop(b, None)
            self.table, self._routed = table, routed
            self.applied.append(table)
            self.journal.append(("apply", table))
            return True

    def drained(self, backend_id: str) -> bool:
        with self.faults.call("router.drained"):
            if backend_id in self._routed or self.in_flight.get(backend_id):
                return False
            polls = self._left.get(backend_id)
            if polls is not None and polls < self.drain_polls:
                self._left[backend_id] = polls + 1
                return False
            self.journal.append(("drained", backend_id, None))
            return True

    def in_force(self) -> RoutingTable:
        return self.table

    def unanswered(self, backend_id: str) -> tuple[int, int, int]:
        """(requests answered, in flight, in flight with no answer yet) of a backend."""
        answered = sum(n for (_, b), n in self.requests.items() if b == backend_id)
        return answered, self.in_flight.get(backend_id, 0), self.hung.get(backend_id, 0)

    def stats(self) -> dict:
        with self.faults.call("router.stats"):
            revisions: dict[str, dict] = {}
            for (rev, backend), n in self.requests.items():
                entry = revisions.setdefault(rev, {"requests": 0, "responses": {"2xx": 0}})
                entry["requests"] += n
                entry["responses"]["2xx"] += n
            for r in self.table.revisions:
                revisions.setdefault(r.name, {"requests": 0, "responses": {"2xx": 0}})["weight"] = r.weight
            backends = {b: {"revision": rev, "requests": n, "in_flight": self.in_flight.get(b, 0)}
                        for (rev, b), n in self.requests.items()}
            return {"version": self.table.version, "revisions": revisions, "backends": backends}

    # --- a mirror (Router.shadow): `copies` compared per read, every `differ_every`-th differs

    copies, differ_every = 100, 0  # 0: the shadow answers as stable does
    mirror: dict | None = None
    mirrors: list = []  # every shadow(settings) call, None for a stop

    def shadow(self, settings: dict | None) -> dict | None:
        with self.faults.call("router.shadow"):
            return self._shadow(settings)

    def _shadow(self, settings: dict | None) -> dict | None:
        self.mirrors = [*self.mirrors, settings]
        last, self.mirror = self.mirror, (None if settings is None else {
            **settings, "compared": 0, "differing": 0, "dropped": 0, "examples": []})
        return last if settings is None else self.mirror

    def shadow_stats(self) -> dict | None:
        with self.faults.call("router.shadow_stats"):
            return self._shadow_stats()

    def _shadow_stats(self) -> dict | None:
        m = self.mirror
        if m is None:
            return None
        for _ in range(self.copies):
            m["compared"] += 1
            if self.differ_every and m["compared"] % self.differ_every == 0:
                m["differing"] += 1
                m["examples"] = [*m["examples"], {
                    "request": f"GET /items/{m['compared']} HTTP/1.1", "what": "body",
                    "where": "$.price", "stable": "10", "shadow": "11"}][-10:]
        return dict(m)

    def serve(self, n: int) -> None:
        """n requests through the table in force: split by weight, round-robin within a revision."""
        routes = [r for r in self.table.revisions if r.backends and r.weight > 0]
        total = sum(r.weight for r in routes)
        for i in range(n):
            point, acc = (i * 100.0 / n) if n else 0, 0.0
            for r in routes:
                acc += r.weight * 100.0 / total
                if point < acc or r is routes[-1]:
                    b = r.backends[i % len(r.backends)]
                    self.requests[(r.name, b.id)] = self.requests.get((r.name, b.id), 0) + 1
                    break
