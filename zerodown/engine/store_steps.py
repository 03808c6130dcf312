"""The steps of a deployment in the state store: a step's start (with the intents it acts
on), its finish (what it did, the cursor moved past it), a failure, a new plan from the
cursor on, and the plan's end. A part of engine/store.Store (see its docstring)."""

from __future__ import annotations

import json
import sqlite3
from typing import Sequence

from zerodown.engine import lifecycle
from zerodown.engine.lifecycle import Phase
from zerodown.engine.records import Change, Deployment, PlanMoved, StepRecord
from zerodown.engine.store_instances import recorded_hosts
from zerodown.engine.store_parts import StoreParts
from zerodown.engine.transaction import Tx
from zerodown.model import InstanceRef
from zerodown.plan import Drain, Start, Step, Stop, WaitHealthy, instance_hosts, on_text
from zerodown.plan_data import steps_to_data

# Steps whose start is only their record (no intent, no act follows it before the next
# synced commit): written with the finish of the step before them (finish_step).
WAITS_ONLY = (WaitHealthy, Drain)
HOSTED = (Start, WaitHealthy, Drain, Stop)  # the steps that act on instances, on their hosts


class StepQueries(StoreParts):
    """Store's step queries (Store inherits them; they use its _tx and db)."""

    _begun_with: tuple[int, int] | None  # (Store.__init__)
    # runtime.hosts of the engine writing the steps (runtime ssh; () else), which places a
    # new instance on them as model.host_for says: the Engine sets it, as it sets `now`. A
    # step's start records the hosts it acts on (StepRecord.placed), so a log, `status` and
    # the dashboard name where it acted after the list changed, not where it would act today.
    fleet: tuple[str, ...] = ()

    def step_record(self, id: int, index: int) -> StepRecord | None:
        row = self._one("SELECT * FROM steps WHERE deployment = ? AND idx = ?", (id, index))
        return _step(row) if row else None

    def steps(self, id: int) -> list[StepRecord]:
        rows = self.db.execute("SELECT * FROM steps WHERE deployment = ? ORDER BY idx", (id,))
        return [_step(r) for r in rows]

    def asked(self, id: int, after: int) -> list[str]:
        """The signals asked of deployment `id` (Store.signal's verbs) after event `after`,
        oldest first: the durable, ordered record engine/asked.py consumes."""
        rows = self.db.execute("SELECT data FROM events WHERE deployment = ? AND id > ? AND "
                               "kind IN ('phase', 'request') ORDER BY id", (id, after))
        return [v for v in (json.loads(r[0]).get("asked") for r in rows) if v]

    def pause_ended_by(self, id: int, index: int, timed: bool) -> str | None:
        """The first signal since Pause step `index`'s last start that ends it (a resume or
        promote; a promote only, for a `timed` one), asked even if a later one undid the
        phase it set before the engine looked (engine/asked.py); None if none was."""
        ends = ("promote",) if timed else ("resume", "promote")
        return next((v for v in self.asked(id, self.began(id, index)) if v in ends), None)

    def began(self, id: int, index: int | None = None) -> int:
        """The id of the event of step `index`'s last start (None: of the plan's last
        replacement); 0 if there is none."""
        kind = "plan.replaced" if index is None else "step.started"
        rows = self.db.execute("SELECT id, data FROM events WHERE deployment = ? AND kind = ? "
                               "ORDER BY id DESC", (id, kind))
        return next((r[0] for r in rows if index is None or json.loads(r[1])["index"] == index),
                    0)

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
        rec = self.step_record(id, index)
        assert rec is not None  # written just above
        return rec

    def _begin(self, tx: Tx, id: int, index: int, changes: Sequence[Change] = ()) -> Deployment:
        d = self._at(id, index)
        step = d.steps[index]
        text = _short(step.describe(d.service))
        self._write_instances(tx, d.service, changes)  # (first: where they run is read next)
        placed = self._placed(d.service, step)
        tx.execute("INSERT INTO steps (deployment, idx, step, started_at, attempts, hosts) VALUES "
                   "(?, ?, ?, ?, 1, ?) ON CONFLICT (deployment, idx) DO UPDATE SET attempts = "
                   "attempts + 1, finished_at = NULL, outcome = NULL, hosts = excluded.hosts",
                   (id, index, text, tx.now, json.dumps(dict(placed)) if placed else None))
        again = self.db.execute("SELECT attempts FROM steps WHERE deployment = ? AND idx = ?",
                                (id, index)).fetchone()[0]
        on = list(dict.fromkeys(h for _, h in placed))
        tx.event(d.service, "step.started", f"step {index + 1}/{len(d.steps)}: {text}"
                 + on_text(on, self.fleet) + (f" (attempt {again})" if again > 1 else ""), id,
                 index=index, **({"hosts": on} if on else {}))
        return d

    def _placed(self, service: str, step: Step) -> list[tuple[str, str]]:
        """(instance, host) for each instance `step` acts on (plan.instance_hosts): read
        from the rows as this transaction left them; [] without a fleet."""
        if not self.fleet or not isinstance(step, HOSTED):
            return []
        recorded = {} if isinstance(step, Start) else \
            recorded_hosts(self.instances(service, step.instances).values())
        return [(f"r{r.revision}-s{r.slot.index}", h)
                for r, h in instance_hosts(step, self.fleet, recorded)]

    def finish_step(self, id: int, index: int, outcome: str, changes: Sequence[Change] = (),
                    routed: frozenset[InstanceRef] | None = None,
                    durable: bool = True) -> None:
        """Record the step's outcome and move the cursor past it, in one transaction.

        `routed`: the step applied the staged routing table, which routes exactly
        these instances; others that were routed are now draining. `durable=False`: a
        record of what was done, synced with the next act's commit (module docstring).
        The next step's start goes in the same transaction when that step only waits
        (WAITS_ONLY: its start writes nothing else, and it acts on nothing): one commit
        where there were two; its executor's begin_waiting finds it begun.
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
            ahead = index + 1 < len(d.steps) and isinstance(d.steps[index + 1], WAITS_ONLY)
            if ahead:
                self._begin(tx, id, index + 1)
        self._begun_with = (id, index + 1) if ahead else None

    def begin_waiting(self, id: int, index: int) -> StepRecord:
        """The start of a step that only waits (WAITS_ONLY), committed without a sync: the
        one finish_step wrote with the step before it, else one written now. A step begun
        by another process, or by this one before a pause, starts again (attempts + 1)."""
        if self._begun_with == (id, index):
            self._begun_with = None
            record = self.step_record(id, index)
            if record is not None and record.in_progress:
                return record
        return self.begin_step(id, index, durable=False)

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
            if started and rec is not None:
                tx.execute("UPDATE steps SET finished_at = ?, outcome = ? WHERE deployment = ? "
                           "AND idx = ?", (tx.now, why, id, rec.index))
            self._write_instances(tx, d.service, changes)
            tx.execute("UPDATE deployments SET plan_length = ?, plan_kind = ?, plan_version = "
                       "plan_version + 1, cursor = ? WHERE id = ?",
                       (len(plan), plan_kind, cursor, id))
            tx.execute("UPDATE plans SET version = version + 1, steps = ? WHERE deployment = ?",
                       (json.dumps(steps_to_data(plan)), id))
            # a phase change says `why` in its own event, next: said here too, a failure's
            # log lines came twice, and this plan's words after their last line, as if the
            # app had logged them
            said_next = to is not None and to is not d.phase
            tx.event(d.service, "plan.replaced", f"deployment {id}: "
                     f"{'' if said_next else f'{why}; '}{plan_kind} plan of {len(steps)} steps "
                     f"from step {cursor + 1}", id, kind=plan_kind,
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


def _step(row: sqlite3.Row) -> StepRecord:
    placed = json.loads(row["hosts"]) if row["hosts"] else None
    return StepRecord(row["idx"], row["step"], row["started_at"], row["finished_at"],
                      row["outcome"], row["attempts"],
                      None if placed is None else tuple(placed.items()))



def _short(text: str, limit: int = 300) -> str:
    """A step of 10,000 instances is described in full by `zerodown plan`, not in every event."""
    return text if len(text) <= limit else text[:limit - 1] + "…"
