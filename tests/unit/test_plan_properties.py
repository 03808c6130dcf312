"""The zero-downtime rules, checked on every plan every planner makes.

Each plan is run step by step on a tiny model of a service (which instances
run, which were waited healthy, which are routed, which still need a drain)
and must never:
  - route traffic to an instance that was not waited healthy since it started;
  - stop an instance that is routed, or not drained since it was last routed out;
  - start an instance twice, or two instances in one slot;
  - serve with fewer routed instances than promised (instances - max_unavailable
    for rolling, instances - batch_size for in-place; or what served at the start,
    if that was less), or run more than instances + max_surge;
and must end with exactly `instances` instances of the target routed and
nothing else running.
"""

from __future__ import annotations

import itertools

import pytest

from zerodown.config import Amount, InPlaceStrategy, RollingStrategy
from zerodown.model import InstanceRef, Slot
from zerodown.plan import Drain, Route, ServiceState, Start, Stop, Target, WaitHealthy
from zerodown.strategies import abort_plan, in_place, plan_for, rollback_plan, rolling

OLD, NEW = 1, 2


def amount(v: int | str) -> Amount:
    return Amount(int(v[:-1]), percent=True) if isinstance(v, str) else Amount(v)


def refs(revision: int, slots: range, hosts=("local",)) -> tuple[InstanceRef, ...]:
    return tuple(InstanceRef(revision, Slot(i, hosts[i % len(hosts)])) for i in slots)


def start_states(n: int) -> dict[str, tuple[ServiceState, Target]]:
    """Where a deployment can start from, for n target instances."""
    half = n // 2
    mid = ServiceState("shop", OLD, refs(NEW, range(half)) + refs(OLD, range(half, n)),
                       unrouted=refs(NEW, range(n + 5, n + 6)))  # a stranded, never-healthy one
    return {
        "replace": (ServiceState("shop", OLD, refs(OLD, range(n))), Target(NEW, n)),
        "two-hosts": (ServiceState("shop", OLD, refs(OLD, range(n), ("a", "b"))), Target(NEW, n)),
        "first": (ServiceState("shop", None), Target(NEW, n)),
        "grow": (ServiceState("shop", OLD, refs(OLD, range(max(1, n - 2)))), Target(NEW, n)),
        "shrink": (ServiceState("shop", OLD, refs(OLD, range(n + 2))), Target(NEW, n)),
        "resume": (mid, Target(NEW, n)),
        "rollback": (mid, Target(OLD, n)),
    }


AMOUNTS = (0, 1, 2, "25%", "50%", "100%")
STRATEGIES = ([InPlaceStrategy(amount(b)) for b in (1, 2, 3, "25%", "50%", "100%")]
              + [RollingStrategy(amount(s), amount(u)) for s, u in itertools.product(AMOUNTS, AMOUNTS)
                 if (s, u) != (0, 0)]
              + [RollingStrategy(amount("10%"), amount(0)), RollingStrategy(amount(0), amount("10%"))])


def promises(strategy, n: int) -> tuple[int, int]:
    """(least routed, most running) the strategy's parameters promise."""
    if isinstance(strategy, InPlaceStrategy):
        return n - in_place.batch_size(strategy, n), n
    surge, unavailable = rolling.budgets(strategy, n)
    return n - unavailable, n + surge


def case_id(strategy, n: int) -> str:
    return "-".join([strategy.kind, *(str(v) for v in vars(strategy).values()), f"n{n}"])


CASES = [pytest.param(s, n, id=case_id(s, n)) for s in STRATEGIES for n in range(1, 7)]


class Service:
    """The tiny model a plan runs on: what runs, is healthy, is routed, needs a drain."""

    def __init__(self, state):
        self.routed = set(state.routed)
        self.running = self.routed | set(state.unrouted)
        self.healthy = set(self.routed)
        self.undrained = set(state.unrouted)  # may have served until just now

    def apply(self, step) -> None:
        if isinstance(step, Start):
            for r in step.instances:
                assert r not in self.running, "started twice"
                assert r.slot.index not in {x.slot.index for x in self.running}, "slot busy"
                self.running.add(r)
        elif isinstance(step, WaitHealthy):
            assert set(step.instances) <= self.running, "waiting on what does not run"
            self.healthy |= set(step.instances)
        elif isinstance(step, Route):
            wanted = step.routed()
            assert wanted <= self.healthy, "traffic before healthy"
            assert all(i.revision == s.revision for s in step.shares for i in s.instances)
            assert not wanted or abs(sum(step.percents().values()) - 100) < 1e-9
            self.undrained |= self.routed - wanted
            self.routed = set(wanted)
        elif isinstance(step, Drain):
            assert not set(step.instances) & self.routed, "draining a routed instance"
            self.undrained -= set(step.instances)
        elif isinstance(step, Stop):
            for r in step.instances:
                assert r in self.running and r not in self.routed, "stopping a routed instance"
                assert r not in self.undrained, "stop before drain"
                self.running.discard(r)
                self.healthy.discard(r)


def simulate(plan, least: int, most: int) -> None:
    svc = Service(plan.state)
    least, most = min(least, len(svc.routed)), max(most, len(svc.running))
    for number, step in enumerate(plan.steps, 1):
        try:
            svc.apply(step)
            assert len(svc.routed) >= least, f"capacity {len(svc.routed)} < {least}"
            assert len(svc.running) <= most, f"{len(svc.running)} running > {most}"
        except AssertionError as e:
            raise AssertionError(f"step {number}: {e}\n{plan.describe()}") from None
    target = plan.target
    assert svc.routed == svc.running, f"left running outside the table: {svc.running - svc.routed}"
    assert len(svc.routed) == target.instances
    assert {r.revision for r in svc.routed} == {target.revision}


@pytest.mark.parametrize("strategy, n", CASES)
def test_every_plan_keeps_the_zero_downtime_rules(strategy, n):
    least, most = promises(strategy, n)
    for start, (state, target) in start_states(n).items():
        planner = rollback_plan if start == "rollback" else plan_for
        try:
            simulate(planner(strategy, state, target), least, most)
        except AssertionError as e:
            raise AssertionError(f"starting from {start!r}: {e}") from None


@pytest.mark.parametrize("n", range(1, 7))
def test_an_abort_keeps_the_rules_with_what_the_stable_revision_has(n):
    state, target = start_states(n)["rollback"]
    serving = sum(1 for r in state.routed if r.revision == target.revision)
    if serving:
        simulate(abort_plan(state, target), serving, len(state.routed) + len(state.unrouted))
