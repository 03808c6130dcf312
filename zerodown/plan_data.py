"""A plan's stored form: its steps as JSON data, a Route as its change from the Route before.

A Route is the whole desired routing (plan.py), and stays whole in memory. Stored whole,
a rolling plan one instance at a time was O(N²): ~N Routes of N instances each, 12 MB at
500 instances, and parsed back into as many InstanceRefs. Stored here, a Route's share
lists the instances it takes out of and adds to the same revision's share of the Route
before it in the plan (`removed`, `added`), so each costs what changed; a share with no
such share before, or one whose order the change would not keep, is stored whole
(`instances`). Read back, every instance is one object however many Routes name it, and
a share that did not change is the same tuple as before.

A stored step that is a change cannot be read alone (step_from_data without `before`):
Store.listed reads the plan up to it. A plan stored whole (by zerodown before the 11th
migration) reads as it is: a whole share is whole in either form.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any, Iterable, Mapping, Sequence

from zerodown.model import InstanceRef, Rule, Slot, Sticky
from zerodown.plan import ORDER, STEP_TYPES, PlanError, Route, Share, Step

Refs = dict[tuple, InstanceRef]  # one object per instance while a plan is read


def steps_to_data(steps: Iterable[Step]) -> list[dict]:
    """The plan's steps as JSON data, each Route as its change from the Route before."""
    out, before = [], None
    for step in steps:
        out.append(step_to_data(step, before))
        if isinstance(step, Route):
            before = step
    return out


def steps_from_data(data: Iterable[Mapping]) -> tuple[Step, ...]:
    """steps_to_data's steps back (a plan stored whole too)."""
    out: list[Step] = []
    before: Route | None = None
    refs: Refs = {}
    for item in data:
        step = step_from_data(item, before, refs)
        if isinstance(step, Route):
            before = step
        out.append(step)
    return tuple(out)


def is_change(data: Mapping) -> bool:
    """Whether a stored step is a Route that names only what changed (needs the plan)."""
    return data.get("step") == "Route" and any("added" in s for s in data.get("shares", ()))


def step_to_data(step: Step, before: Route | None = None) -> dict:
    """One step as JSON data; a Route after `before` as the change from it."""
    data: dict[str, Any] = {"step": type(step).__name__}
    for name, value in vars(step).items():
        if name == "shares":
            value = [_share_data(s, before) for s in value]
        elif name == "instances":
            value = [_ref_data(i) for i in value]
        elif name == "spec":
            value = dict(value)
        elif name == "rules":
            value = [{k: v for k, v in vars(r).items() if v is not None} for r in value]
        elif name == "sticky" and value is not None:
            value = dict(vars(value))
        data[name] = value
    return data


def step_from_data(data: Mapping, before: Route | None = None, refs: Refs | None = None) -> Step:
    """One stored step; a Route stored as a change needs the Route `before` it. `refs`:
    the instances read so far, reused (one object each)."""
    refs = {} if refs is None else refs
    fields = {k: v for k, v in data.items() if k != "step"}
    try:
        if "instances" in fields:
            fields["instances"] = tuple(_ref(i, refs) for i in fields["instances"])
        if "shares" in fields:
            fields["shares"] = tuple(_share(s, before, refs) for s in fields["shares"])
        if "rules" in fields:
            fields["rules"] = tuple(Rule(**r) for r in fields["rules"])
        if fields.get("sticky") is not None:
            fields["sticky"] = Sticky(**fields["sticky"])
        return STEP_TYPES[data["step"]](**fields)
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"stored step {dict(data)!r} is not a step: {e}") from None


def _share_data(share: Share, before: Route | None) -> dict:
    data: dict[str, Any] = {"revision": share.revision, "weight": share.weight}
    was = _same_revision(before, share.revision)
    if was is not None:
        removed, added = _difference(was.instances, share.instances)
        try:
            if changed(was.instances, removed, added) == share.instances:
                data.update(removed=[_ref_data(i) for i in removed],
                            added=[_ref_data(i) for i in added])
                return data
        except ValueError:  # `was` not in slot order: stored whole
            pass
    data["instances"] = [_ref_data(i) for i in share.instances]
    return data


def _share(data: Mapping, before: Route | None, refs: Refs) -> Share:
    if "instances" in data:
        return Share(data["revision"], tuple(_ref(i, refs) for i in data["instances"]),
                     data.get("weight"))
    was = _same_revision(before, data["revision"])
    if was is None:
        raise ValueError(f"it changes r{data['revision']}'s share of a Route before it, "
                         "and there is none")
    removed = [_ref(i, refs) for i in data["removed"]]
    added = [_ref(i, refs) for i in data["added"]]
    instances = changed(was.instances, removed, added) if removed or added else was.instances
    return Share(data["revision"], instances, data.get("weight"))


def _same_revision(route: Route | None, revision: int) -> Share | None:
    """The share of `revision` in `route` (the last, if it had several)."""
    return None if route is None else {s.revision: s for s in route.shares}.get(revision)


def _difference(was: tuple[InstanceRef, ...],
                now: tuple[InstanceRef, ...]) -> tuple[list[InstanceRef], list[InstanceRef]]:
    """(in `was` but not in `now`, in `now` but not in `was`), each in slot order.

    Two shares of a thousand instances differ in a few, and a planner's Routes share
    their instances (PlanBuilder): the head and the tail the two have in common are
    found by comparing slices, in C and by identity first, and only what lies between
    is looked at one by one (by identity too: a thousand calls of the dataclass's
    __hash__ a Route cost more than the rest of the plan's storing). An instance equal
    to one of `was` but another object is both taken out and added: the change is
    larger, never wrong (_share_data checks it)."""
    head = _common_head(was, now)
    tail = _common_head(was[head:][::-1], now[head:][::-1])
    was, now = was[head:len(was) - tail], now[head:len(now) - tail]
    by_id_was, by_id_now = dict(zip(map(id, was), was)), dict(zip(map(id, now), now))
    return (sorted((by_id_was[i] for i in by_id_was.keys() - by_id_now.keys()), key=ORDER),
            sorted((by_id_now[i] for i in by_id_now.keys() - by_id_was.keys()), key=ORDER))


def _common_head(a: tuple, b: tuple) -> int:
    """How many first items `a` and `b` have in common: all of the shorter (one grew or
    shrank at its end), else searched from the front in steps that double, then halve,
    so a change near the front costs a few short slices, not the whole length's."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi, step = 0, n, 1  # a[:lo] == b[:lo]; a[:hi] != b[:hi]
    while lo + step < hi and a[:lo + step] == b[:lo + step]:
        lo, step = lo + step, step * 2
    hi = min(hi, lo + step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def changed(was: tuple[InstanceRef, ...], removed: Sequence[InstanceRef],
            added: Sequence[InstanceRef]) -> tuple[InstanceRef, ...]:
    """`was` (in slot order) without `removed`, with `added` each in its place; a ValueError
    if `was` lacks one of `removed`."""
    kept = list(was)
    for ref in removed:
        i = bisect_left(kept, ORDER(ref), key=ORDER)
        if i == len(kept) or kept[i] != ref:
            raise ValueError(f"it takes out r{ref.revision}-s{ref.slot.index}, which the "
                             "Route before it did not route")
        del kept[i]
    for ref in added:
        insort(kept, ref, key=ORDER)
    return tuple(kept)


def _ref_data(ref: InstanceRef) -> dict:
    return {"revision": ref.revision, "slot": ref.slot.index, "host": ref.slot.host}


def _ref(d: Mapping, refs: Refs) -> InstanceRef:
    key = d["revision"], d["slot"], d.get("host", "local")
    ref = refs.get(key)
    if ref is None:
        ref = refs[key] = InstanceRef(key[0], Slot(key[1], key[2]))
    return ref
