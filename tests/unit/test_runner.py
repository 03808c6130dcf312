"""The engine on fakes: a deployment's lifecycle driven by hand (pause, resume, promote,
abort), one deployment per service, rollbacks, reconcile, what it records and how its
bookkeeping grows. A crash at every point: test_runner_crashes.py; failures under a
deployment: test_runner_failures.py; analysis and hooks: test_runner_gates.py. The world
the engine acts on (World, config, the rules checked): tests/support/engine_world.py."""

from __future__ import annotations

import dataclasses
import fcntl
import os

import pytest

from tests.support.engine_world import (AB_TEST, CANARY, World, check_invariants, config,
                                        with_pauses)
from zerodown.engine import deadlines
from zerodown.engine.lifecycle import Phase, PhaseError
from zerodown.engine.runner import DeploymentBusy
from zerodown.engine.store import DeploymentConflict, Store
from zerodown.errors import ZerodownError
from zerodown.fakes import FakeRuntime
from zerodown.model import Sticky

# the proof's samples, taken in real time, would vary what a run calls and writes (conftest.py)
pytestmark = pytest.mark.usefixtures("no_proof_samples")


def test_a_manual_pause_waits_for_resume_then_the_rest_runs(world):
    e = world.engine(config(3), planner=with_pauses)
    first = e.deploy("v1")
    assert e.run(first, stop_when_paused=True) is Phase.PAUSED
    assert e.resume(first) is Phase.RUNNING
    assert e.run(first) is Phase.SUCCEEDED
    d = e.deploy("v2")
    assert e.run(d, stop_when_paused=True) is Phase.PAUSED
    assert {r.name for r in world.router.table.revisions} == {"r1", "r2"}  # mid-way, held there
    steps = e.store.steps(d)
    assert steps[-1].description == "pause until resumed: look at it" and steps[-1].in_progress
    e.promote(d)
    assert e.run(d) is Phase.SUCCEEDED
    assert [s.outcome for s in e.store.steps(d) if s.description.startswith("pause")] == [
        "promoted", "pause over"]
    check_invariants(world, e.store, 2, 3)


def test_pause_and_resume_from_another_process_while_the_runner_waits(world):
    other = []

    def meanwhile(clock):  # what a user types in a second terminal, as fake time passes
        if other and clock.slept == 3:
            other[0].signal(other[1], "pause")
        if other and clock.slept == 20:
            other[0].signal(other[1], "resume")

    world.clock.on_sleep = meanwhile
    e = world.engine(config(3))
    e.run(e.deploy("v1"))
    d = e.deploy("v2")
    other[:] = [Store(world.path), d]
    assert e.run(d) is Phase.SUCCEEDED
    phases = [ev.data["to"] for ev in e.store.events(deployment=d) if ev.kind == "phase"]
    assert phases == ["running", "paused", "running", "succeeded"]


def test_promote_full_skips_every_pause_and_analysis_to_the_final_route(world):
    judged = []
    e = world.engine(config(3), planner=with_pauses, judge=lambda s, d, check: judged.append(s) or "pass")
    e.run(e.deploy("v1"), stop_when_paused=True)
    e.promote(1, full=True)
    assert e.run(1) is Phase.SUCCEEDED
    assert judged == []
    assert e.store.deployment(1).plan_kind == "promote"
    check_invariants(world, e.store, 1, 3)


def test_abort_while_paused_routes_everything_back_to_the_stable_revision(world):
    e = world.engine(config(3), planner=with_pauses)
    e.run(e.deploy("v1"), stop_when_paused=True)
    e.promote(1, full=True)
    e.run(1)
    d = e.deploy("v2")
    e.run(d, stop_when_paused=True)
    assert e.abort(d) is Phase.ABORTING
    assert e.run(d) is Phase.ABORTED
    check_invariants(world, e.store, 1, 3)
    assert e.store.stable("shop") == (1, None)


def test_abort_of_a_pending_deployment_ends_it_without_touching_anything(world):
    e = world.engine(config(2))
    d = e.deploy("v1")
    assert e.abort(d) is Phase.ABORTED
    assert e.run(d) is Phase.ABORTED
    assert world.runtime.spawned == [] and world.router.applied == []


def test_one_deployment_per_service_and_wait_takes_the_next_turn(world):
    e = world.engine(config(2))
    first = e.deploy("v1")
    with pytest.raises(DeploymentConflict, match="already has deployment 1"):
        e.deploy("v2")
    other = world.engine(config(2))
    world.clock.on_sleep = lambda clock: other.run(first)  # it finishes elsewhere meanwhile
    assert e.deploy("v2", wait=True) == 2


def test_rollback_after_success_goes_to_the_previous_revision_and_back(world):
    e = world.engine(config(2))
    with pytest.raises(ZerodownError, match="no previous revision"):
        e.rollback()
    for version in ("v1", "v2"):
        e.run(e.deploy(version))
    assert e.run(e.rollback("shop")) is Phase.SUCCEEDED
    check_invariants(world, e.store, 1, 2)
    assert e.store.stable("shop") == (1, 2)
    assert e.store.deployments("shop")[0].kind == "rollback"
    assert e.run(e.rollback(to_revision=2)) is Phase.SUCCEEDED
    check_invariants(world, e.store, 2, 2)
    with pytest.raises(ZerodownError, match="r2 is already the stable revision"):
        e.rollback(to_revision=2)


def test_the_release_check_keeps_the_versions_a_rollback_goes_to(world):
    """A runtime that prunes old releases (ssh) is told the stable and the previous
    revision's versions, so neither folder goes while a rollback may need it."""
    e = world.engine(config(2))
    kept = []
    check = e.runtime.check_release
    e.runtime.check_release = lambda app, version, keep, unlisted=(): (
        kept.append(keep), check(app, version, keep))[1]
    for version in ("v1", "v2", "v3"):
        e.run(e.deploy(version))
    assert e.store.rollback_versions("shop") == ("v3", "v2")  # stable, then previous
    e.run(e.rollback())
    assert kept == [frozenset(), {"v1"}, {"v2", "v1"}, {"v3", "v2"}]


def test_deploy_takes_a_strategy_and_overrides(world):
    e = world.engine(config(2))
    e.run(e.deploy("v1", strategy="in-place", overrides=["instances=3"]))
    d = e.store.deployment(1)
    assert d.strategy == {"kind": "in-place"}
    check_invariants(world, e.store, 1, 3)


def test_reconcile_adopts_what_the_store_owns_and_stops_orphans(world):
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    stray = FakeRuntime.start(world.runtime, e._revision(1), dataclasses.replace(
        world.runtime.processes[("shop", 1, 0)].instance.slot, index=9))
    world.engine(config(2)).resume_interrupted()
    assert stray.id not in world.runtime.running()
    assert any(ev.kind == "instance.orphan" for ev in e.store.events())
    check_invariants(world, e.store, 1, 2)


def test_a_deployment_run_by_another_process_is_left_to_it(world):
    e = world.engine(config(2))
    d = e.deploy("v1")
    fd = os.open(e.store.lock_path("shop"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4242")
    try:
        with pytest.raises(DeploymentBusy, match=r"another zerodown process \(pid 4242\)"):
            e.run(d)
        assert e.resume_interrupted() == {}
    finally:
        os.close(fd)
    assert e.resume_interrupted() == {d: Phase.SUCCEEDED}


def test_every_event_reaches_the_callback(world):
    heard = []
    e = world.engine(config(2), on_event=heard.append)
    e.run(e.deploy("v1"))
    assert [ev.id for ev in heard] == [ev.id for ev in e.store.events()]


def test_bookkeeping_grows_linearly_with_the_instances(world):
    """Store writes per instance stay flat as the service grows (batched per step)."""
    per_instance = []
    for n in (250, 1000):
        e = World(world.path.parent / str(n)).engine(
            config(n, "{kind: rolling, max_surge: 100%, max_unavailable: 0}"))
        e.run(e.deploy("v1"))
        before = e.store.db.total_changes
        e.run(e.deploy("v2"))
        per_instance.append((e.store.db.total_changes - before) / n)
    # new: start intent, address, healthy, routed; old: draining, stopping (the stop's
    # intent), stopped; the routing table's rows (engine/routing_rows.py: the new one's
    # staged and applied, the old one's gone from both); plus O(steps)
    assert 11 <= per_instance[1] <= per_instance[0] < 11.2, per_instance


@pytest.mark.parametrize("decision, phase, revision", [
    ("promote", Phase.SUCCEEDED, 2), ("abort", Phase.ABORTED, 1)])
def test_an_ab_test_holds_its_sticky_split_until_a_person_decides(world, decision, phase, revision):
    e = world.engine(config(2, AB_TEST))
    e.run(e.deploy("v1"))
    d = e.deploy("v2")
    assert e.run(d, stop_when_paused=True) is Phase.PAUSED
    table = world.router.table
    assert [(r.name, r.weight, len(r.backends)) for r in table.revisions] == [
        ("r1", 70, 2), ("r2", 30, 1)]
    assert table.sticky == Sticky("cookie", "zerodown_ab", 30 * 86400)
    world.clock.sleep(3600)  # held for as long as it takes: nothing moves by itself
    assert e.run(d, stop_when_paused=True) is Phase.PAUSED
    getattr(e, decision)(d)
    assert e.run(d) is phase
    check_invariants(world, e.store, revision, 2)


HOLDS = ("the A/B test holds for a decision: `zerodown promote` makes B (r2) everyone's, "
         "`zerodown abort` keeps A (r1)")


@pytest.mark.parametrize("stored", ["now", "before Pause.decision"])
def test_a_resume_or_pause_at_an_ab_tests_hold_is_refused_and_the_split_holds(world, stored):
    """A resume there went past the hold: B won for good, no decision made."""
    e = world.engine(config(2, AB_TEST))
    e.run(e.deploy("v1"))
    d = e.deploy("v2")
    assert e.run(d, stop_when_paused=True) is Phase.PAUSED
    if stored != "now":  # an older zerodown's plan: read as a plain pause, the strategy says
        with e.store._tx() as tx:
            tx.execute("UPDATE plans SET steps = replace(replace(steps, ', \"decision\": true', "
                       "''), ', \"decision\": false', '') WHERE deployment = ?", (d,))
        e.store._plans.clear()  # (parsed once per version: read again)
        assert not e.store.deployment(d).step.decision
    for verb in ("resume", "pause"):
        with pytest.raises(PhaseError) as refused:
            getattr(e, verb)(d)
        assert str(refused.value) == f"cannot {verb} deployment {d}: {HOLDS}"
    assert e.run(d, stop_when_paused=True) is Phase.PAUSED
    assert [(r.name, r.weight) for r in world.router.table.revisions] == [("r1", 70), ("r2", 30)]
    assert e.store.steps(d)[-1].in_progress
    e.abort(d)  # still the person's to decide: A stays
    assert e.run(d) is Phase.ABORTED
    check_invariants(world, e.store, 1, 2)


def test_a_timed_ab_hold_refuses_a_resume_and_still_ends_by_itself(world):
    """pause_timeout/pause_then: the hold's own clock, untouched by the refused resume."""
    e = world.engine(config(2, "{kind: ab-test, split: 30, pause_timeout: 1h, "
                               "pause_then: promote}"))
    e.run(e.deploy("v1"))
    d = e.deploy("v2")
    assert e.run(d, stop_when_paused=True) is Phase.PAUSED
    with pytest.raises(PhaseError, match="; with neither, it will promote by itself 3600s "
                                         "after it began$"):
        e.resume(d)
    held, began = e.store.deployment(d), e.store.steps(d)[-1].started_at
    assert deadlines.due(held.phase, held.step, began, held.updated, began + 3599, None,
                         "rollback") is None
    due = deadlines.due(held.phase, held.step, began, held.updated, began + 3600, None,
                        "rollback")
    assert due is not None and due.verb == "promote"
    e.store.signal(d, due.verb, due.why)  # as the controller's watchdog sends it
    assert e.run(d) is Phase.SUCCEEDED
    check_invariants(world, e.store, 2, 2)


@pytest.mark.parametrize("strategy", [AB_TEST, CANARY])
def test_a_rollback_records_the_strategy_it_went_by_not_the_one_it_fell_back_from(
        world, strategy):
    """After a promoted A/B test or canary the old revision runs nowhere: the rollback
    cannot switch the table back, so it goes by rolling, and says so (history, --json,
    and no background analysis of the A/B test's or canary's)."""
    e = world.engine(config(2, strategy))
    e.run(e.deploy("v1"))
    d = e.deploy("v2")
    while e.run(d, stop_when_paused=True) is Phase.PAUSED:
        e.promote(d)
    assert e.store.deployment(d).phase is Phase.SUCCEEDED
    back = e.rollback()
    assert e.store.deployment(back).strategy == {"kind": "rolling"}
    assert e.run(back) is Phase.SUCCEEDED
    check_invariants(world, e.store, 1, 2)


def test_a_rollback_that_switches_the_table_records_the_deployments_strategy(world):
    e = world.engine(config(3, "{kind: blue-green, scale_down_delay: 0s, keep_previous: true}"))
    e.run(e.deploy("v1"))
    e.run(e.deploy("v2"))
    back = e.rollback()
    assert e.store.deployment(back).strategy["kind"] == "blue-green"


def test_blue_green_keep_previous_leaves_blue_up_and_a_rollback_is_a_table_switch(world):
    e = world.engine(config(3, "{kind: blue-green, scale_down_delay: 0s, keep_previous: true}"))
    e.run(e.deploy("v1"))
    e.run(e.deploy("v2"))
    assert {r.name for r in world.router.table.revisions} == {"r2"}
    assert len(world.runtime.running("shop")) == 6  # blue kept, outside the table
    spawned = len(world.runtime.spawned)
    assert e.run(e.rollback()) is Phase.SUCCEEDED
    assert len(world.runtime.spawned) == spawned, "a rollback to a kept blue starts nothing"
    check_invariants(world, e.store, 1, 3)


def test_a_missing_release_is_refused_before_a_revision_number_is_taken(world):
    world.runtime.missing = {"v9"}
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    with pytest.raises(ZerodownError, match="release folder releases/v9 does not exist"):
        e.deploy("v9")
    assert [r.number for r in e.store.revisions("shop")] == [1]
    assert len(e.store.deployments("shop")) == 1
    assert e.run(e.deploy("v2")) is Phase.SUCCEEDED
    assert e.store.deployments("shop")[0].to_revision == 2  # r2, not r3: no number was used


def test_rollback_to_refuses_a_revision_that_never_served(tmp_path):
    world = World(tmp_path, never_healthy={"v2"})
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    assert e.run(e.deploy("v2")) is Phase.ROLLED_BACK
    e.run(e.deploy("v3"))
    with pytest.raises(ZerodownError, match=r"r2 never served shop: .*served: r1, r3\)"):
        e.rollback(to_revision=2)
    assert e.rollback_target(1) == 1 and e.served() == {1, 3}
    assert e.run(e.rollback(to_revision=1)) is Phase.SUCCEEDED
    assert e.rollback_target(3) == 3  # a revision that served may be gone back to again


def test_every_table_asks_the_load_balancer_to_check_the_routed_instances_itself(world):
    """Health-based ejection does not depend on the engine running: the table carries the
    revision's health check (unhealthy_threshold failures out, healthy_threshold passes in)."""
    e = world.engine(config(2))
    e.run(e.deploy("v1"))
    check = world.router.table.health_check
    assert check is not None
    assert (check.path, check.interval, check.timeout, check.fall, check.rise) == (
        "/healthz", 1.0, 2.0, 3, 1)


def test_a_tcp_health_check_is_not_turned_into_an_http_one(tmp_path):
    from zerodown.plan import balancer_check
    from zerodown.config import HealthConfig
    assert balancer_check(HealthConfig(tcp=True)) is None
    assert balancer_check(HealthConfig(interval=0.01)).interval == 0.05  # the table's floor
