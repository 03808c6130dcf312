"""Which routing table may replace which: tables are ordered by (epoch, version).

The version orders the tables one controller store hands out. The epoch is that
store's authority over the load balancer: a table of a higher epoch replaces a
table of any lower epoch, whatever their versions. So a controller that finds a
table it did not write in force (its store was lost and a new one starts again
at version 1; someone PUT `version: 1000000` by hand) takes the load balancer
back on purpose, by moving to an epoch above the one in force
(Store.take_authority), and no one has to delete a file. Within an epoch an
older version is refused, the same table twice is a no-op, and one version
never stands for two tables.

Every router (the embedded proxy, HAProxy, nginx, the fake) asks check_newer.
"""

from __future__ import annotations

from zerodown.errors import StaleTableError
from zerodown.model import RoutingTable

MAX = 2**53 - 1  # epochs and versions stay exact in JSON (and fit SQLite's integers)


def key(table: RoutingTable) -> tuple[int, int]:
    return table.epoch, table.version


def named(epoch: int, version: int) -> str:
    """"version 7" in epoch 0 (as before epochs existed), else "version 7 of epoch 2"."""
    return f"version {version}" + (f" of epoch {epoch}" if epoch else "")


def check_newer(table: RoutingTable, current: RoutingTable) -> None:
    """StaleTableError unless `table` may replace `current` (the same table twice is fine).
    The error carries the (epoch, version) in force, for a controller taking authority back."""
    if key(table) < key(current):
        raise StaleTableError(f"table {named(*key(table))} is older than the one in force "
                              f"({named(*key(current))}); send a later version or a higher "
                              f"epoch", in_force=key(current))
    if key(table) == key(current) and current.version != 0 and table != current:
        raise StaleTableError(f"table {named(*key(table))} is already in force with other "
                              f"content; send {named(current.epoch, current.version + 1)}",
                              in_force=key(current))
