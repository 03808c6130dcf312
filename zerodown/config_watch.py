"""zerodown.yaml as it is now, for a process that outlives an edit of it (the controller).

    watched = WatchedConfig("/srv/shop/zerodown.yaml", load)
    cfg = watched.current()    # read again only when the file's stamp changed; ConfigError
                               # (the file's own, naming its key) while it is invalid
    watched.last_good          # the last config that loaded, for the looks that go on

The stamp is (inode, size, mtime in ns): a stat per question, so every request of the
controller can ask it. An editor that writes a new file and renames it over the old one
changes the inode; one that rewrites in place within the clock's granularity changes the
size, or else the next write's mtime. A file that did not change is never parsed again.
"""

from __future__ import annotations

import copy
import os
import threading
from typing import Callable

from zerodown.config_model import ServiceConfig
from zerodown.errors import ConfigError

Stamp = tuple[int, int, int]


def stamp(path: str) -> Stamp | None:
    """What tells one version of the file from the next; None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class WatchedConfig:
    def __init__(self, path: str, load: Callable[[str], ServiceConfig]):
        self.path, self._load = path, load
        self._lock = threading.Lock()  # the API's threads, the observer and runs share it
        self._seen: Stamp | None | bool = False  # False: never read
        self._outcome: ServiceConfig | ConfigError | None = None
        self.last_good: ServiceConfig | None = None
        self.reads = 0  # how many times the file was parsed (tests: only when it changed)

    def current(self) -> ServiceConfig:
        with self._lock:
            now = stamp(self.path)
            if now is None or now != self._seen:
                self._read(now)
            if isinstance(self._outcome, ConfigError):
                raise copy.copy(self._outcome)  # each asker's own (threads raise it at once)
            assert self._outcome is not None  # (_read set it: the first call reads)
            return self._outcome

    def _read(self, now: Stamp | None) -> None:
        # a missing file is read too: its error ("no such file") is load's to word, and
        # never cached as a stamp, so it is looked for again at the next question
        self.reads += 1
        try:
            self._outcome = self._load(self.path)
            self.last_good = self._outcome
        except ConfigError as e:
            self._outcome = e
        self._seen = now
