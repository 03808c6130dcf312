"""What every router driver does the same way: version checks, one writer, log tails."""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from typing import Iterator

from zerodown.errors import StaleTableError
from zerodown.model import RoutingTable
from zerodown.runtimes.local import tail

TAIL_LINES = 15


def check_version(table: RoutingTable, current: RoutingTable) -> None:
    """StaleTableError unless `table` may replace `current` (the same table twice is fine)."""
    if table.version < current.version:
        raise StaleTableError(f"table version {table.version} is older than the one in force "
                              f"({current.version}); send a version >= {current.version}")
    if table.version == current.version and current.version != 0 and table != current:
        raise StaleTableError(f"table version {table.version} is already in force with other "
                              f"content; send version {current.version + 1}")


@contextmanager
def locked(lock: threading.RLock, path: str | os.PathLike) -> Iterator[None]:
    """One writer at a time: threads of this process by `lock`, processes by flock on `path`."""
    with lock, open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def log_tail(path: str | os.PathLike, lines: int = TAIL_LINES) -> str:
    """The end of a log, quoted for an error message."""
    return f"last lines of {path}:\n" + "\n".join(f"  | {l}" for l in tail(path, lines))
