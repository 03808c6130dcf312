"""The moves every planner is made of, each keeping the zero-downtime rules.

take_out: route the instances out → drain → stop (never a stop before a drain).
bring_in: start → wait healthy → route in (never traffic before healthy).
A planner only decides *which* instances move and when; the order of steps
inside a move is fixed here, once, for every strategy.

bring_in(early=True) right after a take_out whose slots it does not reuse starts
its instances before that take_out's drain and stop: those are out of the table
already, so the new ones need not wait for their last requests and their exit.
Capacity is counted as Kubernetes counts it (it does not count terminating pods
against maxSurge): instances on their way out (out of the table, draining or
exiting) are not counted against max_surge; a host's room (max_surge_per_host)
is, so a planner asks for early starts only where no such room is set.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from zerodown.model import InstanceRef, Slot
from zerodown.plan import (ORDER, Drain, Plan, Route, ServiceState, Share, Start, Step,
                           Stop, Target, WaitHealthy)
from zerodown.shared_refs import SharedRefs

NONE = SharedRefs()


class PlanBuilder:
    def __init__(self, state: ServiceState):
        self.state = state
        # Routed instances per revision, each in slot order: a Route takes them as they
        # are, never sorted again, and shares their parts with the Route before it (a plan
        # of 1,000 instances has ~1,000 Routes: shared_refs.py).
        by_rev: dict[int, list[InstanceRef]] = {}
        for r in sorted(state.routed, key=ORDER):
            by_rev.setdefault(r.revision, []).append(r)
        self._routed = {rev: SharedRefs(refs) for rev, refs in by_rev.items()}
        self.steps: list[Step] = []
        self._taken = {r.slot.index for r in (*state.routed, *state.unrouted)}
        self._freed: list[Slot] = []  # reused first, so replaced instances keep their slot
        self._freed_at: Counter[int] = Counter()  # their indices (a count: freed twice)
        self._lowest = 0  # every index below it is taken or freed
        # Per (host, hosts): every index of that host below it is taken or freed. Taken
        # and freed together only grow (a freed slot is reused, or stays freed), so the
        # search for a host's lowest free index goes on from where it ended last.
        self._lowest_on: dict[tuple[int, int], int] = {}

    @property
    def routed(self) -> list[InstanceRef]:
        """Every routed instance, in InstanceRef order."""
        return [r for rev in sorted(self._routed) for r in self._routed[rev]]

    def route(self) -> Route:
        """route_of(self.routed), without sorting it again."""
        return Route(tuple(Share(rev, refs) for rev, refs in sorted(self._routed.items())
                           if refs))

    def clean_unrouted(self) -> None:
        """Stop what an interrupted deployment left running outside the table.

        It may have served until recently, so it is drained first (a no-op
        when it has nothing in flight).
        """
        stranded = tuple(sorted(self.state.unrouted))
        if stranded:
            self.steps += [Drain(stranded), Stop(stranded)]
            self._free(stranded)

    def take_out(self, refs: Iterable[InstanceRef]) -> None:
        refs = tuple(refs)
        if not refs:
            return
        for r in refs:
            if r.revision in self._routed:
                self._routed[r.revision] = self._routed[r.revision].without(r)
        self.steps += [self.route(), Drain(refs), Stop(refs)]
        self._free(refs)

    def bring_in(self, refs: Iterable[InstanceRef], early: bool = False) -> None:
        refs = tuple(refs)
        if not refs:
            return
        for r in refs:
            self._routed[r.revision] = self._routed.get(r.revision, NONE).with_(r)
        leaving = self.steps[-2:]
        if (early and len(leaving) == 2 and isinstance(leaving[0], Drain)
                and isinstance(leaving[1], Stop) and leaving[0].instances == leaving[1].instances
                and not {r.slot.index for r in refs} & {r.slot.index for r in leaving[1].instances}):
            self.steps[-2:] = [Start(refs), *leaving]  # see the module docstring
            self.steps += [WaitHealthy(refs), self.route()]
            return
        self.steps += [Start(refs), WaitHealthy(refs), self.route()]

    def slot(self, host: str = "local", reuse: bool = True) -> Slot:
        """A slot for a new instance: one just freed (unless `reuse` is off), else the
        lowest unused index."""
        if reuse and self._freed:
            slot = self._freed.pop(0)
            self._forget_freed(slot.index)
        else:
            # freed ones are skipped too: they are reused, or not
            while self._lowest in self._taken or self._lowest in self._freed_at:
                self._lowest += 1  # amortised O(1)
            slot = Slot(self._lowest, host)
        self._taken.add(slot.index)
        return slot

    def slot_on(self, host: int, hosts: int, reuse: bool = True, name: str = "local") -> Slot:
        """A slot on host `host` of `hosts` (index ≡ host mod hosts, the fleet's placement):
        one just freed there (unless `reuse` is off), else the lowest unused such index."""
        if reuse:
            mine = next((s for s in self._freed if s.index % hosts == host), None)
            if mine is not None:
                return self.claim(mine)
        index = self._lowest_on.get((host, hosts), host)
        while index in self._taken or index in self._freed_at:
            index += hosts  # amortised O(1): see _lowest_on
        self._lowest_on[(host, hosts)] = index
        self._taken.add(index)
        return Slot(index, name)

    def claim(self, slot: Slot) -> Slot:
        """Take a given slot (in-place: the new instance goes where the old one was)."""
        if slot.index in self._freed_at and slot in self._freed:
            self._freed.remove(slot)
            self._forget_freed(slot.index)
        self._taken.add(slot.index)
        return slot

    def plan(self, strategy: str, target: Target) -> Plan:
        return Plan(strategy, self.state, target, squash(self.steps, keep_previews=True))

    def _forget_freed(self, index: int) -> None:
        self._freed_at[index] -= 1
        if self._freed_at[index] <= 0:
            del self._freed_at[index]

    def _free(self, refs: Iterable[InstanceRef]) -> None:
        for r in refs:
            self._taken.discard(r.slot.index)
            self._freed.append(r.slot)
            self._freed_at[r.slot.index] += 1


def split(routed: Iterable[InstanceRef], revision: int) -> tuple[list[InstanceRef], list[InstanceRef]]:
    """(instances of `revision`, every other instance), each in slot order."""
    refs = sorted(routed, key=lambda r: r.slot)
    return [r for r in refs if r.revision == revision], [r for r in refs if r.revision != revision]


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def squash(steps: Sequence[Step], across: tuple[type, ...] = (),
           keep_previews: bool = False) -> tuple[Step, ...]:
    """Drop a Route that another Route follows at once (or with only `across` steps between).

    A Route is the whole desired state, so the second alone gives the same
    end state: new instances in and old ones out in one table version, an
    atomic swap. The state in between was never needed for safety, since the
    second Route already meets every rule on its own. A planner keeps its
    previews (keep_previews): a before_traffic hook placed later goes between
    the preview and the switch; moments.with_hooks squashes again without them.
    """
    out = []
    for i, step in enumerate(steps):
        if isinstance(step, Route) and not (keep_previews and step.preview):
            j = i + 1
            while j < len(steps) and isinstance(steps[j], across):
                j += 1
            if j < len(steps) and isinstance(steps[j], Route):
                continue
        out.append(step)
    return tuple(out)
