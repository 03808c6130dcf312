"""How a waiting engine learns at once that an action was recorded for its deployment.

A paused deployment (a Pause step, an A/B test's hold, `zerodown pause`, a host failure,
an error the daemon holds) and a timed pause wait for a resume, promote or abort that any
process writes to the store (Store.signal). Two ways in, whichever comes first:

- this process's bell: Store.signal rings it for its file once the signal is committed.
  The controller daemon's API records an action on a store of its own while its
  runner's engine waits on another: the engine wakes at once.
- the store's data_version, looked at every LOOK seconds: another process wrote (a
  `zerodown resume` beside a `zerodown deploy` that runs the engine itself, no daemon).

Either way the engine reads its deployment again; a wake for a write that was no action
costs that read. Time injected by a test (not the SystemClock) is slept as before.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Protocol

from zerodown.engine.system_clock import SystemClock
from zerodown.protocols import Clock

LOOK = 0.05  # how often a waiting engine looks for another process's write


class Watched(Protocol):
    path: str

    def data_version(self) -> int: ...


class Bell:
    def __init__(self) -> None:
        self.rung = 0
        self._changed = threading.Condition()

    def ring(self) -> None:
        with self._changed:
            self.rung += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Rung since `seen` (within `timeout` s)?"""
        with self._changed:
            return self._changed.wait_for(lambda: self.rung != seen, timeout)


_bells: dict[str, Bell] = {}  # by the path as given, and by its real path
_made = threading.Lock()


def bell(path: str) -> Bell:
    """The bell of the store file at `path`, one per file in this process."""
    found = _bells.get(path)
    if found is None:
        with _made:
            found = _bells.setdefault(os.path.realpath(path), Bell())
            _bells[path] = found
    return found


def ring(path: str) -> None:
    bell(path).ring()


Mark = tuple[int, int]


def mark(store: Watched) -> Mark:
    """Where the store is now: taken before a read, so a wait after it wakes for a write
    made between the read and the wait."""
    return bell(store.path).rung, store.data_version()


def wait(store: Watched, clock: Clock, seconds: float, since: Mark | None = None) -> None:
    """Up to `seconds`, until this process rings the store's bell or another writes it,
    after `since` (a mark taken before the caller's last read; None: now)."""
    if not isinstance(clock, SystemClock):  # a test's time: its sleep moves it at once
        clock.sleep(seconds)
        return
    rung = bell(store.path)
    seen, version = since or mark(store)
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if rung.wait(seen, min(LOOK, left)) or store.data_version() != version:
            return
