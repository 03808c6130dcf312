"""Old instances' exits give way to the deployment's starts (zerodown/hosts/priority.py).

A rolling batch's new instances start while the previous batch's old ones exit: the
stops run in the background (a runtime with `stops_slowly`). While the plan has
instances still to start, such a stop asks the runtime to yield (`stop(..., yielding=True)`,
a runtime that has `hasten`): the leaving instance — out of the table and drained,
nothing waits for its exit but the deployment's end — gets a low CPU priority (nice 10), so
the instances starting beside it on the same hosts get the cores. Its priority is given
back (`runtime.hasten`) once nothing more starts (the plan's last WaitHealthy done), and
whenever the deployment waits for its exit (its end, a start in its slot): a starved
exit must not delay what waits for it. The host gives it back by itself after half of
stop_grace, whatever happens here.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from typing import Protocol, Sequence

from zerodown.engine.beside import Beside
from zerodown.engine.records import Deployment
from zerodown.model import Instance, InstanceRef
from zerodown.plan import Start, WaitHealthy
from zerodown.protocols import Runtime


class Engine(Protocol):
    runtime: Runtime
    _stopping: dict[InstanceRef, threading.Thread]
    _yielding: dict[InstanceRef, Instance]
    _hastening: list[Beside]
    workers: Executor | None  # kept threads (Controller.workers), if the engine was given them


def starts_after(d: Deployment, i: int) -> bool:
    """Does deployment `d`'s plan start (or wait for) instances after its step `i`?"""
    return any(isinstance(s, (Start, WaitHealthy)) for s in d.steps[i + 1:])


def may_yield(engine: Engine, d: Deployment, i: int) -> bool:
    """Should the stops of step `i` yield the CPU to the starts that follow?"""
    runtime = engine.runtime
    return (getattr(runtime, "stops_slowly", False) and hasattr(runtime, "hasten")
            and starts_after(d, i))


def hasten(engine: Engine, refs: Sequence[InstanceRef] | None = None,
           beside: bool = False) -> None:
    """Give back their priority to the yielding stops of `refs` (all if None) still
    running; `beside`: in a thread (awaited with the stops), so the next step goes on."""
    instances = []
    for r in list(engine._yielding if refs is None else refs):
        instance = engine._yielding.pop(r, None)  # no longer yielding, its exit over or not
        stop = engine._stopping.get(r)
        if instance is not None and stop is not None and stop.is_alive():
            instances.append(instance)
    if not instances:
        return
    if not beside:
        engine.runtime.hasten(instances)  # type: ignore[attr-defined]
        return
    # on a kept worker where the engine has them: a thread started here waits to be
    # scheduled (~3 ms on the test fleet's busy cores, with the route waiting behind it)
    engine._hastening.append(Beside(engine.runtime.hasten,  # type: ignore[attr-defined]
                                    instances, name="hasten the exits", pool=engine.workers))


def hastened(engine: Engine) -> None:
    """Wait for the priorities given back beside the steps."""
    while engine._hastening:
        engine._hastening.pop().result()
