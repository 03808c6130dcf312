"""The engine on fakes: a crash at every point.

The crash sweep runs each scenario once to count the calls it makes (to the
runtime, the router and the store's commits), then once per call with the
controller killed just after it took effect (an instance started, a table
applied, a step's record committed) but before the engine heard back; a new
engine on the same store file then resumes, and the end state must be the one
a run without a crash reaches, with no zero-downtime rule broken on the way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import pytest

from tests.support.engine_world import (BLUE_GREEN, CANARY, IN_PLACE, SHADOW, World,
                                        check_invariants, config)
from zerodown.engine.lifecycle import Phase, PhaseError
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store
from zerodown.fakes import SimulatedCrash

# the proof's samples, taken in real time, would vary what a run calls and writes (conftest.py)
pytestmark = pytest.mark.usefixtures("no_proof_samples")


# --- scenarios: what to do, and where it must end -----------------------------------

@dataclasses.dataclass
class Scenario:
    cfg: object
    before: tuple[str, ...]  # versions deployed first, without crashes
    act: Callable[[Engine], object]
    phase: Phase
    revision: int | None  # the revision routed at the end
    n: int = 3
    world: dict = dataclasses.field(default_factory=dict)
    hook: Callable[[World, Engine], None] | None = None  # installed on every controller start
    while_down: Callable[[World], bool] | None = None  # a user's act while the controller is dead
    clean: tuple[Phase, int] | None = None  # where a run without a crash ends, if elsewhere


def deploy(version: str):
    return lambda e: e.run(e.deploy(version))


def abort_after_step(index: int):
    """'Another process' aborts the deployment once step `index` finished."""
    def hook(world: World, e: Engine) -> None:
        def listener(event):
            if event.kind == "step.finished" and event.data.get("index") == index:
                try:  # from its own process: the controller's crashes do not reach it
                    Store(world.path).signal(event.deployment, "abort")
                except PhaseError:
                    pass  # asked before the crash already
        e.store.listeners.append(listener)
    return hook


def run_pending(e: Engine):
    return e.run(e.store.deployments("shop")[0].id)


def abort_while_down(world: World) -> bool:
    """Abort, if the deployment had not finished before the crash."""
    store = Store(world.path)
    active = store.active_deployment("shop")
    if active is not None:
        store.signal(active.id, "abort")
    return active is not None


SCENARIOS = {
    "rolling": Scenario(config(3), ("v1",), deploy("v2"), Phase.SUCCEEDED, 2),
    "in-place": Scenario(config(2, IN_PLACE), ("v1",), deploy("v2"), Phase.SUCCEEDED, 2, 2),
    "first deploy": Scenario(config(2), (), deploy("v1"), Phase.SUCCEEDED, 1, 2),
    "unhealthy, rolled back": Scenario(config(2, IN_PLACE), ("v1",), deploy("bad"),
                                       Phase.ROLLED_BACK, 1, 2, {"never_healthy": {"bad"}}),
    "unhealthy first deploy": Scenario(config(2), (), deploy("bad"), Phase.ROLLED_BACK, None, 2,
                                       {"never_healthy": {"bad"}}),
    "aborted mid-way": Scenario(config(3), ("v1",), deploy("v2"), Phase.ABORTED, 1,
                                hook=abort_after_step(7)),
    # A user aborts while the controller is dead: the undo plan must also stop what a
    # start left running without the store hearing its address.
    "aborted while down": Scenario(config(3), ("v1", "+v2"), run_pending, Phase.ABORTED, 1,
                                   while_down=abort_while_down, clean=(Phase.SUCCEEDED, 2)),
    "in-place, aborted while down": Scenario(config(2, IN_PLACE), ("v1", "+v2"), run_pending,
                                             Phase.ABORTED, 1, 2, while_down=abort_while_down,
                                             clean=(Phase.SUCCEEDED, 2)),
    "rollback after success": Scenario(config(2), ("v1", "v2"), lambda e: e.run(e.rollback()),
                                       Phase.SUCCEEDED, 1, 2),
    "canary": Scenario(config(3, CANARY), ("v1",), deploy("v2"), Phase.SUCCEEDED, 2),
    # Steps: start, healthy, route 20%, pause, start, healthy, route 50%, analysis, ...
    "canary aborted at 50%": Scenario(config(3, CANARY), ("v1",), deploy("v2"), Phase.ABORTED,
                                      1, hook=abort_after_step(6)),
    "canary unhealthy": Scenario(config(3, CANARY), ("v1",), deploy("bad"), Phase.ROLLED_BACK, 1,
                                 world={"never_healthy": {"bad"}}),
    "blue-green": Scenario(config(3, BLUE_GREEN), ("v1",), deploy("v2"), Phase.SUCCEEDED, 2),
    "canary with a shadow": Scenario(config(3, SHADOW), ("v1",), deploy("v2"), Phase.SUCCEEDED, 2),
    # Steps: start, healthy, route 0%, shadow: aborted in it, by a user while no controller ran.
    "canary aborted in its shadow while down": Scenario(
        config(3, SHADOW), ("v1", "+v2"), run_pending, Phase.ABORTED, 1,
        while_down=abort_while_down, clean=(Phase.SUCCEEDED, 2)),
    # Steps: start, healthy, switch, keep blue 10s, drain, stop: aborted inside the window.
    "blue-green rolled back in its window": Scenario(
        config(3, BLUE_GREEN), ("v1",), deploy("v2"), Phase.ABORTED, 1, hook=abort_after_step(2)),
}


def play(tmp: Path, s: Scenario, crash: tuple[int, str] | None) -> tuple[World, int, int]:
    """Run the scenario (crashing at the call `crash` names): (world, calls before, calls made)."""
    world = World(tmp, **s.world)
    e = world.engine(s.cfg)
    for version in s.before:  # "+v2": recorded, not yet run
        if version.startswith("+"):
            e.deploy(version[1:])
        else:
            assert e.run(e.deploy(version)) is Phase.SUCCEEDED
    start = world.faults.calls
    if crash:
        world.faults.arm(start + crash[0], crash[1])
    if s.hook:
        s.hook(world, e)
    try:
        s.act(e)
    except SimulatedCrash:
        if s.while_down:
            world.acted = s.while_down(world)
        e = world.engine(s.cfg)  # the controller restarts
        if s.hook:
            s.hook(world, e)
        e.resume_interrupted()
        if len(e.store.deployments("shop")) == len(s.before):
            s.act(e)  # it died before the deployment was recorded: the user runs it again
    assert world.faults.at is None, "the crash point was never reached"
    return world, start, world.faults.calls - start


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_crash_at_any_point_resumes_to_the_same_end_without_breaking_a_rule(tmp_path, name):
    s = SCENARIOS[name]
    clean, _, calls = play(tmp_path / "clean", s, None)
    store = clean.engine(s.cfg).store
    phase, revision = s.clean or (s.phase, s.revision)
    assert store.deployments("shop")[0].phase is phase
    check_invariants(clean, store, revision, s.n)
    spawned = len(clean.runtime.spawned) if s.clean is None else None
    # A crash before call N leaves the world a crash after call N-1 leaves (only pure code
    # and reads lie between them), so "after" every call, plus "before" the first, is all.
    points = [(1, "before")] + [(at, "after") for at in range(1, calls + 1)]
    for at, when in points:
        world, start, _ = play(tmp_path / f"{at}-{when}", s, (at, when))
        crashed_at = world.faults.names[start + at - 1]
        try:
            store = world.engine(s.cfg).store
            phase, revision = (s.phase, s.revision) if world.acted or not s.clean else s.clean
            latest = store.deployments("shop")[0]
            assert latest.phase is phase, f"ended {latest.phase}: {latest.error}"
            check_invariants(world, store, revision, s.n)
            if spawned is not None:
                assert len(world.runtime.spawned) == spawned, "a crash cost an extra process"
        except AssertionError as e:
            raise AssertionError(f"crash {when} call {at} ({crashed_at}): {e}") from None
    assert len(points) >= 20, len(points)  # every scenario has dozens of crash points


def test_a_second_crash_during_recovery_is_recovered_from_too(tmp_path):
    s = SCENARIOS["rolling"]
    _, _, calls = play(tmp_path / "clean", s, None)
    for first in range(3, calls - 5, 7):  # a first crash that leaves 5 calls to crash in
        world = World(tmp_path / str(first))
        e = world.engine(s.cfg)
        e.run(e.deploy("v1"))
        world.faults.arm(world.faults.calls + first, "after")
        with pytest.raises(SimulatedCrash):
            e.run(e.deploy("v2"))
        world.faults.arm(world.faults.calls + 5, "after")
        with pytest.raises(SimulatedCrash):
            world.engine(s.cfg).resume_interrupted()
        e = world.engine(s.cfg)
        e.resume_interrupted()
        assert e.store.deployments("shop")[0].phase is Phase.SUCCEEDED
        check_invariants(world, e.store, 2, 3)
