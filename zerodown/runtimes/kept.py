"""SSH connections a long-lived controller keeps from one command and run to the next.

    kept = KeptConnections()
    Controller(file, state_dir, kept=kept)   # its ssh runtime's connections: kept's,
                                             # let go by its close() (kept.release)
    kept.close()                             # the daemon's end

The controller daemon builds a Controller per API request and per deployment run (the
config read anew each time). Without this, each one's ssh runtime opened its own
connection to every host — a key exchange and authentication (~0.2 s), then an agent
session started — and closed them after: a `zerodown deploy` paid that twice (the
request's release check, then the run), on every deployment. Kept here, by what the
connections are made from (runtime.options as parsed, the folder paths are relative
to), they are opened once and shared: Connections is used by many threads already, and a
dead connection is opened again on its next call. A runtime whose connections are kept
does not close them (SshRuntime.close) but lets them go (release).

An edit of runtime.hosts or another SSH option makes a new set for the config (its
folder): the set it replaces is closed once no runtime holds it any more — at once if
none does, else by the release of the last (a run still mid-step on it finishes there:
a call failing on a closed connection would be recorded as its host's failure). The
daemon never closes the current set: its exit does.
"""

from __future__ import annotations

import threading
from typing import Any

Key = tuple[str, str]  # (the options as parsed, the config's folder)


class KeptConnections:
    def __init__(self):
        self._lock = threading.Lock()
        self._kept: dict[Key, Any] = {}
        self._users: dict[Key, int] = {}     # runtimes holding each set
        self._current: dict[str, Key] = {}   # folder -> the set its config makes now

    def get(self, options, folder: str, make) -> Any:
        """The kept connections made from `options` and `folder`, made by `make()` once;
        held until release(). A set of the same folder they replace is closed if unheld."""
        key = (repr(options), folder)
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                found = self._kept[key] = make()
                found.kept = True
            self._users[key] = self._users.get(key, 0) + 1
            replaced, self._current[folder] = self._current.get(folder), key
            stale = self._unheld(replaced) if replaced != key else None
        _close(stale)
        return found

    def release(self, connections) -> None:
        """A runtime holding `connections` (from get) let them go: closed if they were
        replaced and this was their last holder."""
        with self._lock:
            key = next((k for k, c in self._kept.items() if c is connections), None)
            if key is None:
                return  # closed with the rest already (close())
            self._users[key] -= 1
            stale = self._unheld(key) if self._current.get(key[1]) != key else None
        _close(stale)

    def _unheld(self, key: Key | None) -> Any | None:
        """The set of `key`, taken out to be closed, if no runtime holds it (lock held)."""
        if key is None or self._users.get(key, 0) > 0:
            return None
        self._users.pop(key, None)
        return self._kept.pop(key, None)

    def close(self) -> None:
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
            self._users.clear()
            self._current.clear()
        for connections in kept:
            _close(connections)


def _close(connections) -> None:
    if connections is not None:
        connections.kept = False
        connections.close()
