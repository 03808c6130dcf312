"""The moves every planner is made of, each keeping the zero-downtime rules.

take_out: route the instances out → drain → stop (never a stop before a drain).
bring_in: start → wait healthy → route in (never traffic before healthy).
A planner only decides *which* instances move and when; the order of steps
inside a move is fixed here, once, for every strategy.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from zerodown.model import InstanceRef, Slot
from zerodown.plan import (Drain, Plan, Route, ServiceState, Start, Step, Stop, Target,
                           WaitHealthy, route_of)


class PlanBuilder:
    def __init__(self, state: ServiceState):
        self.state = state
        self.routed: list[InstanceRef] = list(state.routed)
        self.steps: list[Step] = []
        self._taken = {r.slot.index for r in (*state.routed, *state.unrouted)}
        self._freed: list[Slot] = []  # reused first, so replaced instances keep their slot
        self._lowest = 0  # every index below it is taken or freed

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
        gone = set(refs)  # a set: plans of 10,000 instances stay linear
        self.routed = [r for r in self.routed if r not in gone]
        self.steps += [route_of(self.routed), Drain(refs), Stop(refs)]
        self._free(refs)

    def bring_in(self, refs: Iterable[InstanceRef]) -> None:
        refs = tuple(refs)
        if not refs:
            return
        self.routed += refs
        self.steps += [Start(refs), WaitHealthy(refs), route_of(self.routed)]

    def slot(self, host: str = "local", reuse: bool = True) -> Slot:
        """A slot for a new instance: one just freed (unless `reuse` is off), else the
        lowest unused index."""
        if reuse and self._freed:
            slot = self._freed.pop(0)
        else:
            freed = {s.index for s in self._freed}  # skipped too: they are reused, or not
            while self._lowest in self._taken or self._lowest in freed:  # amortised O(1)
                self._lowest += 1
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
        freed = {s.index for s in self._freed}
        index = host
        while index in self._taken or index in freed:
            index += hosts
        self._taken.add(index)
        return Slot(index, name)

    def claim(self, slot: Slot) -> Slot:
        """Take a given slot (in-place: the new instance goes where the old one was)."""
        if slot in self._freed:
            self._freed.remove(slot)
        self._taken.add(slot.index)
        return slot

    def plan(self, strategy: str, target: Target) -> Plan:
        return Plan(strategy, self.state, target, squash(self.steps, keep_previews=True))

    def _free(self, refs: Iterable[InstanceRef]) -> None:
        for r in refs:
            self._taken.discard(r.slot.index)
            self._freed.append(r.slot)


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
