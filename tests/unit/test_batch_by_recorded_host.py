"""batch_by: host after runtime.hosts changed: an old instance leaves in the batch of the host
it runs on (ServiceState.runs_on, recorded when it started), not of slot i's host in today's
list. For every change of the list (a host added, the list reordered, a host removed or
replaced, an older store with some rows unrecorded) and every batch_by: host strategy of
test_fleet_plans.py: the zero-downtime rules hold with the capacity counted across the fleet,
each batch stops the instances of one real host and all of them, a host's room holds
counted on real hosts, new instances go by today's list, and a host no longer listed is a
batch of its own at the end, named in the plan."""

from __future__ import annotations

import itertools

import pytest

from tests.unit.test_fleet_plans import IN_PLACE, ROLLING, name, replaced_once
from tests.unit.test_plan_properties import Service, amount, promises, simulate
from zerodown.model import InstanceRef, Slot, host_for
from zerodown.plan import PlanError, ServiceState, Start, Stop, Target
from zerodown.strategies import plan_for
from zerodown.strategies.options import InPlaceStrategy, RollingStrategy
from zerodown.strategies.placement import desired, fleet_of, hosts_at_once

OLD, NEW = 1, 2
BEFORE = ("app1", "app2", "app3")  # where the old instances were started
TODAY = {
    "added": ("app1", "app2", "app3", "app4"),
    "reordered": ("app3", "app1", "app2"),
    "removed": ("app1", "app2"),
    "replaced": ("app1", "app4", "app3"),
    "shrunk-reordered": ("app2", "app1"),
    "older-store": ("app2", "app3", "app1"),  # rows of even slots recorded, odd ones not
}
STRATEGIES = [s for s in ROLLING + IN_PLACE if s.batch_by == "host"]


def state_before(n: int, change: str) -> ServiceState:
    routed = tuple(InstanceRef(OLD, Slot(i)) for i in range(n))
    recorded = {r: host_for(BEFORE, r.slot.index) for r in routed
                if change != "older-store" or r.slot.index % 2 == 0}
    return ServiceState("shop", OLD, routed, runs_on=recorded)


def real_host(ref: InstanceRef, state: ServiceState, hosts: tuple[str, ...]) -> str:
    """Where an instance runs: recorded, else (started by the plan, or unrecorded) today's."""
    return state.runs_on.get(ref) or host_for(hosts, ref.slot.index)


def touched(plan, kind) -> list[list[str]]:
    """The real hosts of each step of `kind`, in order."""
    s, hosts = plan.state, plan.target.hosts
    return [sorted({real_host(r, s, hosts) for r in step.instances})
            for step in plan.steps if isinstance(step, kind)]


def in_place_least(strategy, state: ServiceState, hosts: tuple[str, ...], n: int) -> int:
    """In-place takes out one host's instances at a time (batch_size 1) or two hosts'."""
    fleet = fleet_of(state, hosts)
    per = sorted(itertools.chain(*[[sum(1 for r in state.routed if fleet.index(r) == h)]
                                   for h in range(len(fleet))]), reverse=True)
    size = strategy.batch_size.resolve(len(hosts), round_up=False)
    return n - sum(per[:max(1, size)])


def room_on_real_hosts(plan, strategy) -> None:
    """max_surge_per_host holds on each real host: no host runs more than max(its share,
    what it ran) + the room."""
    per = getattr(strategy, "max_surge_per_host", None)  # in-place has none
    if per is None:
        return
    hosts, state = plan.target.hosts, plan.state
    share = dict(zip(hosts, desired(plan.target.instances, len(hosts))))

    def counts(running) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in running:
            out[real_host(r, state, hosts)] = out.get(real_host(r, state, hosts), 0) + 1
        return out
    svc = Service(state)
    first = counts(svc.running)
    for number, step in enumerate(plan.steps, 1):
        svc.apply(step)
        for host, count in counts(svc.running).items():
            assert count <= max(share.get(host, 0), first.get(host, 0)) + per, \
                f"step {number}: {host} runs {count}\n{plan.describe()}"


@pytest.mark.parametrize("strategy", STRATEGIES, ids=name)
def test_a_batch_stops_one_real_hosts_instances_and_all_of_them(strategy):
    one_host = strategy.batch_size == amount(1)
    for (change, hosts), n in itertools.product(TODAY.items(), range(2, 9)):
        state, target = state_before(n, change), Target(NEW, n, hosts)
        where = f"{change} {hosts}, {n} instances"
        size = hosts_at_once(strategy.batch_size, len(hosts))
        least, most = promises(strategy, n)
        if isinstance(strategy, InPlaceStrategy):
            least = in_place_least(strategy, state, hosts, n)
        try:
            plan = plan_for(strategy, state, target, allow_downtime=True)
            simulate(plan, least, most)
            replaced_once(plan)
            room_on_real_hosts(plan, strategy)
        except (AssertionError, PlanError) as e:
            raise AssertionError(f"{where}: {e}") from None
        stops = touched(plan, Stop)
        # a host's old instances leave from its first stop to its last: at most batch_size
        # hosts are leaving at once (one: never split by another host's stops)
        span = {h: (min(i for i, s in enumerate(stops) if h in s),
                    max(i for i, s in enumerate(stops) if h in s)) for s in stops for h in s}
        at_once = max(sum(1 for a, z in span.values() if a <= i <= z) for i in range(len(stops)))
        assert at_once <= size, f"{where}: {at_once} hosts leaving at once\n{plan.describe()}"
        runs = sorted(span, key=span.__getitem__)
        if one_host:
            assert all(len(s) == 1 for s in stops), f"{where}: one stop, two hosts\n" \
                                                    f"{plan.describe()}"
        # hosts no longer listed go last, and the plan names them so
        gone = [h for h in runs if h not in hosts]
        assert runs[len(runs) - len(gone):] == gone, f"{where}: {runs}"
        for h in gone:
            assert f"{h} (not listed)" in plan.describe(), where
        # new instances only on listed hosts, spread evenly by today's list (rolling)
        started = [r for step in plan.steps if isinstance(step, Start) for r in step.instances]
        if isinstance(strategy, RollingStrategy):
            counts = [sum(1 for r in started if r.slot.index % len(hosts) == h)
                      for h in range(len(hosts))]
            assert counts == desired(n, len(hosts)), f"{where}: spread {counts}"


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s.batch_size == amount(1)],
                         ids=name)
def test_a_listed_hosts_batch_starts_its_new_instances_on_that_host(strategy):
    """In-place: a batch's new instances go on the host its old ones ran on, when listed;
    rolling: a batch's new instances go on the batch's one host (and the new host added to
    the list gets its share when its turn comes)."""
    for (change, hosts), n in itertools.product(TODAY.items(), range(2, 9)):
        state = state_before(n, change)
        plan = plan_for(strategy, state, Target(NEW, n, hosts), allow_downtime=True)
        last = None  # in-place: the host of the batch under way (that of its stop)
        for step in plan.steps:
            on = {host_for(hosts, r.slot.index) for r in step.instances} \
                if isinstance(step, Start) else set()
            if isinstance(step, Stop):
                (last,) = {real_host(r, state, hosts) for r in step.instances}
            elif isinstance(strategy, RollingStrategy):
                assert len(on) <= 1, f"{change} {hosts}, {n}: {step}\n{plan.describe()}"
            elif on and last in hosts:
                assert on == {last}, f"{change} {hosts}, {n}: {step} after a stop on " \
                                     f"{last}\n{plan.describe()}"


def test_adding_a_host_keeps_each_batch_on_one_host():
    """The case of the brief: 6 instances on app1..app3, app4 added. By today's list slot 3
    is app4's and slot 4 app1's, so the old rule stopped s0 (app1) with s4 (app2's) and
    app2's s1 and s4 in two batches."""
    state = state_before(6, "added")
    plan = plan_for(InPlaceStrategy(amount(1), batch_by="host"), state,
                    Target(NEW, 6, TODAY["added"]))
    stops = [line.split(". ", 1)[1] for line in plan.describe().splitlines()
             if ". stop " in line]
    assert stops == ["stop shop-r1-s0, shop-r1-s3 (on app1)",
                     "stop shop-r1-s1, shop-r1-s4 (on app2)",
                     "stop shop-r1-s2, shop-r1-s5 (on app3)"]
    starts = [line.split(". ", 1)[1] for line in plan.describe().splitlines()
              if ". start " in line]
    assert starts == ["start shop-r2-s0, shop-r2-s8 (on app1)",
                      "start shop-r2-s1, shop-r2-s9 (on app2)",
                      "start shop-r2-s2, shop-r2-s6 (on app3)"]


def test_a_host_no_longer_listed_is_the_last_batch_named_in_the_plan():
    """app3 taken off the list: its s2 and s5 leave last, each stop named on app3 (not
    listed); app2's last share starts once app3's first instance is out (surge 1)."""
    state = state_before(6, "removed")
    plan = plan_for(RollingStrategy(amount(1), amount(0), batch_by="host"), state,
                    Target(NEW, 6, TODAY["removed"]))
    lines = plan.describe().splitlines()
    stops = [line.split(". ", 1)[1] for line in lines if ". stop " in line]
    assert stops[-2:] == ["stop shop-r1-s2 (on app3 (not listed))",
                          "stop shop-r1-s5 (on app3 (not listed))"], plan.describe()
    assert all("app3" not in s for s in stops[:-2]), plan.describe()
