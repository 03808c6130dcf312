"""The routing table in the state store: the one last confirmed applied, the one staged
before a route step applies it (restored after a crash in between), and authority taken
back over a table the store never wrote (zerodown/table_version.py). Each table is a
head and a row a backend, written as a diff (engine/routing_rows.py). A part of
engine/store.Store (see its docstring)."""

from __future__ import annotations

import dataclasses
from typing import Callable

from zerodown import table_version
from zerodown.engine import routing_rows
from zerodown.engine.records import Routing, StoreError
from zerodown.engine.store_parts import StoreParts
from zerodown.engine.transaction import Tx
from zerodown.model import EMPTY_TABLE, InstanceRef, RoutingTable, Slot


class RoutingQueries(StoreParts):
    """Store's routing queries (Store inherits them; they use its _tx and db)."""

    def routing(self, service: str) -> Routing:
        """The routing row and its tables' backends, read in one snapshot: read each in its
        own, a write another connection committed between them (a route step, while a
        status look reads) paired one table's head with another's rows (TableError)."""
        with self._mutex:  # this connection's other threads: their transaction, or none
            if self.db.in_transaction:  # a write transaction of ours: its view already
                return self._routing(service)
            self.db.execute("BEGIN")
            try:
                return self._routing(service)
            finally:
                self.db.execute("COMMIT")

    def _routing(self, service: str) -> Routing:
        row = self._one("SELECT * FROM routing WHERE service = ?", (service,))
        if row is None:
            return Routing(0, 0, EMPTY_TABLE, None, None)
        staged = routing_rows.read(self.db, service, "staged", row["staged"]) \
            if row["staged"] else None
        return Routing(row["version"], row["epoch"],
                       routing_rows.read(self.db, service, "applied", row["applied"]), staged,
                       (row["staged_deployment"], row["staged_step"]) if staged else None)

    def stage_table(self, id: int, index: int, make: Callable[[int], RoutingTable],
                    begin: bool = False) -> RoutingTable:
        """The table step `index` applies: made once with a new version, the same on a re-run.
        `begin`: and the step's start recorded, in the same (synced) transaction."""
        with self._tx() as tx:
            d = self._begin(tx, id, index) if begin else self._at(id, index)
            current = self.routing(d.service)
            if current.staged_by == (id, index) and current.staged is not None:
                return current.staged
            table = dataclasses.replace(make(current.version + 1), epoch=current.epoch)
            tx.execute("INSERT INTO routing (service, version, applied, staged, staged_deployment,"
                       " staged_step) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (service) DO UPDATE SET"
                       " version = excluded.version, staged = excluded.staged, staged_deployment ="
                       " excluded.staged_deployment, staged_step = excluded.staged_step",
                       (d.service, table.version, routing_rows.head(current.table),
                        routing_rows.head(table), id, index))
            routing_rows.write(tx, d.service, "staged", table)
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
                       (table.version, routing_rows.head(table), service))
            routing_rows.copy(tx, service, "applied", "staged")
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
                       (service, epoch, routing_rows.head(current.table), routing_rows.head(new)))
            routing_rows.write(tx, service, "staged", new)
            tx.event(service, "routing.authority",
                     f"the load balancer holds table {table_version.named(*in_force)}, which "
                     f"this store did not write (a lost store, or a table set by hand): taking "
                     f"it back as epoch {epoch}; table v{table.version} goes out as "
                     f"{table_version.named(epoch, 1)}")
            return new

    def confirm_table(self, service: str) -> None:
        """The router applied the staged table, and instance states already match it."""
        with self._tx() as tx:
            _confirm(tx, service)

    def _applied(self, tx: Tx, service: str, routed: frozenset[InstanceRef]) -> None:
        _confirm(tx, service)
        before = {InstanceRef(r[0], Slot(r[1], r[2])) for r in tx.execute(
            "SELECT revision, slot, host FROM instances WHERE service = ? AND state = 'routed'",
            (service,))}
        tx.db.executemany("UPDATE instances SET state = ?, updated = ? WHERE service = ? AND "
                          "revision = ? AND slot = ?",
                          [(state, tx.now, service, r.revision, r.slot.index)
                           for state, refs in (("routed", routed - before),
                                               ("draining", before - routed)) for r in refs])


def _confirm(tx: Tx, service: str) -> None:
    """The staged table, if any, as the applied one: the backends' rows that differ copied."""
    if tx.execute("UPDATE routing SET applied = staged, staged = NULL, staged_deployment = NULL,"
                  " staged_step = NULL WHERE service = ? AND staged IS NOT NULL",
                  (service,)).rowcount:
        routing_rows.copy(tx, service, "staged", "applied")


def put_applied(tx: Tx, service: str, table: RoutingTable) -> None:
    """`table` as the last confirmed one, nothing staged (Store.recover)."""
    tx.execute("INSERT INTO routing (service, version, epoch, applied) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (service) DO UPDATE SET version = excluded.version, epoch = "
               "excluded.epoch, applied = excluded.applied, staged = NULL",
               (service, table.version, table.epoch, routing_rows.head(table)))
    routing_rows.write(tx, service, "applied", table)
