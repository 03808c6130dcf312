"""Actions asked of a paused deployment act in order, even when a later one undoes the
phase an earlier one set before the engine looked (engine/asked.py): a resume then a
pause ends the Pause step, then holds before the next one; nothing is lost."""

from __future__ import annotations

from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import Store

from tests.support.engine_world import World, check_invariants, config, with_pauses


def steered(world: World, when: dict[int, list[str]]):
    """A second process's signals, sent together at the engine's n-th sleep: each list
    lands before the engine reads its deployment again."""
    other: list = []

    def meanwhile(clock):
        for verb in when.get(clock.slept, []) if other else []:
            other[0].signal(other[1], verb)

    world.clock.on_sleep = meanwhile
    return other


def pause_outcomes(store: Store, d: int) -> list[str | None]:
    return [s.outcome for s in store.steps(d) if s.description.startswith("pause")]


def asked_then_phases(store: Store, d: int) -> list[str]:
    return [f"{ev.data.get('asked', '')}>{ev.data['to']}" for ev in store.events(deployment=d)
            if ev.kind == "phase"]


def test_a_resume_then_a_pause_ends_the_manual_pause_then_holds_at_the_next_step(tmp_path):
    world = World(tmp_path)
    e = world.engine(config(3), planner=with_pauses)
    e.run(e.deploy("v1"), stop_when_paused=True)
    e.resume(1)
    e.run(1)
    d = e.deploy("v2")
    assert e.run(d, stop_when_paused=True) is Phase.PAUSED
    at = e.store.deployment(d).cursor
    other = steered(world, {world.clock.slept + 1: ["resume", "pause"],
                            world.clock.slept + 3: ["resume"]})
    other[:] = [Store(world.path), d]
    assert e.run(d, hold=True) is Phase.SUCCEEDED
    assert asked_then_phases(e.store, d) == [">running", ">paused", "resume>running",
                                             "pause>paused", "resume>running", ">succeeded"]
    assert pause_outcomes(e.store, d) == ["resumed", "pause over"]  # the first resume: not lost
    log = [(ev.kind, ev.data.get("asked") or ev.data.get("index")) for ev in
           e.store.events(deployment=d) if ev.kind in ("phase", "step.started", "step.finished")]
    resumes = [i for i, entry in enumerate(log) if entry == ("phase", "resume")]
    # the pause ended by the first resume, held by the pause before the next step begins
    assert log.index(("step.finished", at)) < resumes[1] < log.index(("step.started", at + 1))
    check_invariants(world, e.store, 2, 3)


def test_a_promote_then_a_pause_at_a_timed_pause_ends_it_promoted(tmp_path):
    world = World(tmp_path)
    e = world.engine(config(3), planner=with_pauses)
    d = e.deploy("v1")
    e.run(d, stop_when_paused=True)
    e.resume(d)
    # the timed pause ("soak", 60 s) sleeps in steps of POLL: promote, pause at its second
    other = steered(world, {world.clock.slept + 2: ["promote", "pause"],
                            world.clock.slept + 4: ["resume"]})
    other[:] = [Store(world.path), d]
    assert e.run(d, hold=True) is Phase.SUCCEEDED
    assert pause_outcomes(e.store, d) == ["resumed", "promoted"]


def test_a_promote_full_then_a_pause_replans_to_the_promote_plan_then_holds(tmp_path):
    world = World(tmp_path)
    judged = []
    e = world.engine(config(3), planner=with_pauses,
                     judge=lambda s, d, check: judged.append(s) or "pass")
    d = e.deploy("v1")
    assert e.run(d, stop_when_paused=True) is Phase.PAUSED
    e.promote(d, full=True)
    e.pause(d)  # before the engine saw the promote: the phase is paused again
    assert e.store.deployment(d).plan_kind == "deploy"
    other = steered(world, {world.clock.slept + 1: ["resume"]})
    other[:] = [Store(world.path), d]
    assert e.run(d, hold=True) is Phase.SUCCEEDED
    assert e.store.deployment(d).plan_kind == "promote"
    assert judged == []  # the analysis was skipped: the promote --full acted
    assert [ev.data.get("asked") for ev in e.store.events(deployment=d)
            if ev.kind == "phase" and ev.data.get("asked")] == ["promote-full", "pause", "resume"]
    check_invariants(world, e.store, 1, 3)


def test_a_promote_a_pause_and_a_resume_at_a_timed_pause_end_it_promoted(tmp_path):
    """The resume leaves the deployment running before the engine looks, the promote's
    request cleared by the pause: the running timed pause reads the events, not the phase."""
    world = World(tmp_path)
    e = world.engine(config(3), planner=with_pauses)
    d = e.deploy("v1")
    e.run(d, stop_when_paused=True)
    e.resume(d)
    other = steered(world, {world.clock.slept + 2: ["promote", "pause", "resume"]})
    other[:] = [Store(world.path), d]
    assert e.run(d, hold=True) is Phase.SUCCEEDED
    assert pause_outcomes(e.store, d) == ["resumed", "promoted"]  # not "pause over": 60 s on
