"""Where a plan's lifecycle moments fall, for hooks (zerodown.hooks).

    with_hooks(plan.steps, revision, {"before_traffic"})

Every strategy has the same moments, found from its steps rather than
written into each planner: before the new revision's first Start, or before
the first instance is taken out for it if that comes first (in-place), so a
before_start hook that fails has changed nothing; after its
first WaitHealthy; before and after the first Route that gives it users
(a blue/green preview does not); after the Route that makes it the only
revision (promotion, past any analysis right after it). before_traffic goes
before the pauses and analyses that precede that Route, so under blue/green it
runs while the preview is open and smoke tests reach green through it. An undo
plan (abort, rollback) opens with on_rollback.
Moments without hooks configured are dropped, so a plan shows only what runs.
"""

from __future__ import annotations

from typing import AbstractSet, Sequence

from zerodown.hooks_model import MOMENTS
from zerodown.plan import (Analyze, Drain, Hook, Pause, Route, Shadow, Start, Step, Stop,
                           WaitHealthy)
from zerodown.strategies.builder import squash

def with_hooks(steps: Sequence[Step], revision: int, moments: AbstractSet[str],
               undo: bool = False) -> tuple[Step, ...]:
    """`steps` with a Hook step at each configured moment; unconfigured ones removed."""
    if undo:
        steps = (Hook("on_rollback"), *steps)
    else:
        steps = _place(list(steps), revision)
    return squash([s for s in steps if not isinstance(s, Hook) or s.moment in moments])


def _place(steps: list[Step], revision: int) -> list[Step]:
    def first(match) -> int | None:
        return next((i for i, s in enumerate(steps) if match(s)), None)

    mine = lambda s: any(r.revision == revision for r in s.instances)  # noqa: E731
    at: dict[int, list[str]] = {}

    def put(moment: str, index: int | None) -> None:
        if index is not None:
            at.setdefault(index, []).append(moment)

    start = first(lambda s: isinstance(s, Start) and mine(s))
    healthy = first(lambda s: isinstance(s, WaitHealthy) and mine(s))
    traffic = first(lambda s: isinstance(s, Route) and s.traffic(revision))
    promoted = first(lambda s: isinstance(s, Route) and s.routes_any()
                     and all(sh.revision == revision for sh in s.shares if sh.instances))
    if start is not None:  # ... and before anything is taken out for it (in-place's batches)
        touched = first(lambda s: isinstance(s, (Drain, Stop)))
        if touched is not None and touched < start:
            start = touched - 1 if touched and isinstance(steps[touched - 1], Route) else touched
    put("before_start", start)
    put("after_healthy", None if healthy is None else healthy + 1)
    if traffic is not None:
        before = traffic  # checks and smoke tests go before a pause, not after a person's go
        while before > 0 and isinstance(steps[before - 1], (Pause, Analyze, Shadow)):
            before -= 1
        put("before_traffic", before)
        put("after_traffic", traffic + 1)
    if promoted is not None:
        after = promoted + 1
        while after < len(steps) and isinstance(steps[after], Analyze):
            after += 1
        put("after_promote", after)
    out: list[Step] = []
    for i in range(len(steps) + 1):
        out += [Hook(m) for m in sorted(at.get(i, ()), key=MOMENTS.index)]
        if i < len(steps):
            out.append(steps[i])
    return out

