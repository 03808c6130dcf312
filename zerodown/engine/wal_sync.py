"""The state store's WAL synced to disk in a thread while the engine acts (Store.synced_beside).

A commit without a sync (synchronous=NORMAL) has written its frames to the WAL file
already; syncing that file is what a synced commit would have done at its end, so it
makes those commits durable from any file descriptor, here beside a runtime's starts.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Iterator

from zerodown.engine.beside import Beside


class WalSyncFailed(OSError):
    """The sync beside the act failed (an I/O error): nothing committed is known durable."""


@contextmanager
def wal_synced_beside(db_path: str, pool: Executor | None = None) -> Iterator[None]:
    """Sync `db_path`'s WAL in a thread (a worker of `pool`, kept by the store) while the
    body runs; wait for it after the body (also when the body raised); WalSyncFailed after
    a body that ran when the sync failed."""
    with Beside(_sync, db_path, name=f"sync of {os.path.basename(db_path)}",
                pool=pool) as sync:
        yield
    try:
        sync.result()
    except OSError as e:
        raise WalSyncFailed(*e.args) from e


def _sync(db_path: str) -> None:
    try:
        fd = os.open(f"{db_path}-wal", os.O_RDONLY)
    except FileNotFoundError:  # checkpointed and removed: the frames are in the file
        fd = os.open(db_path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)
