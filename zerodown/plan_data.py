"""A plan's stored form: its steps as JSON data, a Route as its change from the Route before.

A Route is the whole desired routing (plan.py), and stays whole in memory. Stored whole,
a rolling plan one instance at a time was O(N²): ~N Routes of N instances each, 12 MB at
500 instances, and parsed back into as many InstanceRefs. Stored here, a Route's share
lists the instances it takes out of and adds to the same revision's share of the Route
before it in the plan (`removed`, `added`), so each costs what changed; a share with no
such share before, or one whose order the change would not keep, is stored whole
(`instances`). Read back, every instance is one object however many Routes name it, and
a share keeps the parts it did not change from the share before (shared_refs.py).

A stored step that is a change cannot be read alone (step_from_data without `before`):
Store.listed reads the plan up to it. A plan stored whole (by zerodown before the 11th
migration) reads as it is: a whole share is whole in either form.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, Iterable, Mapping, Sequence

from zerodown.model import InstanceRef, Rule, Slot, Sticky
from zerodown.plan import ORDER, STEP_TYPES, PlanError, Route, Share, Step
from zerodown.shared_refs import SharedRefs, shared

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
        return Share(data["revision"], SharedRefs(_ref(i, refs) for i in data["instances"]),
                     data.get("weight"))
    was = _same_revision(before, data["revision"])
    if was is None:
        raise ValueError(f"it changes r{data['revision']}'s share of a Route before it, "
                         "and there is none")
    removed = [_ref(i, refs) for i in data["removed"]]
    added = [_ref(i, refs) for i in data["added"]]
    return Share(data["revision"], changed(was.instances, removed, added), data.get("weight"))


def _same_revision(route: Route | None, revision: int) -> Share | None:
    """The share of `revision` in `route` (the last, if it had several)."""
    return None if route is None else {s.revision: s for s in route.shares}.get(revision)


def _difference(was: Sequence[InstanceRef],
                now: Sequence[InstanceRef]) -> tuple[list[InstanceRef], list[InstanceRef]]:
    """(in `was` but not in `now`, in `now` but not in `was`), each in slot order.

    Two shares of a thousand instances differ in a few, and a planner's Routes share
    their parts (shared_refs.py): only the runs the two do not share are looked at, each
    instance by its identity (a thousand calls of the dataclass's __hash__ a Route cost
    more than the rest of the plan's storing). An instance equal to one of `was` but
    another object is both taken out and added: the change is larger, never wrong
    (_share_data checks it)."""
    runs_was, runs_now = shared(was).runs, shared(now).runs
    common = set(map(id, runs_was)) & set(map(id, runs_now))
    left_was = list(chain.from_iterable(r for r in runs_was if id(r) not in common))
    left_now = list(chain.from_iterable(r for r in runs_now if id(r) not in common))
    by_id_was = dict(zip(map(id, left_was), left_was))
    by_id_now = dict(zip(map(id, left_now), left_now))
    return (sorted((by_id_was[i] for i in by_id_was.keys() - by_id_now.keys()), key=ORDER),
            sorted((by_id_now[i] for i in by_id_now.keys() - by_id_was.keys()), key=ORDER))


def changed(was: Sequence[InstanceRef], removed: Sequence[InstanceRef],
            added: Sequence[InstanceRef]) -> SharedRefs:
    """`was` (in slot order) without `removed`, with `added` each in its place, sharing
    what did not change with `was`; a ValueError if `was` lacks one of `removed`."""
    refs = shared(was)
    for ref in removed:
        fewer = refs.without(ref)
        if fewer is refs:
            raise ValueError(f"it takes out r{ref.revision}-s{ref.slot.index}, which the "
                             "Route before it did not route")
        refs = fewer
    for ref in added:
        refs = refs.with_(ref)
    return refs


def _ref_data(ref: InstanceRef) -> dict:
    return {"revision": ref.revision, "slot": ref.slot.index, "host": ref.slot.host}


def _ref(d: Mapping, refs: Refs) -> InstanceRef:
    key = d["revision"], d["slot"], d.get("host", "local")
    ref = refs.get(key)
    if ref is None:
        ref = refs[key] = InstanceRef(key[0], Slot(key[1], key[2]))
    return ref
