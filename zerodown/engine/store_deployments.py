"""The deployments in the state store: one's creation (the check that none other is
active, its revision and plan in one transaction), reads of them (each plan parsed once per
version), and the signals and phase changes other processes and the engine write. A part of
engine/store.Store (see its docstring)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable, Iterable

from zerodown.engine import doorbell, lifecycle
from zerodown.engine.lifecycle import Phase
from zerodown.engine.records import Deployment, DeploymentConflict, Listed, NotFound
from zerodown.engine.store_parts import StoreParts
from zerodown.engine.transaction import Tx
from zerodown.plan import Pause, Plan, ServiceState
from zerodown.plan_data import is_change, step_from_data, steps_from_data, steps_to_data
from zerodown.redeploy import restart_note

# The active deployment, found by the partial index one_active_deployment (schema.py): its
# WHERE, word for word, is what lets SQLite use it; a `phase IN (...)` list read every
# deployment of the service, newest first, when none was active (each new deployment asks).
ACTIVE_SQL = "phase NOT IN ('succeeded', 'failed', 'rolled_back', 'aborted')"
PLANS_KEPT = 64  # parsed plans a connection keeps: more than `history` lists by default
_DEPLOYMENT = ("id, service, kind, from_revision, to_revision, strategy, plan_kind, plan_version,"
               " cursor, phase, on_failure, request, error, created, updated")


class DeploymentQueries(StoreParts):
    """Store's deployment queries (Store inherits them; they use its _tx and db)."""

    _plans: dict[int, tuple[int, tuple]]  # id -> (plan_version, steps) (Store.__init__)

    def create_deployment(self, service: str, config: dict,
                          strategy: dict | Callable[[ServiceState, int], dict], on_failure: str,
                          planner: Callable[[ServiceState, int], Plan], *,
                          version: str | None = None, revision: int | None = None,
                          kind: str = "deploy") -> Deployment:
        """A pending deployment to a new revision (`version`) or an existing one (`revision`).

        The check that no other deployment is active, the new revision, and the
        plan (made by `planner` from the state read in this transaction) are
        one transaction, so two `zerodown deploy` cannot both pass the check.
        `strategy` (the section recorded) may be made from that state too, when
        it depends on it as the plan does (a rollback that falls back to rolling).
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
                revision = self.db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM revisions "
                                           "WHERE service = ?", (service,)).fetchone()[0]
                tx.execute("INSERT INTO revisions (service, number, version, config, created) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (service, revision, version, json.dumps(config), tx.now))
            else:
                self.revision(service, revision)  # raises NotFound
            state = self.service_state(service)
            plan = planner(state, revision)
            if callable(strategy):
                strategy = strategy(state, revision)
            cur = tx.execute(
                "INSERT INTO deployments (service, kind, from_revision, to_revision, strategy, plan,"
                " plan_length, plan_kind, phase, on_failure, created, updated) VALUES (?, ?, ?, ?, "
                "?, '', ?, 'deploy', 'pending', ?, ?, ?)",
                (service, kind, state.stable, revision, json.dumps(strategy), len(plan.steps),
                 on_failure, tx.now, tx.now))
            tx.execute("INSERT INTO plans (deployment, version, steps) VALUES (?, 1, ?)",
                       (cur.lastrowid, json.dumps(steps_to_data(plan.steps))))
            tx.event(service, "deployment.created", f"deployment {cur.lastrowid}: "
                     + plan.describe().splitlines()[0], cur.lastrowid, kind=kind,
                     revision=revision, version=version, steps=len(plan.steps))
            # before any step: in this tx
            if kind == "deploy" and version is not None and state.stable is not None:
                serving = self.revision(service, state.stable)
                note = restart_note(state, serving.version, serving.config, revision, version,
                                    config)
                if note:
                    tx.event(service, "deployment.restart", note, cur.lastrowid,
                             serving=state.stable, revision=revision)
            assert cur.lastrowid is not None  # an INSERT's (typeshed allows None)
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
            text = self._one("SELECT steps FROM plans WHERE deployment = ? AND version = ?",
                             (row["id"], row["plan_version"]))
            if text is None:  # replaced between the two reads
                return self.deployment(row["id"])
            cached = row["plan_version"], steps_from_data(json.loads(text[0]))
            self._plans.pop(row["id"], None)
            self._plans[row["id"]] = cached
            # the last parsed kept: a daemon's connection lives for months and each listing
            # of past deployments parses theirs; one evicted is parsed again when next read
            while len(self._plans) > PLANS_KEPT:
                del self._plans[next(iter(self._plans))]
        else:  # read again: the last to go (a running deployment's is read every step)
            self._plans.pop(row["id"], None)
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

    def listed(self, service: str, limit: int = 50) -> list[Listed]:
        """Newest first, as a list shows them: each plan's length from its row, and only the
        step at the cursor read from the plan (by SQLite, none once a plan ran to its end;
        the whole plan when that step is a Route stored as a change).
        Parsing each listed plan cost the API's list of 1000 0.3-1 s (PLANS_KEPT: the
        plans parsed last are kept, and a list of 1000 goes past them every time)."""
        rows = self.db.execute(
            "SELECT id, service, kind, from_revision, to_revision, strategy, plan_kind, cursor, "
            "phase, error, created, updated, plan_length, CASE WHEN cursor < plan_length THEN "
            "(SELECT json_extract(steps, '$[' || d.cursor || ']') FROM plans WHERE deployment = "
            "d.id) END FROM deployments d WHERE service = ? ORDER BY id DESC LIMIT ?",
            (service, limit))
        return [self._listed(r) for r in rows.fetchall()]

    def _listed(self, r: sqlite3.Row) -> Listed:
        step = json.loads(r[13]) if r[13] else None
        if step is not None and is_change(step):
            # a Route kept as its change from the one before (plan_data.py): the whole plan
            # read, with the row it belongs to (one moved on meanwhile is listed as it is now)
            d = self.deployment(r[0])
            return Listed(d.id, d.service, d.kind, d.from_revision, d.to_revision, d.strategy,
                          d.plan_kind, d.cursor, d.phase, d.error, d.created, d.updated,
                          d.length, d.step)
        return Listed(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], Phase(r[8]),
                      r[9], r[10], r[11], r[12], None if step is None else step_from_data(step))

    def active_deployment(self, service: str) -> Deployment | None:
        return self._active(service)

    def _active(self, service: str) -> Deployment | None:
        row = self._one(f"SELECT {_DEPLOYMENT} FROM deployments WHERE service = ? AND "
                        f"{ACTIVE_SQL}", (service,))
        return self._deployment(row) if row else None

    def signal(self, id: int, verb: str, why: str | None = None) -> Deployment:
        """pause | resume | promote | promote-full | abort, from any process; `why` (an
        abort by a background analysis, say) becomes the deployment's error."""
        with self._tx() as tx:
            d = self.deployment(id)
            at_pause = isinstance(d.step, Pause) and d.step.duration is not None
            to, request = lifecycle.signal(id, verb, d.phase, at_pause, self.holds_for(d))
            self._phase(tx, d, to, why or f"{verb} asked", asked=verb, request=request,
                        error=None if verb.startswith(("resume", "promote")) else why or d.error)
            # as the signal left it: read after the ring, an engine woken by it may have
            # moved on already (a promote answered "paused": the next pause, reached)
            signalled = self.deployment(id)
        doorbell.ring(self.path)  # recorded: an engine of this process waiting on it wakes now
        return signalled

    def holds_for(self, d: Deployment) -> str | None:
        """The decision `d` waits for at its A/B test's hold, once reached (lifecycle.held_for);
        None elsewhere: paused by a person before the hold, a resume goes on to it."""
        if d.phase is not Phase.PAUSED or not isinstance(d.step, Pause):
            return None  # (no step record read)
        record = self.step_record(d.id, d.cursor)
        return lifecycle.holds_for(d.phase, d.step, str(d.strategy.get("kind")), d.plan_kind,
                                   record is not None and record.in_progress,
                                   d.from_revision, d.to_revision)

    def set_phase(self, id: int, to: Phase, why: str, durable: bool = True) -> None:
        with self._tx(durable) as tx:
            self._phase(tx, self.deployment(id), to, why)

    def _phase(self, tx: Tx, d: Deployment, to: Phase, why: str, asked: str | None = None,
               **columns: Any) -> None:
        """Set the phase (checked against the transition table) and log it, in `tx`;
        `asked`: the signal that sets it, named in its event (engine/asked.py reads them)."""
        verb = {"asked": asked} if asked else {}
        if to is not d.phase:
            lifecycle.transition(d.id, d.phase, to)
            tx.event(d.service, "phase", f"deployment {d.id} {to}: {why}", d.id,
                     **{"from": d.phase.value, "to": to.value}, **verb)
        elif columns.get("request"):
            tx.event(d.service, "request", f"deployment {d.id}: {why}", d.id,
                     request=columns["request"], **verb)
        sets = ", ".join(f"{k} = ?" for k in columns)
        tx.execute(f"UPDATE deployments SET phase = ?, updated = ?{', ' if sets else ''}{sets} "
                   "WHERE id = ?", (to.value, tx.now, *columns.values(), d.id))


def _conflict(active: Deployment) -> str:
    route = (f"r{active.from_revision} → r{active.to_revision}" if active.from_revision
             else f"r{active.to_revision}")
    return (f"service {active.service} already has deployment {active.id} ({active.phase}, "
            f"{route}, step {min(active.cursor + 1, len(active.steps))}/{len(active.steps)}); "
            f"one deployment per service at a time: wait for it with `zerodown deploy --wait`, "
            f"or stop it with `zerodown abort {active.id}`")
