"""Instances on a host that runtime.hosts no longer lists (started before the list
changed): adopt asks that host while a live row records it, the pre-flight checks it when
the plan acts there, a stop that did not happen there leaves the row live, and a rollback
skips it when it stops answering — on fakes (the fleet version:
tests/fleet/test_instance_hosts.py)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.unit_config import shop_config
from tests.support.engine_world import World
from zerodown.engine.lifecycle import Phase
from zerodown.errors import HostFailure, RuntimeFailure
from zerodown.fakes import FakeRuntime
from zerodown.model import Adopted, InstanceRef, Slot, host_for, hosts_to_ask
from zerodown.plan import Drain, Start, Stop, WaitHealthy, hosts_acted_on
from zerodown.strategies import plan_for

HOSTS = ("app1", "app2", "app3")
NOW = ("app1", "app3")   # app2 taken out of runtime.hosts
KEPT = "{kind: blue-green, auto_promote: true, scale_down_delay: 0s, keep_previous: true}"
ROLLING = "{kind: rolling, max_surge: 1, max_unavailable: 0}"


def config(hosts, strategy: str = ROLLING, on_host_failure: str = "pause"):
    return shop_config(drain_timeout="3s", strategy=strategy, on_host_failure=on_host_failure,
                       instances=str(len(hosts)),
                       runtime=f"{{kind: ssh, hosts: [{', '.join(hosts)}], "
                               f"instances_per_host: 1}}")


class Placed(FakeRuntime):
    """The fake runtime on a fleet as SshRuntime places and finds instances: a new one on
    its slot's host in `listed` (today's runtime.hosts), each acted on where it started
    (runs_on), adopt asking `listed` and the `recorded` hosts; a host in `down` answers
    nothing, in the pre-flight (check_release) too."""

    listed = HOSTS

    def __init__(self, **kw):
        super().__init__(**kw)
        self.on: dict[str, str] = {}        # instance id -> the host it started on
        self.down: set[str] = set()
        self.asked: list[list[str]] = []    # each adopt's hosts
        self.checked: list[tuple[str, ...]] = []  # each check_release's unlisted hosts
        self.refused: list[str] = []        # each call a silent host did not answer

    def _check(self, host: str) -> None:
        if host in self.down:
            self.refused.append(host)   # (not a ZerodownError: ends a step retried for ever)
            assert len(self.refused) < 20, f"{host} asked {len(self.refused)} times: retried"
            raise HostFailure(f"host {host}: no SSH connection within 2s", host)

    def start(self, revision, slot):
        host = host_for(self.listed, slot.index)
        self._check(host)
        inst = dataclasses.replace(super().start(revision, slot), runs_on=host)
        self.on[inst.id] = host
        return inst

    def stop(self, instance, grace):
        self._check(instance.runs_on or self.on[instance.id])
        super().stop(instance, grace)

    def alive(self, instance):
        self._check(instance.runs_on or self.on[instance.id])
        return super().alive(instance)

    def adopt(self, service, recorded=()):
        asked = hosts_to_ask(self.listed, recorded)
        self.asked.append(asked)
        found = [dataclasses.replace(i, runs_on=self.on[i.id])
                 for i in super().adopt(service, recorded)
                 if self.on[i.id] in asked and self.on[i.id] not in self.down]
        return Adopted(found, {h: f"host {h}: no SSH connection within 2s"
                               for h in asked if h in self.down})

    def check_release(self, app, version, keep=frozenset(), unlisted=()):
        super().check_release(app, version, keep, unlisted)
        self.checked.append(tuple(unlisted))
        silent = [h for h in (*self.listed, *unlisted) if h in self.down]
        if silent:
            raise RuntimeFailure("the fleet is not ready, nothing was changed:\n" + "\n".join(
                f"  {h}: host {h}: no SSH connection within 2s" for h in silent))


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    w.runtime = Placed(healthy_after=2, faults=w.faults, journal=w.journal)
    return w


def shortened(world, strategy: str = ROLLING, versions=("v1",)):
    """`versions` deployed on app1, app2, app3 (r1-s1 on app2); then an engine whose
    runtime.hosts lists only app1 and app3."""
    e = world.engine(config(HOSTS, strategy))
    for version in versions:
        assert e.run(e.deploy(version)) is Phase.SUCCEEDED
    world.runtime.listed = NOW
    return world.engine(config(NOW, strategy))


def ref(revision: int, slot: int) -> InstanceRef:
    return InstanceRef(revision, Slot(slot))


def test_adopt_asks_the_listed_hosts_then_each_recorded_host_the_list_no_longer_has():
    assert hosts_to_ask(["app3", "app1"], ["app2", "app1", "app9", "app2"]) == [
        "app3", "app1", "app2", "app9"]
    assert hosts_to_ask(["app1"], []) == ["app1"]


def test_the_hosts_a_plan_acts_on_are_the_recorded_ones_of_what_it_waits_on_drains_or_stops():
    recorded = {ref(1, 0): "app1", ref(1, 1): "app2", ref(1, 2): "app9"}
    steps = (Start((ref(2, 3),)), WaitHealthy((ref(2, 3), ref(1, 2))), Drain((ref(1, 1),)),
             Stop((ref(1, 1),)))
    assert hosts_acted_on(steps, recorded) == {"app9", "app2"}
    assert hosts_acted_on((Start((ref(1, 1),)),), recorded) == set(), "a start: today's list"


def test_an_instance_kept_for_a_rollback_on_an_unlisted_host_is_adopted_not_missing(world):
    """r1 kept out of the table by blue/green's keep_previous, r1-s1 on app2; app2 then
    taken out of runtime.hosts. The next reconcile asked only app1 and app3: r1-s1 was
    "missing", its row stopped, and it kept running on app2 unknown."""
    e = shortened(world, KEPT, ("v1", "v2"))
    e.reconcile()
    assert world.runtime.asked[-1] == ["app1", "app3", "app2"]
    assert e.store.events("shop", kind="instance.missing") == []
    kept = e.store.instances("shop", [ref(1, 1)])[ref(1, 1)]
    assert (kept.state, kept.runs_on) == ("healthy", "app2")

    world.runtime.down.add("app2")   # silent: named, its rows left as they are
    e.reconcile()
    assert world.runtime.asked[-1] == ["app1", "app3", "app2"]
    assert any(ev.message.startswith("host app2 did not answer")
               for ev in e.store.events("shop", kind="host.unreachable"))
    assert e.store.instances("shop", [ref(1, 1)])[ref(1, 1)].state == "healthy"
    assert e.store.events("shop", kind="instance.missing") == []


def test_a_deployment_that_would_stop_an_instance_on_a_silent_unlisted_host_is_refused(world):
    """The plan stops r1-s1 on app2, no longer listed: app2 is pre-flighted with the listed
    hosts, and silent, the deployment is refused before a revision number is taken."""
    e = shortened(world)
    assert world.runtime.checked[-1] == ()   # nothing recorded off the list: no planning
    world.runtime.down.add("app2")
    with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  app2: "):
        e.deploy("v2")
    assert world.runtime.checked[-1] == ("app2",)
    assert [d.id for d in e.store.deployments("shop")] == [1], "a deployment was created"
    assert [r.number for r in e.store.revisions("shop")] == [1]
    world.runtime.down.clear()
    assert e.run(e.deploy("v2")) is Phase.SUCCEEDED
    assert world.runtime.checked[-1] == ("app2",)
    assert world.runtime.running("shop") == set(world.router.table.backends())
    assert not any(i.startswith("shop-r1") for i in world.runtime.running("shop"))


class SlowStops(Placed):
    stops_slowly = True   # stopped in the background, the deployment going on


def test_a_stop_that_did_not_happen_on_an_unlisted_host_leaves_its_row_live(tmp_path):
    """app2 stops answering at the stop of r1-s1 there: the stop fails in the background
    and the row was taken as stopped, so no adopt asked app2 again and r1-s1 ran there for
    ever. It is kept live (stopping); the next deployment's reconcile finds and stops it."""
    world = World(tmp_path)
    world.runtime = SlowStops(healthy_after=2, faults=world.faults, journal=world.journal)
    e = shortened(world)
    d = e.deploy("v2")

    def cut(event):
        step = e.store.deployment(d).step
        if event.kind == "step.started" and isinstance(step, Stop) and ref(1, 1) in \
                step.instances:
            world.runtime.down.add("app2")
    e.store.listeners.append(cut)
    assert e.run(d) is Phase.SUCCEEDED
    assert world.runtime.down == {"app2"}, "app2 was never cut: the test proves nothing"
    (failed,) = e.store.events("shop", kind="instance.stop_failed")
    assert "shop-r1-s1 is kept live (stopping)" in failed.message, failed.message
    assert e.store.instances("shop", [ref(1, 1)])[ref(1, 1)].state == "stopping"
    assert "shop-r1-s1" in world.runtime.running("shop")

    world.runtime.down.clear()
    e = world.engine(config(NOW))
    assert e.run(e.deploy("v3")) is Phase.SUCCEEDED
    assert "shop-r1-s1" not in world.runtime.running("shop")
    assert e.store.instances("shop", [ref(1, 1)])[ref(1, 1)].state == "stopped"
    (again,) = e.store.events("shop", kind="instance.stopping")
    assert again.message.startswith("stopping shop-r1-s1 at "), again.message


def test_a_rollback_whose_instance_on_an_unlisted_host_stops_answering_skips_it_and_ends(
        world):
    """Going back cannot pause: a host runtime.hosts no longer lists was paused for all the
    same, which rolling back refuses, so the step was run again for ever. It is skipped
    by its recorded instances, as a listed host is, and the rollback ends."""
    e = shortened(world, KEPT, ("v1", "v2"))   # r1 kept out of the table, s1 on app2
    world.runtime.never_healthy.add("v3")

    def cut_when_rolling_back(event):
        if event.kind == "phase" and event.data.get("to") == "rolling_back":
            world.runtime.down.add("app2")
    e.store.listeners.append(cut_when_rolling_back)
    d = e.deploy("v3")
    assert e.run(d) is Phase.ROLLED_BACK
    assert world.runtime.down == {"app2"}, "app2 was never cut: the test proves nothing"
    assert world.runtime.refused, "nothing was asked of app2: the test proves nothing"
    (event,) = e.store.events("shop", d, kind="host.skipped")
    assert event.data["host"] == "app2" and "rolling_back cannot pause" in event.message
    assert {r.name for r in world.router.table.revisions} == {"r2"}
    # its stop was decided and tried (the rollback's clean-up): stopping, not stopped, so
    # no plan counts on it and app2 is asked again; answering, the reconcile stops it
    assert e.store.instances("shop", [ref(1, 1)])[ref(1, 1)].state == "stopping"
    assert "shop-r1-s1" in world.runtime.running("shop")
    world.runtime.down.clear()
    world.engine(config(NOW, KEPT)).reconcile()
    assert e.store.instances("shop", [ref(1, 1)])[ref(1, 1)].state == "stopped"
    assert "shop-r1-s1" not in world.runtime.running("shop")


def test_the_plan_made_for_the_preflight_is_the_deployments_not_made_twice(world):
    """acted_on plans before the pre-flight when a live row records a host off the list;
    create_deployment, planning from the same state, takes that plan (unlisted.Once)."""
    made = []

    def planner(strategy, state, target, *more):
        made.append(target.revision)
        return plan_for(strategy, state, target, *more, allow_downtime=True)
    shortened(world)
    e = world.engine(config(NOW), planner=planner)
    assert e.store.live_hosts("shop") == {"app1", "app2", "app3"}
    d = e.deploy("v2")
    assert world.runtime.checked[-1] == ("app2",) and made == [2], made
    assert e.run(d) is Phase.SUCCEEDED
    assert e.store.live_hosts("shop") == {"app1", "app3"}
    e.run(e.deploy("v3"))
    assert world.runtime.checked[-1] == () and made == [2, 3], "nothing off the list"


@pytest.mark.parametrize("phase, ends", [(Phase.RUNNING, Phase.PAUSED),
                                         (Phase.ROLLING_BACK, Phase.FAILED)])
def test_a_host_nothing_of_the_rest_is_on_is_not_skipped_for_ever(world, phase, ends):
    """A host that no instance of the rest of the plan is on (neither listed nor recorded):
    skipping it changes nothing, so the same step would fail again and again. Going
    forward it pauses, going back it fails, naming the host."""
    from zerodown.engine.host_failure import handle
    e = world.engine(config(HOSTS, on_host_failure="skip"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")
    for to in dict.fromkeys((Phase.RUNNING, phase)):
        e.store.set_phase(d, to, "as the test asks")
    handle(e, e.store.deployment(d), HostFailure("host app9: no answer within 2s", "app9"),
           None, ())
    dep = e.store.deployment(d)
    assert dep.phase is ends and dep.cursor == 0
    assert "host app9 stopped answering; no instance the rest of the deployment acts on is " \
           "there" in dep.error, dep.error
    assert e.store.events("shop", d, kind="host.skipped") == []


def test_down_names_a_silent_unlisted_host_and_keeps_its_rows_for_the_next_down(
        world, tmp_path, capsys):
    """`down` asks app2 (recorded, no longer listed) with the listed hosts: silent, it is
    named up front (no stop sent there to time out), r1-s1's row stays live, exit 1;
    once it answers, the next `down` stops r1-s1 there."""
    from types import SimpleNamespace
    from zerodown.commands.service import cmd_down
    e = shortened(world)
    world.runtime.down.add("app2")
    state = tmp_path / "state"
    state.mkdir()
    ctl = SimpleNamespace(working_config=lambda: config(NOW), has_state=lambda: True,
                          state_dir=state, store=lambda: e.store,
                          runtime=lambda cfg: world.runtime, router=lambda cfg: world.router)
    assert cmd_down(SimpleNamespace(), ctl) == 1
    err = capsys.readouterr().err
    assert "host app2 did not answer" in err and "still recorded: shop-r1-s1" in err, err
    assert world.runtime.asked[-1] == ["app1", "app3", "app2"]
    assert world.runtime.refused == [], "a stop was sent to the silent host"
    assert [r.name("shop") for r in e.store.instances("shop", live=True)] == ["shop-r1-s1"]
    assert world.runtime.running("shop") == {"shop-r1-s1"}

    world.runtime.down.clear()
    assert cmd_down(SimpleNamespace(), ctl) == 0
    assert world.runtime.running("shop") == set()
    assert e.store.instances("shop", live=True) == {}
