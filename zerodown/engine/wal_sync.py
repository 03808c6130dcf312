"""The state store's WAL synced to disk in a thread while the engine acts (Store.synced_beside),
and checkpointed in a thread rather than by a commit (WalWorkers, kept by the store).

A commit without a sync (synchronous=NORMAL) has written its frames to the WAL file
already; syncing that file is what a synced commit would have done at its end, so it
makes those commits durable from any file descriptor, here beside a runtime's starts.

SQLite's automatic checkpoint runs inside the commit that crossed ~1000 pages of WAL:
that commit then syncs the WAL and the database file and copies the pages, 10-35 ms on
this machine's disk, on whatever step it belonged to (a batch's start, a route). The
store's own connection does not checkpoint by itself; `checkpoint` does it from another
connection, in a worker, beside the engine's commits (a passive checkpoint
never blocks a writer). Copying committed frames into the database changes nothing a
reader or a crash sees.
"""

from __future__ import annotations

import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from zerodown.engine.beside import Beside


class WalSyncFailed(OSError):
    """The sync beside the act failed (an I/O error): nothing committed is known durable."""


# About SQLite's own automatic checkpoint (1000 pages of WAL) at ~4 pages a commit.
CHECKPOINT_EVERY = 250


class WalWorkers:
    """A store's two kept threads (one started per use costs milliseconds on a loaded
    machine: engine/beside.py): the sync beside a start, and the checkpoint asked for every
    CHECKPOINT_EVERY commits (`committed`), in place of the connection's own."""

    def __init__(self, db_path: str, db: sqlite3.Connection):
        self.path, name = db_path, os.path.basename(db_path)
        db.execute("PRAGMA wal_autocheckpoint = 0")
        self._syncs = ThreadPoolExecutor(1, thread_name_prefix=f"sync of {name}")
        self._checkpoints = ThreadPoolExecutor(1, thread_name_prefix=f"checkpoint of {name}")
        self._commits = 0  # commits that wrote, since a checkpoint was last asked for

    @contextmanager
    def synced_beside(self) -> Iterator[None]:
        """Sync the WAL in the sync worker while the body runs; wait for it after the body
        (also when the body raised); WalSyncFailed after a body that ran when it failed."""
        with Beside(_sync, self.path, name="sync", pool=self._syncs) as sync:
            yield
        try:
            sync.result()
        except OSError as e:
            raise WalSyncFailed(*e.args) from e

    def committed(self) -> None:
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY:
            self._commits = 0
            self._checkpoints.submit(checkpoint, self.path)

    def idle(self) -> None:
        """Nothing is writing (a deployment ended or stopped at a pause): a checkpoint now
        copies every frame, so the next commit writes the WAL from its start again. One
        asked only every CHECKPOINT_EVERY commits ran while the engine committed, never
        caught up, and the WAL grew with every deployment (858 MB after 1,000 of 3
        instances on fakes, reads slower as its index grew)."""
        self._commits = 0
        self._checkpoints.submit(checkpoint, self.path)

    def close(self) -> None:
        self._syncs.shutdown(wait=False)
        self._checkpoints.shutdown(wait=False)


def _sync(db_path: str) -> None:
    try:
        fd = os.open(f"{db_path}-wal", os.O_RDONLY)
    except FileNotFoundError:  # checkpointed and removed: the frames are in the file
        fd = os.open(db_path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def checkpoint(db_path: str) -> None:
    """A passive checkpoint of `db_path`'s WAL from a connection of its own. A file that is
    gone (deleted, replaced: Store.replaced) is not made again; a checkpoint that cannot run
    now (busy, an I/O error) is left to the next one."""
    try:
        db = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=rw", uri=True,
                             timeout=1.0, isolation_level=None)
    except sqlite3.Error:
        return
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass
    finally:
        db.close()
