"""SharedRefs: a Route's instances of one revision, in slot order, as a tuple would hold them,
sharing their parts with the SharedRefs they were made from.

A plan's Routes are each the whole desired routing (plan.py), and one after another they
differ by an instance or a few. As tuples, a rolling plan one instance at a time held N
pointers a Route, N² in all (9 MB at 1,000 instances, built and read back alike). Kept
in runs of at most 2 x RUN instances, a Route made by taking one out or adding one
(without, with_) copies one run and the list of runs: ~RUN + N / RUN pointers.

It reads as the tuple of its instances: iterated, measured, indexed, compared equal to a
tuple of the same instances (and hashed as one), printed as one.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from itertools import chain
from typing import Any, Iterable, Iterator, Sequence, overload

from zerodown.model import InstanceRef
from zerodown.plan import ORDER

RUN = 64  # instances a run starts with; one past twice this is split in two

Run = tuple[InstanceRef, ...]


class SharedRefs(Sequence[InstanceRef]):
    __slots__ = ("runs", "_len")

    def __init__(self, refs: Iterable[InstanceRef] = ()):
        items = tuple(refs)
        self.runs: tuple[Run, ...] = tuple(items[i:i + RUN] for i in range(0, len(items), RUN))
        self._len = len(items)

    @classmethod
    def _of(cls, runs: tuple[Run, ...], length: int) -> SharedRefs:
        made = cls.__new__(cls)
        made.runs, made._len = runs, length
        return made

    def without(self, ref: InstanceRef) -> SharedRefs:
        """These, `ref` taken out (found by its slot order); these themselves if not here."""
        i, run = self._run_of(ref)
        if run is None:
            return self
        at = bisect_left(run, ORDER(ref), key=ORDER)
        if at == len(run) or run[at] != ref:
            return self
        rest = run[:at] + run[at + 1:]
        return self._of(self.runs[:i] + ((rest,) if rest else ()) + self.runs[i + 1:],
                        self._len - 1)

    def with_(self, ref: InstanceRef) -> SharedRefs:
        """These and `ref`, in its place by slot order."""
        i, run = self._run_of(ref)
        if run is None:  # past every run: the last one takes it
            i, run = max(0, len(self.runs) - 1), self.runs[-1] if self.runs else ()
        grown = list(run)
        insort(grown, ref, key=ORDER)
        made = (tuple(grown),) if len(grown) <= 2 * RUN else (
            tuple(grown[:len(grown) // 2]), tuple(grown[len(grown) // 2:]))
        return self._of(self.runs[:i] + made + self.runs[i + 1:], self._len + 1)

    def _run_of(self, ref: InstanceRef) -> tuple[int, Run | None]:
        """The first run whose last instance is not before `ref`, and its index."""
        i = bisect_left(self.runs, ORDER(ref), key=lambda run: ORDER(run[-1]))
        return i, self.runs[i] if i < len(self.runs) else None

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[InstanceRef]:
        return chain.from_iterable(self.runs)

    @overload
    def __getitem__(self, index: int) -> InstanceRef: ...
    @overload
    def __getitem__(self, index: slice) -> Run: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        i = index + self._len if index < 0 else index
        if not 0 <= i < self._len:
            raise IndexError("SharedRefs index out of range")
        for run in self.runs:
            if i < len(run):
                return run[i]
            i -= len(run)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SharedRefs) and other.runs == self.runs:  # the same runs: in C
            return True
        if not isinstance(other, (tuple, SharedRefs)):
            return NotImplemented
        return len(other) == self._len and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


def shared(refs: Sequence[InstanceRef]) -> SharedRefs:
    """`refs` as SharedRefs (themselves, if they are)."""
    return refs if isinstance(refs, SharedRefs) else SharedRefs(refs)
