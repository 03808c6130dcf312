"""A deployment paused for a silent host, and the host answering again (on_host_return):
the controller's host watch (zerodown/daemon/host_watch.py) on the fake fleet of
test_host_failure.py. On the real fleet: tests/fleet/test_host_faults.py."""

from __future__ import annotations

from tests.unit.test_host_failure import fleet_config, world  # noqa: F401 - a fixture
from zerodown.controller import labels
from zerodown.gather import deployment_view
from zerodown.daemon.host_watch import HostWatch
from zerodown.engine.host_failure import paused_for_host
from zerodown.engine.lifecycle import Phase


def paused_for_app2(world, on_host_return: str = "resume"):  # noqa: F811
    e = world.engine(fleet_config("pause", on_host_return=on_host_return))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")
    world.runtime.down.add("app2")
    assert e.run(d) is Phase.PAUSED
    return e, d


def watch(world, woken: list) -> HostWatch:  # noqa: F811
    return HostWatch(None, "shop", lambda: woken.append(1), lambda text: None,
                     answers=lambda host: host not in world.runtime.down)


def test_the_host_answering_again_resumes_the_deployment_by_itself(world):  # noqa: F811
    e, d = paused_for_app2(world)
    woken: list = []
    w = watch(world, woken)
    w.check(e.store)  # still silent: nothing
    assert e.store.deployment(d).phase is Phase.PAUSED and not woken
    assert e.store.events("shop", d, kind="host.reachable") == []
    world.runtime.down.clear()
    w.check(e.store)
    (back,) = e.store.events("shop", d, kind="host.reachable")
    assert back.data == {"host": "app2", "policy": "resume"} and "answers again" in back.message
    assert e.store.deployment(d).phase is Phase.RUNNING and woken == [1]
    (action,) = [a for a in e.store.events("shop", d, kind="action")
                 if a.data.get("who") == "controller"]
    assert action.data["origin"] == "host" and action.data["action"] == "resume"
    assert e.run(d) is Phase.SUCCEEDED
    assert world.runtime.violations == []


def test_silent_again_after_the_resume_pauses_again_and_is_answered_again(world):  # noqa: F811
    e, d = paused_for_app2(world)
    w = watch(world, [])
    world.runtime.down.clear()
    w.check(e.store)
    world.runtime.down.add("app2")
    assert e.run(d) is Phase.PAUSED
    w.check(e.store)
    assert len(e.store.events("shop", d, kind="host.reachable")) == 1
    world.runtime.down.clear()
    w.check(e.store)
    assert len(e.store.events("shop", d, kind="host.reachable")) == 2
    assert e.run(d) is Phase.SUCCEEDED


def test_hold_says_the_host_answers_and_waits_for_a_person(world):  # noqa: F811
    e, d = paused_for_app2(world, "hold")
    woken: list = []
    w = watch(world, woken)
    world.runtime.down.clear()
    w.check(e.store)
    w.check(e.store)  # announced once
    (back,) = e.store.events("shop", d, kind="host.reachable")
    assert back.data["policy"] == "hold"
    assert e.store.deployment(d).phase is Phase.PAUSED and not woken
    view = deployment_view(e.store.deployment(d), labels(e.store, "shop"), store=e.store)
    assert "host app2 answers again since" in view.error and "zerodown resume" in view.error
    e.resume(d)
    assert e.run(d) is Phase.SUCCEEDED


def test_a_pause_a_person_asked_for_is_not_the_hosts_to_end(world):  # noqa: F811
    e, d = paused_for_app2(world)
    world.runtime.down.clear()
    e.resume(d)
    e.store.signal(d, "pause")  # a person's pause, after the host's
    assert e.store.deployment(d).phase is Phase.PAUSED
    assert paused_for_host(e.store, "shop", e.store.deployment(d)) is None
    w = watch(world, [])
    w.check(e.store)
    assert e.store.deployment(d).phase is Phase.PAUSED
    assert e.store.events("shop", d, kind="host.reachable") == []


def test_a_restarted_controller_does_not_announce_a_return_again(world):  # noqa: F811
    e, d = paused_for_app2(world, "hold")
    world.runtime.down.clear()
    watch(world, []).check(e.store)
    watch(world, []).check(e.store)  # a new watch: the controller started again
    assert len(e.store.events("shop", d, kind="host.reachable")) == 1


def test_a_service_another_controller_took_over_meanwhile_is_not_resumed(world):  # noqa: F811
    """`zerodown hosts --take-over` from elsewhere while this deployment was paused for a
    host: when it answers again, the deployment is held, the event saying whose it is."""
    e, d = paused_for_app2(world)
    woken: list = []
    them = "app2: shop here is deployed by another controller: ana@laptop:/x/.zerodown"
    w = HostWatch(None, "shop", lambda: woken.append(1), lambda text: None,
                  answers=lambda host: host not in world.runtime.down, taken=lambda h: them)
    world.runtime.down.clear()
    w.check(e.store)
    (back,) = e.store.events("shop", d, kind="host.reachable")
    assert back.data["policy"] == "hold" and f"not resuming it: {them}" in back.message
    assert e.store.deployment(d).phase is Phase.PAUSED and not woken
