"""`zerodown hosts --forget HOST`: a host taken off runtime.hosts that is gone for good.
Its live rows are marked stopped in one transaction (host.forgotten), nothing is sent
there, and the next deployment's plan and pre-flight, and `down`, leave it alone; each
refusal — on the fakes of test_unlisted_hosts (the host app2 cut off for good)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.unit.test_unlisted_hosts import NOW, config, ref, shortened, world  # noqa: F401
from zerodown.commands.fleet import cmd_hosts
from zerodown.commands.service import cmd_down
from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import DeploymentConflict
from zerodown.errors import RuntimeFailure, UsageError
from zerodown.plan import hosts_acted_on


def controller(world, store, tmp_path, hosts=NOW):
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    cfg = config(hosts)
    return SimpleNamespace(file="zerodown.yaml", config=lambda: cfg, working_config=lambda: cfg,
                           has_state=lambda: True, state_dir=state, store=lambda: store,
                           runtime=lambda cfg: world.runtime, router=lambda cfg: world.router)


def forget(ctl, host: str) -> int:
    return cmd_hosts(SimpleNamespace(forget=host, json=False), ctl)


def gone(world):
    """r1 on app1, app2, app3, app2 then taken off runtime.hosts and cut off for good."""
    e = shortened(world)
    world.runtime.down.add("app2")
    return e


def test_forgetting_a_gone_host_lets_the_next_deployment_plan_and_preflight_without_it(
        world, tmp_path, capsys):
    e = gone(world)
    with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  app2: "):
        e.deploy("v2")   # what the user is stuck with
    assert forget(controller(world, e.store, tmp_path), "app2") == 0
    out = capsys.readouterr().out
    assert "app2 forgotten: shop-r1-s1 marked stopped" in out and "may still run" in out, out
    assert world.runtime.refused == [], "something was sent to the gone host"
    assert e.store.instances("shop", [ref(1, 1)])[ref(1, 1)].state == "stopped"
    (event,) = e.store.events("shop", kind="host.forgotten")
    assert event.data == {"host": "app2", "instances": ["shop-r1-s1"]}, event.data
    assert e.store.live_hosts("shop") == {"app1", "app3"}

    d = e.deploy("v2")
    assert world.runtime.checked[-1] == (), "the pre-flight still checks app2"
    every = e.store.recorded_hosts("shop")   # stopped rows too: r1-s1 on app2
    assert every[ref(1, 1)] == "app2"
    assert hosts_acted_on(e.store.deployment(d).steps, every) == {"app1", "app3"}
    assert e.run(d) is Phase.SUCCEEDED
    assert world.runtime.refused == [] and world.runtime.asked[-1] == list(NOW)
    assert "shop-r1-s1" not in world.router.table.backends()


def test_down_after_forgetting_stops_the_rest_and_asks_nothing_of_the_gone_host(
        world, tmp_path, capsys):
    e = gone(world)
    ctl = controller(world, e.store, tmp_path)
    assert cmd_down(SimpleNamespace(), ctl) == 1   # app2 named, its row kept
    capsys.readouterr()
    assert forget(ctl, "app2") == 0
    assert cmd_down(SimpleNamespace(), ctl) == 0, capsys.readouterr().err
    assert world.runtime.asked[-1] == list(NOW)
    assert world.runtime.refused == []
    assert e.store.instances("shop", live=True) == {}


def test_a_listed_host_is_refused(world, tmp_path):
    e = gone(world)
    with pytest.raises(UsageError, match=r"app1 is in runtime.hosts; remove it from "
                                         r"runtime.hosts first"):
        forget(controller(world, e.store, tmp_path), "app1")
    assert e.store.live_hosts("shop") == {"app1", "app2", "app3"}


def test_a_host_no_live_row_records_is_refused_naming_those_that_have_some(world, tmp_path):
    e = gone(world)
    with pytest.raises(UsageError, match=r"no live instance of shop is recorded on app9; hosts "
                                         r"off runtime.hosts with live instances: app2$"):
        forget(controller(world, e.store, tmp_path), "app9")
    assert forget(controller(world, e.store, tmp_path), "app2") == 0
    with pytest.raises(UsageError, match=r"on app2; no host off runtime.hosts has any$"):
        forget(controller(world, e.store, tmp_path), "app2")
    assert len(e.store.events("shop", kind="host.forgotten")) == 1


def test_an_active_deployment_is_refused_naming_it(world, tmp_path):
    e = gone(world)
    world.runtime.down.clear()   # answering for a moment: a deployment is created
    d = e.deploy("v2")
    world.runtime.down.add("app2")
    with pytest.raises(DeploymentConflict, match=rf"deployment {d} is pending; .*abort it first"):
        forget(controller(world, e.store, tmp_path), "app2")
    assert e.store.instances("shop", [ref(1, 1)])[ref(1, 1)].state != "stopped"
    assert e.store.events("shop", kind="host.forgotten") == []
    # and in the store's own transaction, not only in the command's check before it
    with pytest.raises(DeploymentConflict):
        e.store.forget_host("shop", "app2")
