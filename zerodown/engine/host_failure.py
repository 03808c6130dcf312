"""A host of the fleet stops answering in the middle of a deployment (`on_host_failure`).

    on_host_failure: pause   # default: hold, name the host; `zerodown resume` once it answers
    on_host_failure: skip    # go on without the host's slots, and say so

Neither rolls back through the host, which cannot answer that either: the old rule
("a failed step rolls back") ended such a deployment failed half-way. While it is
paused or skipped, the load balancer's own health checks keep the host's routed
instances out of traffic (plan.balancer_check), so users see nothing of it.

Going back (rolling back, aborting) cannot pause (engine/lifecycle.py): it skips the
host whatever the policy, so it still ends with traffic on the stable revision; a host
runtime.hosts no longer lists is skipped by the instances recorded there. A host nothing
of the rest of the plan is on cannot be skipped (the same step would fail again): it
pauses going forward and fails going back, as the load balancer's host does.

`without_host` is pure: the rest of a plan with every instance on `host` left out.
`skipped_hosts` says which hosts the latest deployment went on without: their instances
outside the table are shown as `skipped` by `status` (still running what they ran), not
"draining", until the next deployment replaces them; an instance the skipped deployment
meant to start there and never did is dropped once the host answers (reconciling.py).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

from zerodown.engine.lifecycle import Phase
from zerodown.errors import HostFailure
from zerodown.model import InstanceRef, fleet_hosts, on_host
from zerodown.plan import Drain, Route, Start, Step, Stop, WaitHealthy

SKIP = "skip"
PAUSE = "pause"
_WITH_INSTANCES = (Start, WaitHealthy, Drain, Stop)


def without_host(steps: Sequence[Step], host: str, hosts: Sequence[str],
                 recorded: Mapping[InstanceRef, str] = {}) -> tuple[Step, ...]:
    """`steps` with the instances on `host` taken out; a step left with no instance is
    dropped, a route keeps the shares that still have an instance. An instance's host is
    the one `recorded` for it (where it was started), else its slot's in `hosts` (one
    still to start, or a row of an older store)."""
    def keep(refs: Sequence[InstanceRef]) -> tuple[InstanceRef, ...]:
        return tuple(r for r in refs if on_host(recorded.get(r), hosts, r.slot.index) != host)

    out: list[Step] = []
    for step in steps:
        if isinstance(step, _WITH_INSTANCES):
            left = keep(step.instances)
            if left:
                out.append(dataclasses.replace(step, instances=left))
        elif isinstance(step, Route):
            shares = tuple(dataclasses.replace(s, instances=keep(s.instances))
                           for s in step.shares)
            if any(s.instances for s in shares):  # else the route is what it was: nothing
                shares = tuple(s for s in shares if s.instances)
            out.append(dataclasses.replace(step, shares=shares))
        else:
            out.append(step)
    return tuple(out)


def policy_for(phase: Phase, configured: str) -> str:
    """What a host failure does in this phase: going back cannot pause, so it skips."""
    return configured if phase in (Phase.RUNNING, Phase.PROMOTING) else SKIP


def handle(engine, d, error: HostFailure, index: int | None, changes: Sequence) -> None:
    """Pause `d` naming the host, or go on without the host's slots (replanning.fail calls it)."""
    store, service = engine.store, engine.service
    configured = engine._config(d.to_revision).on_host_failure
    policy = policy_for(d.phase, configured)
    hosts = fleet_hosts(engine.config.runtime)  # as the runtime places slots
    if error.host == engine.config.router.host:  # nothing routes without it: never skipped
        router_host(engine, d, error, index, changes)
        return
    rest = without_host(d.steps[d.cursor:], error.host, hosts,
                        store.recorded_hosts(service, live=True))
    if policy == SKIP and rest == d.steps[d.cursor:]:  # no instance of the rest is there:
        nothing_there(engine, d, error, index, changes)  # skipping it would change nothing
        return
    if policy == PAUSE:
        store.event(service, "host.unreachable", f"host {error.host} did not answer; "
                    f"deployment {d.id} paused (on_host_failure: pause): `zerodown resume` "
                    f"goes on once it answers", d.id, host=error.host, policy=PAUSE)
        store.fail_step(d.id, index, f"host {error.host} stopped answering, paused "
                        f"(on_host_failure: pause; resume once it answers): {error}",
                        Phase.PAUSED, changes)
        return
    why = (f"host {error.host} stopped answering; going on without its slots "
           f"(on_host_failure: {configured}"
           f"{'' if configured == SKIP else f', and {d.phase.value} cannot pause'}): {error}")
    store.event(service, "host.skipped", why, d.id, host=error.host, policy=SKIP)
    store.replan(d.id, d.cursor, rest, d.plan_kind, why, changes=changes)


def router_host(engine, d, error: HostFailure, index: int | None, changes: Sequence) -> None:
    """The load balancer's host (router.host) did not answer. Skipping it would not go on
    (every route step asks it again), whatever on_host_failure says."""
    cannot_skip(engine, d, error, index, changes,
                f"router host {error.host} (the load balancer's)",
                "nothing routes without it, so its slots cannot be skipped")


def nothing_there(engine, d, error: HostFailure, index: int | None,
                  changes: Sequence) -> None:
    """A host failed that no instance of the rest of the plan is on (neither its slot's in
    runtime.hosts nor recorded there with a live row): skipped, the same step would run
    again and fail again, for ever."""
    cannot_skip(engine, d, error, index, changes, f"host {error.host}",
                "no instance the rest of the deployment acts on is there, so leaving it out "
                "would change nothing")


def cannot_skip(engine, d, error: HostFailure, index: int | None, changes: Sequence,
                who: str, why: str) -> None:
    """A host that cannot be skipped did not answer: a deployment going forward pauses, one
    going back (which cannot pause) fails, each naming the host and why."""
    going_on = d.phase in (Phase.RUNNING, Phase.PROMOTING)
    then = ("`zerodown resume` goes on once it answers" if going_on else
            "`zerodown rollback` once it answers")
    engine.store.event(engine.service, "host.unreachable", f"{who} did not answer; "
                       f"deployment {d.id} {'paused' if going_on else 'failed'}: {then}",
                       d.id, host=error.host, policy=PAUSE if going_on else "fail")
    engine.store.fail_step(d.id, index, f"{who} stopped answering; {why}: {then}: {error}",
                           Phase.PAUSED if going_on else Phase.FAILED, changes)


def skipped_hosts(store, service: str) -> dict[str, int]:
    """Host -> the deployment that went on without it, if it is the latest and has ended
    (a later deployment plans from every instance again: what it left is its own)."""
    latest = store.deployments(service, limit=1)
    if not latest or not latest[0].phase.terminal:
        return {}
    return {e.data["host"]: latest[0].id
            for e in store.events(service, latest[0].id, kind="host.skipped")}


def paused_for_host(store, service: str, d) -> tuple[str, int] | None:
    """(host, id of its host.unreachable event) when `d` is paused because that host did
    not answer (its latest pause came with that event), else None: a pause a person or a
    step asked for is not the host's to end."""
    if d.phase is not Phase.PAUSED:
        return None
    last_pause, unreachable = None, None
    for e in store.events(service, d.id, kind="phase"):
        if e.data.get("to") == Phase.PAUSED.value:
            last_pause = e
    if last_pause is None:
        return None
    for e in store.events(service, d.id, kind="host.unreachable"):
        if e.id < last_pause.id:
            unreachable = e
    if unreachable is None or unreachable.data.get("policy") != PAUSE:
        return None
    # the pause event follows its host.unreachable in the same step's failure: nothing
    # else (no phase change) between them
    between = store.events(service, d.id, after=unreachable.id, kind="phase")
    if between and between[0].id != last_pause.id:
        return None
    return unreachable.data["host"], unreachable.id
