"""The table in force: the router made to serve the table the store staged, and the last
confirmed one served again before a plan is made from the store's view of it
(replanning.py plans from it). `engine` is the runner.Engine.

    applying.settle(engine)                         # before planning from the store's table
    table, changed = applying.apply(engine, table)  # a Route step's table (steps.route)
"""

from __future__ import annotations

from typing import Protocol

from zerodown.engine.draining import Looked
from zerodown.engine.store import Store
from zerodown.errors import StaleTableError
from zerodown.model import RoutingTable
from zerodown.protocols import Router


class Engine(Protocol):
    store: Store
    router: Router
    service: str
    looked: Looked | None  # the table in force a drain's last look read (draining.Looked)


def settle(engine: Engine) -> None:
    """Make the router serve the last confirmed table before planning from it.

    After a crash between a router's apply and the store's confirmation the
    router serves one of two tables; a new plan needs to know which. The
    confirmed one is safe to serve again: a Route step that never finished
    was followed by no drain or stop.
    """
    table = engine.store.stage_restore(engine.service)
    if table is not None:
        apply(engine, table)
        engine.store.confirm_table(engine.service)


def apply(engine: Engine, table: RoutingTable) -> tuple[RoutingTable, bool]:
    """The router made to serve the staged `table`: (the table it serves, changed).

    A router holding a table this store never wrote (the store was lost, or a
    table was set by hand) refuses ours as older: the store then takes authority
    back in an epoch above it (zerodown/table_version.py) and the same routing
    goes out again, so no one has to delete a file for deployments to work."""
    engine.looked = None  # what a drain read is no longer what it serves
    try:
        return table, engine.router.apply(table)
    except StaleTableError as e:
        if e.in_force is None:
            raise
        table = engine.store.take_authority(engine.service, table, e.in_force)
        return table, engine.router.apply(table)
