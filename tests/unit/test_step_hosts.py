"""A step's start records the hosts it acts on (runtime ssh), and the step log, `status`'s
line of the deployment and the dashboard's plan name them from that record: where it
acted, not where today's rows or runtime.hosts would put it. On fakes; the fleet version
is tests/fleet/test_instance_hosts.py."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from tests.support.unit_config import shop_config
from tests.unit.test_instance_host import schema_at
from tests.support.engine_world import World
from zerodown import render
from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import MIGRATIONS, Change, Store
from zerodown.fakes import FakeRuntime
from zerodown.gather import deployment_view, event_view, plan_steps
from zerodown.model import Instance, InstanceRef, Slot, host_for
from zerodown.plan import Drain, Start, Stop, WaitHealthy, step_hosts
from zerodown.render_json import history_dict
from zerodown.views import DeploymentView, RevisionLabel, deployment_dict, deployment_from_dict

FIRST, TODAY = ("app1", "app2", "app3"), ("app3", "app1")
ROLLING = "{kind: rolling, max_surge: 1, max_unavailable: 0}"


def fleet_config(hosts: tuple[str, ...]):
    return shop_config(strategy=ROLLING, runtime=f"{{kind: ssh, hosts: [{', '.join(hosts)}]}}")


class Fleet(FakeRuntime):
    """The fake runtime placing slot i on names[i % len(names)], saying so (runs_on)."""

    names: tuple[str, ...] = FIRST

    def start(self, revision, slot):
        inst = super().start(revision, slot)
        if inst.runs_on is None:
            proc = self.processes[(revision.service, revision.number, slot.index)]
            proc.instance = inst = dataclasses.replace(
                inst, runs_on=host_for(self.names, slot.index))
        return inst


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    w.runtime = Fleet(healthy_after=1, faults=w.faults, journal=w.journal)
    return w


def engine_on(world, hosts, config=fleet_config):
    e = world.engine(config(hosts))
    e.runtime.names = hosts
    return e


def ran(e, version: str) -> int:
    d = e.deploy(version)
    assert e.run(d) is Phase.SUCCEEDED
    return d


def started(e, d) -> list[str]:
    return [x.message for x in e.store.events("shop", d, kind="step.started")]


def test_each_step_records_and_logs_the_hosts_it_acts_on_after_the_list_changed(world):
    first = engine_on(world, FIRST)
    d1 = ran(first, "v1")
    assert started(first, d1)[0] == ("step 1/3: start shop-r1-s0, shop-r1-s1, shop-r1-s2 "
                                     "(on app1, app2, app3)")
    now = engine_on(world, TODAY)   # runtime.hosts lost app2 (and changed order)
    d2 = ran(now, "v2")
    steps, records = now.store.deployment(d2).steps, now.store.steps(d2)
    for step, record in zip(steps, records):
        if isinstance(step, (Drain, Stop)):   # each old instance drained, stopped where it ran
            want = tuple((f"r1-s{r.slot.index}", FIRST[r.slot.index]) for r in step.instances)
            assert record.placed == want, (step, record)
        elif isinstance(step, (Start, WaitHealthy)):   # each new one where today's list puts it
            assert record.placed == tuple((f"r2-s{r.slot.index}", host_for(TODAY, r.slot.index))
                                          for r in step.instances), (step, record)
        else:
            assert record.placed is None, (step, record)
    stop_s1 = next(i for i, s in enumerate(steps)
                   if isinstance(s, Stop) and InstanceRef(1, Slot(1)) in s.instances)
    (event,) = [e for e in now.store.events("shop", d2, kind="step.started")
                if e.data["index"] == stop_s1]
    assert event.message == (f"step {stop_s1 + 1}/{len(steps)}: stop shop-r1-s1 "
                             f"(on app2 (not listed))")
    assert event.data["hosts"] == ["app2"] and event_view(event).hosts == ("app2",)
    # the dashboard's done steps say the same as the log
    cfg = fleet_config(TODAY)
    shown = plan_steps(now.store, now.store.deployment(d2), cfg)
    assert shown[stop_s1]["hosts"] == ["app2"] and shown[stop_s1]["state"] == "done"
    assert shown[stop_s1]["text"] == "stop shop-r1-s1 (on app2 (not listed))"


def test_a_done_step_keeps_its_hosts_when_the_slot_runs_again_elsewhere(world):
    first = engine_on(world, FIRST)
    d1 = ran(first, "v1")
    store, cfg = first.store, fleet_config(TODAY)
    i = next(i for i, s in enumerate(store.deployment(d1).steps)
             if isinstance(s, Start) and InstanceRef(1, Slot(1)) in s.instances)
    before = plan_steps(store, store.deployment(d1), cfg)[i]
    assert before["hosts"] == ["app1", "app2", "app3"]
    # r1-s1 starts again on app3 (a rollback after runtime.hosts changed): its row says app3
    store.set_instances("shop", [Change(InstanceRef(1, Slot(1)), "starting", Instance(
        "shop", 1, Slot(1), "127.0.0.1:9", 9, runs_on="app3"))])
    step = store.deployment(d1).steps[i]
    assert step_hosts(step, TODAY, store.recorded_hosts("shop"), ran=True) == ["app1", "app3"]
    assert plan_steps(store, store.deployment(d1), cfg)[i] == before   # where it did act
    assert before["text"].endswith("(on app1, app2 (not listed), app3)")


def test_the_step_in_progress_names_its_hosts_in_status(world):
    e = engine_on(world, FIRST)
    ran(e, "v1")
    d = e.deploy("v2")
    e.store.begin_step(d, 0)   # the rolling plan's first start, recorded as begun
    dep = e.store.deployment(d)
    assert isinstance(dep.step, Start)
    on = tuple(dict.fromkeys(host_for(FIRST, r.slot.index) for r in dep.step.instances))
    later = ("app2", "app3")   # runtime.hosts as `status` reads it, changed since
    view = deployment_view(dep, {1: RevisionLabel(1, "v1"), 2: RevisionLabel(2, "v2")},
                           store=e.store, cfg=fleet_config(later))
    assert view.step_hosts == on == ("app1",)
    marked = [h if h in later else f"{h} (not listed)" for h in on]
    assert view.step_text == f"{dep.step.describe('shop')} (on {', '.join(marked)})"
    assert f"step 1/{len(dep.steps)}: {view.step_text}" in render.deployment_line(view, 0)
    again = deployment_from_dict(deployment_dict(view, 0), 0)
    assert (again.step_text, again.step_hosts) == (view.step_text, view.step_hosts)
    assert deployment_dict(view, 0)["step_hosts"] == ["app1"]
    # without the config (history), nothing is marked that is not known to be unlisted
    bare = deployment_view(dep, {1: RevisionLabel(1, "v1"), 2: RevisionLabel(2, "v2")},
                           store=e.store)
    assert bare.step_text == f"{dep.step.describe('shop')} (on {', '.join(on)})"


def test_the_local_runtime_records_no_host_and_its_texts_stay_as_they_were(tmp_path):
    w = World(tmp_path)
    e = w.engine(shop_config(strategy=ROLLING))
    d = ran(e, "v1")
    assert all(r.placed is None and r.hosts is None for r in e.store.steps(d))
    steps = e.store.deployment(d).steps
    assert started(e, d)[0] == f"step 1/{len(steps)}: {steps[0].describe('shop')}"
    assert all("hosts" not in x.data for x in e.store.events("shop", d, kind="step.started"))
    local = shop_config(strategy=ROLLING)
    assert [s["text"] for s in plan_steps(e.store, e.store.deployment(d), local)] == [
        s.describe("shop") for s in steps]


def schema_4_store(path) -> None:
    """A store as zerodown wrote it before a step's hosts were recorded: one deployment of
    r1 on slot 0, its start done, its wait in progress; r1-s0 ran on app2."""
    db = schema_at(path, 4)
    plan = ('[{"step": "Start", "instances": [{"revision": 1, "slot": 0}]}, '
            '{"step": "WaitHealthy", "instances": [{"revision": 1, "slot": 0}]}]')
    db.execute("INSERT INTO services (name, config, updated) VALUES ('shop', '{}', 0)")
    db.execute("INSERT INTO revisions VALUES ('shop', 1, 'v1', '{}', 0)")
    db.execute("INSERT INTO instances VALUES ('shop', 1, 0, 'local', 'starting', "
               "'10.0.0.2:5000', 42, 0, 'app2')")
    db.execute("INSERT INTO deployments (service, kind, to_revision, strategy, plan, plan_kind,"
               " cursor, phase, on_failure, created, updated) VALUES ('shop', 'deploy', 1, "
               f"'{{}}', '{plan}', 'deploy', 1, 'running', 'pause', 0, 0)")
    db.executemany("INSERT INTO steps VALUES (1, ?, ?, ?, ?, ?, 1)", [
        (0, "start shop-r1-s0", 0, 1, "started"),
        (1, "wait until healthy: shop-r1-s0", 1, None, None)])   # (done, in progress)
    db.close()


def test_an_older_stores_steps_render_as_they_did(tmp_path):
    schema_4_store(tmp_path / "z.db")
    with Store(tmp_path / "z.db") as s:
        assert [(r.placed, r.hosts) for r in s.steps(1)] == [(None, None)] * 2
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 6
        d = s.deployment(1)
        # the dashboard derives them as before: the recorded row's host
        assert [p["hosts"] for p in plan_steps(s, d, fleet_config(TODAY))] == [["app2"]] * 2
        view = deployment_view(d, {1: RevisionLabel(1, "v1")}, store=s,
                               cfg=fleet_config(TODAY))
        assert (view.step_text, view.step_hosts) == ("wait until healthy: shop-r1-s0", ())
        # begun again by this zerodown: recorded from then on
        s.fleet = TODAY
        s.begin_step(1, 1)
        assert s.step_record(1, 1).placed == (("r1-s0", "app2"),)


def test_the_step_logs_json_carries_the_hosts_and_the_text_names_them():
    view = DeploymentView(3, "deploy", "succeeded", RevisionLabel(1, "v1"),
                          RevisionLabel(2, "v2"), "rolling", 5, 4, None, "deploy", 0.0, 9.0)
    events = {3: [event_view(SimpleNamespace(time=1.0, kind="step.started",
                                             message="step 4/4: stop shop-r1-s1 (on app2)",
                                             data={"index": 3, "hosts": ["app2"]})),
                  event_view(SimpleNamespace(time=2.0, kind="step.finished",
                                             message="step 4/4: stopped", data={"index": 3}))]}
    rows = history_dict([view], 10.0, events)["deployments"][0]["events"]
    assert rows == [{"time": 1.0, "kind": "step.started",
                     "message": "step 4/4: stop shop-r1-s1 (on app2)", "hosts": ["app2"]},
                    {"time": 2.0, "kind": "step.finished", "message": "step 4/4: stopped"}]
    text = render.history_text([view], 10.0, events)
    assert "step 4/4: stop shop-r1-s1 (on app2)" in text
