"""The proxy's state file: the last applied routing table, written atomically.

Written (temp file, fsync, rename, fsync of the folder) before a table is
acted on, and read on start, so a restarted proxy serves the same table at
once and counts its backends as healthy (passive health learns otherwise).
"""

from __future__ import annotations

from zerodown import table_json
from zerodown.atomic_write import write_atomic  # noqa: F401  (also imported from here)
from zerodown.errors import TableError, UsageError
from zerodown.model import EMPTY_TABLE, RoutingTable


def save_table(path: str, table: RoutingTable) -> None:
    write_atomic(path, table_json.dumps(table) + "\n")


def load_table(path: str) -> RoutingTable:
    """The saved table, the empty table if there is none; a clear error if it is damaged."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return EMPTY_TABLE
    except OSError as e:
        raise UsageError(f"{path}: cannot read the proxy state file: {e.strerror}") from None
    try:
        return table_json.loads(text)
    except TableError as e:
        raise UsageError(f"{path}: the proxy state file is damaged ({e}); "
                         f"fix or remove it to start with an empty table") from None
