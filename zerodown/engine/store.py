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

The schema and its migrations are in schema.py, the rows and errors in
records.py; every query is here, in one class, because they share one
transaction discipline (see _tx) and a reader looks for "what writes this
column" in one place.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import functools
import inspect
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

from zerodown import table_json, table_version
from zerodown.engine import lifecycle, schema
from zerodown.engine.lifecycle import Phase
from zerodown.engine.records import (Change, Deployment, DeploymentConflict, Event, InstanceRow,
                                     NotFound, PlanMoved, RevisionRecord, Routing, StepRecord,
                                     StoreError, StoreUnavailable, unavailable)
from zerodown.engine.schema import MIGRATIONS
from zerodown.model import EMPTY_TABLE, Instance, InstanceRef, RoutingTable, Slot
from zerodown.plan import Pause, Plan, ServiceState, Step, step_from_data, step_to_data

# The names other modules import from here (rows and errors live in records.py, the schema in schema.py).
__all__ = ["MIGRATIONS", "Change", "Deployment", "DeploymentConflict", "Event", "InstanceRow",
           "NotFound", "PlanMoved", "RevisionRecord", "Routing", "StepRecord", "Store", "StoreError",
           "StoreUnavailable"]

_DEPLOYMENT = ("id, service, kind, from_revision, to_revision, strategy, plan_kind, plan_version,"
               " cursor, phase, on_failure, request, error, created, updated")


class _Tx:
    """One open write transaction: statements, plus events sent to listeners after commit."""

    def __init__(self, db: sqlite3.Connection, now: float):
        self.db, self.now = db, now
        self.events: list[Event] = []

    def execute(self, sql: str, params: Sequence | dict = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def event(self, service: str, kind: str, message: str, deployment: int | None = None, /,
              **data: Any) -> None:
        cur = self.db.execute("INSERT INTO events (time, service, deployment, kind, message, data)"
                              " VALUES (?, ?, ?, ?, ?, ?)",
                              (self.now, service, deployment, kind, message, json.dumps(data)))
        self.events.append(Event(cur.lastrowid, self.now, service, deployment, kind, message, data))


class Store:
    """`Store("state/zerodown.db")`. `now` is the clock events and steps are stamped with."""

    def __init__(self, path: str, *, timeout: float = 30.0, synchronous: str = "FULL"):
        self.path, self.timeout = str(path), timeout
        self._lazy = False  # set below, once the journal mode is known
        self._synchronous = synchronous
        self.unsynced = 0  # lazy commits since the last synced one
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
        except sqlite3.Error as e:
            raise unavailable(self.path, e, "open") from None
        self._identity = _identity(self.path)

    def replaced(self) -> bool:
        """Is the file at `path` no longer the one this connection has open (deleted,
        moved aside, replaced)? A long-lived connection then opens the path again."""
        return _identity(self.path) != self._identity

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lock_path(self, service: str) -> str:
        """The file whose flock marks the one process running `service`'s deployment."""
        return f"{self.path}-{service}.lock"

    def _migrate(self) -> None:
        with self._tx() as tx:
            schema.migrate(tx, self.path)

    @contextmanager
    def _tx(self, durable: bool = True) -> Iterator[_Tx]:
        """One write transaction; `durable=False`: committed without a sync (see the
        module docstring), for records no act outside the store relies on."""
        with self._mutex:
            lazy = self._lazy and not durable
            try:
                if lazy:  # per transaction: the connection's setting, outside any transaction
                    self.db.execute("PRAGMA synchronous = NORMAL")
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                self._resync(lazy)
                raise unavailable(self.path, e, "write", self.timeout) from None
            tx = _Tx(self.db, self.now())
            before = self.db.total_changes
            try:
                yield tx
                self.db.execute("COMMIT")
                if self.db.total_changes != before:  # (a commit that wrote nothing syncs nothing)
                    self.unsynced = self.unsynced + 1 if lazy else 0
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

    def _resync(self, lazy: bool) -> None:
        if lazy:
            try:
                self.db.execute(f"PRAGMA synchronous = {self._synchronous}")
            except sqlite3.Error:
                pass  # a closed or broken connection: its next use says so

    def _one(self, sql: str, params: Sequence = ()) -> sqlite3.Row | None:
        return self.db.execute(sql, params).fetchone()

    # --- services and revisions ------------------------------------------------

    def stable(self, service: str) -> tuple[int | None, int | None]:
        """(the revision serving after the last finished deployment, the one before it)."""
        row = self._one("SELECT stable, previous FROM services WHERE name = ?", (service,))
        return (row["stable"], row["previous"]) if row else (None, None)

    def revision(self, service: str, number: int) -> RevisionRecord:
        row = self._one("SELECT * FROM revisions WHERE service = ? AND number = ?",
                        (service, number))
        if row is None:
            raise NotFound(f"service {service} has no revision r{number}")
        return RevisionRecord(service, number, row["version"], json.loads(row["config"]))

    def revisions(self, service: str) -> list[RevisionRecord]:
        rows = self.db.execute("SELECT * FROM revisions WHERE service = ? ORDER BY number",
                               (service,))
        return [RevisionRecord(service, r["number"], r["version"], json.loads(r["config"]))
                for r in rows]

    # --- deployments -------------------------------------------------------------

    def create_deployment(self, service: str, config: dict, strategy: dict, on_failure: str,
                          planner: Callable[[ServiceState, int], Plan], *,
                          version: str | None = None, revision: int | None = None,
                          kind: str = "deploy") -> Deployment:
        """A pending deployment to a new revision (`version`) or an existing one (`revision`).

        The check that no other deployment is active, the new revision, and the
        plan (made by `planner` from the state read in this transaction) are
        one transaction, so two `zerodown deploy` cannot both pass the check.
        Not synced by itself: nothing has acted on it yet; the first act's commit
        syncs it (a power loss before then loses a deployment that did nothing).
        """
        with self._tx(durable=False) as tx:
            active = self._active(service)
            if active is not None:
                raise DeploymentConflict(_conflict(active))
            tx.execute("INSERT INTO services (name, config, updated) VALUES (?, ?, ?) ON CONFLICT "
                       "(name) DO UPDATE SET config = excluded.config, updated = excluded.updated",
                       (service, json.dumps(config), tx.now))
            if revision is None:
                revision = self._one("SELECT COALESCE(MAX(number), 0) + 1 FROM revisions "
                                     "WHERE service = ?", (service,))[0]
                tx.execute("INSERT INTO revisions (service, number, version, config, created) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (service, revision, version, json.dumps(config), tx.now))
            else:
                self.revision(service, revision)  # raises NotFound
            state = self.service_state(service)
            plan = planner(state, revision)
            cur = tx.execute(
                "INSERT INTO deployments (service, kind, from_revision, to_revision, strategy, plan,"
                " plan_kind, phase, on_failure, created, updated) VALUES (?, ?, ?, ?, ?, ?, 'deploy',"
                " 'pending', ?, ?, ?)",
                (service, kind, state.stable, revision, json.dumps(strategy),
                 json.dumps([step_to_data(s) for s in plan.steps]), on_failure, tx.now, tx.now))
            tx.event(service, "deployment.created", f"deployment {cur.lastrowid}: "
                     + plan.describe().splitlines()[0], cur.lastrowid, kind=kind,
                     revision=revision, version=version, steps=len(plan.steps))
            return self.deployment(cur.lastrowid)

    def deployment(self, id: int) -> Deployment:
        row = self._one(f"SELECT {_DEPLOYMENT} FROM deployments WHERE id = ?", (id,))
        if row is None:
            raise NotFound(f"no deployment {id}")
        return self._deployment(row)

    def _deployment(self, row: sqlite3.Row) -> Deployment:
        # A plan is parsed once per version: a 10,000-instance plan is not re-read every step.
        cached = self._plans.get(row["id"])
        if cached is None or cached[0] != row["plan_version"]:
            text = self._one("SELECT plan FROM deployments WHERE id = ? AND plan_version = ?",
                             (row["id"], row["plan_version"]))
            if text is None:  # replaced between the two reads
                return self.deployment(row["id"])
            cached = row["plan_version"], tuple(step_from_data(s) for s in json.loads(text[0]))
            self._plans[row["id"]] = cached
        return Deployment(row["id"], row["service"], row["kind"], row["from_revision"],
                          row["to_revision"], json.loads(row["strategy"]), cached[1],
                          row["plan_kind"], row["cursor"], Phase(row["phase"]), row["on_failure"],
                          row["request"], row["error"], row["created"], row["updated"])

    def deployments(self, service: str | None = None, phases: Iterable[Phase] | None = None,
                    limit: int = 50) -> list[Deployment]:
        """Newest first."""
        where, params = ["1"], []
        if service is not None:
            where.append("service = ?")
            params.append(service)
        if phases is not None:
            names = [Phase(p).value for p in phases]
            where.append(f"phase IN ({', '.join('?' * len(names))})")
            params += names
        rows = self.db.execute(f"SELECT {_DEPLOYMENT} FROM deployments WHERE {' AND '.join(where)}"
                               " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [self._deployment(r) for r in rows.fetchall()]

    def active_deployment(self, service: str) -> Deployment | None:
        return self._active(service)

    def _active(self, service: str) -> Deployment | None:
        found = self.deployments(service, lifecycle.ACTIVE, limit=1)
        return found[0] if found else None

    def signal(self, id: int, verb: str, why: str | None = None) -> Deployment:
        """pause | resume | promote | promote-full | abort, from any process; `why` (an
        abort by a background analysis, say) becomes the deployment's error."""
        with self._tx() as tx:
            d = self.deployment(id)
            at_pause = isinstance(d.step, Pause) and d.step.duration is not None
            to, request = lifecycle.signal(id, verb, d.phase, at_pause)
            self._phase(tx, d, to, why or f"{verb} asked", request=request,
                        error=None if verb.startswith(("resume", "promote")) else why or d.error)
        return self.deployment(id)

    def set_phase(self, id: int, to: Phase, why: str, durable: bool = True) -> None:
        with self._tx(durable) as tx:
            self._phase(tx, self.deployment(id), to, why)

    def _phase(self, tx: _Tx, d: Deployment, to: Phase, why: str, **columns: Any) -> None:
        """Set the phase (checked against the transition table) and log it, in `tx`."""
        if to is not d.phase:
            lifecycle.transition(d.id, d.phase, to)
            tx.event(d.service, "phase", f"deployment {d.id} {to}: {why}", d.id,
                     **{"from": d.phase.value, "to": to.value})
        elif columns.get("request"):
            tx.event(d.service, "request", f"deployment {d.id}: {why}", d.id,
                     request=columns["request"])
        sets = ", ".join(f"{k} = ?" for k in columns)
        tx.execute(f"UPDATE deployments SET phase = ?, updated = ?{', ' if sets else ''}{sets} "
                   "WHERE id = ?", (to.value, tx.now, *columns.values(), d.id))

    # --- steps ---------------------------------------------------------------------

    def step_record(self, id: int, index: int) -> StepRecord | None:
        row = self._one("SELECT * FROM steps WHERE deployment = ? AND idx = ?", (id, index))
        return _step(row) if row else None

    def steps(self, id: int) -> list[StepRecord]:
        rows = self.db.execute("SELECT * FROM steps WHERE deployment = ? ORDER BY idx", (id,))
        return [_step(r) for r in rows]

    def begin_step(self, id: int, index: int, changes: Sequence[Change] = (),
                   pause: str | None = None, durable: bool = True) -> StepRecord:
        """Record that step `index` starts (again), with the intents written before acting.

        `pause`: the step is a manual pause; the phase becomes paused in this same
        transaction, so a restart knows the pause was reached. `durable=False`: for a
        step that acts on nothing before its next synced commit (module docstring).
        """
        with self._tx(durable) as tx:
            d = self._begin(tx, id, index, changes)
            if pause is not None:
                self._phase(tx, d, Phase.PAUSED, pause)
        return self.step_record(id, index)

    def _begin(self, tx: _Tx, id: int, index: int, changes: Sequence[Change] = ()) -> Deployment:
        d = self._at(id, index)
        text = _short(d.steps[index].describe(d.service))
        tx.execute("INSERT INTO steps (deployment, idx, step, started_at, attempts) VALUES "
                   "(?, ?, ?, ?, 1) ON CONFLICT (deployment, idx) DO UPDATE SET attempts = "
                   "attempts + 1, finished_at = NULL, outcome = NULL", (id, index, text, tx.now))
        self._write_instances(tx, d.service, changes)
        again = self._one("SELECT attempts FROM steps WHERE deployment = ? AND idx = ?",
                          (id, index))[0]
        tx.event(d.service, "step.started", f"step {index + 1}/{len(d.steps)}: {text}"
                 + (f" (attempt {again})" if again > 1 else ""), id, index=index)
        return d

    def finish_step(self, id: int, index: int, outcome: str, changes: Sequence[Change] = (),
                    routed: frozenset[InstanceRef] | None = None,
                    durable: bool = True) -> None:
        """Record the step's outcome and move the cursor past it, in one transaction.

        `routed`: the step applied the staged routing table, which routes exactly
        these instances; others that were routed are now draining. `durable=False`: a
        record of what was done, synced with the next act's commit (module docstring).
        """
        with self._tx(durable) as tx:
            d = self._at(id, index)
            tx.execute("UPDATE steps SET finished_at = ?, outcome = ? WHERE deployment = ? AND "
                       "idx = ?", (tx.now, outcome, id, index))
            self._write_instances(tx, d.service, changes)
            if routed is not None:
                self._applied(tx, d.service, routed)
            tx.execute("UPDATE deployments SET cursor = cursor + 1, request = NULL, updated = ? "
                       "WHERE id = ?", (tx.now, id))
            tx.event(d.service, "step.finished", f"step {index + 1}/{len(d.steps)}: {outcome}",
                     id, index=index)

    def fail_step(self, id: int, index: int | None, error: str, to: Phase,
                  changes: Sequence[Change] = ()) -> None:
        """A step failed and the deployment goes to `to` (paused or failed), cursor kept."""
        with self._tx() as tx:
            d = self.deployment(id)
            if index is not None:  # left unfinished: resume runs it again
                tx.execute("UPDATE steps SET outcome = ? WHERE deployment = ? AND idx = ?",
                           (f"failed: {error}", id, index))
            self._write_instances(tx, d.service, changes)
            tx.event(d.service, "step.failed", error, id, index=index)
            self._phase(tx, d, to, error, error=error)

    def replan(self, id: int, cursor: int, steps: Sequence[Step], plan_kind: str, why: str,
               to: Phase | None = None, error: str | None = None,
               changes: Sequence[Change] = ()) -> None:
        """Replace the plan from the cursor on (abort, rollback, promote --full)."""
        with self._tx() as tx:
            d = self._at(id, cursor)
            rec = self.step_record(id, cursor)
            started = rec is not None and rec.in_progress
            plan, cursor = lifecycle.splice(d.steps, cursor, started, steps)
            if started:
                tx.execute("UPDATE steps SET finished_at = ?, outcome = ? WHERE deployment = ? "
                           "AND idx = ?", (tx.now, why, id, rec.index))
            self._write_instances(tx, d.service, changes)
            tx.execute("UPDATE deployments SET plan = ?, plan_kind = ?, plan_version = "
                       "plan_version + 1, cursor = ? WHERE id = ?",
                       (json.dumps([step_to_data(s) for s in plan]), plan_kind, cursor, id))
            tx.event(d.service, "plan.replaced", f"deployment {id}: {why}; {plan_kind} plan of "
                     f"{len(steps)} steps from step {cursor + 1}", id, kind=plan_kind,
                     steps=[_short(s.describe(d.service)) for s in steps])
            self._phase(tx, d, to or d.phase, why, error=error if error is not None else d.error)

    def finish(self, id: int, durable: bool = True) -> Phase:
        """End a deployment whose plan ran to the end; a success makes its revision stable.
        `durable=False`: the end's proof is synced next, with it (a power loss before then
        leaves the deployment at its last step, which runs again and ends it)."""
        with self._tx(durable) as tx:
            d = self.deployment(id)
            if d.cursor < len(d.steps):
                raise PlanMoved(f"deployment {id} has steps left ({d.cursor}/{len(d.steps)})")
            end = lifecycle.END_OF[d.plan_kind]
            self._phase(tx, d, end, f"{d.plan_kind} plan done")
            if end is Phase.SUCCEEDED:
                tx.execute("UPDATE services SET previous = CASE WHEN stable IS ? THEN previous "
                           "ELSE stable END, stable = ? WHERE name = ?",
                           (d.to_revision, d.to_revision, d.service))
        return end

    def _at(self, id: int, index: int) -> Deployment:
        d = self.deployment(id)
        if d.cursor != index:
            raise PlanMoved(f"deployment {id} is at step {d.cursor + 1}, not {index + 1}")
        return d

    # --- instances -----------------------------------------------------------------

    def instances(self, service: str, refs: Iterable[InstanceRef] | None = None,
                  live: bool = False) -> dict[InstanceRef, InstanceRow]:
        """Rows by ref: all of the service's (live: not stopped), or just `refs`."""
        sql = "SELECT revision, slot, host, state, address, pid FROM instances WHERE service = ?"
        if refs is None:
            rows = self.db.execute(sql + (" AND state != 'stopped'" if live else ""), (service,))
            return {r.ref: r for r in map(_instance, rows)}
        out: dict[InstanceRef, InstanceRow] = {}
        refs = list(refs)
        for i in range(0, len(refs), 400):  # stays under SQLite's bound-parameter limit
            chunk = refs[i:i + 400]
            pairs = ", ".join("(?, ?)" for _ in chunk)
            params = [v for r in chunk for v in (r.revision, r.slot.index)]
            rows = self.db.execute(f"{sql} AND (revision, slot) IN (VALUES {pairs})",
                                   (service, *params))
            out.update((r.ref, r) for r in map(_instance, rows))
        return out

    def service_state(self, service: str) -> ServiceState:
        """What a planner starts from: routed instances, and live ones outside the table."""
        rows = self.instances(service, live=True).values()
        return ServiceState(service, self.stable(service)[0],
                            tuple(sorted(r.ref for r in rows if r.state == "routed")),
                            tuple(sorted(r.ref for r in rows if r.state != "routed")))

    def set_instances(self, service: str, changes: Sequence[Change],
                      events: Sequence[tuple[str, str]] = ()) -> None:
        """Outside any step (reconcile): instance changes and their (kind, message) events."""
        with self._tx() as tx:
            self._write_instances(tx, service, changes)
            for kind, message in events:
                tx.event(service, kind, message)

    def recover(self, service: str, config: dict, versions: dict[int, str],
                routed: Sequence[Instance], table: RoutingTable, stable: int,
                message: str) -> bool:
        """Rebuild an empty store from what serves (engine/recovery.py), in one
        transaction: the revisions serving, their routed instances, the table in force
        as the last confirmed one, `stable`. False if the service has revisions by now."""
        with self._tx() as tx:
            if self._one("SELECT 1 FROM revisions WHERE service = ?", (service,)):
                return False
            tx.execute("INSERT INTO services (name, config, stable, updated) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET stable = excluded.stable",
                       (service, json.dumps(config), stable, tx.now))
            for number, version in sorted(versions.items()):
                tx.execute("INSERT INTO revisions (service, number, version, config, created) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (service, number, version, json.dumps(config), tx.now))
            self._write_instances(tx, service, [Change(i.ref, "routed", i) for i in routed])
            tx.execute("INSERT INTO routing (service, version, epoch, applied) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (service) DO UPDATE SET version = excluded.version, epoch = "
                       "excluded.epoch, applied = excluded.applied, staged = NULL",
                       (service, table.version, table.epoch, table_json.dumps(table)))
            tx.event(service, "store.recovered", message)
        return True

    def _write_instances(self, tx: _Tx, service: str, changes: Sequence[Change]) -> None:
        # One executemany per step: the writes are O(instances changed), never O(all).
        tx.db.executemany(
            "INSERT INTO instances (service, revision, slot, host, state, address, pid, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (service, revision, slot) DO UPDATE SET "
            "state = excluded.state, host = excluded.host, updated = excluded.updated, "
            "address = CASE WHEN ? THEN excluded.address ELSE address END, "
            "pid = CASE WHEN ? THEN excluded.pid ELSE pid END",
            [(service, c.ref.revision, c.ref.slot.index, c.ref.slot.host, c.state,
              c.instance.address if c.instance else None, c.instance.pid if c.instance else None,
              tx.now, c.set_address or c.instance is not None,
              c.set_address or c.instance is not None) for c in changes])

    # --- routing -------------------------------------------------------------------

    def routing(self, service: str) -> Routing:
        row = self._one("SELECT * FROM routing WHERE service = ?", (service,))
        if row is None:
            return Routing(0, 0, EMPTY_TABLE, None, None)
        staged = table_json.loads(row["staged"]) if row["staged"] else None
        return Routing(row["version"], row["epoch"], table_json.loads(row["applied"]), staged,
                       (row["staged_deployment"], row["staged_step"]) if staged else None)

    def stage_table(self, id: int, index: int, make: Callable[[int], RoutingTable],
                    begin: bool = False) -> RoutingTable:
        """The table step `index` applies: made once with a new version, the same on a re-run.
        `begin`: and the step's start recorded, in the same (synced) transaction."""
        with self._tx() as tx:
            d = self._begin(tx, id, index) if begin else self._at(id, index)
            current = self.routing(d.service)
            if current.staged_by == (id, index):
                return current.staged
            table = dataclasses.replace(make(current.version + 1), epoch=current.epoch)
            tx.execute("INSERT INTO routing (service, version, applied, staged, staged_deployment,"
                       " staged_step) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (service) DO UPDATE SET"
                       " version = excluded.version, staged = excluded.staged, staged_deployment ="
                       " excluded.staged_deployment, staged_step = excluded.staged_step",
                       (d.service, table.version, table_json.dumps(current.table),
                        table_json.dumps(table), id, index))
            return table

    def stage_restore(self, service: str) -> RoutingTable | None:
        """If a staged table may or may not have reached the router: the last confirmed one
        again, with a newer version (None when there is no doubt). Confirm with confirm_table."""
        if self.routing(service).staged is None:
            return None  # (read first: no write lock taken for nothing, the usual case)
        with self._tx() as tx:
            current = self.routing(service)
            if current.staged is None:
                return None
            table = dataclasses.replace(current.table, version=current.version + 1,
                                        epoch=current.epoch)
            tx.execute("UPDATE routing SET version = ?, staged = ?, staged_deployment = NULL, "
                       "staged_step = NULL WHERE service = ?",
                       (table.version, table_json.dumps(table), service))
            tx.event(service, "routing.restore", f"table v{current.staged.version} was never "
                     f"confirmed: applying the last confirmed table again, as v{table.version}")
            return table

    def take_authority(self, service: str, table: RoutingTable,
                       in_force: tuple[int, int]) -> RoutingTable:
        """`table` (the staged one) again in a new epoch above `in_force` (the (epoch,
        version) the router holds, which this store did not write), as version 1 of it.
        Durable, with its event, before the router is told."""
        with self._tx() as tx:
            current = self.routing(service)
            epoch = max(current.epoch, in_force[0]) + 1
            if epoch > table_version.MAX:
                raise StoreError(f"the load balancer holds a table of epoch {in_force[0]}: no "
                                 f"epoch above it is left; reset its table by hand")
            new = dataclasses.replace(table, epoch=epoch, version=1)
            tx.execute("INSERT INTO routing (service, version, epoch, applied, staged) VALUES "
                       "(?, 1, ?, ?, ?) ON CONFLICT (service) DO UPDATE SET version = 1, "
                       "epoch = excluded.epoch, staged = excluded.staged",
                       (service, epoch, table_json.dumps(current.table), table_json.dumps(new)))
            tx.event(service, "routing.authority",
                     f"the load balancer holds table {table_version.named(*in_force)}, which "
                     f"this store did not write (a lost store, or a table set by hand): taking "
                     f"it back as epoch {epoch}; table v{table.version} goes out as "
                     f"{table_version.named(epoch, 1)}")
            return new

    def confirm_table(self, service: str) -> None:
        """The router applied the staged table, and instance states already match it."""
        with self._tx() as tx:
            tx.execute("UPDATE routing SET applied = staged, staged = NULL, staged_deployment = "
                       "NULL, staged_step = NULL WHERE service = ? AND staged IS NOT NULL",
                       (service,))

    def _applied(self, tx: _Tx, service: str, routed: frozenset[InstanceRef]) -> None:
        tx.execute("UPDATE routing SET applied = staged, staged = NULL, staged_deployment = NULL,"
                   " staged_step = NULL WHERE service = ? AND staged IS NOT NULL", (service,))
        before = {InstanceRef(r[0], Slot(r[1], r[2])) for r in tx.execute(
            "SELECT revision, slot, host FROM instances WHERE service = ? AND state = 'routed'",
            (service,))}
        tx.db.executemany("UPDATE instances SET state = ?, updated = ? WHERE service = ? AND "
                          "revision = ? AND slot = ?",
                          [(state, tx.now, service, r.revision, r.slot.index)
                           for state, refs in (("routed", routed - before),
                                               ("draining", before - routed)) for r in refs])

    # --- the zero-downtime proof (zerodown/proof.py, engine/proof_recorder.py) ----------

    def begin_proof(self, id: int, router: str, started: float, baseline: dict) -> dict:
        """The proof's first reading, kept if one was written before (a resumed deployment
        goes on from its first baseline): {"router", "started", "baseline", "progress"}.
        Not synced by itself: a reading, made durable by the deployment's next act."""
        with self._tx(durable=False) as tx:
            tx.execute("INSERT OR IGNORE INTO proofs (deployment, router, started, baseline,"
                       " progress) VALUES (?, ?, ?, ?, '{}')",
                       (id, router, started, json.dumps(baseline)))
        return self.proof_state(id)  # type: ignore[return-value]

    def proof_state(self, id: int) -> dict | None:
        row = self._one("SELECT * FROM proofs WHERE deployment = ?", (id,))
        if row is None:
            return None
        return {"router": row["router"], "started": row["started"],
                "baseline": json.loads(row["baseline"]), "progress": json.loads(row["progress"]),
                "proof": json.loads(row["proof"]) if row["proof"] else None}

    def proof_progress(self, id: int, progress: dict) -> None:
        with self._tx(durable=False) as tx:  # readings: synced with the next act's commit
            tx.execute("UPDATE proofs SET progress = ? WHERE deployment = ?",
                       (json.dumps(progress), id))

    def end_proof(self, id: int, proof: dict, message: str) -> None:
        """The proof, written with its event (deployment's service) in one transaction."""
        with self._tx() as tx:
            tx.execute("UPDATE proofs SET proof = ? WHERE deployment = ?", (json.dumps(proof), id))
            service = tx.execute("SELECT service FROM deployments WHERE id = ?",
                                 (id,)).fetchone()["service"]
            tx.event(service, "proof", message, id, proof=proof)

    def proofs(self, ids: Iterable[int]) -> dict[int, dict]:
        """The finished proofs of these deployments, by id (a deployment without one is absent)."""
        ids = list(ids)
        if not ids:
            return {}
        rows = self.db.execute(f"SELECT deployment, proof FROM proofs WHERE proof IS NOT NULL AND"
                               f" deployment IN ({','.join('?' * len(ids))})", ids)
        return {r["deployment"]: json.loads(r["proof"]) for r in rows}

    # --- events ----------------------------------------------------------------------

    def event(self, service: str, kind: str, message: str, deployment: int | None = None, /,
              **data: Any) -> None:
        with self._tx() as tx:
            tx.event(service, kind, message, deployment, **data)

    def events(self, service: str | None = None, deployment: int | None = None,
               after: int = 0, limit: int = 1000, kind: str | None = None) -> list[Event]:
        """Oldest first, with id > `after`: poll with the last id seen to follow the log."""
        where, params = ["id > ?"], [after]
        for column, value in (("service", service), ("deployment", deployment), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = self.db.execute(f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id "
                               "LIMIT ?", (*params, limit))
        return [Event(r["id"], r["time"], r["service"], r["deployment"], r["kind"], r["message"],
                      json.loads(r["data"])) for r in rows]


def _instance(row: sqlite3.Row) -> InstanceRow:
    return InstanceRow(InstanceRef(row["revision"], Slot(row["slot"], row["host"])),
                       row["state"], row["address"], row["pid"])


def _step(row: sqlite3.Row) -> StepRecord:
    return StepRecord(row["idx"], row["step"], row["started_at"], row["finished_at"],
                      row["outcome"], row["attempts"])


def _short(text: str, limit: int = 300) -> str:
    """A step of 10,000 instances is described in full by `zerodown plan`, not in every event."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _conflict(active: Deployment) -> str:
    route = (f"r{active.from_revision} → r{active.to_revision}" if active.from_revision
             else f"r{active.to_revision}")
    return (f"service {active.service} already has deployment {active.id} ({active.phase}, "
            f"{route}, step {min(active.cursor + 1, len(active.steps))}/{len(active.steps)}); "
            f"one deployment per service at a time: wait for it with `zerodown deploy --wait`, "
            f"or stop it with `zerodown abort {active.id}`")


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


# Every public method, reads included: a damaged file must give the message above on
# `zerodown status` too, never a traceback from deep in a query.
for _name, _method in list(vars(Store).items()):
    if not _name.startswith("_") and inspect.isfunction(_method):
        setattr(Store, _name, _translating(_method))
