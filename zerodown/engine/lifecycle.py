"""A deployment's lifecycle as data: phases, the allowed transitions, and plan surgery.

    pending ─► running ─► succeeded
                 │ ▲ ╲
                 ▼ │  ╲─► rolling_back ─► rolled_back      (a step failed, on_failure: rollback)
               paused    ╲─► aborting ─► aborted            (zerodown abort)
                 │        ╲─► promoting ─► succeeded        (zerodown promote --full)
                 ▼
           (any active phase can end in failed: rolling back or aborting itself failed)

Pure: no store, no clock. The store checks every phase change against TRANSITIONS
in the same transaction that writes it, so two processes cannot race a
deployment into a phase the table does not allow.
"""

from __future__ import annotations

from enum import Enum
from typing import Sequence

from zerodown.errors import ZerodownError
from zerodown.plan import (Analyze, Drain, Pause, Route, ServiceState, Shadow, Start, Step, Stop,
                           WaitHealthy)
from zerodown.strategies.builder import squash


class Phase(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    PROMOTING = "promoting"
    ROLLING_BACK = "rolling_back"
    ABORTING = "aborting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"

    def __str__(self) -> str:
        return self.value

    @property
    def terminal(self) -> bool:
        return not TRANSITIONS[self]


P = Phase
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    # An abort before the first step has nothing to undo: it ends at once. It fails
    # before its first step if the load balancer cannot be brought to a known table.
    P.PENDING: frozenset({P.RUNNING, P.ABORTED, P.FAILED}),
    P.RUNNING: frozenset({P.PAUSED, P.PROMOTING, P.ROLLING_BACK, P.ABORTING, P.SUCCEEDED,
                          P.FAILED}),
    P.PAUSED: frozenset({P.RUNNING, P.PROMOTING, P.ABORTING}),
    P.PROMOTING: frozenset({P.PAUSED, P.ROLLING_BACK, P.ABORTING, P.SUCCEEDED, P.FAILED}),
    # Going back cannot itself be paused or aborted: it either gets there or fails.
    P.ROLLING_BACK: frozenset({P.ROLLED_BACK, P.FAILED}),
    P.ABORTING: frozenset({P.ABORTED, P.FAILED}),
    P.SUCCEEDED: frozenset(), P.FAILED: frozenset(), P.ROLLED_BACK: frozenset(),
    P.ABORTED: frozenset(),
}
ACTIVE = frozenset(p for p in Phase if not p.terminal)
# The phases a runner works in (paused waits for a person, pending for its first step).
RUNNABLE = frozenset({P.PENDING, P.RUNNING, P.PROMOTING, P.ROLLING_BACK, P.ABORTING})

# Which plan a phase runs. A phase whose plan_kind differs needs a new plan first:
# the runner computes it from the store's state when it sees the phase.
PLAN_OF = {P.ROLLING_BACK: "rollback", P.ABORTING: "abort", P.PROMOTING: "promote"}
# How a finished plan ends the deployment.
END_OF = {"deploy": P.SUCCEEDED, "promote": P.SUCCEEDED, "rollback": P.ROLLED_BACK,
          "abort": P.ABORTED}

_VERBS = {P.RUNNING: "resume", P.PAUSED: "pause", P.PROMOTING: "promote", P.ABORTING: "abort",
          P.ROLLING_BACK: "roll back", P.SUCCEEDED: "finish", P.ROLLED_BACK: "finish",
          P.ABORTED: "abort", P.FAILED: "fail", P.PENDING: "restart"}


class PhaseError(ZerodownError):
    """A deployment was asked for a transition its phase does not allow."""


def transition(deployment: int, current: Phase, to: Phase, verb: str | None = None) -> Phase:
    """`to`, if the table allows current → to; else a PhaseError naming both."""
    if to in TRANSITIONS[Phase(current)]:
        return to
    raise PhaseError(f"cannot {verb or _VERBS[to]} deployment {deployment}: it is {current}"
                     + _hint(current))


def _hint(current: Phase) -> str:
    if current is P.PAUSED:
        return " (resume, promote or abort it)"
    if current in (P.ROLLING_BACK, P.ABORTING):
        return " and will end by itself"
    if current.terminal:
        return " (finished; `zerodown rollback` goes back to the previous revision)"
    return ""


SIGNALS = ("pause", "resume", "promote", "promote-full", "abort")


def signal(deployment: int, verb: str, current: Phase, at_pause: bool = False,
           holds: str | None = None) -> tuple[Phase, str | None]:
    """What `zerodown <verb>` does to a deployment in `current`: (new phase, request).

    The request is read by the runner: "promote" ends the pause it is in (a
    paused deployment, or a timed Pause step in progress, `at_pause`). `holds`:
    it holds at an A/B test's hold, for the decision these words name (held_for).
    """
    current = Phase(current)
    if holds is not None and verb in ("pause", "resume"):
        # A resume there is no decision: it went past the hold, B winning for good.
        raise PhaseError(f"cannot {verb} deployment {deployment}: {holds}")
    if verb == "pause":
        return transition(deployment, current, P.PAUSED, verb), None
    if verb == "resume":  # only a pause is resumed; a pending one starts by itself
        if current is not P.PAUSED:
            raise PhaseError(f"cannot resume deployment {deployment}: it is {current}"
                             + _hint(current))
        return P.RUNNING, None
    if verb == "promote":
        if current is P.PAUSED:
            return P.RUNNING, "promote"
        if current in (P.RUNNING, P.PROMOTING) and at_pause:
            return current, "promote"
        raise PhaseError(f"cannot promote deployment {deployment}: it is {current} and not at a "
                         f"pause (`promote --full` skips every remaining pause to the end)"
                         if not current.terminal else
                         f"cannot promote deployment {deployment}: it is {current}")
    if verb == "promote-full":
        return transition(deployment, current, P.PROMOTING, "promote"), None
    if verb == "abort":
        to = P.ABORTED if current is P.PENDING else P.ABORTING
        return transition(deployment, current, to, verb), None
    raise PhaseError(f"unknown command {verb!r} for deployment {deployment} "
                     f"(known: {', '.join(SIGNALS)})")


def holds_for(phase: Phase, step: object, strategy_kind: str, plan_kind: str, begun: bool,
              stable: int | None, tested: int) -> str | None:
    """The decision a deployment waits for at its A/B test's hold, once reached (`begun`:
    the hold's step began), in held_for's words; None elsewhere: paused by a person before
    the hold, a resume goes on to it. The store's refusal, the API's deployments (the
    dashboard, deploy --wait) read it here alike."""
    if phase is not P.PAUSED or not isinstance(step, Pause) or not begun:
        return None
    # (a plan stored before Pause.decision: an A/B test's deploy plan has one pause)
    if not (step.decision or (strategy_kind == "ab-test" and plan_kind == "deploy")):
        return None
    return held_for(step, stable, tested)


def held_for(hold: Pause, stable: int | None, tested: int) -> str:
    """What an A/B test's hold (reached) waits for: the words a pause or resume is refused
    with (the CLI and the API alike)."""
    words = (f"the A/B test holds for a decision: `zerodown promote` makes B (r{tested}) "
             f"everyone's, `zerodown abort` keeps A" + (f" (r{stable})" if stable else ""))
    if hold.timeout is not None:
        words += f"; with neither, it will {hold.then} by itself {hold.timeout:g}s after it began"
    return words


def exit_code(phase: Phase, error: str | None = None) -> int:
    """The CLI's exit code for a deployment that stopped in `phase`."""
    if phase is P.SUCCEEDED or (phase is P.PAUSED and not error):
        return 0  # paused at a manual pause step is where the user asked to stop
    return 1


# --- plan surgery: pure functions of steps --------------------------------

def promoted(steps: Sequence[Step]) -> tuple[Step, ...]:
    """The rest of a plan without its pauses, analyses and shadows, weights squashed to the last.

    A Route is dropped when the next Route follows with only starts and health
    waits between: the later one routes every instance that is healthy by then,
    and nothing was drained in between that needed the earlier table. Routes
    before a Drain/Stop stay, so no instance stops before it is routed out.
    This is how a canary skips straight to 100%, even while it still has
    instances to start for the weights it skips.
    """
    return squash([s for s in steps if not isinstance(s, (Pause, Analyze, Shadow))],
                  across=(Start, WaitHealthy))


def teardown(state: ServiceState) -> tuple[Step, ...]:
    """Back to nothing: what undoing a first deployment (no stable revision) means."""
    live = tuple(sorted({*state.routed, *state.unrouted}))
    return (Route(()), Drain(live), Stop(live)) if live else (Route(()),)


def splice(steps: Sequence[Step], cursor: int, started: bool,
           new: Sequence[Step]) -> tuple[tuple[Step, ...], int]:
    """Replace the plan from `cursor` on with `new`: (plan, cursor).

    A step that was started is kept in the history (its record says it was
    interrupted) and the new steps follow it; so step indexes never change
    meaning, and the step records stay a true log of what ran.
    """
    keep = cursor + 1 if started else cursor
    return tuple(steps[:keep]) + tuple(new), keep
