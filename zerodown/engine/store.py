"""The state store: one SQLite file (WAL) holding everything a restart needs.

Services, revisions (numbered, immutable), instances, deployments with their
plan and cursor, each step's start and finish, the last routing table, and an
append-only event log. Every write is one `BEGIN IMMEDIATE` transaction, and a
phase change is written with its event in that same transaction. Two processes
(a running deployment and `zerodown pause` in another terminal) share the file:
they take turns on the write lock, waiting up to `timeout` seconds for it.

Only the process running a deployment (it holds the service's lock file, see
lock_path) writes its plan, cursor and instances; any process may send it a
signal (pause, resume, promote, abort), which only changes its phase/request.

Durable before acted on, with fewer syncs: a transaction is synced to disk
(synchronous=FULL) unless its caller passes `durable=False` — a record of what
was done, of a step that only waits (a step's finish, a drain's start) or of a
deployment not yet acted on (its creation), never an intent. Such a commit is in the WAL at once (a killed process loses nothing)
and reaches the disk with the next synced commit, since syncing the WAL syncs
every frame before it; a power loss in between loses only a suffix of those
records (the WAL replays whole transactions in order), which the engine treats
as a crash at that moment: each step is idempotent and runs again. The engine
makes a synced commit before every act outside the store (a start's intent, a
routing table staged before it is applied, a stop, a hook), so what any act
relies on is on disk first. `unsynced` counts the commits waiting for a sync.
Two kinds of act may instead run while their intent is synced (`synced_beside`): a
start, whose runtime records the instance durably itself before spawning it (a
host's registry), so an instance started before a power loss took the store's
intent is found by the next adopt, stopped as an orphan, and started again by
the step; and a stop, where the runtime marks the stop under way in that record
before it signals (`stops_once`), so a stop whose intent a power loss took is sent
again by the step and awaits the first instead of signalling twice, and, whatever
is planned on resume, the next reconcile reads that mark as the intent (its row
written `stopping`, engine/reconciling.py). The step's outcome is recorded only
once that sync is done.

The schema and its migrations are in schema.py, the rows and errors in
records.py. Every query is a method of one class, Store, because they share one
transaction discipline (see _tx); the events' queries are here, those of each other
table in a part of its own that Store inherits: store_deployments.py,
store_revisions.py (services and revisions), store_steps.py, store_instances.py,
store_routing.py, store_proofs.py (the open transaction: transaction.py).
"""

from __future__ import annotations

import json
import sqlite3
import functools
import inspect
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

from zerodown.engine import schema
from zerodown.engine.records import (Change, Deployment, DeploymentConflict, Event, InstanceRow,
                                     NotFound, PlanMoved, RevisionRecord, Routing, StepRecord,
                                     StoreError, StoreUnavailable, unavailable)
from zerodown.engine.schema import MIGRATIONS
from zerodown.engine.store_deployments import DeploymentQueries
from zerodown.engine.store_instances import InstanceQueries
from zerodown.engine.store_proofs import ProofQueries
from zerodown.engine.store_revisions import RevisionQueries
from zerodown.engine.store_routing import RoutingQueries
from zerodown.engine.store_steps import StepQueries
from zerodown.engine.transaction import Tx
from zerodown.engine.wal_sync import WalSyncFailed, WalWorkers
from zerodown.plan import Step

# The names other modules import from here (rows and errors live in records.py, the schema in schema.py).
__all__ = ["MIGRATIONS", "Change", "Deployment", "DeploymentConflict", "Event", "InstanceRow",
           "NotFound", "PlanMoved", "RevisionRecord", "Routing", "StepRecord", "Store", "StoreError",
           "StoreUnavailable"]



class Store(DeploymentQueries, RevisionQueries, StepQueries, InstanceQueries, RoutingQueries,
            ProofQueries):
    """`Store("state/zerodown.db")`. `now` is the clock events and steps are stamped with."""

    def __init__(self, path: str, *, timeout: float = 30.0, synchronous: str = "FULL"):
        self.path, self.timeout = str(path), timeout
        self._lazy = False  # set below, once the journal mode is known
        self._synchronous = synchronous
        self._lazy_commits = 0  # lazy commits ever made by this connection
        self._synced_to = 0  # how many of them are known to be on disk
        self._begun_with: tuple[int, int] | None = None  # (deployment, step) finish_step began
        self._wal: WalWorkers | None = None  # in WAL mode: its sync and checkpoint threads
        self.now: Callable[[], float] = time.time
        self.listeners: list[Callable[[Event], None]] = []
        self._mutex = threading.RLock()
        self._plans: dict[int, tuple[int, tuple[Step, ...]]] = {}  # id -> (plan_version, steps)
        try:
            self.db = schema.connect(self.path, timeout, synchronous)
            self._migrate()
            # Lazy commits (durable=False) only where commits are synced at all, and in WAL
            # mode, whose replay after a power loss keeps a prefix of the transactions (a
            # file system without WAL support leaves the rollback journal: every commit synced).
            wal = self.db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
            self._lazy = wal and synchronous.upper() in ("FULL", "EXTRA")
            if wal:  # the sync beside a start, and checkpoints off the committing thread
                self._wal = WalWorkers(self.path, self.db)
        except sqlite3.Error as e:
            raise unavailable(self.path, e, "open") from None
        self._identity = _identity(self.path)

    def replaced(self) -> bool:
        """Is the file at `path` no longer the one this connection has open (deleted,
        moved aside, replaced)? A long-lived connection then opens the path again."""
        return _identity(self.path) != self._identity

    def data_version(self) -> int:
        """A number that changes when another connection (any process's, this one's other
        stores) commits to the file: a cheap look for a waiting engine (doorbell.py)."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        """Its workers' work awaited (WalWorkers.close: bounded, StoreError past it), then
        the connection closed, whatever they did: the last connection to the file ends
        the WAL itself."""
        try:
            if self._wal is not None:
                self._wal.close()
        finally:
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lock_path(self, service: str) -> str:
        """The file whose flock marks the one process running `service`'s deployment."""
        return f"{self.path}-{service}.lock"

    def _migrate(self) -> None:
        # Read first: a store at the newest version (every open but the first) takes no
        # write lock; `status`, the dashboard's and the API's opens are then only readers.
        if self.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
            return
        with self._tx() as tx:
            schema.migrate(tx, self.path)

    @contextmanager
    def _tx(self, durable: bool = True) -> Iterator[Tx]:
        """One write transaction; `durable=False`: committed without a sync (see the
        module docstring), for records no act outside the store relies on."""
        with self._mutex:
            lazy = self._lazy and not durable
            try:
                if lazy:  # per transaction: the connection's setting, outside any transaction
                    self.db.execute("PRAGMA synchronous = NORMAL")
                self._begin_write()
            except sqlite3.Error as e:
                self._resync(lazy)
                raise unavailable(self.path, e, "write", self.timeout) from None
            tx = Tx(self.db, self.now())
            before = self.db.total_changes
            try:
                yield tx
                self.db.execute("COMMIT")
                if self.db.total_changes != before:  # (a commit that wrote nothing syncs nothing)
                    self._lazy_commits += lazy
                    if not lazy:
                        self._synced_to = self._lazy_commits
                    if self._wal is not None:
                        self._wal.committed()
                self._resync(lazy)
            except BaseException as e:
                # SQLite may have rolled back by itself (a full disk does): a second
                # ROLLBACK would fail and hide the error that matters.
                if self.db.in_transaction:
                    try:
                        self.db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the error below says what went wrong first
                self._resync(lazy)
                if isinstance(e, sqlite3.Error):
                    raise unavailable(self.path, e, "write") from None
                raise
        for event in tx.events:
            for listener in self.listeners:
                listener(event)

    def _begin_write(self) -> None:
        """BEGIN IMMEDIATE, waiting up to `timeout` for the write lock. SQLite waits for it
        itself (the busy timeout) except when this connection is inside a read: another
        thread's query on the shared connection, part-way through its rows. A write then
        fails at once while another connection holds the lock (SQLite will not make a reader
        wait to write: two could wait on each other), though the read ends within its query
        and the other writer within its transaction. Such a failure is waited out here: the
        demo's deployment failed so, its baseline's write beside a start's read while the
        demo's observer opened its own connection."""
        deadline = time.monotonic() + self.timeout
        pause = 0.0005
        while True:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                busy = (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() + pause >= deadline:
                    raise  # (SQLite's own wait, when it waited, took the whole timeout)
            time.sleep(pause)
            pause = min(2 * pause, 0.02)

    def idle(self) -> None:
        """This connection's writer is done for now: its WAL checkpointed in a worker, off
        the deployment's path (wal_sync.WalWorkers.idle)."""
        if self._wal is not None:
            self._wal.idle()

    @property
    def unsynced(self) -> int:
        """Commits made without a sync that no sync has covered since."""
        return self._lazy_commits - self._synced_to

    @contextmanager
    def synced_beside(self) -> Iterator[None]:
        """The commits made so far reach the disk in a thread while the caller acts; the
        sync is awaited before this returns (and before the act's outcome is recorded).
        Only for an act whose actor keeps its own durable record of it (module docstring)."""
        with self._mutex:
            upto, synced = self._lazy_commits, self._synced_to
        if upto == synced or self._wal is None:  # (lazy commits are made in WAL mode only)
            yield
            return
        try:
            with self._wal.synced_beside():
                yield
        except WalSyncFailed as e:
            raise StoreUnavailable(f"cannot sync the state store {self.path} to its disk "
                                   f"({e}); the step runs again on resume") from None
        with self._mutex:
            self._synced_to = max(self._synced_to, upto)

    def _resync(self, lazy: bool) -> None:
        if lazy:
            try:
                self.db.execute(f"PRAGMA synchronous = {self._synchronous}")
            except sqlite3.Error:
                pass  # a closed or broken connection: its next use says so

    def _one(self, sql: str, params: Sequence = ()) -> sqlite3.Row | None:
        return self.db.execute(sql, params).fetchone()

    # --- events ----------------------------------------------------------------------

    def event(self, service: str, kind: str, message: str, deployment: int | None = None, /,
              **data: Any) -> None:
        with self._tx() as tx:
            tx.event(service, kind, message, deployment, **data)

    def events(self, service: str | None = None, deployment: int | None = None,
               after: int = 0, limit: int = 1000, kind: str | None = None) -> list[Event]:
        """Oldest first, with id > `after`: poll with the last id seen to follow the log."""
        where: list[str] = ["id > ?"]
        params: list[str | int] = [after]
        for column, value in (("service", service), ("deployment", deployment), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = self.db.execute(f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id "
                               "LIMIT ?", (*params, limit))
        return [Event(r["id"], r["time"], r["service"], r["deployment"], r["kind"], r["message"],
                      json.loads(r["data"])) for r in rows]

    def askers(self, ids: Iterable[int]) -> dict[int, dict]:
        """Who asked for each of these deployments, from where and why: the data of its
        first deploy or rollback action (daemon/actions.record); one no action asked for
        is absent. By the partial index events_asked (its `kind = 'action'` said as is, so
        SQLite can use it): each deployment's few actions, not every event it wrote."""
        ids = list(ids)
        if not ids:
            return {}
        rows = self.db.execute("SELECT deployment, data FROM events WHERE kind = 'action' AND "
                               f"deployment IN ({','.join('?' * len(ids))}) "
                               "ORDER BY deployment, id", ids)
        found: dict[int, dict] = {}
        for r in rows:
            data = json.loads(r["data"])
            if r["deployment"] not in found and data.get("action") in ("deploy", "rollback"):
                found[r["deployment"]] = data
        return found


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _translating(method: Callable) -> Callable:
    @functools.wraps(method)
    def call(self: "Store", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as e:
            raise unavailable(self.path, e) from None
    return call


# Every public method, reads included, those of its parts too: a damaged file must give
# the message above on `zerodown status` too, never a traceback from deep in a query.
for _name in sorted({name for klass in Store.__mro__ for name in vars(klass)}):
    _method = inspect.getattr_static(Store, _name)
    if not _name.startswith("_") and inspect.isfunction(_method):
        setattr(Store, _name, _translating(_method))
