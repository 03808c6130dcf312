"""A plan's stored form (zerodown/plan_data.py): every planner's plan reads back as it was,
a Route stored as its change from the Route before, so a rolling plan one instance at a
time stores a Route in the same bytes at any size; a store lists a deployment whose step
is such a Route as the whole deployment shows it."""

from __future__ import annotations

import json

import pytest

from tests.support.engine_world import CANARY, ROLLING, World, config
from tests.unit.test_plan_properties import STRATEGIES, amount, refs, start_states
from zerodown.config import (BlueGreenStrategy, CanaryStrategy, PauseStep, RollingStrategy,
                             WeightStep)
from zerodown.engine.store import Store
from zerodown.model import InstanceRef, Rule, Slot, Sticky
from zerodown.plan import PlanError, Route, ServiceState, Share, Target
from zerodown.plan_data import is_change, step_from_data, steps_from_data, steps_to_data
from zerodown.strategies import abort_plan, plan_for, rollback_plan


def stored(steps) -> list[dict]:
    return json.loads(json.dumps(steps_to_data(steps)))


def every_plan():
    strategies = [*STRATEGIES, BlueGreenStrategy(),
                  CanaryStrategy((WeightStep(10), PauseStep(None), WeightStep(50)))]
    for n in (1, 3, 6):
        for name, (state, target) in start_states(n).items():
            for strategy in strategies:
                yield plan_for(strategy, state, target, allow_downtime=True)
            yield rollback_plan(RollingStrategy(), state, target)
            if any(r.revision == target.revision for r in (*state.routed, *state.unrouted)):
                yield abort_plan(state, target)


def test_every_planner_s_plan_reads_back_as_it_was():
    changes = 0
    for plan in every_plan():
        data = stored(plan.steps)
        assert steps_from_data(data) == plan.steps, plan.describe()
        routes = [(step, d) for step, d in zip(plan.steps, data) if isinstance(step, Route)]
        for (before, _), (route, d) in zip(routes, routes[1:]):
            # a share whose revision the Route before had is its change (planners keep
            # every share in slot order); a new revision's share is whole
            again = {s.revision for s in route.shares} & {s.revision for s in before.shares}
            assert [s["revision"] for s in d["shares"] if "added" in s] == [
                s.revision for s in route.shares if s.revision in again]
            changes += bool(again)
    assert changes > 500


def test_a_rolling_route_is_stored_in_the_same_bytes_at_any_size():
    def routes(n: int) -> list[int]:
        state = ServiceState("shop", 1, refs(1, range(n)))
        plan = plan_for(RollingStrategy(amount(1), amount(0)), state, Target(2, n))
        data = stored(plan.steps)
        assert steps_from_data(data) == plan.steps
        return [len(json.dumps(d)) for d in data if d["step"] == "Route"]

    small, big = routes(20), routes(400)
    assert len(big) == 20 * len(small)  # one Route an instance replaced
    # (whole, the largest at 400 was ~16 kB: a Route listed every instance)
    assert max(big[1:]) <= max(small[1:]) + 8 < 300


def test_a_read_plan_holds_each_instance_once_and_an_unchanged_share_once():
    state = ServiceState("shop", 1, refs(1, range(50)))
    plan = plan_for(config(50, CANARY).strategy, state, Target(2, 50))
    steps = steps_from_data(stored(plan.steps))
    routes = [s for s in steps if isinstance(s, Route)]
    objects = [r for route in routes for share in route.shares for r in share.instances]
    # 185 named, 100 instances (50 stable, 50 canary: one, then all at the promotion)
    assert len({id(r) for r in objects}) == len(set(objects)) == 100 < len(objects)
    stable = [share.instances for route in routes[:-1] for share in route.shares
              if share.revision == 1]
    assert len(stable) == 2 and stable[1] is stable[0]  # at 20%, then 50%: one tuple


def test_a_share_out_of_slot_order_or_with_nothing_before_is_stored_whole():
    a, b, c = (InstanceRef(1, Slot(i)) for i in (0, 1, 2))
    steps = (Route((Share(1, (a, b)),)), Route((Share(1, (c, a)), Share(2, ()), )),
             Route((Share(1, (a, c), 30.0), Share(2, (InstanceRef(2, Slot(3)),), 70.0)),
                   (Rule("r2", header="X-Beta", equals="1"),), Sticky("cookie", "u", 60)))
    data = stored(steps)
    # r1's (c, a) is out of order, as is its change from (a, b) and to (a, c); r2's
    # second share is the change from its first
    assert [[("instances" in s, "added" in s) for s in d["shares"]] for d in data] == [
        [(True, False)], [(True, False), (True, False)], [(True, False), (False, True)]]
    assert steps_from_data(data) == steps


def test_a_route_stored_as_a_change_is_not_read_without_the_route_before():
    a, b = InstanceRef(1, Slot(0)), InstanceRef(1, Slot(1))
    first, change = stored((Route((Share(1, (a,)),)), Route((Share(1, (a, b)),))))
    with pytest.raises(PlanError, match=r"is not a step: .*r1's share of a Route before it"):
        step_from_data(change)
    gone = {"revision": 1, "weight": None, "added": [], "removed": [{"revision": 1, "slot": 7}]}
    with pytest.raises(PlanError, match=r"takes out r1-s7, which the Route before it did not"):
        steps_from_data([first, {**change, "shares": [gone]}])


def test_a_deployment_at_a_route_stored_as_a_change_lists_as_it_shows(tmp_path):
    world = World(tmp_path)
    engine = world.engine(config(4, ROLLING))
    engine.run(engine.deploy("v1"))
    id = engine.deploy("v2")
    data = json.loads(engine.store.db.execute("SELECT steps FROM plans WHERE deployment = ?",
                                              (id,)).fetchone()[0])
    at = [i for i, d in enumerate(data) if is_change(d)][1]
    engine.store.db.execute("UPDATE deployments SET cursor = ? WHERE id = ?", (at, id))
    with Store(engine.store.path) as store:
        (listed,) = [x for x in store.listed("shop") if x.id == id]
        d = store.deployment(id)
        assert isinstance(d.step, Route) and listed.step == d.step
        assert (listed.cursor, listed.length) == (at, len(d.steps))
