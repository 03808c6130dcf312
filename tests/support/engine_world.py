"""The engine on fakes (zerodown/fakes.py): the world a controller acts on, the service it
deploys and the zero-downtime rules every run must keep. Shared by the engine's tests
(tests/unit/test_runner*.py and the many that build a World of their own) and
benchmarks/resume_latency.py."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from zerodown.config import parse_config
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime, Faults
from zerodown.plan import Analyze, Pause, Plan, Route
from zerodown.strategies import plan_for

ROLLING = "{kind: rolling, max_surge: 1, max_unavailable: 0}"
IN_PLACE = "{kind: in-place, batch_size: 1}"
CANARY = ("{kind: canary, steps: [{weight: 20}, {pause: 5s}, {weight: 50}, "
          "{analysis: {success_rate: 0.99}}], match: [{header: X-Beta, equals: '1'}], "
          "sticky: {mode: header, name: X-User}}")
BLUE_GREEN = "{kind: blue-green, scale_down_delay: 10s}"
SHADOW = "{kind: canary, steps: [{shadow: {duration: 2s}}, {weight: 50}]}"
AB_TEST = "{kind: ab-test, split: 30}"


def config(n: int = 3, strategy: str = ROLLING, on_failure: str = "rollback"):
    return parse_config(f"""
service: shop
listen: 127.0.0.1:8080
instances: {n}
app: {{command: ["app", "--port", "{{port}}", "--version", "{{version}}"]}}
health: {{interval: 1s, start_timeout: 5s}}
drain_timeout: 3s
strategy: {strategy}
on_failure: {on_failure}
""")


class CrashingStore(Store):
    """Its commits count as calls: a crash can strike just before or just after any of them."""

    def __init__(self, path, faults: Faults, **kwargs):
        self.faults = faults
        super().__init__(path, **kwargs)

    @contextmanager
    def _tx(self, durable: bool = True):
        with self.faults.call("store.write"):
            with super()._tx(durable) as tx:
                yield tx


class World:
    """What outlives a controller: the store file, the processes, the load balancer, time."""

    def __init__(self, tmp: Path, *, never_healthy=(), drain_polls=1, on_sleep=None):
        tmp.mkdir(parents=True, exist_ok=True)
        self.path, self.faults, self.journal = tmp / "zerodown.db", Faults(), []
        self.runtime = FakeRuntime(healthy_after=2, never_healthy=never_healthy,
                                   faults=self.faults, journal=self.journal)
        self.router = FakeRouter(drain_polls=drain_polls, faults=self.faults, journal=self.journal)
        self.clock = FakeClock(on_sleep=on_sleep, limit=100_000)
        self.acted = False  # the scenario's while_down did something

    def engine(self, cfg, **kwargs) -> Engine:
        """A controller (re)start: a new connection to the store, the runtime seen afresh."""
        store = CrashingStore(self.path, self.faults, synchronous="OFF")  # fsync: not a crash matter
        return Engine(store, self.runtime.restarted(), self.router, self.clock, cfg, **kwargs)


def check_invariants(world: World, store: Store, revision: int | None, n: int) -> None:
    """The end state, and the rules every moment before it kept."""
    table = world.router.table
    routed = set(table.backends())
    assert {r.name for r in table.revisions} == ({f"r{revision}"} if revision else set())
    assert len(routed) == (n if revision else 0)
    assert world.runtime.running("shop") == routed, "an instance runs outside the table"
    rows = store.instances("shop", live=True)
    assert {r.name("shop") for r in rows} == routed, "the store and the runtime disagree"
    assert {row.state for row in rows.values()} <= {"routed"}
    addresses = {b.id: b.address for _, b in table.backends().values()}
    assert {r.name("shop"): row.address for r, row in rows.items()} == addresses
    assert world.runtime.violations == []
    assert world.router.mirror is None, "a shadow's mirror was left on"
    check_journal(world)


def check_journal(world: World) -> None:
    """No traffic before healthy; no stop while routed or before a drain."""
    address = {p.instance.pid: p.instance.address for p in world.runtime.spawned}
    life, healthy, table, drained = {}, set(), {}, set()
    for entry in world.journal:
        what, subject = entry[0], entry[1]
        if what == "start":
            life[subject] = entry[2]
        elif what == "healthy":
            healthy.add((subject, entry[2]))
        elif what == "apply":
            for backend_id, (_, b) in subject.backends().items():
                assert (backend_id, life.get(backend_id)) in healthy, f"{backend_id} routed unhealthy"
                assert b.address == address[life[backend_id]], f"{backend_id}: stale address"
            drained -= set(subject.backends())
            table = subject.backends()
        elif what == "drained":
            drained.add(subject)
        elif what == "stop":
            assert subject not in table, f"{subject} stopped while routed"
            assert subject in drained or (subject, entry[2]) not in healthy or not any(
                e[0] == "apply" and subject in e[1].backends() for e in world.journal), \
                f"{subject} stopped before it was drained"


def with_pauses(strategy, state, target, hooks=frozenset()) -> Plan:
    """A rolling plan with a manual pause and an analysis after the first route, then a timed pause."""
    plan = plan_for(strategy, state, target)
    first = next(i for i, s in enumerate(plan.steps) if isinstance(s, Route)) + 1
    steps = (*plan.steps[:first], Pause("look at it"), Analyze(target.revision),
             Pause("soak", 60.0), *plan.steps[first:])
    return Plan(plan.strategy, plan.state, plan.target, steps)

