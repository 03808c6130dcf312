"""The Drain step (steps.py runs the others): in-flight requests on the instances
leaving the table are waited for, up to drain_timeout, asking the load balancer
soon after the table changed and then less often. `engine` is the runner.Engine."""

from __future__ import annotations

from typing import NamedTuple, Sequence

from zerodown.engine.records import Deployment
from zerodown.model import RoutingTable
from zerodown.plan import Drain
from zerodown.protocols import Router

DRAIN_POLL = 0.25  # how often a drain asks the router about in-flight requests, at most
FIRST_DRAIN_POLL = 0.01  # its first look again (then doubling up to DRAIN_POLL)
FRESH = 1.0  # how long a drain's last look stands for the stop's router check (Looked)


def drain(engine, d: Deployment, i: int, step: Drain) -> None:
    """Wait for in-flight requests, up to drain_timeout. A revision whose backend answered
    nothing for a whole drain_timeout hangs: its other backends' drains wait only for
    answers under way, not for requests it will never answer (a rollback from a version
    that hangs took drain_timeout x instances, issue 11)."""
    engine.store.begin_waiting(d.id, i)  # records no act relies on: steps.py
    engine.looked = None
    limit = engine._config(d.to_revision).drain_timeout
    deadline = engine.clock.now() + limit
    revision = {r.name(engine.service): r.revision for r in step.instances}
    began: dict[str, tuple[int, int, int] | None] = {}  # at its first look found busy

    def waiting(b: str, drained: bool, p: tuple[int, int, int] | None) -> bool:
        if drained:
            return False
        began.setdefault(b, p)  # a hung revision: what is left unanswered never will be
        return not (revision[b] in engine.hung and p is not None and p[1] == p[2])
    busy, poll, table = list(revision), FIRST_DRAIN_POLL, None
    while busy:
        seen, table = look(engine.router, busy)
        busy = [b for b in busy if waiting(b, *seen[b])]
        if not busy or engine.clock.now() >= deadline:
            break
        # in-flight requests mostly end within milliseconds: look again soon, then less often
        engine.clock.sleep(min(poll, deadline - engine.clock.now()))
        poll = min(DRAIN_POLL, poll * 2)
    now, table = look(engine.router, busy) if busy else ({}, table)
    silent = [b for b in busy if _silent(began[b], now[b][1])]
    engine.hung |= {revision[b] for b in silent}
    hangs = (f"; {', '.join(silent)} answered nothing in {limit:g}s: taken as hung, so the "
             f"drains of its revision's other instances do not wait for it") if silent else ""
    engine.store.finish_step(d.id, i, f"drain timed out after {limit:g}s with requests in flight "
                             f"on {', '.join(busy)}; stopping anyway{hangs}" if busy else "drained",
                             durable=False)
    # the load balancer's table as the last look found it: the Stop next checks against it
    engine.looked = None if table is None else Looked(d.id, d.plan_kind, i, table,
                                                      engine.clock.now())


class Looked(NamedTuple):
    """The table in force that a drain's last look read with the drain (Router.drain_look).
    A Stop right after it in the same plan, within FRESH, takes it as its router check
    (steps.stop) instead of asking again: nothing was applied since (applying.apply forgets
    it), and the look is as much the load balancer's word, a commit earlier."""
    deployment: int
    plan: str
    step: int
    table: RoutingTable
    at: float

    def table_for(self, d: Deployment, i: int, now: float) -> RoutingTable | None:
        """The table, if step `i` of `d` follows this drain at once, else None."""
        if (self.deployment, self.plan, self.step) == (d.id, d.plan_kind, i - 1) \
                and now - self.at <= FRESH:
            return self.table
        return None


def look(router: Router, backends: Sequence[str]
         ) -> tuple[dict[str, tuple[bool, tuple[int, int, int] | None]], RoutingTable | None]:
    """drain_state(), and the table in force where the router reads both in one look
    (drain_look: one admin call, one round trip to its host), else None."""
    both = getattr(router, "drain_look", None)
    if both is not None:
        return both(backends)
    return drain_state(router, backends), None


def drain_state(router: Router, backends: Sequence[str]
                ) -> dict[str, tuple[bool, tuple[int, int, int] | None]]:
    """{backend: (drained, (answered, in flight, unanswered) or None)}: in one reading where
    the router can (drain_state), else asked per backend (unanswered only of busy ones)."""
    at_once = getattr(router, "drain_state", None)
    if at_once is not None:
        return at_once(backends)
    progress = getattr(router, "unanswered", None) or (lambda backend: None)
    out = {}
    for b in backends:
        done = router.drained(b)
        out[b] = (done, None if done else progress(b))
    return out


def _silent(before: tuple[int, int, int] | None, now: tuple[int, int, int] | None) -> bool:
    """No request answered between the two readings, and every one in flight unanswered."""
    return before is not None and now is not None and now[0] == before[0] and now[1] == now[2] > 0
