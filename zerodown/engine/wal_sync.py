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

The WAL starts over (its next commit written at its start) only once every frame is
copied and no reader is in it; deployments back to back never leave such a moment to a
passive checkpoint, so past WAL_BOUND the checkpoint makes one, at the price of a short
wait for the writer's next write (`checkpoint`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from zerodown.engine.beside import Beside
from zerodown.engine.records import StoreError


class WalSyncFailed(OSError):
    """The sync beside the act failed (an I/O error): nothing committed is known durable."""


# About SQLite's own automatic checkpoint (1000 pages of WAL) at ~8 pages a commit: a
# deployment's commits write 7.1-8.6 (its step's row and index, an event and its two
# indexes, sqlite_sequence, instance rows and theirs; rolling, 3 to 200 instances on
# fakes, benchmarks/store_routes.py), ~7 already before its routing table's rows, when
# this said ~4; 250 commits were 7-9 MB of WAL between two checkpoints.
CHECKPOINT_EVERY = 125

# The WAL's length past which a checkpoint makes it start over though the engine writes
# (the next deployment back to back, or one long deployment on). Every read looks its
# pages up through the WAL's index, one more hash table per 4096 frames (16 MB of 4 kB
# pages): the dashboard's tick took 7x as long beside a WAL of 603 MB (1,000 deployments
# of 3 instances back to back, ~0.6 MB each, benchmarks/README.md). 64 MB: four tables,
# and the restart's wait for the next write paid once every ~100 such deployments. Also the most of the file the WAL's first
# commit after a restart keeps (journal_size_limit; below it, the file is written over
# rather than grown again: one a store of an older zerodown grew shrinks to it).
WAL_BOUND = 64 * 2**20

# How long that checkpoint waits for the write lock, then for the readers still in the
# WAL, before it leaves the restart to the next checkpoint (and lets the writer on): the
# engine's transactions last about a millisecond, with gaps between them.
RESTART_WAIT = 0.1

# How long a store's close waits for its workers to finish (WalWorkers.close): a checkpoint
# of a WAL up to WAL_BOUND and its syncs, seconds at most on a slow disk; past it, a worker
# is taken to be stuck (the disk does not answer), as the write lock's wait (Store.timeout).
CLOSE_WAIT = 30.0


class WalWorkers:
    """A store's two kept threads (one started per use costs milliseconds on a loaded
    machine: engine/beside.py): the sync beside a start, and the checkpoint asked for every
    CHECKPOINT_EVERY commits (`committed`), in place of the connection's own."""

    def __init__(self, db_path: str, db: sqlite3.Connection):
        self.path, name = db_path, os.path.basename(db_path)
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute(f"PRAGMA journal_size_limit = {WAL_BOUND}")
        self._syncs = _Kept("sync", name)
        self._checkpoints = _Kept("checkpoint", name)
        self._commits = 0  # commits that wrote, since a checkpoint was last asked for
        # A checkpoint asked and not begun: begun later, it reads the WAL as it is then, so
        # another ask meanwhile adds nothing. Asked at every end of deployments back to
        # back, faster than each runs, they queued by the hundred and ran on after the last.
        self._asked = False
        self._asking = threading.Lock()

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
            self._ask()

    def idle(self) -> None:
        """Nothing is writing (a deployment ended or stopped at a pause): a checkpoint now
        copies every frame, so the next commit writes the WAL from its start again. One
        asked only every CHECKPOINT_EVERY commits ran while the engine committed, never
        caught up, and the WAL grew with every deployment (858 MB after 1,000 of 3
        instances on fakes, reads slower as its index grew). When the next deployment
        writes already (back to back), it starts over past WAL_BOUND (`checkpoint`)."""
        self._commits = 0
        self._ask()

    def _ask(self) -> None:
        with self._asking:
            queued, self._asked = self._asked, True
        if not queued:
            self._checkpoints.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        with self._asking:
            self._asked = False
        checkpoint(self.path, WAL_BOUND)

    def close(self, wait: float | None = None) -> None:
        """End the workers once they have done what they were given (a sync under way, a
        checkpoint asked), waiting up to `wait` seconds (CLOSE_WAIT): nothing of theirs goes on past the
        store's close, racing what its closer does next (a file moved aside, a test's
        folder removed, the process's exit). StoreError naming the file and the worker if
        one is still at it then (its disk does not answer): it is left to end by itself."""
        wait = CLOSE_WAIT if wait is None else wait
        pools = (self._syncs, self._checkpoints)
        for pool in pools:
            pool.shutdown(wait=False)
        left = futures.wait(set().union(*(pool.under_way() for pool in pools)),
                            timeout=wait).not_done
        stuck = [pool.kind for pool in pools if pool.under_way() & left]
        if stuck:
            raise StoreError(f"closing the state store {self.path}: its WAL's "
                             f"{' and '.join(stuck)} still ran {wait:g}s after it was asked "
                             f"to end (its disk does not answer?); closed without waiting "
                             f"more, nothing committed is lost")


class _Kept(ThreadPoolExecutor):
    """A kept worker whose calls not done yet are known, for close() to wait for them."""

    def __init__(self, kind: str, file: str):
        super().__init__(1, thread_name_prefix=f"{kind} of {file}")
        self.kind = kind
        self._calls: set[futures.Future] = set()
        self._mutex = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        with self._mutex:
            self._calls.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: futures.Future) -> None:
        with self._mutex:
            self._calls.discard(future)

    def under_way(self) -> set[futures.Future]:
        with self._mutex:
            return set(self._calls)


def _sync(db_path: str) -> None:
    try:
        fd = os.open(f"{db_path}-wal", os.O_RDONLY)
    except FileNotFoundError:  # checkpointed and removed: the frames are in the file
        fd = os.open(db_path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def checkpoint(db_path: str, restart_past: int | None = None) -> None:
    """A passive checkpoint of `db_path`'s WAL from a connection of its own; then, if the
    WAL is longer than `restart_past` bytes, a RESTART one. A file that is gone (deleted,
    replaced: Store.replaced) is not made again; a checkpoint that cannot run now (busy,
    an I/O error) is left to the next one.

    The passive one copies the frames without a lock (the bulk, and its syncs). RESTART
    takes the write lock, copies what was committed since, syncs, and waits for the
    readers to leave the WAL, so the next write transaction writes it from its start; a
    write meanwhile waits for the lock (the store's busy wait: benchmarks/README.md
    measures it). Each wait is at most RESTART_WAIT, after which it does what it can
    and lets go (SQLite's wal_checkpoint_v2)."""
    try:
        db = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=rw", uri=True,
                             timeout=1.0, isolation_level=None)
    except sqlite3.Error:
        return
    try:
        _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if restart_past is not None and frames * _frame_bytes(db) > restart_past:
            db.execute(f"PRAGMA busy_timeout = {int(RESTART_WAIT * 1000)}")
            db.execute("PRAGMA wal_checkpoint(RESTART)")
    except sqlite3.Error:
        pass
    finally:
        db.close()


def _frame_bytes(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA page_size").fetchone()[0] + 24  # (a frame's header: 24 bytes)
