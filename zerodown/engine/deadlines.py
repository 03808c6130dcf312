"""Deadlines, as Argo Rollouts users expect them: pure rules over a deployment's state.

- progress_deadline: a step that makes no progress within it (nothing written
  to the deployment since the step began) aborts the deployment, or pauses it
  with `on_failure: pause`. Pauses and analyses have clocks of their own and
  are not counted; neither is going back (aborting, rolling back).
- a manual pause's `timeout` with `then: abort | promote`.

The controller's watchdog asks `due` a few times a second and sends the signal
it returns through the store, like a person would.
"""

from __future__ import annotations

from dataclasses import dataclass

from zerodown.engine.lifecycle import Phase
from zerodown.plan import Analyze, Pause, Shadow, Step

WATCHED = (Phase.RUNNING, Phase.PROMOTING)  # going forward: a stall there is a deadline


@dataclass(frozen=True)
class Due:
    verb: str  # abort | pause | promote
    why: str


def due(phase: Phase, step: Step | None, started_at: float | None, last_change: float,
        now: float, progress_deadline: float | None, on_failure: str,
        service: str = "") -> Due | None:
    """What a deadline asks of a deployment now, or None.

    `started_at`: when the step in progress began (None: not begun);
    `last_change`: the deployment's last write (a resume counts as progress).
    """
    if step is None or started_at is None:
        return None
    if phase is Phase.PAUSED and isinstance(step, Pause) and step.timeout is not None:
        if now >= started_at + step.timeout:
            return Due(step.then, f"the pause timed out after {step.timeout:g}s (then: {step.then})")
        return None
    if (phase in WATCHED and progress_deadline is not None
            and not isinstance(step, (Pause, Analyze, Shadow))):
        since = max(started_at, last_change)
        if now - since >= progress_deadline:
            verb = "pause" if on_failure == "pause" else "abort"
            return Due(verb, f"step {step.describe(service)!r} made no progress within "
                             f"progress_deadline {progress_deadline:g}s")
    return None
