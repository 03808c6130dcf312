"""Failure, abort, promote: a new plan from the cursor on (runner.Engine runs it).

A failed step rolls back (or aborts at once when judged bad: a hook, an analysis),
pauses (on_failure: pause, an inconclusive analysis, a data plane that does not
answer) or fails when even going back cannot be done, or when a host refuses it because
another controller took the service over (NotOwner); a host that stops answering
is engine/host_failure.py's. An abort or a promote from another process replans
the same way. The new steps are written with the phase in one transaction before
any of them runs. `engine` is the runner.Engine.
"""

from __future__ import annotations

from zerodown.engine import applying, host_failure, shadowing
from zerodown.engine.health import HealthError
from zerodown.engine.lifecycle import PLAN_OF, Phase, PhaseError, promoted, teardown
from zerodown.engine.steps import AnalysisFailed, Inconclusive
from zerodown.engine.store import Change, Deployment, PlanMoved
from zerodown.errors import (HostFailure, NotOwner, OwnerUnreadable, RouterUnavailable,
                             ZerodownError)
from zerodown.hooks import HookFailed
from zerodown.plan import Analyze, Pause, PlanError, Shadow, Step
from zerodown.strategies import abort_plan, rollback_plan, target_for


def fail(engine, d: Deployment, error: ZerodownError) -> None:
    msg = str(error)
    changes = [Change(error.ref, "failed")] if isinstance(error, HealthError) else []
    index = d.cursor if d.step is not None else None
    try:
        if d.phase is Phase.PENDING or (d.phase in (Phase.ROLLING_BACK, Phase.ABORTING)
                                        and not isinstance(error, HostFailure)) \
                or isinstance(error, (NotOwner, OwnerUnreadable)):
            # another controller took the service over (or whose it is cannot be told):
            # every act of this one is refused there, a rollback's too, and its routing
            # is no longer this one's to settle; neither paused nor skipped: failed
            engine.store.fail_step(d.id, index, msg, Phase.FAILED, changes)
        elif isinstance(error, Inconclusive) and exposed(engine, d):
            applying.settle(engine)  # undecided with users on it: back to the proven side
            engine.store.replan(d.id, d.cursor, undo(engine, d, abort=True), "abort",
                                f"undecided: {msg}", Phase.ABORTING, msg, changes)
        elif isinstance(error, HostFailure):  # neither rolled back nor failed through it
            host_failure.handle(engine, d, error, index, changes)
        elif d.on_failure == "pause" or isinstance(error, (Inconclusive, RouterUnavailable)):
            # a data plane that does not answer cannot be rolled back through either:
            # hold everything as it is; `zerodown resume` goes on once it answers
            engine.store.fail_step(d.id, index, msg, Phase.PAUSED, changes)
        else:
            abort = isinstance(error, (HookFailed, AnalysisFailed))  # judged bad: at once
            applying.settle(engine)
            engine.store.replan(d.id, d.cursor, undo(engine, d, abort=abort),
                                "abort" if abort else "rollback", f"failed: {msg}",
                                Phase.ABORTING if abort else Phase.ROLLING_BACK, msg, changes)
    except (PlanMoved, PhaseError):
        raise  # another process changed the phase: run() looks again
    except RouterUnavailable as e:  # rolling back needs the data plane too: hold
        engine.store.fail_step(d.id, index, f"{msg}; not rolled back, paused: {e}",
                               Phase.PAUSED if d.phase in (Phase.RUNNING, Phase.PROMOTING)
                               else Phase.FAILED, changes)
    except ZerodownError as e:  # anything else: failed and said so, never left running
        engine.store.fail_step(d.id, index, f"{msg}; cannot roll back: {e}", Phase.FAILED, changes)


def exposed(engine, d: Deployment) -> bool:
    """Does the table in force give users' traffic (a weight) to d's new revision?"""
    route = engine.store.routing(engine.service).table.revision(f"r{d.to_revision}")
    return route is not None and route.weight > 0 and d.from_revision is not None


def replan(engine, d: Deployment, kind: str | None = None) -> None:
    """`d`'s plan from its cursor replaced by its phase's (`kind`: by that one, its phase
    kept: a promote --full a pause overtook, engine/asked.py)."""
    kind = kind or PLAN_OF[d.phase]
    applying.settle(engine)
    if isinstance(d.step, Shadow):  # promoted or aborted in it (perhaps while no
        shadowing.stop(engine.router)  # controller ran): the copying ends with the step
    record = engine.store.step_record(d.id, d.cursor)
    started = record is not None and record.in_progress
    try:
        if kind == "promote":  # a pause in progress is skipped; any other step runs again
            skip = started and isinstance(d.step, (Pause, Analyze, Shadow))
            steps = promoted(d.steps[d.cursor + skip:])
        else:
            steps = undo(engine, d, abort=kind == "abort")
    except PlanError as e:
        engine.store.fail_step(d.id, None, f"cannot {kind}: {e}", Phase.FAILED)
        return
    engine.store.replan(d.id, d.cursor, steps, kind, {"promote": "promoted", "abort": "aborted",
                                                      "rollback": "rolling back"}[kind])


def undo(engine, d: Deployment, abort: bool) -> tuple[Step, ...]:
    """Steps back to the revision that served before `d`, from what runs now."""
    state = engine.store.service_state(engine.service)
    if d.from_revision is None:
        return teardown(state)
    target = target_for(engine._config(d.from_revision), d.from_revision,
                        engine.config.runtime)  # placed where today's runtime puts them
    moments = engine._config(d.to_revision).hooks.moments()
    if abort:
        try:
            return abort_plan(state, target, moments).steps
        except PlanError:
            pass  # the stable revision no longer serves: go back by the strategy's rules
    # Undoing is never refused: staying on a failed revision is no better.
    return rollback_plan(engine._strategy(d.to_revision, d.strategy), state, target,
                         moments, allow_downtime=True).steps
