"""Stops a killed controller left unconfirmed, finished beside the deployments that follow.

The controller daemon's start (daemon/runs.py) reconciles the rows a killed controller
left `stopping` (engine/stopping.py) and sends their stops again; with a long
`stop_grace` (an app that drains slowly) their exits can take that long, and a
deployment asked meanwhile must not wait for them all before its first step. So that
reconcile (Finishing.reconcile) hands its stops in flight to a Finishing and lets go of
the service's lock at once. Each stop is then finished in a thread of its own: awaited,
its row written `stopped` once (stopping.confirm: only when the stop returned, the
process gone), and let go of.

One owner of each stop: the Finishing is shared by every engine the process builds
(Engine.finishing), and their reconcile leaves its instances out — neither adopted nor
stopped again (a runtime that does not stop once would send a second SIGTERM, which
makes a draining app exit at once; local and ssh await the first: hosts/stop_once.py)
nor written stopped — so a deployment waits for one only where it must: a Start in its slot
(Engine._await_stops). A process that ends meanwhile (a SIGTERM) writes nothing: the
rows stay `stopping`, found again at the next start.
"""

from __future__ import annotations

import threading
from typing import Callable, Collection

from zerodown.engine import reconciling, stopping
from zerodown.errors import ZerodownError
from zerodown.model import InstanceRef, Slot


class Finishing:
    """The stops this process finishes beside its deployments: ref -> the thread that
    awaits it and confirms its row."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._threads: dict[InstanceRef, threading.Thread] = {}

    def owned(self) -> frozenset[InstanceRef]:
        """The instances whose stop is finished here: another reconcile leaves them alone.
        Read before that reconcile reads the rows: a stop let go of since had its row
        written stopped first (_finish), so the rows read after it say so."""
        with self._mutex:
            return frozenset(self._threads)

    def await_slots(self, slots: Collection[Slot]) -> None:
        """Wait for those in `slots` to be stopped and confirmed: one instance per slot."""
        with self._mutex:
            threads = [t for r, t in self._threads.items() if r.slot in slots]
        for thread in threads:
            thread.join()

    def reconcile(self, engine, done: Callable[[], None]) -> None:
        """Engine.reconcile, but the stops it sends again (stopping.restop) are finished
        here, taken before the service's lock is let go of (the next run leaves them
        alone), and not awaited; `done` (the engine's controller closed) once they are."""
        with engine._lock():
            reconciling.reconcile(engine)
            self.take(engine, done)

    def take(self, engine: stopping.Engine, done: Callable[[], None]) -> None:
        """`engine`'s stops in flight (its reconcile's), finished here from now on;
        `done` once the last one is."""
        handed = dict(engine._stopping)
        engine._stopping.clear()  # awaited here now, not by the engine
        if not handed:  # none still ran (each found gone: written stopped by the reconcile)
            done()
            return
        threads = [threading.Thread(target=self._finish, args=(engine, ref, stop),
                                    name=f"finish stop {ref.name(engine.service)}",
                                    daemon=True) for ref, stop in handed.items()]
        with self._mutex:
            self._threads.update(zip(handed, threads))
        for thread in threads:
            thread.start()
        threading.Thread(target=_after, args=(threads, done), name="finished stops",
                         daemon=True).start()

    def _finish(self, engine: stopping.Engine, ref: InstanceRef,
                stop: threading.Thread) -> None:
        try:
            stop.join()
            stopping.confirm(engine, [ref])  # (a failed stop: kept stopping, its event said)
        except ZerodownError:  # not written (a full disk): the row stays stopping, and the
            pass  # next reconcile finds the process gone and writes it stopped
        finally:
            with self._mutex:
                del self._threads[ref]


def _after(threads: list[threading.Thread], done: Callable[[], None]) -> None:
    for thread in threads:
        thread.join()
    done()
