"""The deadline watchdog: a thread that asks engine/deadlines.py about the active
deployment a few times a second and sends the signal a deadline calls for,
recorded in the event log as the controller's own action."""

from __future__ import annotations

import threading
from contextlib import closing
from typing import Any, Callable

from zerodown.controller import Controller, snapshot_config
from zerodown.engine.deadlines import due
from zerodown.engine.lifecycle import PhaseError
from zerodown.errors import ZerodownError

TICK = 0.25


def looking(controller: Callable[[], Controller], check: Callable[[Any], None], every: float,
            stop: threading.Event, failed: Callable[[ZerodownError], None]) -> None:
    """check(store) every `every` seconds until `stop`, on a store connection kept fresh (the
    file may have been replaced); an error is told to `failed` and the next look comes."""
    with closing(controller()) as ctl:  # its drivers (built for a rebuild) let go
        store = ctl.open_store()
    while not stop.wait(every):
        try:
            with closing(controller()) as ctl:
                store = ctl.fresh_store(store)
            check(store)
        except ZerodownError as e:
            failed(e)


class Watchdog:
    def __init__(self, controller: Callable[[], Controller], service: str,
                 wake: Callable[[], None], log: Callable[[str], None] = print):
        self.controller, self.service, self.wake, self.log = controller, service, wake, log
        self._deadlines: dict[int, float | None] = {}  # deployment -> its progress_deadline

    def run(self, stop: threading.Event) -> None:
        looking(self.controller, self.check, TICK, stop, lambda e: self.log(f"watchdog: {e}"))

    def check(self, store) -> None:
        d = store.active_deployment(self.service)
        if d is None or d.step is None:
            return
        record = store.step_record(d.id, d.cursor)
        started = record.started_at if record is not None and record.in_progress else None
        found = due(d.phase, d.step, started, d.updated, store.now(),
                    self._deadline(store, d), d.on_failure, self.service)
        if found is None:
            return
        try:
            store.signal(d.id, found.verb, found.why if found.verb != "promote" else None)
        except PhaseError:
            return  # moved on meanwhile: the deadline no longer applies
        store.event(self.service, "action", f"{found.verb} deployment {d.id} by the controller: "
                    f"{found.why}", d.id, action=found.verb, who="controller", origin="deadline",
                    reason=found.why)
        self.log(f"deployment {d.id}: {found.why}: {found.verb}")
        self.wake()

    def _deadline(self, store, d) -> float | None:
        if d.id not in self._deadlines:  # the active one's alone: one a service at a time,
            self._deadlines = {d.id: snapshot_config(  # and a daemon's runs for months
                store, self.service, d.to_revision).progress_deadline}
        return self._deadlines[d.id]
