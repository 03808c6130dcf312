"""The proxy's state file: the last applied routing table, durable before it is acted on,
read on start, so a restarted proxy serves the same table at once and counts its
backends as healthy (passive health learns otherwise).

The file is a journal of tables, one JSON line each; the last complete line is the one
in force. A process's first save rewrites it whole (write_atomic: temp file, fsync,
rename, fsync of the folder — which also drops a torn line a crash left), every later
one appends a line and fdatasyncs the file: one sync per apply instead of two. Why
that is as durable: the file already exists and its name is durable (the first save
synced the folder), so an append changes no directory — fdatasync makes the new bytes
and the size that covers them durable, and nothing else is needed to read them after a
crash. A rename-based write could not skip the folder's sync: a rename over an existing
name is a directory change like any other, and without that sync a crash may bring back
the old name's table (POSIX; ext4 happens to commit it with the file's fsync, other
filesystems need not). A line cut short by a crash was never acknowledged (its
fdatasync had not returned), so reading skips it and takes the line before. Past
COMPACT_AT bytes the next save rewrites the file whole again. A table file written
whole before this (indented JSON) reads as before.
"""

from __future__ import annotations

import json
import os

from zerodown import table_json
from zerodown.atomic_write import write_atomic  # noqa: F401  (also imported from here)
from zerodown.errors import TableError, UsageError
from zerodown.model import EMPTY_TABLE, RoutingTable

COMPACT_AT = 1 << 20  # bytes of journal before a save rewrites it whole


def line_of(table: RoutingTable) -> str:
    return json.dumps(table_json.to_dict(table), separators=(",", ":")) + "\n"


class TableFile:
    """The state file of one proxy process: save() appends, the first one rewrites."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None

    def save(self, table: RoutingTable) -> None:
        line = line_of(table).encode()
        if self._fd is not None and self._appendable(self._fd, len(line)):
            os.write(self._fd, line)
            os.fdatasync(self._fd)
            return
        self.close()
        write_atomic(self.path, line.decode())
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def _appendable(self, fd: int, size: int) -> bool:
        """Still the file at our path (another process's whole rewrite replaced it: our
        appends would go to a name nobody reads), and not grown past COMPACT_AT."""
        try:
            ours, now = os.fstat(fd), os.stat(self.path)
        except OSError:
            return False
        return (ours.st_ino, ours.st_dev) == (now.st_ino, now.st_dev) and \
            ours.st_size + size <= COMPACT_AT

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
        return last_table(text)
    except TableError as e:
        raise UsageError(f"{path}: the proxy state file is damaged ({e}); "
                         f"fix or remove it to start with an empty table") from None


def last_table(text: bytes) -> RoutingTable:
    """The file's table: the whole of it (a table written whole, indented or not), else
    its last complete line that is a table (a torn last line skipped)."""
    try:
        return table_json.loads(text)
    except TableError as whole:
        lines = text.split(b"\n")[:-1]  # the part after the last newline is incomplete
        for line in reversed(lines):
            try:
                return table_json.loads(line)
            except TableError:
                continue
        raise whole from None
