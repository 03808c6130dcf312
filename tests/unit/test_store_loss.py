"""Losing the state store never stops serving (issue 11.7).

A store that knows nothing of a service the load balancer serves is rebuilt from
the table in force and the runtime's registry before anything is planned; and as
a class, whatever the store says, no instance the load balancer routes to is
stopped: not by a Stop step, not as an orphan.
"""

from __future__ import annotations

import pytest

from tests.support.engine_world import World, check_journal, config  # the fake world, its rules
from zerodown.engine.lifecycle import Phase
from zerodown.engine.recovery import still_routed
from zerodown.engine.steps import RefusedStep, guard_stops
from zerodown.errors import RouterError
from zerodown.model import RoutingTable


@pytest.fixture
def world(tmp_path):
    return World(tmp_path / "state")


def lose_the_store(world: World, tmp_path) -> None:
    world.path = tmp_path / "new-state" / "zerodown.db"
    world.path.parent.mkdir(exist_ok=True)


def test_a_lost_store_is_rebuilt_and_the_next_deploy_replaces_what_serves(world, tmp_path):
    e = world.engine(config(4))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    serving = set(world.router.table.backends())
    lose_the_store(world, tmp_path)
    fresh = world.engine(config(4))
    assert fresh.recover() is not None  # what `status` sees first thing (Controller.open_store)
    assert fresh.store.stable("shop")[0] == 1
    assert [(r.number, r.version) for r in fresh.store.revisions("shop")] == [(1, "v1")]
    assert {r.name("shop") for r in fresh.store.instances("shop", live=True)} == serving
    assert fresh.run(fresh.deploy("v2")) is Phase.SUCCEEDED
    assert {r.name for r in world.router.table.revisions} == {"r2"}
    assert world.runtime.running("shop") == set(world.router.table.backends())
    check_journal(world)  # no instance stopped while routed, none routed before healthy
    kinds = [ev.kind for ev in fresh.store.events("shop")]
    assert kinds[0] == "store.recovered" and "instance.orphan" not in kinds


def test_recovery_leaves_a_store_that_knows_the_service_alone(world):
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    assert e.recover() is None
    assert [ev.kind for ev in e.store.events("shop")].count("store.recovered") == 0


def test_an_orphan_the_load_balancer_routes_to_is_kept_not_stopped(world, tmp_path):
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    lose_the_store(world, tmp_path)
    fresh = world.engine(config(2))
    fresh.recover = lambda: None  # as if recovery could not run: the guard alone must hold
    fresh.reconcile()
    assert world.runtime.running("shop") == set(world.router.table.backends())
    assert {ev.kind for ev in fresh.store.events("shop")} == {"instance.kept"}


def test_a_stop_is_refused_while_the_table_in_force_routes_to_the_instance(world):
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    routed = [p.instance for p in world.runtime.spawned]
    assert still_routed(world.router, routed) == routed
    with pytest.raises(RefusedStep, match="the load balancer's table in force still routes"):
        guard_stops(e, routed)
    world.router.table = RoutingTable(world.router.table.version + 1)  # routed out by hand
    guard_stops(e, routed)  # nothing routed any more: allowed


def test_a_stop_waits_for_a_load_balancer_that_does_not_answer_then_refuses(world):
    e = world.engine(config(2))
    e.run(e.deploy("v1"))

    def down():
        raise RouterError("the proxy does not answer on its admin socket")
    world.router.in_force = down
    started = world.clock.now()
    with pytest.raises(RefusedStep, match="did not say within 15s"):
        guard_stops(e, [p.instance for p in world.runtime.spawned])
    assert world.clock.now() - started >= 15


def test_a_store_deleted_while_a_deployment_runs_stops_acting_and_serving_goes_on(world):
    import os

    from zerodown.engine.store import StoreUnavailable
    e = world.engine(config(3))
    e.run(e.deploy("v1"))
    id = e.deploy("v2")

    def delete_after_a_route(event):
        if event.kind == "step.finished" and "table" in event.message and world.path.exists():
            for suffix in ("", "-wal", "-shm"):
                os.unlink(f"{world.path}{suffix}")
    e.store.listeners.append(delete_after_a_route)
    with pytest.raises(StoreUnavailable, match="was deleted or replaced while deployment"):
        e.run(id)
    routed = set(world.router.table.backends())
    assert routed and routed <= world.runtime.running("shop")
    fresh = world.engine(config(3))  # the next controller: a new file, rebuilt
    assert fresh.recover() is not None
    assert fresh.run(fresh.deploy("v3")) is Phase.SUCCEEDED
    assert world.runtime.running("shop") == set(world.router.table.backends())
    check_journal(world)
