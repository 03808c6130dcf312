"""Exact plans for small cases: state and parameters in, the printed plan out.

The text is what `zerodown plan` prints, so these tables also pin the output.
The zero-downtime rules themselves are checked on every plan in
test_plan_properties.py.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from zerodown import table_json
from zerodown.config import Amount, InPlaceStrategy, RollingStrategy
from zerodown.engine.lifecycle import promoted
from zerodown.model import InstanceRef, Rule, Slot, Sticky
from zerodown.plan import (Analyze, Drain, Hook, Pause, PlanError, Route, ServiceState, Share,
                           Start, Target, route_table)
from zerodown.plan_data import step_from_data, step_to_data
from zerodown.strategies import abort_plan, plan_for, rollback_plan, rolling
from zerodown.strategies.options import (ABTestStrategy, AnalysisConfig, AnalysisStep,
                                         BlueGreenStrategy, CanaryStrategy, MatchRule, PauseStep,
                                         WeightStep)


def amount(v: int | str) -> Amount:
    return Amount(int(v[:-1]), percent=True) if isinstance(v, str) else Amount(v)


def refs(revision: int, slots, host: str = "local") -> tuple[InstanceRef, ...]:
    return tuple(InstanceRef(revision, Slot(i, host)) for i in slots)


def serving(revision: int, n: int, unrouted=()) -> ServiceState:
    return ServiceState("shop", revision, refs(revision, range(n)), tuple(unrouted))


PLANS = {
    "in-place, the seed's example: one server at a time, in its own slot": (
        InPlaceStrategy(amount(1)), serving(1, 2), Target(2, 2), """
        shop: r1 → r2, 2 instances, in-place batch_size=1, 11 steps
         1. route r1 100% to s1
         2. drain shop-r1-s0
         3. stop shop-r1-s0
         4. start shop-r2-s0
         5. wait until healthy: shop-r2-s0
         6. route r2 100% to s0
         7. drain shop-r1-s1
         8. stop shop-r1-s1
         9. start shop-r2-s1
        10. wait until healthy: shop-r2-s1
        11. route r2 100% to s0 s1"""),
    "in-place, 50% of 4 is a batch of 2": (
        InPlaceStrategy(amount("50%")), serving(1, 4), Target(2, 4), """
        shop: r1 → r2, 4 instances, in-place batch_size=50%, 11 steps
         1. route r1 100% to s2 s3
         2. drain shop-r1-s0, shop-r1-s1
         3. stop shop-r1-s0, shop-r1-s1
         4. start shop-r2-s0, shop-r2-s1
         5. wait until healthy: shop-r2-s0, shop-r2-s1
         6. route r2 100% to s0 s1
         7. drain shop-r1-s2, shop-r1-s3
         8. stop shop-r1-s2, shop-r1-s3
         9. start shop-r2-s2, shop-r2-s3
        10. wait until healthy: shop-r2-s2, shop-r2-s3
        11. route r2 100% to s0 s1 s2 s3"""),
    "in-place, growing: the extra instance starts first, costing no capacity": (
        InPlaceStrategy(amount(1)), serving(1, 1), Target(2, 2), """
        shop: r1 → r2, 2 instances, in-place batch_size=1, 8 steps
        1. start shop-r2-s1
        2. wait until healthy: shop-r2-s1
        3. route r2 100% to s1
        4. drain shop-r1-s0
        5. stop shop-r1-s0
        6. start shop-r2-s0
        7. wait until healthy: shop-r2-s0
        8. route r2 100% to s0 s1"""),
    "rolling, surge (seed variant 1): add a new one, then remove an old one; the next new "
    "one starts as soon as the old one is out of the table": (
        RollingStrategy(amount(1), amount(0)), serving(1, 2), Target(2, 2), """
        shop: r1 → r2, 2 instances, rolling max_surge=1 max_unavailable=0, 10 steps
         1. start shop-r2-s2
         2. wait until healthy: shop-r2-s2
         3. route r1 50% to s1; r2 50% to s2
         4. start shop-r2-s3
         5. drain shop-r1-s0
         6. stop shop-r1-s0
         7. wait until healthy: shop-r2-s3
         8. route r2 100% to s2 s3
         9. drain shop-r1-s1
        10. stop shop-r1-s1"""),
    "rolling, in turn (seed variant 2): detach, replace, attach": (
        RollingStrategy(amount(0), amount(1)), serving(1, 2), Target(2, 2), """
        shop: r1 → r2, 2 instances, rolling max_surge=0 max_unavailable=1, 11 steps
         1. route r1 100% to s1
         2. drain shop-r1-s0
         3. stop shop-r1-s0
         4. start shop-r2-s0
         5. wait until healthy: shop-r2-s0
         6. route r2 100% to s0
         7. drain shop-r1-s1
         8. stop shop-r1-s1
         9. start shop-r2-s1
        10. wait until healthy: shop-r2-s1
        11. route r2 100% to s0 s1"""),
    "rolling, both: at most 4 run and at least 2 serve": (
        RollingStrategy(amount(1), amount(1)), serving(1, 3), Target(2, 3), """
        shop: r1 → r2, 3 instances, rolling max_surge=1 max_unavailable=1, 11 steps
         1. route r1 100% to s1 s2
         2. start shop-r2-s3, shop-r2-s4
         3. drain shop-r1-s0
         4. stop shop-r1-s0
         5. wait until healthy: shop-r2-s3, shop-r2-s4
         6. route r2 100% to s3 s4
         7. start shop-r2-s5
         8. drain shop-r1-s1, shop-r1-s2
         9. stop shop-r1-s1, shop-r1-s2
        10. wait until healthy: shop-r2-s5
        11. route r2 100% to s3 s4 s5"""),
    "rolling, first deploy: nothing to protect, everything starts at once": (
        RollingStrategy(amount(1), amount(0)), ServiceState("shop", None), Target(1, 2), """
        shop: r1 (first deploy), 2 instances, rolling max_surge=1 max_unavailable=0, 3 steps
        1. start shop-r1-s0, shop-r1-s1
        2. wait until healthy: shop-r1-s0, shop-r1-s1
        3. route r1 100% to s0 s1"""),
    "rolling, an interrupted deploy's stranded instance is drained and stopped first "
    "(as the new one starts)": (
        RollingStrategy(amount(1), amount(0)), serving(1, 1, refs(2, [1])), Target(2, 1), """
        shop: r1 → r2, 1 instance, rolling max_surge=1 max_unavailable=0, 7 steps
        1. start shop-r2-s2
        2. drain shop-r2-s1
        3. stop shop-r2-s1
        4. wait until healthy: shop-r2-s2
        5. route r2 100% to s2
        6. drain shop-r1-s0
        7. stop shop-r1-s0"""),
}


@pytest.mark.parametrize("strategy, state, target, expected", PLANS.values(), ids=list(PLANS))
def test_exact_plans(strategy, state, target, expected):
    assert plan_for(strategy, state, target).describe() == textwrap.dedent(expected).strip()


def test_in_place_rollback_is_the_same_plan_backwards():
    mid = ServiceState("shop", 1, refs(2, [0]) + refs(1, [1]), unrouted=refs(2, [2]))
    assert rollback_plan(InPlaceStrategy(amount(1)), mid, Target(1, 2)).describe() == textwrap.dedent("""\
        shop: r2 → r1, 2 instances, rollback, in-place batch_size=1, 8 steps
        1. drain shop-r2-s2
        2. stop shop-r2-s2
        3. route r1 100% to s1
        4. drain shop-r2-s0
        5. stop shop-r2-s0
        6. start shop-r1-s0
        7. wait until healthy: shop-r1-s0
        8. route r1 100% to s0 s1""")


def test_abort_moves_all_traffic_back_in_one_route():
    state = ServiceState("shop", 1, refs(1, range(2)) + refs(2, [2]))
    steps = abort_plan(state, Target(1, 2)).steps
    assert [s.describe("shop") for s in steps] == [
        "route r1 100% to s0 s1", "drain shop-r2-s2", "stop shop-r2-s2"]
    with pytest.raises(PlanError, match="none of its instances runs"):
        abort_plan(ServiceState("shop", 1, refs(2, [0])), Target(1, 1))


@pytest.mark.parametrize("surge, unavailable, n, expected", [
    (1, 0, 4, (1, 0)), ("25%", "25%", 4, (1, 1)), ("25%", "25%", 3, (1, 0)),
    ("10%", 0, 4, (1, 0)), (0, "10%", 4, (0, 1)),  # both 0 after rounding: as Kubernetes, 1
    ("100%", "50%", 5, (5, 2)), (0, "100%", 3, (0, 3))])
def test_rolling_budgets_round_like_kubernetes(surge, unavailable, n, expected):
    assert rolling.budgets(RollingStrategy(amount(surge), amount(unavailable)), n) == expected


def test_a_new_slot_goes_on_the_host_of_the_instance_it_replaces():
    state = ServiceState("shop", 1, (InstanceRef(1, Slot(0, "a")), InstanceRef(1, Slot(1, "b"))))
    first = plan_for(RollingStrategy(), state, Target(2, 2)).steps[0]
    assert first == Start((InstanceRef(2, Slot(2, "a")),))


def test_bad_targets_are_plan_errors():
    with pytest.raises(PlanError, match="at least 1 instance"):
        plan_for(RollingStrategy(), serving(1, 2), Target(2, 0))


def test_steps_survive_json_for_the_engine_to_persist():
    plan = plan_for(RollingStrategy(amount(1), amount(1)), serving(1, 3), Target(2, 3))
    extra = (Pause("look at the dashboard", None), Pause("bake", 30.0),
             Analyze(2, {"success_rate": 0.99}, against=1),
             Route((Share(1, refs(1, [0]), 90.0), Share(2, refs(2, [1], "h"), 10.0))),
             Route((Share(1, refs(1, [0])), Share(2, refs(2, [1]), 0.0)),
                   (Rule("r2", header="X-Zerodown-Preview", equals="1"),
                    Rule("r2", cookie="beta", regex="^y")), Sticky("header", "X-User", 60), True),
             Hook("before_traffic"))
    for step in plan.steps + extra:
        assert step_from_data(json.loads(json.dumps(step_to_data(step)))) == step
    with pytest.raises(PlanError, match="is not a step"):
        step_from_data({"step": "Explode"})


def test_a_route_becomes_a_valid_routing_table():
    route = Route((Share(1, refs(1, [1, 2])), Share(2, refs(2, [0]))))
    addresses = {r: f"127.0.0.1:{41000 + r.slot.index}" for r in route.routed()}
    table = route_table(route, addresses, "shop", version=7)
    assert table_json.from_dict(table_json.to_dict(table)) == table
    assert [(r.name, round(r.weight, 2), [b.id for b in r.backends]) for r in table.revisions] == [
        ("r1", 66.67, ["shop-r1-s1", "shop-r1-s2"]), ("r2", 33.33, ["shop-r2-s0"])]


def test_route_percents_mix_fixed_weights_and_instance_counts():
    route = Route((Share(1, refs(1, [0, 1, 2])), Share(2, refs(2, [3]), weight=10.0)))
    assert route.percents() == {2: 10.0, 1: 90.0}
    assert Route(()).describe() == "route nothing (requests get 503)"
    assert Drain(refs(1, [0])).describe("shop") == "drain shop-r1-s0"
    assert Pause("manual gate").describe() == "pause until resumed: manual gate"


# --- blue/green, canary, A/B -------------------------------------------------------------

def test_blue_green_starts_green_beside_blue_previews_then_switches_in_one_route():
    p = plan_for(BlueGreenStrategy(auto_promote=False, scale_down_delay=60), serving(1, 2),
                 Target(2, 2), hooks={"before_traffic"})
    assert p.describe() == textwrap.dedent("""\
        shop: r1 → r2, 2 instances, blue-green manual promote scale_down_delay=60s preview=X-Zerodown-Preview, 9 steps
        1. start shop-r2-s2, shop-r2-s3
        2. wait until healthy: shop-r2-s2, shop-r2-s3
        3. route r1 100% to s0 s1; r2 0% to s2 s3; preview: header X-Zerodown-Preview = 1 → r2
        4. run before_traffic hooks
        5. pause until resumed: green r2 is up (preview: X-Zerodown-Preview: 1); `zerodown promote` switches traffic
        6. route r2 100% to s2 s3
        7. pause 60s: blue kept 60s for an instant rollback
        8. drain shop-r1-s0, shop-r1-s1
        9. stop shop-r1-s0, shop-r1-s1""")
    preview = p.steps[2]
    assert not preview.traffic(2), "a preview is not user traffic"
    table = route_table(preview, {r: f"127.0.0.1:{9000 + r.slot.index}" for r in preview.routed()},
                        "shop", 3)
    assert [(r.name, r.weight) for r in table.revisions] == [("r1", 100), ("r2", 0)]
    assert table.rules[0].header == "X-Zerodown-Preview"


def test_blue_green_without_hooks_or_pauses_switches_straight_from_health_to_green():
    p = plan_for(BlueGreenStrategy(scale_down_delay=0), serving(1, 2), Target(2, 2))
    assert [s.describe("shop") for s in p.steps] == [
        "start shop-r2-s2, shop-r2-s3", "wait until healthy: shop-r2-s2, shop-r2-s3",
        "route r2 100% to s2 s3", "drain shop-r1-s0, shop-r1-s1", "stop shop-r1-s0, shop-r1-s1"]


def test_a_smoke_test_before_traffic_reaches_green_by_the_preview_even_with_auto_promote():
    p = plan_for(BlueGreenStrategy(scale_down_delay=0), serving(1, 2), Target(2, 2),
                 hooks={"before_traffic"})
    assert [s.describe("shop") for s in p.steps][2:5] == [
        "route r1 100% to s0 s1; r2 0% to s2 s3; preview: header X-Zerodown-Preview = 1 → r2",
        "run before_traffic hooks", "route r2 100% to s2 s3"]


def test_a_canary_with_a_preview_header_opens_it_before_any_user_and_keeps_it():
    strategy = CanaryStrategy(steps=(WeightStep(25), PauseStep(None)), preview_header="X-Preview")
    p = plan_for(strategy, serving(1, 4), Target(2, 4), hooks={"before_traffic"})
    described = [s.describe("shop") for s in p.steps]
    assert described[:5] == [
        "start shop-r2-s4", "wait until healthy: shop-r2-s4",
        "route r1 100% to s0 s1 s2 s3; r2 0% to s4; preview: header X-Preview = 1 → r2",
        "run before_traffic hooks",
        "route r1 75% to s0 s1 s2 s3; r2 25% to s4; rule: header X-Preview = 1 → r2"]
    assert not p.steps[2].traffic(2) and p.steps[4].traffic(2)
    without = plan_for(strategy, serving(1, 4), Target(2, 4))  # no hook: no table version for it
    assert not any(isinstance(s, Route) and s.preview for s in without.steps)
    assert "rule: header X-Preview = 1 → r2" in without.steps[2].describe("shop")


def test_a_canary_scales_its_instances_to_each_weight_before_applying_it():
    strategy = CanaryStrategy(steps=(WeightStep(10), PauseStep(None), WeightStep(50),
                                     AnalysisStep(AnalysisConfig(success_rate=0.99))),
                              match=(MatchRule(header="X-Beta", equals="1"),),
                              sticky=Sticky("header", "X-User"))
    p = plan_for(strategy, serving(1, 4), Target(2, 4))
    described = [s.describe("shop") for s in p.steps]
    assert described[:3] == ["start shop-r2-s4", "wait until healthy: shop-r2-s4",
                             "route r1 90% to s0 s1 s2 s3; r2 10% to s4; rule: header X-Beta = 1 "
                             "→ r2; sticky by header X-User"]
    assert described[4:7] == ["start shop-r2-s5", "wait until healthy: shop-r2-s5",
                              "route r1 50% to s0 s1 s2 s3; r2 50% to s4 s5; rule: header X-Beta "
                              "= 1 → r2; sticky by header X-User"]
    assert described[-3:] == ["route r2 100% to s4 s5 s6 s7",
                              "drain shop-r1-s0, shop-r1-s1, shop-r1-s2, shop-r1-s3",
                              "stop shop-r1-s0, shop-r1-s1, shop-r1-s2, shop-r1-s3"]
    assert isinstance(p.steps[7], Analyze) and p.steps[7].against == 1
    # promote --full from the first pause: no stop at 50%, straight to everyone
    rest = [s.describe("shop") for s in promoted(p.steps[4:])]
    assert rest[:3] == ["start shop-r2-s5", "wait until healthy: shop-r2-s5",
                        "start shop-r2-s6, shop-r2-s7"]
    assert not any("50%" in s for s in rest)


def test_a_fixed_canary_count_starts_once_and_the_first_deploy_goes_all_at_once():
    strategy = CanaryStrategy(steps=(WeightStep(20), WeightStep(60)), canary_instances=Amount(2))
    p = plan_for(strategy, serving(1, 4), Target(2, 4))
    assert sum(isinstance(s, Start) for s in p.steps) == 2  # the pair, then the rest at the end
    first = plan_for(strategy, ServiceState("shop", None), Target(1, 2))
    assert "first deploy" in first.strategy
    assert [type(s).__name__ for s in first.steps] == ["Start", "WaitHealthy", "Route"]


def test_an_ab_test_holds_a_sticky_split_at_a_manual_pause():
    p = plan_for(ABTestStrategy(split=30), serving(1, 2), Target(2, 2))
    assert p.strategy == "a/b test 70/30 sticky by cookie zerodown_ab"
    route, pause = p.steps[2], p.steps[3]
    assert route.percents() == {1: 70, 2: 30} and route.sticky.mode == "cookie"
    assert isinstance(pause, Pause) and pause.duration is None
    # its hold is an A/B test's, not a "canary r2 at 30%" (deploy, status, history said so)
    assert pause.describe("shop") == \
        "pause until promoted or aborted: A/B test r2 at 30% (`zerodown promote` makes B " \
        "everyone's, `zerodown abort` keeps A)"
    assert pause.decision  # only a decision ends it: a resume is refused there


def test_before_start_comes_before_in_places_first_batch_leaves():
    """A before_start hook that fails (a migration, a host's virtualenv) has changed
    nothing: with in-place it runs before the first batch is routed out, not after."""
    from zerodown.strategies.options import InPlaceStrategy
    p = plan_for(InPlaceStrategy(), serving(1, 2), Target(2, 2), hooks={"before_start"})
    assert [s.describe("shop") for s in p.steps[:2]] == ["run before_start hooks",
                                                          "route r1 100% to s1"]


def test_hooks_sit_at_their_moments_and_only_configured_ones_appear():
    every = {"before_start", "after_healthy", "before_traffic", "after_traffic",
             "after_promote", "on_rollback"}
    p = plan_for(RollingStrategy(), serving(1, 2), Target(2, 2), hooks=every)
    kinds = [s.describe("shop") for s in p.steps]
    assert kinds[:4] == ["run before_start hooks", "start shop-r2-s2", "wait until healthy: shop-r2-s2",
                         "run after_healthy hooks"]
    assert kinds[4:7] == ["run before_traffic hooks", "route r1 50% to s1; r2 50% to s2",
                          "run after_traffic hooks"]
    assert kinds.index("run after_promote hooks") == kinds.index("route r2 100% to s2 s3") + 1
    assert not any(isinstance(s, Hook) for s in plan_for(RollingStrategy(), serving(1, 2),
                                                         Target(2, 2)).steps)
    undo = rollback_plan(RollingStrategy(), serving(2, 2), Target(1, 2), hooks=every)
    assert undo.steps[0] == Hook("on_rollback")


def test_an_abort_after_the_blue_green_switch_routes_the_kept_blue_back_first():
    after_switch = ServiceState("shop", 1, refs(2, [2, 3]), unrouted=refs(1, [0, 1]))
    assert [s.describe("shop") for s in abort_plan(after_switch, Target(1, 2)).steps] == [
        "wait until healthy: shop-r1-s0, shop-r1-s1", "route r1 100% to s0 s1",
        "drain shop-r2-s2, shop-r2-s3", "stop shop-r2-s2, shop-r2-s3"]
    # nothing of r1 left at all: going back starts it again, by rolling
    gone = ServiceState("shop", 1, refs(2, [2, 3]))
    back = rollback_plan(CanaryStrategy(steps=(WeightStep(10),)), gone, Target(1, 2))
    assert back.strategy.startswith("rollback, rolling")


def test_in_place_batch_by_host_replaces_one_host_at_a_time():
    """runtime: ssh with 3 hosts, 2 instances each (slot i on host i mod 3)."""
    from zerodown.plan import Start, Stop, Target
    from zerodown.strategies.options import InPlaceStrategy
    state = ServiceState("shop", 1, tuple(InstanceRef(1, Slot(i)) for i in range(6)))
    p = plan_for(InPlaceStrategy(batch_by="host"), state, Target(2, 6, ("a", "b", "c")))
    stops = [sorted(r.slot.index for r in s.instances) for s in p.steps if isinstance(s, Stop)]
    starts = [sorted(r.slot.index for r in s.instances) for s in p.steps if isinstance(s, Start)]
    assert stops == starts == [[0, 3], [1, 4], [2, 5]]
