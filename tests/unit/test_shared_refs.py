"""SharedRefs (zerodown/shared_refs.py): a Route's instances read as the tuple of them, and
a rolling plan's Routes, built or read back from the store, share all but a run or two."""

from __future__ import annotations

import json
import random

from tests.unit.test_plan_properties import amount, refs
from zerodown.config import RollingStrategy
from zerodown.model import InstanceRef, Slot
from zerodown.plan import ORDER, Route, ServiceState, Target
from zerodown.plan_data import steps_from_data, steps_to_data
from zerodown.shared_refs import RUN, SharedRefs
from zerodown.strategies import plan_for


def test_it_reads_as_the_tuple_of_its_instances():
    items = refs(1, range(0, 300, 2))
    shared = SharedRefs(items)
    assert shared == items and items == shared and shared != items[1:] and shared != list(items)
    assert hash(shared) == hash(items) and repr(shared) == repr(items)
    assert (len(shared), list(shared), shared[7], shared[-1], shared[3:9]) == (
        len(items), list(items), items[7], items[-1], items[3:9])
    assert SharedRefs() == () and not SharedRefs() and shared


def test_taking_out_and_adding_keeps_slot_order_and_shares_the_other_runs():
    rng = random.Random(7)
    model: list[InstanceRef] = []
    shared = SharedRefs()
    for _ in range(3000):
        ref = InstanceRef(rng.choice((1, 2)), Slot(rng.randrange(600)))
        before = shared
        if ref in model:
            model.remove(ref)
            shared = shared.without(ref)
        else:
            model = sorted([*model, ref], key=ORDER)
            shared = shared.with_(ref)
        assert shared == tuple(model)
        assert all(0 < len(run) <= 2 * RUN for run in shared.runs)
        assert len({id(r) for r in shared.runs} - {id(r) for r in before.runs}) <= 2
    absent = InstanceRef(3, Slot(0))
    assert shared.without(absent) is shared


def pointers(routes: list[Route]) -> int:
    """What the Routes' shares hold: each distinct run once, and each share's list of runs."""
    shares = [s.instances for route in routes for s in route.shares]
    runs = {id(run): len(run) for s in shares for run in s.runs}
    return sum(runs.values()) + sum(len(s.runs) for s in shares)


def test_a_rolling_plan_s_routes_share_their_instances_built_and_read_back():
    n = 1000
    plan = plan_for(RollingStrategy(amount(1), amount(0)), ServiceState(
        "shop", 1, refs(1, range(n))), Target(2, n))
    read = steps_from_data(json.loads(json.dumps(steps_to_data(plan.steps))))
    for steps in (plan.steps, read):
        routes = [s for s in steps if isinstance(s, Route)]
        assert len(routes) == n  # one an instance replaced
        # as tuples, n pointers a Route; here a run or two and the list of runs
        assert pointers(routes) / len(routes) < 4 * RUN + 2 * n / RUN < n / 2
