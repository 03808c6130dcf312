"""The engine on fakes when things go wrong under a deployment: an instance that never
becomes healthy or exits (on_failure rollback or pause, then resume or abort), a load
balancer that refuses a table, holds one set by hand or by a lost store, or does not
come back, and a rollback from a version that hangs its requests."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.engine_world import IN_PLACE, check_invariants, config
from zerodown.engine.lifecycle import Phase
from zerodown.errors import RouterError, RouterUnavailable, TableError
from zerodown.fakes import FakeRouter

# the proof's samples, taken in real time, would vary what a run calls and writes (conftest.py)
pytestmark = pytest.mark.usefixtures("no_proof_samples")


def test_unhealthy_with_on_failure_pause_stops_with_the_error_then_resume_retries(world):
    world.runtime.never_healthy = {"v2"}
    e = world.engine(config(3, on_failure="pause"))
    e.run(e.deploy("v1"))
    d = e.deploy("v2")
    assert e.run(d) is Phase.PAUSED
    error = e.store.deployment(d).error
    assert error.startswith("instance shop-r2-s3 did not become healthy within 5s (last: HTTP 503 "
                            "from 127.0.0.1:") and error.endswith("/healthz)")
    world.runtime.never_healthy.clear()  # someone fixed the app
    e.resume(d)
    assert e.run(d) is Phase.SUCCEEDED
    assert e.store.deployment(d).error is None
    check_invariants(world, e.store, 2, 3)


def test_unhealthy_with_on_failure_pause_then_abort_leaves_the_old_revision(world):
    world.runtime.never_healthy = {"v2"}
    e = world.engine(config(3, IN_PLACE, on_failure="pause"))
    e.run(e.deploy("v1"))
    d = e.deploy("v2")
    assert e.run(d) is Phase.PAUSED
    e.abort(d)
    assert e.run(d) is Phase.ABORTED
    check_invariants(world, e.store, 1, 3)


def test_an_instance_that_exits_fails_at_once_naming_its_log(world):
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    world.clock.on_sleep = lambda clock: world.runtime.kill("shop-r2-s2")
    d = e.deploy("v2")
    assert e.run(d) is Phase.ROLLED_BACK
    assert e.store.deployment(d).error == (
        "instance shop-r2-s2 exited before it became healthy (last: HTTP 503 from "
        f"{world.runtime.processes[('shop', 2, 2)].instance.address}/healthz; "
        "log: /var/fake/shop-r2-s2.log): connection refused")  # the runtime's word on its end
    check_invariants(world, e.store, 1, 2)


def test_resume_after_an_instance_exited_starts_it_again(world):
    e = world.engine(config(2, on_failure="pause"))
    e.run(e.deploy("v1"))
    killed = []

    def crash_once(clock):
        if not killed:
            killed.append(world.runtime.kill("shop-r2-s2"))
    world.clock.on_sleep = crash_once
    d = e.deploy("v2")
    assert e.run(d) is Phase.PAUSED
    assert "exited before it became healthy" in e.store.deployment(d).error
    e.resume(d)
    assert e.run(d) is Phase.SUCCEEDED
    check_invariants(world, e.store, 2, 2)


@pytest.mark.parametrize("error", [
    RouterError("proxy admin API at unix:/run/zd.sock is unreachable"),
    # any router error while undoing, not only RouterError, must end the deployment failed
    # and never escape run(), leaving it 'running' with no controller (issue 11.17)
    TableError("the nginx router needs a name of letters, digits and _")])
def test_a_load_balancer_that_refuses_changes_fails_the_deployment_with_its_reason(world, error):
    class Refusing(FakeRouter):
        def apply(self, table):
            if table.version >= 2:
                raise error
            return super().apply(table)

    world.router = Refusing(drain_polls=1)
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    d = e.deploy("v2")
    assert e.run(d) is Phase.FAILED
    assert e.store.deployment(d).error == f"{error}; cannot roll back: {error}"


def test_a_table_set_by_hand_with_a_huge_version_is_taken_back_in_a_new_epoch(world):
    """Issue 11.6: someone PUT `version: 1000000`; every deploy used to fail as "older"."""
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    world.router.apply(dataclasses.replace(world.router.table, version=1_000_000))
    d = e.deploy("v2")
    assert e.run(d) is Phase.SUCCEEDED
    table = world.router.table
    assert (table.epoch, {r.name for r in table.revisions}) == (1, {"r2"})
    assert e.store.routing("shop").epoch == 1
    taken = [ev for ev in e.store.events("shop") if ev.kind == "routing.authority"]
    assert len(taken) == 1 and "version 1000000" in taken[0].message
    d = e.deploy("v3")  # the new epoch goes on: versions order again within it
    assert e.run(d) is Phase.SUCCEEDED and world.router.table.epoch == 1
    check_invariants(world, e.store, 3, 2)


def test_a_new_store_in_front_of_a_load_balancer_it_never_told_anything_takes_it_back(world,
                                                                                       tmp_path):
    """Issue 11.6/17: the state directory was lost; the router still holds table v35."""
    e = world.engine(config(2))
    for version in ("v1", "v2", "v3"):
        e.run(e.deploy(version))
    held = world.router.table
    world.path = tmp_path / "new" / "zerodown.db"
    world.path.parent.mkdir()
    fresh = world.engine(config(2))
    d = fresh.deploy("v1")
    assert fresh.run(d) is Phase.SUCCEEDED
    # The new store was rebuilt from what served (engine/recovery.py): r3 replaced by r4,
    # in a table after the one held, never beside it as a second "r1".
    assert (world.router.table.epoch, world.router.table.version) > (held.epoch, held.version)
    assert {r.name for r in world.router.table.revisions} == {"r4"}
    assert fresh.store.deployment(d).phase is Phase.SUCCEEDED


def test_a_data_plane_that_does_not_come_back_pauses_the_deployment_and_resume_goes_on(world):
    """Issue 11: a dead proxy marked the deployment failed ("cannot roll back") half-way.
    The router waits for it (bounded); if it still does not answer, hold, then resume."""
    down = []

    class Vanishing(FakeRouter):
        def apply(self, table):
            if table.version >= 3 and not down:
                down.append(table.version)
                raise RouterUnavailable("no proxy answered within 15s")
            return super().apply(table)

    world.router = Vanishing(drain_polls=1)
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    d = e.deploy("v2")
    assert e.run(d) is Phase.PAUSED
    assert e.store.deployment(d).error.startswith("no proxy answered within 15s")
    e.resume(d)
    assert e.run(d) is Phase.SUCCEEDED
    check_invariants(world, e.store, 2, 2)


@pytest.mark.parametrize("answers, drained_in", [
    (False, 3.0),   # hangs: one drain timeout (3s) for the first instance, none for the rest
    (True, 12.0),   # busy but answering: each of the 4 instances gets its whole drain timeout
])
def test_a_rollback_from_a_version_that_hangs_waits_one_drain_timeout_not_one_each(
        world, answers, drained_in):
    """Issue 11: a rollback from a version that accepts and never answers took drain
    timeout x instances (60 s for 4), each drain waiting for answers that never came."""
    e = world.engine(config(4, IN_PLACE))
    for version in ("v1", "v2"):
        e.run(e.deploy(version))
    for route in world.router.table.revisions:
        for b in route.backends:  # every r2 instance holds 2 requests it does not answer
            world.router.in_flight[b.id] = 2
            world.router.hung[b.id] = 0 if answers else 2
    if answers:  # slow, not hung: it answers a request now and then
        world.clock.on_sleep = lambda clock: world.router.serve(1)
    d = e.rollback("shop")
    assert e.run(d) is Phase.SUCCEEDED
    drains = [s for s in e.store.steps(d) if s.description.startswith("drain")]
    assert len(drains) == 4
    assert sum(s.finished_at - s.started_at for s in drains) == pytest.approx(drained_in, abs=0.5)
    assert ("taken as hung" in drains[0].outcome) is not answers
