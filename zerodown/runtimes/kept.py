"""SSH connections a long-lived controller keeps from one command and run to the next.

    kept = KeptConnections()
    Controller(file, state_dir, kept=kept)   # its ssh runtime's connections: kept's
    kept.close()                             # the daemon's end

The controller daemon builds a Controller per API request and per deployment run (the
config read anew each time). Without this, each one's ssh runtime opened its own
connection to every host — a key exchange and authentication (~0.2 s), then an agent
session started — and closed them after: a `zerodown deploy` paid that twice (the
request's release check, then the run), on every deployment. Kept here, by what the
connections are made from (runtime.options as parsed, the folder paths are relative
to), they are opened once and shared: Connections is used by many threads already, and a
dead connection is opened again on its next call. A runtime whose connections are kept
does not close them (SshRuntime.close); an edit of runtime.hosts or another SSH option
makes new ones, and the old stay until close() or the process ends (edits are rare; a
run may still use them; the daemon never closes them: its exit does).
"""

from __future__ import annotations

import threading
from typing import Any


class KeptConnections:
    def __init__(self):
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str], Any] = {}

    def get(self, options, folder: str, make) -> Any:
        """The kept connections made from `options` and `folder`, made by `make()` once."""
        key = (repr(options), folder)
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                found = self._kept[key] = make()
                found.kept = True
            return found

    def close(self) -> None:
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
        for connections in kept:
            connections.kept = False
            connections.close()
