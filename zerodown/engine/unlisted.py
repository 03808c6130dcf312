"""Hosts that runtime.hosts no longer lists, where instances recorded with live rows still
run (started before the list changed): the runtime knows only its list, so the engine
names these hosts to it, from the store's record (never from a lookup).

    renamed(store, service, runtime, listed)             # app1 listed as deploy@app1: one host
    as_renamed(state, renames(store, service, listed_as, listed))   # plan: as it will be
    runtime.adopt(service, recorded(store, service))     # asked too: found, or named silent
    runtime.check_release(..., unlisted=acted_on(engine, plan_of))   # pre-flighted too
    plan_of = Once(plan_of)    # create_deployment takes the plan acted_on made, if it did

Not asked, an instance kept there for a rollback was taken for gone and kept running
unknown; not pre-flighted, a deployment whose stop there could not happen started all
the same and stopped at that step (docs/fleet.md).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping

from zerodown.model import fleet_hosts
from zerodown.plan import Plan, ServiceState, hosts_acted_on


def renamed(store, service: str, runtime, listed: tuple[str, ...]) -> None:
    """Live rows recorded on a host runtime.hosts (`listed`) now names otherwise (app1
    listed again as deploy@app1, an ssh_config alias as its address: the same user,
    address and port to the runtime, SshRuntime.listed_as) recorded under the listed
    name, before anything is planned or asked from them: else that host was asked twice
    (as listed, and as unlisted by its recorded name) and planned as two."""
    names = renames(store, service, getattr(runtime, "listed_as", None), listed)
    if names:
        store.rename_hosts(service, names)


def renames(store, service: str, listed_as: Callable[[str], str | None] | None,
            listed: tuple[str, ...]) -> dict[str, str]:
    """{recorded: listed} for what `renamed` records anew (`listed_as`: the runtime's, None
    where it has no fleet); `zerodown plan`, which writes nothing, plans from the state as
    it will be then (as_renamed). One query when every recorded host is listed (the usual
    case)."""
    off = store.live_hosts(service) - set(listed)
    return {old: new for old in off if listed_as and (new := listed_as(old)) is not None}


def as_renamed(state: ServiceState, names: Mapping[str, str]) -> ServiceState:
    """`state` (Store.service_state) as it reads once `renamed` recorded `names` (pure)."""
    if not names:
        return state
    return replace(state, runs_on={ref: names.get(host, host)
                                   for ref, host in state.runs_on.items()})


def off_list(store, service: str, listed_as: Callable[[str], str | None] | None,
             listed: tuple[str, ...]) -> list[str]:
    """The hosts recorded with the service's live rows that runtime.hosts (`listed`) does
    not name, under any name (renames): where instances may still run off the list, so
    where `down` and a take-over act besides it (the service's owner is recorded there)."""
    names = renames(store, service, listed_as, listed)
    return sorted({names.get(h, h) for h in store.live_hosts(service)} - set(listed))


def recorded(store, service: str) -> tuple[str, ...]:
    """The hosts recorded with the service's live rows, listed or not: what an adopt asks
    besides runtime.hosts (model.hosts_to_ask)."""
    return tuple(sorted(store.live_hosts(service)))


def acted_on(engine, plan_of: Callable[[ServiceState, int], Plan],
             revision: int | None = None) -> tuple[str, ...]:
    """The hosts runtime.hosts no longer lists where the plan `plan_of` makes from the
    store's state now (as create_deployment will) waits on, drains or stops an instance
    recorded there. `revision`: the plan's target, else the number a new revision takes.
    Planned here only when a live row is recorded on such a host (rare: after the list
    changed); else one query (Store.live_hosts) and ()."""
    store, service = engine.store, engine.service
    listed = set(fleet_hosts(engine.config.runtime))
    if not store.live_hosts(service) - listed:
        return ()
    state = store.service_state(service)
    if revision is None:
        revision = store.latest_revision(service) + 1
    return tuple(sorted(hosts_acted_on(plan_of(state, revision).steps, state.runs_on)
                        - listed))


class Once:
    """A planner that keeps its last plan: create_deployment, planning from the state
    acted_on planned from (nothing changed in between: the same instances, recorded on
    the same hosts), takes that plan instead of making it twice (a rolling plan of 10,000
    instances takes seconds: benchmarks/unlisted_reads.py)."""

    def __init__(self, plan_of: Callable[[ServiceState, int], Plan]):
        self.plan_of = plan_of
        self.last: tuple[ServiceState, int, Plan] | None = None

    def __call__(self, state: ServiceState, revision: int) -> Plan:
        if self.last is not None:
            was, number, plan = self.last
            if (was, number) == (state, revision) and was.runs_on == state.runs_on:
                return plan
        plan = self.plan_of(state, revision)
        self.last = (state, revision, plan)
        return plan
