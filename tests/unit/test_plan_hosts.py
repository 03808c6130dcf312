"""A plan names the host each old instance really runs on (its recorded host,
ServiceState.runs_on), not slot i's host in today's runtime.hosts; a new instance's start
is placed by today's list. The text, `plan --json`, the dashboard's plan and the store's
state agree (fleet version: tests/fleet/test_instance_hosts.py)."""

from __future__ import annotations

from types import SimpleNamespace

from tests.unit.test_instance_host import old_store
from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import Change, Store
from zerodown.gather import instance_view, plan_steps
from zerodown.model import Instance, InstanceRef, Slot
from zerodown.plan import (Drain, Plan, Route, ServiceState, Start, Stop, Target, WaitHealthy,
                           route_of)
from zerodown.render_json import plan_dict
from zerodown.strategies import plan_for
from zerodown.strategies.options import RollingStrategy

# r1 started on [app1, app2, app3] (slot i on host i); the list is now [app3, app1]
OLD = tuple(InstanceRef(1, Slot(i)) for i in range(3))
RECORDED = {OLD[0]: "app1", OLD[1]: "app2", OLD[2]: "app3"}
TODAY = ("app3", "app1")
NEW = (InstanceRef(2, Slot(3)), InstanceRef(2, Slot(4)))


def plan(*steps) -> Plan:
    return Plan("rolling", ServiceState("shop", 1, OLD, runs_on=RECORDED), Target(2, 2, TODAY),
                steps)


def test_steps_about_old_instances_name_their_recorded_host_starts_todays():
    p = plan(Start(NEW), WaitHealthy(NEW), Drain(OLD), Stop(OLD[:1]), Route(()))
    # today's rule would say app3, app1, app3 for the old ones
    assert p.hosts_of(Stop(OLD)) == p.hosts_of(Drain(OLD)) == ["app1", "app2", "app3"]
    assert p.hosts_of(Start(NEW)) == p.hosts_of(WaitHealthy(NEW)) == ["app1", "app3"]
    assert p.hosts_of(Route(())) == []
    assert p.describe().splitlines()[1:] == [
        "1. start shop-r2-s3, shop-r2-s4 (on app1, app3)",
        "2. wait until healthy: shop-r2-s3, shop-r2-s4 (on app1, app3)",
        "3. drain shop-r1-s0, shop-r1-s1, shop-r1-s2 (on app1, app2 (not listed), app3)",
        "4. stop shop-r1-s0 (on app1)",
        "5. route nothing (requests get 503)"]


def test_a_start_is_placed_by_todays_list_even_where_a_row_is_recorded():
    again = Start(OLD[1:2])   # an instance the plan starts: where the runtime puts it
    assert plan(again).hosts_of(again) == ["app1"]


def test_nothing_recorded_falls_back_to_todays_rule():
    p = Plan("rolling", ServiceState("shop", 1, OLD), Target(2, 2, TODAY), (Stop(OLD),))
    assert p.hosts_of(Stop(OLD)) == ["app3", "app1"] and p.not_listed(Stop(OLD)) == []


def test_plan_json_names_the_same_hosts_as_the_text():
    p = plan(Start(NEW), Stop(OLD))
    text = p.describe().splitlines()[1:]
    steps = plan_dict(p, "v2", None, 0)["steps"]
    assert [s["text"] for s in steps] == [line.split(". ", 1)[1] for line in text]
    assert (steps[0]["hosts"], steps[0]["hosts_not_listed"]) == (["app1", "app3"], [])
    assert (steps[1]["hosts"], steps[1]["hosts_not_listed"]) == (
        ["app1", "app2", "app3"], ["app2"])


def test_a_rolling_plan_stops_each_old_instance_on_its_host():
    p = plan_for(RollingStrategy(), ServiceState("shop", 1, OLD, runs_on=RECORDED),
                 Target(2, 2, TODAY))
    stops = {r: p.hosts_of(Stop((r,))) for s in p.steps if isinstance(s, Stop)
             for r in s.instances}
    assert set(stops) == set(OLD), p.describe()
    assert stops == {r: [RECORDED[r]] for r in OLD}
    assert all(f"{r.name('shop')} (on {RECORDED[r]}" in p.describe()
               for r in OLD if any(isinstance(s, Stop) and s.instances == (r,)
                                   for s in p.steps)), p.describe()


def test_the_store_hands_the_planner_each_live_instances_recorded_host(tmp_path):
    old_store(tmp_path / "z.db")   # one routed row with no host recorded (slot 2)
    with Store(tmp_path / "z.db") as s:
        assert s.service_state("shop").runs_on == {}
        s.set_instances("shop", [
            Change(InstanceRef(1, Slot(0)), "starting",
                   Instance("shop", 1, Slot(0), "10.0.0.1:5000", 7, runs_on="app2")),
            Change(InstanceRef(1, Slot(1)), "stopped",
                   Instance("shop", 1, Slot(1), "10.0.0.2:5000", 8, runs_on="app1"))])
        state = s.service_state("shop")
        assert state.runs_on == {InstanceRef(1, Slot(0)): "app2"}   # live ones only
        assert state.runs_on == s.recorded_hosts("shop", live=True)
        assert s.recorded_hosts("shop") == {InstanceRef(1, Slot(0)): "app2",
                                            InstanceRef(1, Slot(1)): "app1"}
        assert state == ServiceState("shop", None, (InstanceRef(1, Slot(2)),),
                                     (InstanceRef(1, Slot(0)),))   # compared without it


def test_the_dashboards_plan_names_the_same_hosts(tmp_path):
    old_store(tmp_path / "z.db")   # slot 2 of r1, no host recorded: today's rule
    with Store(tmp_path / "z.db") as s:
        s.set_instances("shop", [Change(OLD[0], "stopped", Instance(
            "shop", 1, Slot(0), "10.0.0.1:5000", 7, runs_on="app2"))])  # stopped: still named
        d = SimpleNamespace(id=1, service="shop", cursor=1, phase=Phase.RUNNING,
                            steps=(Start(NEW), Stop((OLD[0], OLD[2])), Route(())))
        fleet = SimpleNamespace(runtime=SimpleNamespace(kind="ssh", options={"hosts": TODAY}))
        assert plan_steps(s, d, fleet) == [
            {"index": 0, "text": "start shop-r2-s3, shop-r2-s4 (on app1, app3)",
             "hosts": ["app1", "app3"], "state": "done"},
            {"index": 1, "text": "stop shop-r1-s0, shop-r1-s2 (on app2 (not listed), app3)",
             "hosts": ["app2", "app3"], "state": "current"},
            {"index": 2, "text": "route nothing (requests get 503)", "hosts": [],
             "state": "pending"}]
        local = SimpleNamespace(runtime=SimpleNamespace(kind="local", options={}))
        assert [(p["text"], p["hosts"]) for p in plan_steps(s, d, local)][1] == (
            "stop shop-r1-s0, shop-r1-s2", [])


FLEET = SimpleNamespace(runtime=SimpleNamespace(kind="ssh", options={"hosts": TODAY}))


def deployment(cursor: int, *steps) -> SimpleNamespace:
    return SimpleNamespace(id=1, service="shop", cursor=cursor, phase=Phase.RUNNING, steps=steps)


def texts(s: Store, d) -> list[str]:
    return [p["text"] for p in plan_steps(s, d, FLEET)]


def test_a_stopped_row_started_again_is_named_where_the_start_puts_it(tmp_path):
    # a rollback reusing r1's slot 1, whose old life (stopped) ran on app2, off the list
    old_store(tmp_path / "z.db")   # the service and r1 (its slot 2 is not named here)
    with Store(tmp_path / "z.db") as s:
        s.set_instances("shop", [Change(OLD[1], "stopped", Instance(
            "shop", 1, Slot(1), "10.0.0.2:5000", 8, runs_on="app2"))])
        again = (OLD[1],)
        for cursor in (0, 1):   # before the start runs, and while it does
            assert texts(s, deployment(cursor, Route(()), Start(again),
                                       WaitHealthy(again), route_of(again)))[1:3] == [
                "start shop-r1-s1 (on app1)", "wait until healthy: shop-r1-s1 (on app1)"]


def test_a_done_start_names_the_host_it_ran_on_after_the_list_changed(tmp_path):
    # started (and waited) on app2, which runtime.hosts has since dropped
    old_store(tmp_path / "z.db")   # the service and r1 (its slot 2 is not named here)
    with Store(tmp_path / "z.db") as s:
        s.set_instances("shop", [Change(OLD[1], "routed", Instance(
            "shop", 1, Slot(1), "10.0.0.2:5000", 8, runs_on="app2"))])
        d = deployment(2, Start((OLD[1],)), WaitHealthy((OLD[1],)), route_of((OLD[1],)))
        assert texts(s, d)[:2] == ["start shop-r1-s1 (on app2 (not listed))",
                                   "wait until healthy: shop-r1-s1 (on app2 (not listed))"]
        row = s.instances("shop")[OLD[1]]
        assert instance_view("shop", row, {}, TODAY).host == "app2"   # as `status` says
