"""The zero-downtime rules, checked on every plan every planner makes.

Each plan is run step by step on a tiny model of a service (which instances
run, which were waited healthy, which are routed, which still need a drain)
and must never:
  - route traffic to an instance that was not waited healthy since it started;
  - stop an instance that is routed, or not drained since it was last routed out;
  - start an instance twice, or two instances in one slot;
  - serve with fewer routed instances than promised (instances - max_unavailable
    for rolling, instances - batch_size for in-place; or what served at the start,
    if that was less), or run more than instances + max_surge besides the ones on
    their way out (out of the table, not yet stopped: Kubernetes does not count
    terminating pods against maxSurge either; strategies/builder.py);
and must end with exactly `instances` instances of the target routed and
nothing else running.
"""

from __future__ import annotations

import itertools

import pytest

from zerodown.config import (Amount, BlueGreenStrategy, CanaryStrategy, InPlaceStrategy,
                             PauseStep, RollingStrategy, WeightStep)
from zerodown.strategies.options import ABTestStrategy, MatchRule
from zerodown.model import InstanceRef, Slot
from zerodown.plan import (DowntimePlan, Drain, Route, ServiceState, Shadow, Start, Stop, Target,
                           WaitHealthy)
from zerodown.strategies.shadow_options import ShadowConfig, ShadowStep
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
        self.leaving = set(state.unrouted)  # out of the table, not stopped yet
        self.users: set[int] = {r.revision for r in state.routed}  # revisions users reach

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
            self.leaving |= self.routed - wanted
            self.routed = set(wanted)
            self.users = {s.revision for s in step.shares if step.traffic(s.revision)}
        elif isinstance(step, Shadow):  # copies of users' requests, to a revision no user has
            assert step.revision not in self.users, "a shadow of a revision users reach"
            assert any(r.revision == step.revision for r in self.healthy), "a shadow of nothing"
            assert self.users, "a shadow with no user request to copy"
        elif isinstance(step, Drain):
            assert not set(step.instances) & self.routed, "draining a routed instance"
            self.undrained -= set(step.instances)
        elif isinstance(step, Stop):
            for r in step.instances:
                assert r in self.running and r not in self.routed, "stopping a routed instance"
                assert r not in self.undrained, "stop before drain"
                self.running.discard(r)
                self.healthy.discard(r)
                self.leaving.discard(r)


def simulate(plan, least: int, most: int) -> None:
    svc = Service(plan.state)
    least, most = min(least, len(svc.routed)), max(most, len(svc.running - svc.leaving))
    for number, step in enumerate(plan.steps, 1):
        try:
            svc.apply(step)
            assert len(svc.routed) >= least, f"capacity {len(svc.routed)} < {least}"
            staying = len(svc.running - svc.leaving)
            assert staying <= most, f"{staying} running (besides leaving ones) > {most}"
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
        try:  # the capacity promise may be 0: whether to allow that is the test below
            simulate(planner(strategy, state, target, allow_downtime=True), least, most)
        except AssertionError as e:
            raise AssertionError(f"starting from {start!r}: {e}") from None


@pytest.mark.parametrize("n", range(1, 7))
def test_an_abort_keeps_the_rules_with_what_the_stable_revision_has(n):
    state, target = start_states(n)["rollback"]
    serving = sum(1 for r in state.routed if r.revision == target.revision)
    if serving:
        simulate(abort_plan(state, target), serving, len(state.routed) + len(state.unrouted))


# --- never nothing routed: for every strategy, a plan zerodown runs keeps a routed,
# healthy instance at every step while the service serves, or is refused ---------

EVERY_KIND = STRATEGIES + [
    BlueGreenStrategy(), BlueGreenStrategy(auto_promote=False, scale_down_delay=0),
    CanaryStrategy(steps=(WeightStep(20), PauseStep(5), WeightStep(50))),
    CanaryStrategy(steps=(WeightStep(100),), canary_instances=amount("100%")),
    CanaryStrategy(steps=(ShadowStep(ShadowConfig()), WeightStep(50))),
    CanaryStrategy(steps=(PauseStep(5), ShadowStep(ShadowConfig()), WeightStep(50)),
                   match=(MatchRule(header="X-Beta", equals="1"),)),
    BlueGreenStrategy(pre_promotion_shadow=ShadowConfig(), preview_header=None),
    ABTestStrategy()]


def least_routed(plan) -> int:
    """The fewest instances the model sees routed (and healthy) after any step."""
    svc, least = Service(plan.state), len(plan.state.routed)
    for step in plan.steps:
        svc.apply(step)
        assert svc.routed <= svc.healthy
        least = min(least, len(svc.routed))
    return least


@pytest.mark.parametrize("strategy", EVERY_KIND, ids=lambda s: case_id(s, 0))
@pytest.mark.parametrize("n", range(1, 7))
def test_a_plan_keeps_one_routed_healthy_instance_at_every_step_or_is_refused(strategy, n):
    for start, (state, target) in start_states(n).items():
        planner = rollback_plan if start == "rollback" else plan_for
        try:
            plan = planner(strategy, state, target)
        except DowntimePlan as e:
            plan = planner(strategy, state, target, allow_downtime=True)
            assert least_routed(plan) == 0, f"{start}: refused a plan that serves throughout"
            assert f"routes nothing at step {plan.outage()} of" in str(e)
            assert "--allow-downtime" in str(e)
            continue
        if state.routed:
            assert least_routed(plan) >= 1, f"{start}: nothing routed at some step\n" \
                                            f"{plan.describe()}"
        assert plan.outage() is None


def test_whole_batches_are_the_downtime_the_guard_refuses():
    state, target = start_states(4)["replace"]
    for strategy in (InPlaceStrategy(amount(4)), InPlaceStrategy(amount("100%")),
                     RollingStrategy(amount(0), amount("100%"))):
        with pytest.raises(DowntimePlan, match=r"routes nothing at step \d+ of"):
            plan_for(strategy, state, target)
    for strategy in (InPlaceStrategy(amount(3)), RollingStrategy(amount(0), amount("75%"))):
        assert least_routed(plan_for(strategy, state, target)) == 1
