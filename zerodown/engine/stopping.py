"""A stop's intent and its outcome, each written where a crash cannot lose it.

An instance being stopped is `stopping` in the store before its stop is sent (a Stop
step's start, the commit synced before any act; `zerodown down`'s rows likewise), and
`stopped` only once the stop is confirmed: the runtime's stop returned, the process gone.
A runtime whose stops take a while (`stops_slowly`) stops in the background while the
deployment goes on; each row is written stopped by its stop's thread once the stop
returned, and each stop is awaited (Engine._await_stops) before its slot takes a new
instance and before the run ends. A controller
killed in between (SIGKILL, a SIGTERM of the daemon, an exception out of the run) or a
stop that failed (`instance.stop_failed`) leaves the row `stopping`, live: the next adopt
asks its host, listed in runtime.hosts or not (engine/unlisted.py), and the next
reconcile (a deployment's; the controller's start with no deployment to resume,
daemon/runs.py, whose stops are finished beside its runs: engine/finishing.py; `zerodown
down` stops it as it stops every live row) stops it if it still runs (`restop`) and
writes it stopped if it does not; a host that does not answer keeps it for the next
one. Plans leave `stopping` rows out: their stop is decided (Store.service_state).

The Stop step itself (its guards, its records) is steps.py's. `engine` is the
runner.Engine.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from typing import Protocol, Sequence

from zerodown.config import ServiceConfig
from zerodown.engine import yielding
from zerodown.engine.beside import Beside
from zerodown.engine.records import Change, StoreUnavailable
from zerodown.engine.store import Store
from zerodown.errors import NotOwner, ZerodownError
from zerodown.model import Instance, InstanceRef, Slot
from zerodown.protocols import Runtime


class Engine(Protocol):
    store: Store
    runtime: Runtime
    service: str
    config: ServiceConfig
    _stopping: dict[InstanceRef, threading.Thread]
    _stopped: set[InstanceRef]  # whose stop in the background returned (confirm)
    confirming_beside: bool  # a stop's thread writes its row stopped (a run goes on)
    _beside: threading.Lock  # held by such a write and by the run's end (end_beside)
    _yielding: dict[InstanceRef, Instance]
    _hastening: list[Beside]
    _refused: NotOwner | None  # a stop a host refused: another controller owns the service
    workers: Executor | None  # kept threads (yielding.py's Engine)


_confirming = threading.Lock()


def stop_instance(engine: Engine, ref: InstanceRef, inst: Instance, grace: float,
                  yielding: bool = False) -> bool:
    """Stop one instance (its row `stopping` already): at once, True (confirmed), or in
    the background for a runtime whose stops take a while (a process finishing its
    drain), False, so that the next batch starts meanwhile — `yielding` the CPU to it
    (engine/yielding.py). The instance is out of the table and SIGTERMed either way; its
    exit is awaited (and its row written stopped) before its slot takes a new instance
    and before run() returns. One in flight already (the reconcile's, before a Stop step
    run again) is not sent twice."""
    if ref in engine._stopping:
        return False
    if not getattr(engine.runtime, "stops_slowly", False):
        engine.runtime.stop(inst, grace)
        return True
    done = threading.Thread(target=stop_quietly, args=(engine, ref, inst, grace, yielding),
                            name=f"stop {ref.name(engine.service)}", daemon=True)
    if yielding:
        engine._yielding[ref] = inst
    engine._stopping[ref] = done
    done.start()
    return False


def stop_quietly(engine: Engine, ref: InstanceRef, inst: Instance, grace: float,
                 yielding: bool = False) -> None:
    try:
        if yielding:
            engine.runtime.stop(inst, grace, yielding=True)  # type: ignore[call-arg]
        else:
            engine.runtime.stop(inst, grace)
    except ZerodownError as e:  # not stopped: its row stays stopping
        try:
            failed(engine, inst, e)
        except StoreUnavailable:
            pass  # its event not written: the row, stopping, is the record that matters
        return
    engine._stopped.add(ref)
    confirm_beside(engine, ref)


def confirm_beside(engine: Engine, ref: InstanceRef) -> None:
    """A stop's thread writes its row stopped now, not when the stop is awaited (its slot's
    next start, run()'s end): until then `status`, the API and the store's live instances
    counted a process long gone — on a fleet, every old instance of a rolling deployment to
    its end. Only while the run that sent it goes on: one that ended (end_beside) left its
    stops in flight to its await, or to the next reconcile as a killed controller's are."""
    with engine._beside:  # the run's end waits for this write, or this sees the run ended
        if engine.confirming_beside:
            try:
                confirm(engine, [ref])
            except StoreUnavailable:
                pass  # kept for the run's await, whose thread says a store that stays so


def end_beside(engine: Engine) -> None:
    """The run that sent the stops ends (by its end or an exception): their threads write
    nothing more, their rows left to its await or the next reconcile. A write in flight is
    waited for — bounded by the store's own write timeout, past which it gives up — so
    none goes through a store closed after the run."""
    with engine._beside:
        engine.confirming_beside = False


def failed(engine: Engine, inst: Instance, e: ZerodownError) -> None:
    """A stop that failed: its row stays `stopping`. One a host refused (NotOwner: the
    service was taken over) fails the deployment at its next step (refused())."""
    if isinstance(e, NotOwner) and engine._refused is None:
        engine._refused = e
    # refused, it is not this controller's to stop: its deployments and `down` are refused
    # there alike until it takes the service over again
    then = "once this controller takes the service over again, its next deployment or " \
        "`zerodown down` stops it" if isinstance(e, NotOwner) else \
        "the next deployment or `zerodown down` stops it"
    engine.store.event(engine.service, "instance.stop_failed",
                       f"{e}; {inst.id} is kept live (stopping), not taken as stopped: {then}")


def refused(engine: Engine) -> None:
    """Raise the refusal of a stop sent in the background or by the reconcile (NotOwner),
    once: the deployment fails at it (engine/replanning.py) instead of going on with the
    hosts' other acts, which would be refused alike."""
    e, engine._refused = engine._refused, None
    if e is not None:
        raise e


def confirm(engine: Engine, refs: Sequence[InstanceRef]) -> None:
    """The rows of `refs` whose stop returned (by the thread that stopped it, or once it
    was joined): stopped, in one commit not synced (lost, the row is still stopping and the
    next reconcile finds the process gone). One whose stop failed stays stopping; those
    the store refused to write (StoreUnavailable) are kept for the next confirm."""
    with _confirming:  # a stop's thread and the run's await: each row written once
        done = [r for r in refs if r in engine._stopped]
        engine._stopped.difference_update(done)
    if done:
        try:
            engine.store.set_instances(engine.service, [Change(r, "stopped") for r in done],
                                       durable=False)
        except StoreUnavailable:
            with _confirming:  # not written: the next confirm of them writes them
                engine._stopped.update(done)
            raise


def await_stops(engine: Engine, slots: Sequence[Slot] | None = None) -> None:
    """Wait for the background stops in `slots` (all if None), their priority given back
    first (yielding.py): one instance per slot at a time, and none left behind a run."""
    awaited = [r for r in engine._stopping if slots is None or r.slot in slots]
    yielding.hasten(engine, awaited)  # waited for now: no longer giving way
    yielding.hastened(engine)
    for ref in awaited:
        engine._stopping.pop(ref).join()
    confirm(engine, awaited)


def restop(engine: Engine, instances: Sequence[Instance]) -> None:
    """Instances found running whose rows are `stopping` (reconcile: a stop decided, sent or
    not, and never confirmed, or one that failed): stopped again, as a Stop step stops. Not
    guarded again: the first stop was (a Stop step asked the load balancer; `down` stopped
    it)."""
    at_once = []
    for inst in instances:
        try:
            if stop_instance(engine, inst.ref, inst, engine.config.stop_grace):
                at_once.append(inst.ref)
        except ZerodownError as e:  # its host stopped answering since the adopt: kept
            failed(engine, inst, e)
    engine._stopped.update(at_once)
    confirm(engine, at_once)
