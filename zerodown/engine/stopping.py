"""Stops in the background: a Stop step's instances stopped while the deployment goes on
(a runtime with `stops_slowly`), each awaited before its slot takes a new instance and
before the run ends (Engine._await_stops), and what a stop that failed leaves behind.
The Stop step itself (its guards, its records) is steps.py's. `engine` is the
runner.Engine."""

from __future__ import annotations

import threading
from typing import Protocol, Sequence

from zerodown.engine import yielding
from zerodown.engine.beside import Beside
from zerodown.engine.records import Change
from zerodown.engine.store import Store
from zerodown.errors import ZerodownError
from zerodown.model import Instance, InstanceRef, Slot
from zerodown.protocols import Runtime


class Engine(Protocol):
    store: Store
    runtime: Runtime
    service: str
    _stopping: dict[InstanceRef, threading.Thread]
    _unstopped: set[InstanceRef]  # whose stop in the background failed (keep_unstopped)
    _yielding: dict[InstanceRef, Instance]
    _hastening: list[Beside]


def stop_instance(engine: Engine, ref: InstanceRef, inst: Instance, grace: float,
                  yielding: bool = False) -> None:
    """Stop one instance: at once, or in the background for a runtime whose stops
    take a while (a process finishing its drain), so that the next batch starts
    meanwhile — `yielding` the CPU to it (engine/yielding.py). The instance is out
    of the table and SIGTERMed either way; its exit is awaited before its slot takes
    a new instance and before run() returns, and a controller that dies meanwhile
    leaves an orphan that the next run's reconcile stops."""
    if not getattr(engine.runtime, "stops_slowly", False):
        engine.runtime.stop(inst, grace)
        return
    done = threading.Thread(target=stop_quietly, args=(engine, inst, grace, yielding),
                            name=f"stop {ref.name(engine.service)}", daemon=True)
    if yielding:
        engine._yielding[ref] = inst
    engine._stopping[ref] = done
    done.start()


def stop_quietly(engine: Engine, inst: Instance, grace: float, yielding: bool = False) -> None:
    try:
        if yielding:
            engine.runtime.stop(inst, grace, yielding=True)  # type: ignore[call-arg]
        else:
            engine.runtime.stop(inst, grace)
    except ZerodownError as e:  # not stopped: its row is live again once joined
        engine._unstopped.add(inst.ref)
        engine.store.event(engine.service, "instance.stop_failed",
                           f"{e}; {inst.id} is kept live (draining), not taken as stopped: "
                           f"the next deployment or `zerodown down` stops it")


def keep_unstopped(engine: Engine, refs: Sequence[InstanceRef]) -> None:
    """The rows of `refs` (their stop threads joined) whose stop failed: live again
    (draining), where the Stop step, going on at once, had written them stopped (written
    here, after it). So the next adopt asks their host, listed in runtime.hosts or not
    (engine/unlisted.py), and the next plan stops them; taken as stopped, one on a host
    no longer listed was never looked for again."""
    failed = [r for r in refs if r in engine._unstopped]
    if failed:
        engine._unstopped.difference_update(failed)
        engine.store.set_instances(engine.service, [Change(r, "draining") for r in failed])


def await_stops(engine: Engine, slots: Sequence[Slot] | None = None) -> None:
    """Wait for the background stops in `slots` (all if None), their priority given back
    first (yielding.py): one instance per slot at a time, and none left behind a run."""
    awaited = [r for r in engine._stopping if slots is None or r.slot in slots]
    yielding.hasten(engine, awaited)  # waited for now: no longer giving way
    yielding.hastened(engine)
    for ref in awaited:
        engine._stopping.pop(ref).join()
    keep_unstopped(engine, awaited)
