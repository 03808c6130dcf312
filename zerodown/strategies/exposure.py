"""What a plan risks, moment by moment: who sees the new revision, and the way back.

    exposure(steps, revision)               -> the largest share of users on `revision`
                                               before it has them all
    restarts_to_undo(steps, stable, count)  -> per moment, stable instances a rollback
                                               would have to start again

Pure functions of a plan's steps: `zerodown demo` prints them beside what it measures.
A rollback that starts nothing is a table switch (blue/green, canary: stable
keeps running); one that must start instances takes as long as they take to
become healthy (in-place and rolling stop stable as they go).
"""

from __future__ import annotations

from typing import Sequence

from zerodown.plan import Route, Step, Stop


def exposure(steps: Sequence[Step], revision: int) -> float:
    """Percent of users routed to `revision` at most, before it serves alone."""
    peak = 0.0
    for step in steps:
        if isinstance(step, Route):
            share = step.percents().get(revision, 0.0)
            if share >= 100:
                break
            peak = max(peak, share)
    return peak


def restarts_to_undo(steps: Sequence[Step], stable: int | None, count: int) -> list[int]:
    """For each moment (before step 1, after each step): of the `count` instances of the
    `stable` revision, how many no longer run, so that a rollback must start them again."""
    gone, out = 0, [0]
    for step in steps:
        if isinstance(step, Stop):
            gone += sum(1 for r in step.instances if r.revision == stable)
        out.append(min(count, gone))
    return out
