"""Plans on a fleet (Target.hosts, runtime: ssh; slot i on host i mod N): in-place and rolling
keep every zero-downtime rule of test_plan_properties.py with the capacity counted across the
fleet, keep each host under its max_surge_per_host, replace every slot exactly once, end with
an even spread, and with batch_by: host move batch after batch of hosts."""

from __future__ import annotations

import itertools

import pytest

from tests.unit.test_plan_properties import Service, amount, least_routed, promises, simulate
from zerodown.model import InstanceRef, Slot
from zerodown.plan import DowntimePlan, PlanError, ServiceState, Start, Stop, Target
from zerodown.strategies import plan_for, rollback_plan
from zerodown.strategies.options import InPlaceStrategy, RollingStrategy
from zerodown.strategies.placement import desired, fleet_of, host_batches, hosts_at_once

OLD, NEW = 1, 2
HOSTS = ("app1", "app2", "app3", "app4")


def refs(revision: int, slots) -> tuple[InstanceRef, ...]:
    return tuple(InstanceRef(revision, Slot(i)) for i in slots)


def starts(n: int, hosts: int) -> dict[str, tuple[ServiceState, Target]]:
    t = Target(NEW, n, HOSTS[:hosts])
    half = n // 2
    return {
        "replace": (ServiceState("shop", OLD, refs(OLD, range(n))), t),
        # an earlier plan's surge left the old revision in higher slots, spread unevenly
        "uneven": (ServiceState("shop", OLD, refs(OLD, range(n + 1, 2 * n + 1))), t),
        "first": (ServiceState("shop", None), t),
        "grow": (ServiceState("shop", OLD, refs(OLD, range(max(1, n - 3)))), t),
        "shrink": (ServiceState("shop", OLD, refs(OLD, range(n + 3))), t),
        "resume": (ServiceState("shop", OLD, refs(NEW, range(half)) + refs(OLD, range(half, n)),
                                unrouted=refs(NEW, range(2 * n + 2, 2 * n + 3))), t),
    }


ROLLING = [RollingStrategy(amount(s), amount(u), batch_by=by, batch_size=amount(size),
                           max_surge_per_host=per)
           for (s, u), (by, size), per in itertools.product(
               [(1, 0), (0, 1), (1, 1), (2, 0), ("50%", "25%"), ("100%", 0)],
               [("count", 1), ("host", 1), ("host", "50%")], [None, 1])]
IN_PLACE = [InPlaceStrategy(amount(b), batch_by=by) for b, by in
            [(1, "host"), (2, "host"), (1, "count"), ("50%", "count")]]


def by_host(slots: list[int], hosts: int, strategy) -> list[list[int]]:
    """The slots of each batch of hosts: what in-place takes out at once."""
    size = hosts_at_once(strategy.batch_size, hosts)
    return [[i for i in slots if i % hosts in b] for b in host_batches(
        list(refs(OLD, slots)), today(hosts), size)]


def today(hosts: int):
    """The Fleet of `hosts` hosts where nothing is recorded: slot i on host i mod hosts."""
    return fleet_of(ServiceState("shop", None), HOSTS[:hosts])


def name(s) -> str:
    return "-".join([s.kind, *(str(v) for v in vars(s).values())])


def host_counts(instances, hosts: int) -> list[int]:
    return [sum(1 for r in instances if r.slot.index % hosts == h) for h in range(hosts)]


def per_host_room(plan, strategy, hosts: int) -> None:
    """No host runs more than max(its share, what it ran) + max_surge_per_host."""
    per = getattr(strategy, "max_surge_per_host", None)
    svc = Service(plan.state)
    first = host_counts(svc.running, hosts)
    want = desired(plan.target.instances, hosts)
    for number, step in enumerate(plan.steps, 1):
        svc.apply(step)
        for h, count in enumerate(host_counts(svc.running, hosts)):
            if per is not None:
                assert count <= max(want[h], first[h]) + per, \
                    f"step {number}: {HOSTS[h]} runs {count}\n{plan.describe()}"


def replaced_once(plan) -> None:
    """Every new instance started is one the end needs; every old one stopped once."""
    started = [r for s in plan.steps if isinstance(s, Start) for r in s.instances]
    stopped = [r for s in plan.steps if isinstance(s, Stop) for r in s.instances]
    kept = [r for r in plan.state.routed if r.revision == plan.target.revision]
    assert len(started) == len(set(started))
    assert len(stopped) == len(set(stopped))
    assert len(started) <= plan.target.instances - min(len(kept), plan.target.instances)
    stranded = set(plan.state.unrouted)  # stopped first; its slot may be started again
    assert not set(started) & (set(stopped) - stranded), "a new instance started, then stopped"


@pytest.mark.parametrize("strategy", ROLLING + IN_PLACE, ids=name)
def test_fleet_plans_keep_the_rules_counted_across_the_fleet(strategy):
    for hosts, n in itertools.product(range(1, 5), range(1, 7)):
        least, most = promises(strategy, n)
        if isinstance(strategy, InPlaceStrategy) and strategy.batch_by == "host":
            least = n - max(map(len, by_host(list(range(n)), hosts, strategy)))
        for start, (state, target) in starts(n, hosts).items():
            where = f"{hosts} hosts, {n} instances, from {start!r}"
            try:
                plan = plan_for(strategy, state, target, allow_downtime=True)
                simulate(plan, least, most)
                per_host_room(plan, strategy, hosts)
                replaced_once(plan)
            except (AssertionError, PlanError) as e:
                raise AssertionError(f"{where}: {e}") from None
            if isinstance(strategy, RollingStrategy):  # in-place keeps each slot where it was
                svc = Service(plan.state)
                for step in plan.steps:
                    svc.apply(step)
                assert host_counts(svc.routed, hosts) == desired(n, hosts), f"{where}: spread"


@pytest.mark.parametrize("strategy", [s for s in ROLLING + IN_PLACE
                                      if s.batch_by == "host"], ids=name)
def test_batch_by_host_moves_one_batch_of_hosts_after_another(strategy):
    for hosts, n in itertools.product(range(2, 5), range(2, 8)):
        state, target = starts(n, hosts)["replace"]
        try:
            plan = plan_for(strategy, state, target)
        except DowntimePlan:
            continue  # e.g. in-place, one host holding every instance
        batches = host_batches(list(state.routed), today(hosts),
                               hosts_at_once(strategy.batch_size, hosts))
        batch_of = {h: i for i, b in enumerate(batches) for h in b}
        touched = [batch_of[r.slot.index % hosts] for s in plan.steps
                   if isinstance(s, (Start, Stop)) for r in s.instances]
        assert touched == sorted(touched), f"{hosts} hosts, {n}: batches interleave\n" \
                                           f"{plan.describe()}"


def test_rolling_by_host_starts_a_hosts_instances_before_its_old_ones_drain():
    """3 hosts × 2: with max_surge 2 each host's pair is started and healthy, then routed in
    as its old pair is routed out (one table version) and drains; the next host waits."""
    state = ServiceState("shop", OLD, refs(OLD, range(6)))
    plan = plan_for(RollingStrategy(amount(2), amount(0), batch_by="host"), state,
                    Target(NEW, 6, HOSTS[:3]))
    text = plan.describe().splitlines()[1:]
    assert [line.split(". ", 1)[1] for line in text] == [
        "start shop-r2-s6, shop-r2-s9 (on app1)", "wait until healthy: shop-r2-s6, shop-r2-s9 (on app1)",
        "route r1 66.67% to s1 s2 s4 s5; r2 33.33% to s6 s9",
        "drain shop-r1-s0, shop-r1-s3 (on app1)", "stop shop-r1-s0, shop-r1-s3 (on app1)",
        "start shop-r2-s7, shop-r2-s10 (on app2)",
        "wait until healthy: shop-r2-s7, shop-r2-s10 (on app2)",
        "route r1 33.33% to s2 s5; r2 66.67% to s6 s7 s9 s10",
        "drain shop-r1-s1, shop-r1-s4 (on app2)", "stop shop-r1-s1, shop-r1-s4 (on app2)",
        "start shop-r2-s8, shop-r2-s11 (on app3)",
        "wait until healthy: shop-r2-s8, shop-r2-s11 (on app3)",
        "route r2 100% to s6 s7 s8 s9 s10 s11",
        "drain shop-r1-s2, shop-r1-s5 (on app3)", "stop shop-r1-s2, shop-r1-s5 (on app3)"]


def test_max_surge_per_host_paces_a_host_below_the_fleets_surge():
    """5 instances on 2 hosts (3 + 2): a fleet-wide surge of 4, but each host has room for
    one more instance only."""
    state = ServiceState("shop", OLD, refs(OLD, range(5)))
    strategy = RollingStrategy(amount(4), amount(0), max_surge_per_host=1)
    plan = plan_for(strategy, state, Target(NEW, 5, HOSTS[:2]))
    first = plan.steps[0]
    assert isinstance(first, Start) and host_counts(first.instances, 2) == [1, 1]
    per_host_room(plan, strategy, 2)
    assert "max_surge_per_host=1" in plan.strategy


def test_rolling_rollback_on_a_fleet_goes_back_by_the_same_rules():
    state = ServiceState("shop", OLD, refs(NEW, range(3)) + refs(OLD, range(3, 6)))
    strategy = RollingStrategy(amount(1), amount(0), batch_by="host", max_surge_per_host=1)
    plan = rollback_plan(strategy, state, Target(OLD, 6, HOSTS[:3]))
    simulate(plan, 6, 7)
    per_host_room(plan, strategy, 3)


@pytest.mark.parametrize("strategy", ROLLING + IN_PLACE, ids=name)
def test_a_fleet_plan_keeps_one_instance_routed_at_every_step_or_is_refused(strategy):
    for hosts, n in itertools.product(range(1, 5), range(1, 6)):
        for start, (state, target) in starts(n, hosts).items():
            try:
                plan = plan_for(strategy, state, target)
            except DowntimePlan:
                plan = plan_for(strategy, state, target, allow_downtime=True)
                assert least_routed(plan) == 0, f"{hosts} hosts, {n}, {start}: refused a " \
                                                f"plan that serves throughout"
                continue
            if state.routed:
                assert least_routed(plan) >= 1, f"{hosts} hosts, {n}, {start}\n{plan.describe()}"
