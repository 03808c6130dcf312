"""A routing table as the state store keeps it: its head (the table's JSON with every
revision's backends left out: version, epoch, weights, rules, stickiness, checks) in the
`routing` row, and a row a backend in `routing_backends` (the 9th migration), one set for
the applied table and one for the staged one (`tbl`). A new table writes only the rows
that changed: a rolling deployment one instance at a time stages N tables of N backends,
and a whole table a step wrote O(N²) pages (95 MB of WAL at 200 instances; one page of
4 kB holds ~50 backends). A part of engine/store_routing.py.

The order of a revision's backends is kept by `position`, a sort key a row keeps while
the rows around it stay in order (so a backend added at either end, or one removed, moves
no other row); only a table that reorders them numbers every row of the revision anew.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from zerodown import table_json
from zerodown.engine.transaction import Tx
from zerodown.errors import TableError
from zerodown.model import Backend, RoutingTable

GAP = 1024  # between positions numbered anew: room for backends inserted between two

_COLUMNS = "id, revision, position, address, weight"


def head(table: RoutingTable) -> str:
    """The table's JSON with no backend (the `applied`/`staged` column of `routing`)."""
    data = table_json.to_dict(table)
    for revision in data["revisions"]:
        revision["backends"] = []
    return json.dumps(data, separators=(",", ":"))


def read(db: Any, service: str, which: str, head_text: str) -> RoutingTable:
    """The table whose head is `head_text`, its backends the `which` rows."""
    data = json.loads(head_text)
    by_revision: dict[str, list[tuple[int, dict]]] = {}
    for id, revision, position, address, weight in db.execute(
            f"SELECT {_COLUMNS} FROM routing_backends WHERE service = ? AND tbl = ?",
            (service, which)):
        by_revision.setdefault(revision, []).append(
            (position, {"id": id, "address": address, "weight": weight}))
    for revision in data.get("revisions", []):
        revision["backends"] = [b for _, b in sorted(by_revision.pop(revision["name"], []),
                                                       key=lambda pb: pb[0])]
    if by_revision:  # (written with their head, in one transaction: never, but said if so)
        raise TableError(f"the state store's {which} routing table of {service} "
                                    f"has backends of revisions it does not list: "
                                    f"{', '.join(sorted(by_revision))}")
    return table_json.from_dict(data)


def write(tx: Tx, service: str, which: str, table: RoutingTable) -> None:
    """Make the `which` rows hold `table`'s backends: the rows that changed, only."""
    have = {row[0]: tuple(row) for row in tx.execute(
        f"SELECT {_COLUMNS} FROM routing_backends WHERE service = ? AND tbl = ?",
        (service, which))}
    want = {}
    for revision in table.revisions:
        kept = {b.id: have[b.id][2] for b in revision.backends
                if b.id in have and have[b.id][1] == revision.name}
        for b, position in zip(revision.backends, positions(revision.backends, kept)):
            want[b.id] = (b.id, revision.name, position, b.address, b.weight)
    gone = [(service, which, id) for id in have.keys() - want.keys()]
    tx.db.executemany("DELETE FROM routing_backends WHERE service = ? AND tbl = ? AND id = ?",
                      gone)
    tx.db.executemany(
        f"INSERT INTO routing_backends (service, tbl, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (service, tbl, id) DO UPDATE SET revision = excluded.revision, position ="
        " excluded.position, address = excluded.address, weight = excluded.weight",
        [(service, which, *row) for id, row in want.items() if have.get(id) != row])


def copy(tx: Tx, service: str, source: str, dest: str) -> None:
    """Make the `dest` rows what the `source` rows are (a table confirmed, or restored),
    writing the rows that differ only."""
    tx.execute("DELETE FROM routing_backends WHERE service = ? AND tbl = ? AND id NOT IN "
               "(SELECT id FROM routing_backends WHERE service = ? AND tbl = ?)",
               (service, dest, service, source))
    tx.execute(f"INSERT INTO routing_backends (service, tbl, {_COLUMNS}) SELECT service, ?, "
               f"{_COLUMNS} FROM routing_backends s WHERE service = ? AND tbl = ? AND NOT EXISTS"
               " (SELECT 1 FROM routing_backends d WHERE d.service = s.service AND d.tbl = ? "
               "AND d.id = s.id AND d.revision = s.revision AND d.position = s.position AND "
               "d.address = s.address AND d.weight = s.weight) ON CONFLICT (service, tbl, id) DO "
               "UPDATE SET revision = excluded.revision, position = excluded.position, address "
               "= excluded.address, weight = excluded.weight", (dest, service, source, dest))


def positions(backends: Iterable[Backend], kept: dict[str, int]) -> list[int]:
    """A sort key for each of a revision's backends, in order: `kept` (id -> the position
    its row has) kept where those stay in order, the new ones put between; else every
    one numbered anew."""
    ids = [b.id for b in backends]
    old = [kept[id] for id in ids if id in kept]
    if any(a >= b for a, b in zip(old, old[1:])):
        return [i * GAP for i in range(len(ids))]
    out: list[int] = []
    i = 0
    while i < len(ids):
        if ids[i] in kept:
            out.append(kept[ids[i]])
            i += 1
            continue
        j = i  # a run of new backends, ids[i:j], between two kept ones (or an end)
        while j < len(ids) and ids[j] not in kept:
            j += 1
        low = out[-1] if out else None
        high = kept[ids[j]] if j < len(ids) else None
        run = _between(low, high, j - i)
        if run is None:
            return [n * GAP for n in range(len(ids))]
        out += run
        i = j
    return out


def _between(low: int | None, high: int | None, count: int) -> list[int] | None:
    """`count` increasing integers strictly between low and high (None: no bound that side);
    None if there is no room."""
    if high is None:
        start = -GAP if low is None else low
        return [start + (n + 1) * GAP for n in range(count)]
    if low is None:
        return [high - (count - n) * GAP for n in range(count)]
    step = (high - low) // (count + 1)
    return [low + (n + 1) * step for n in range(count)] if step >= 1 else None
