"""Instances in the state store: rows by ref, the planner's view of what runs, changes
outside any step (reconcile), and an empty store rebuilt from what serves (recovery).
A part of engine/store.Store (see its docstring)."""

from __future__ import annotations

import json
import sqlite3
from typing import Iterable, Mapping, Sequence

from zerodown.engine.records import Change, DeploymentConflict, InstanceRow
from zerodown.engine.store_parts import StoreParts
from zerodown.engine.store_routing import put_applied
from zerodown.engine.transaction import Tx
from zerodown.model import Instance, InstanceRef, RoutingTable, Slot

# A live row: any state but "stopped" (schema.py's CHECK lists them all), as equalities,
# so the (service, state) index reads the live rows alone: `state != 'stopped'` read
# every row of the service, and the stopped ones grow with every deployment.
LIVE = "state IN ('starting', 'healthy', 'routed', 'draining', 'stopping', 'failed')"
from zerodown.plan import ServiceState


class InstanceQueries(StoreParts):
    """Store's instance queries (Store inherits them; they use its _tx and db)."""

    def instances(self, service: str, refs: Iterable[InstanceRef] | None = None,
                  live: bool = False) -> dict[InstanceRef, InstanceRow]:
        """Rows by ref: all of the service's (live: not stopped), or just `refs`."""
        sql = ("SELECT revision, slot, host, state, address, pid, runs_on FROM instances "
               "WHERE service = ?")
        if refs is None:
            rows = self.db.execute(sql + (f" AND {LIVE}" if live else ""), (service,))
            return {r.ref: r for r in map(_instance, rows)}
        out: dict[InstanceRef, InstanceRow] = {}
        slots: dict[int, list[int]] = {}
        for ref in refs:
            slots.setdefault(ref.revision, []).append(ref.slot.index)
        # a revision's slots by the primary key (service, revision, slot): a pair list
        # `(revision, slot) IN (VALUES ...)` read every row of the service instead
        for revision, wanted in slots.items():
            for i in range(0, len(wanted), 400):  # under SQLite's bound-parameter limit
                chunk = wanted[i:i + 400]
                rows = self.db.execute(f"{sql} AND revision = ? AND slot IN "
                                       f"({', '.join('?' * len(chunk))})",
                                       (service, revision, *chunk))
                out.update((r.ref, r) for r in map(_instance, rows))
        return out

    def recorded_hosts(self, service: str, live: bool = False,
                       refs: Iterable[InstanceRef] | None = None) -> dict[InstanceRef, str]:
        """The host recorded for each instance (InstanceRow.runs_on), of every row, only
        the live ones or only `refs`'; rows with none recorded (an older store) are left out."""
        return recorded_hosts(self.instances(service, refs, live=live).values())

    def live_hosts(self, service: str) -> set[str]:
        """The hosts recorded with the service's live rows: one query, no row read into
        Python (a deployment asks before its pre-flight and its adopt: engine/unlisted.py)."""
        return {r[0] for r in self.db.execute(
            f"SELECT DISTINCT runs_on FROM instances WHERE service = ? AND {LIVE} "
            "AND runs_on IS NOT NULL", (service,))}

    def service_state(self, service: str) -> ServiceState:
        """What a planner starts from: routed instances, live ones outside the table, and
        the host each was recorded on (a plan names it)."""
        # stopping: a stop decided and sent, not yet confirmed (engine/stopping.py): no
        # plan counts on it, nor stops it again (the next reconcile does, if it still runs)
        rows = [r for r in self.instances(service, live=True).values() if r.state != "stopping"]
        return ServiceState(service, self.stable(service)[0],
                            tuple(sorted(r.ref for r in rows if r.state == "routed")),
                            tuple(sorted(r.ref for r in rows if r.state != "routed")),
                            recorded_hosts(rows))

    def set_instances(self, service: str, changes: Sequence[Change],
                      events: Sequence[tuple[str, str]] = (), durable: bool = True) -> None:
        """Outside any step (reconcile): instance changes and their (kind, message) events.
        `durable=False`: a record no act relies on (a stop's confirmation: engine/stopping.py)."""
        with self._tx(durable) as tx:
            self._write_instances(tx, service, changes)
            for kind, message in events:
                tx.event(service, kind, message)

    def forget_host(self, service: str, host: str) -> list[InstanceRef]:
        """`zerodown hosts --forget`: every live row recorded on `host` (gone for good, off
        runtime.hosts) marked stopped, with a host.forgotten event, in one durable
        transaction; its refs. Refused (DeploymentConflict) while a deployment is active:
        its plan was made with those rows. Nothing is asked of the host."""
        with self._tx() as tx:
            refuse_while_active(self, service, host)
            refs = sorted(r.ref for r in self.instances(service, live=True).values()
                          if r.runs_on == host)
            self._write_instances(tx, service, [Change(ref, "stopped") for ref in refs])
            names = [ref.name(service) for ref in refs]
            if refs:
                tx.event(service, "host.forgotten",
                         f"host {host} forgotten (gone for good): {', '.join(names)} marked "
                         "stopped without being asked; they may still run there if it comes "
                         "back", host=host, instances=names)
        return refs

    def rename_hosts(self, service: str, names: Mapping[str, str]) -> None:
        """Live rows recorded on a host under another name than runtime.hosts gives it now
        ({recorded: listed}, engine/unlisted.renamed) recorded under the listed one, each
        host a host.renamed event, in one transaction."""
        with self._tx() as tx:
            for old, new in sorted(names.items()):
                if tx.execute("UPDATE instances SET runs_on = ? WHERE service = ? AND "
                              f"runs_on = ? AND {LIVE}", (new, service, old)).rowcount:
                    tx.event(service, "host.renamed",
                             f"the instances recorded on {old} are recorded on {new}: "
                             f"runtime.hosts names that host so (the same user, address "
                             f"and port)", host=old, listed=new)

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
            put_applied(tx, service, table)
            tx.event(service, "store.recovered", message)
        return True

    def _write_instances(self, tx: Tx, service: str, changes: Sequence[Change]) -> None:
        # One executemany per step: the writes are O(instances changed), never O(all).
        # runs_on: the host an instance reported is kept until a new life (set_address
        # without an instance) forgets it; an Instance that does not name one (built from
        # a row of an older store) leaves the row's as it is.
        tx.db.executemany(
            "INSERT INTO instances (service, revision, slot, host, state, address, pid, runs_on,"
            " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (service, revision, slot)"
            " DO UPDATE SET state = excluded.state, host = excluded.host, "
            "updated = excluded.updated, "
            "address = CASE WHEN ? THEN excluded.address ELSE address END, "
            "pid = CASE WHEN ? THEN excluded.pid ELSE pid END, "
            "runs_on = CASE WHEN ? THEN COALESCE(excluded.runs_on, runs_on) "
            "WHEN ? THEN NULL ELSE runs_on END",
            [(service, c.ref.revision, c.ref.slot.index, c.ref.slot.host, c.state,
              c.instance.address if c.instance else None, c.instance.pid if c.instance else None,
              c.instance.runs_on if c.instance else None, tx.now,
              c.set_address or c.instance is not None, c.set_address or c.instance is not None,
              c.instance is not None, c.set_address) for c in changes])


def refuse_while_active(store, service: str, host: str) -> None:
    """DeploymentConflict naming the service's active deployment, if it has one: its plan
    was made with the rows recorded on `host` (forget_host)."""
    active = store.active_deployment(service)
    if active is not None:
        raise DeploymentConflict(
            f"deployment {active.id} is {active.phase}; its plan was made with the instances "
            f"recorded on {host}: abort it first (`zerodown abort`), or wait for it to end")


def recorded_hosts(rows: Iterable[InstanceRow]) -> dict[InstanceRef, str]:
    """{ref: runs_on} of the rows that have a host recorded."""
    return {r.ref: r.runs_on for r in rows if r.runs_on}


def _instance(row: sqlite3.Row) -> InstanceRow:
    return InstanceRow(InstanceRef(row["revision"], Slot(row["slot"], row["host"])),
                       row["state"], row["address"], row["pid"], row["runs_on"])
