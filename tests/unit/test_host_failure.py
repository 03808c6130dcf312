"""A fleet host stops answering mid-deployment: on_host_failure pause | skip, on fakes.

The fleet version of these (a real host cut off under load) is
tests/fleet/test_host_faults.py.
"""

from __future__ import annotations

import pytest

from tests.support.unit_config import shop_config
from zerodown.engine.host_failure import without_host
from zerodown.engine.lifecycle import Phase
from zerodown.errors import HostFailure
from zerodown.fakes import FakeRuntime
from zerodown.model import Adopted, InstanceRef, Slot, host_for
from zerodown.plan import Drain, Route, ServiceState, Share, Start, Stop, Target, WaitHealthy
from zerodown.strategies import plan_for
from tests.support.engine_world import World

HOSTS = ("app1", "app2", "app3")


def fleet_config(policy: str, strategy: str = "{kind: rolling, max_surge: 1, max_unavailable: 0}",
                 on_failure: str = "rollback", **keys: str):
    return shop_config(drain_timeout="3s", strategy=strategy, on_failure=on_failure,
                       on_host_failure=policy, **keys,
                       runtime=f"{{kind: ssh, hosts: [{', '.join(HOSTS)}], instances_per_host: 1}}")


class Fleet(FakeRuntime):
    """The fake runtime with its slots placed on HOSTS; a host in `down` answers nothing."""

    down: set[str] = set()

    def _check(self, slot: Slot) -> None:
        host = host_for(HOSTS, slot.index)
        if host in self.down:
            raise HostFailure(f"host {host}: no SSH connection within 2s", host)

    def start(self, revision, slot):
        self._check(slot)
        return super().start(revision, slot)

    def stop(self, instance, grace):
        self._check(instance.slot)
        return super().stop(instance, grace)

    def alive(self, instance):
        self._check(instance.slot)
        return super().alive(instance)

    def adopt(self, service, recorded=()):
        found = [i for i in super().adopt(service, recorded)
                 if host_for(HOSTS, i.slot.index) not in self.down]
        return Adopted(found, {h: f"host {h}: no SSH connection within 2s" for h in self.down})


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    w.runtime = Fleet(healthy_after=2, faults=w.faults, journal=w.journal)
    w.runtime.down = set()
    return w


def on_host(refs, host):
    return [r for r in refs if host_for(HOSTS, r.slot.index) == host]


def test_without_host_leaves_out_every_instance_placed_on_it():
    state = ServiceState("shop", 1, tuple(InstanceRef(1, Slot(i)) for i in range(3)))
    plan = plan_for(fleet_config("skip").strategy, state, Target(2, 3, HOSTS))
    rest = without_host(plan.steps, "app2", HOSTS)
    for step in rest:
        refs = step.instances if isinstance(step, (Start, WaitHealthy, Drain, Stop)) else (
            step.routed() if isinstance(step, Route) else ())
        assert on_host(refs, "app2") == [], step
    # every other instance is still started, routed and stopped as before
    def started(steps):
        return {r for s in steps if isinstance(s, Start) for r in s.instances}
    kept = {r for r in started(plan.steps) if host_for(HOSTS, r.slot.index) != "app2"}
    assert started(rest) == kept and len(kept) == 2
    last_route = [s for s in rest if isinstance(s, Route)][-1]
    assert last_route.routed() == kept
    assert not any(isinstance(s, (Start, Stop, Drain, WaitHealthy)) and not s.instances
                   for s in rest)


def test_a_route_drops_a_share_left_without_an_instance_and_keeps_fixed_weights():
    r = Route((Share(1, (InstanceRef(1, Slot(1)),)), Share(2, (InstanceRef(2, Slot(0)),), 20.0)))
    (out,) = without_host((r,), "app2", HOSTS)
    assert out.shares == (Share(2, (InstanceRef(2, Slot(0)),), 20.0),)


def heal_and_finish(world, e, d) -> None:
    """Every host answers again: resumed, `d` ends with v2 in every slot, nothing doubled."""
    world.runtime.down.clear()
    e.resume(d)
    assert e.run(d) is Phase.SUCCEEDED
    assert {r.name for r in world.router.table.revisions} == {"r2"}
    assert len(world.router.table.backends()) == 3
    assert world.runtime.violations == []


def test_pause_names_the_host_and_resume_goes_on_once_it_answers(world):
    e = world.engine(fleet_config("pause"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")
    world.runtime.down.add("app2")
    assert e.run(d) is Phase.PAUSED  # on_failure: rollback, yet neither rolled back nor failed
    dep = e.store.deployment(d)
    assert "host app2 stopped answering" in dep.error and "on_host_failure: pause" in dep.error
    (event,) = e.store.events("shop", d, kind="host.unreachable")
    assert event.data["host"] == "app2"
    e.resume(d)
    assert e.run(d) is Phase.PAUSED  # still down: paused again, nothing half-done
    heal_and_finish(world, e, d)


def test_skip_goes_on_without_the_hosts_slots_and_says_so(world):
    e = world.engine(fleet_config("skip"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")
    world.runtime.down.add("app2")
    assert e.run(d) is Phase.SUCCEEDED
    (event,) = e.store.events("shop", d, kind="host.skipped")
    assert event.data["host"] == "app2" and "without its slots" in event.message
    table = world.router.table
    assert {r.name for r in table.revisions} == {"r2"}
    assert len(table.backends()) == 2  # app2's slot left out
    assert not any(host_for(HOSTS, int(b.rsplit("-s", 1)[1])) == "app2" for b in table.backends())
    assert world.runtime.violations == []


def test_going_back_skips_a_host_that_does_not_answer_instead_of_failing(world):
    """A rollback cannot pause (lifecycle): whatever the policy, it leaves the host out
    and still ends with traffic on the stable revision."""
    e = world.engine(fleet_config("pause"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    world.runtime.never_healthy.add("v2")

    def cut_when_rolling_back(event):
        if event.kind == "phase" and event.data.get("to") == "rolling_back":
            world.runtime.down.add("app1")  # where the new instance runs
    e.store.listeners.append(cut_when_rolling_back)
    d = e.deploy("v2")
    assert e.run(d) is Phase.ROLLED_BACK
    assert world.runtime.down == {"app1"}, "the host was never cut: the test proves nothing"
    (event,) = e.store.events("shop", d, kind="host.skipped")
    assert event.data["host"] == "app1" and "rolling_back cannot pause" in event.message
    assert {r.name for r in world.router.table.revisions} == {"r1"}


def test_a_controller_restarted_while_a_host_is_down_adopts_the_rest_and_names_it(world):
    """Adopt no longer refuses the whole fleet: what answers is adopted, the silent host is
    named, and its instances are neither taken for gone nor started a second time."""
    e = world.engine(fleet_config("pause"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    world.runtime.down.add("app2")
    e = world.engine(fleet_config("pause"))  # a new controller
    d = e.deploy("v2")
    assert e.run(d) is Phase.PAUSED
    first = e.store.events("shop", kind="host.unreachable")[0]  # the restart's adopt
    assert first.message.startswith("host app2 did not answer; its instances were left as")
    rows = e.store.instances("shop", live=True)
    on_app2 = {r.name("shop"): row.state for r, row in rows.items()
               if r.revision == 1 and host_for(HOSTS, r.slot.index) == "app2"}
    assert on_app2 == {"shop-r1-s1": "routed"}  # not taken for gone while it did not answer
    world.runtime.down.clear()
    e = world.engine(fleet_config("pause"))
    e.resume(d)
    assert e.run(d) is Phase.SUCCEEDED
    assert world.runtime.violations == []
    assert world.runtime.running("shop") == set(world.router.table.backends())


def test_a_skipped_hosts_instances_show_as_skipped_and_are_settled_once_it_answers(world):
    """After `skip` the host's old instance is not "draining" for ever and the instance
    meant to start there is not a lasting intent: status says `skipped` (with its old
    version), the intent goes once the host answers, the next deployment replaces the rest."""
    from types import SimpleNamespace
    from zerodown.controller import labels
    from zerodown.gather import _probed
    from zerodown.engine.host_failure import skipped_hosts
    cfg = fleet_config("skip")
    e = world.engine(cfg)
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")

    def cut(event):
        if event.kind == "step.started" and event.data.get("index", -1) >= 2:
            world.runtime.down.add("app2")  # after app1's new instance, before app2's
    e.store.listeners.append(cut)
    assert e.run(d) is Phase.SUCCEEDED
    assert skipped_hosts(e.store, "shop") == {"app2": d}
    ctl = SimpleNamespace(runtime=lambda: world.runtime, config=lambda: cfg,
                          working_config=lambda: cfg)

    def on_app2():
        views = _probed(ctl, e.store, "shop", labels(e.store, "shop"))
        return {v.name: (v.state, v.revision.version, v.health) for v in views
                if v.host == "app2"}
    seen = on_app2()
    assert {n: s[:2] for n, s in seen.items()} == {"shop-r1-s1": ("skipped", "v1"),
                                                   "shop-r2-s4": ("skipped", "v2")}, seen
    assert seen["shop-r2-s4"][2] == f"never started: deployment {d} skipped host app2"
    assert "unreachable" in seen["shop-r1-s1"][2]

    world.runtime.down.clear()  # it answers again: the next controller settles it
    e = world.engine(cfg)
    e.reconcile()
    assert [ev.message for ev in e.store.events("shop", kind="instance.never_started")] == [
        "instance shop-r2-s4 was to be started but never was; its intent is dropped"]
    seen = on_app2()
    assert {n: s[:2] for n, s in seen.items()} == {"shop-r1-s1": ("skipped", "v1")}, seen
    assert world.runtime.running("shop") >= {"shop-r1-s1"}  # still runs what it ran

    assert e.run(e.deploy("v3")) is Phase.SUCCEEDED  # the next deployment replaces it
    assert skipped_hosts(e.store, "shop") == {}
    assert world.runtime.running("shop") == set(world.router.table.backends())
    assert {r.name for r in world.router.table.revisions} == {"r3"}
    assert len(world.router.table.backends()) == 3
    assert world.runtime.violations == []


def test_a_health_wait_whose_host_stops_answering_pauses_it_never_rolls_back(world):
    """The step waiting for a new instance on a host that stops answering (a link too slow
    for a look's answer): start_timeout passes with the host's silence as the last look,
    so the step fails as the host's (on_host_failure: pause), not as the instance's
    (on_failure: rollback, the instance marked failed)."""
    from zerodown.errors import HostFailure
    from zerodown.plan import WaitHealthy

    class Silent(Fleet):
        def look(self, instance, revision):
            host = host_for(HOSTS, instance.slot.index)
            if host in self.down:
                return True, False, HostFailure(f"host {host}: no answer within 2s", host)
            return True, *self.healthy(instance, revision)
    world.runtime = Silent(healthy_after=2, faults=world.faults, journal=world.journal)
    world.runtime.down = set()
    e = world.engine(fleet_config("pause"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")

    def silence_at_the_wait(event):
        step = e.store.deployment(d).step
        if event.kind == "step.started" and isinstance(step, WaitHealthy):
            world.runtime.down.add(host_for(HOSTS, step.instances[0].slot.index))
    e.store.listeners.append(silence_at_the_wait)
    assert e.run(d) is Phase.PAUSED
    dep = e.store.deployment(d)
    assert "did not become healthy within 5s: its host did not answer" in dep.error, dep.error
    assert "on_host_failure: pause" in dep.error
    e.store.listeners.clear()
    world.runtime.down.clear()
    e.resume(d)
    assert e.run(d) is Phase.SUCCEEDED


def test_the_load_balancers_host_silent_pauses_even_with_skip_and_resume_finishes(world):
    """router.host is one of the hosts: skipping its slots cannot go on without the load
    balancer (every Route step asks it again). It pauses naming the router host, whatever
    on_host_failure says; resumed once it answers, the deployment finishes."""
    e = world.engine(fleet_config("skip", router="{kind: haproxy, host: app2}"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    apply = world.router.apply

    def silent_apply(table):
        if "app2" in world.runtime.down:
            raise HostFailure("host app2: no SSH connection within 2s", "app2")
        return apply(table)
    world.router.apply = silent_apply
    d = e.deploy("v2")
    world.runtime.down.add("app2")
    assert e.run(d) is Phase.PAUSED
    dep = e.store.deployment(d)
    assert "router host app2" in dep.error, dep.error
    assert not e.store.events("shop", d, kind="host.skipped")
    heal_and_finish(world, e, d)
