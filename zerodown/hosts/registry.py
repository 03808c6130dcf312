"""The file an InstanceTable keeps its records in (zerodown/hosts/instances.py): a journal
of whole tables, one JSON line each, the last complete one in force (stdlib only: the
agent runs it on every host).

    <state_dir>/instances.json
    zerodown instance registry format 2: ...          <- the header (never JSON)
    {"instances": {"shop-r3-0": {... "pid": null}}}    <- the claim's intent (synced)
    {"instances": {"shop-r3-0": {... "pid": 4242}}}    <- the pid after the spawn (not)

Why a journal. The intent before a spawn must be durable first (a crash must not leave a
process nobody recorded). A whole-file rewrite (write_atomic: temp file, fsync, rename,
fsync of the folder) is two syncs and a directory change on the path of every start (11
ms median, 32 ms p90 on the test fleet's shared disk in one measure, where an append with
one fdatasync took 0.28 ms; benchmarks/README.md). An append to a file whose name is
already durable changes no directory, so fdatasync (the bytes and the size that covers
them) is all a crash needs; it also makes every earlier append durable.

What needs a sync (save(sync=True)) and what does not. Only the intent before a spawn:
a process started after its record is lost is one nobody knows. The pid written after the
spawn is found again by the process's marks if lost (InstanceTable._recover); a removal,
or a record of a process that ended, if lost names a process whose pid + start time +
boot id no longer match, which the next adopt drops. (A crash of the machine loses only
unsynced writes, and it kills every process too; what the syncs guard against is the
state folder's storage losing writes while the processes live on, and a write error
found before the spawn rather than never.)

A torn line. A crash during an append leaves a line without its newline (or garbage)
after the last complete one; it was never acknowledged (its fdatasync had not returned)
and nothing relied on it, so reading skips it and takes the last line that parses. A
later append must not extend it (the two would read as one damaged line): a save appends
only when the file ends exactly after the line that was read, else it rewrites the file
whole (write_atomic, which drops the garbage). The file is also rewritten whole past
COMPACT_AT bytes, and when it is in the old format (below).

Why the header, and the old format. Before this, the file was one JSON object
{"instances": {...}}, rewritten whole. An older zerodown — the agent of an older
controller still running, or a downgraded zerodown — reads it with json.load. Had the
journal a new name, the older one would find no file there and read "no instances"; had
it the old name and JSON lines only, a journal of one line would read as its first table.
Either way it would miss instances the journal holds and start them again. So the
journal keeps the old name (and the old lock file, so old and new never write at once)
and begins with a line that is not JSON: an older zerodown's json.load fails at its
first byte, and every operation of its table (claim, launch, stop, adopt, a look) starts
with that read, so it refuses them all: "<path>: cannot read the instance registry".
The header says why (format 2; upgrade that zerodown). A format this code does not know
(a newer one) is refused the same way, by its number. A file in the old format is read
as it is, and the first save rewrites it in this format (migration on the first write:
until then an older zerodown reads what is true). One rename replaces one file: a crash
leaves the old format or the new, never both or neither.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from zerodown.atomic_write import write_atomic
from zerodown.errors import RuntimeFailure

FORMAT = 2
HEADER = (f"zerodown instance registry format {FORMAT}: one JSON line a state of the table, "
          f"the last complete one in force. A zerodown that cannot read this is older than "
          f"the format: upgrade it (and the controller whose agent it is). Do not edit or "
          f"remove this file while instances run: they would be started twice.\n")
_HEADER = re.compile(rb"^zerodown instance registry format (\d+):")
COMPACT_AT = 256 * 1024  # bytes of journal before a save rewrites it whole


class Registry:
    """A map name -> record in a journal file, changed only under a lock (threads and
    processes). save() after a load under locked() appends; see the module docstring."""

    def __init__(self, path: Path):
        self.path = path
        self._thread_lock = threading.Lock()
        self._end: tuple[int, int, int] | None = None  # (dev, inode, size) ending in the
        # line read last, when nothing follows it in the file: appending there is safe

    @contextmanager
    def locked(self) -> Iterator[dict]:
        # the old format's lock file: an older zerodown and this one never write at once
        with self._thread_lock, open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entries, self._end = self._read()
                yield entries
            finally:
                self._end = None  # appends are safe only while the lock is held
                # Unlocked by name, not by the close: a log stamper forked meanwhile
                # (hosts/stamper.py) holds a copy of this descriptor until it closes its
                # fds, and the lock would be held until then (a later start waited 7 ms).
                fcntl.flock(lock, fcntl.LOCK_UN)

    def load(self) -> dict:
        return self._read()[0]

    def save(self, entries: dict, sync: bool = True) -> None:
        """Record `entries` as the table in force; durable on return with `sync` (an
        intent before a spawn), else at the next synced save (see the module docstring)."""
        self.ready(entries, sync)()

    def ready(self, entries: dict, sync: bool = False) -> Callable[[], None]:
        """save(entries, sync) made ready, and done by the call it returns (once, under the
        same hold of locked()): the line made and the file opened now, so that the record
        can follow an act with one write(2) between them (a stop's SIGTERM and its record
        sent: zerodown/hosts/stop_once.py). A file to rewrite whole (rare: COMPACT_AT, a
        torn line) is rewritten by the call."""
        line = (json.dumps({"instances": entries}, separators=(",", ":"), sort_keys=True)
                + "\n").encode()
        if not self._appendable(len(line)):
            return lambda: self._rewrite(line)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        return lambda: self._append(fd, line, sync)

    def _rewrite(self, line: bytes) -> None:
        write_atomic(str(self.path), HEADER + line.decode())
        st = os.stat(self.path)
        self._end = (st.st_dev, st.st_ino, st.st_size)

    def _append(self, fd: int, line: bytes, sync: bool) -> None:
        try:
            if os.write(fd, line) != len(line):  # the disk full: a torn line, rewritten
                raise OSError(f"{self.path}: short write")  # whole by the next save
            if sync:
                os.fdatasync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        self._end = (st.st_dev, st.st_ino, st.st_size)

    def _appendable(self, size: int) -> bool:
        """Under the lock, the file as read still ends after its table's line (a torn
        line would glue onto ours), and not grown past COMPACT_AT."""
        if self._end is None or self._end[2] + size > COMPACT_AT:
            return False
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino, st.st_size) == self._end

    def _read(self) -> tuple[dict, tuple[int, int, int] | None]:
        """(the table in force, (dev, inode, size) if the file ends right after its line)."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
        except FileNotFoundError:
            return {}, None
        except OSError as e:
            raise self._unreadable(e.strerror or str(e)) from None
        entries, clean = self._parse(data)
        return entries, (st.st_dev, st.st_ino, len(data)) if clean else None

    def _parse(self, data: bytes) -> tuple[dict, bool]:
        """(the table in force, whether the file ends right after its line)."""
        if data.lstrip()[:1] == b"{":  # the format before the journal: one object, whole
            try:
                return _table(json.loads(data)), False
            except (ValueError, TypeError) as e:
                raise self._unreadable(str(e)) from None
        header = _HEADER.match(data)
        if header is None:
            raise self._unreadable("neither a zerodown instance registry nor its older "
                                   "JSON format" if data else "the file is empty")
        if int(header.group(1)) != FORMAT:
            raise RuntimeFailure(
                f"{self.path}: the instance registry is in format {int(header.group(1))}, "
                f"written by another zerodown version; this one reads format {FORMAT} (and "
                f"the older JSON): run the zerodown that wrote it, or a newer one")
        lines = data.split(b"\n")
        complete, tail = lines[1:-1], lines[-1]
        for i in range(len(complete) - 1, -1, -1):
            try:
                return _table(json.loads(complete[i])), i == len(complete) - 1 and not tail
            except (ValueError, TypeError):
                continue  # written after the last sync, never acknowledged: skipped
        if complete:
            raise self._unreadable("no line of it is a whole table")
        return {}, not tail

    def _unreadable(self, why: str) -> RuntimeFailure:
        return RuntimeFailure(f"{self.path}: cannot read the instance registry ({why}); fix "
                              f"or remove it (its running instances are then not adopted)")


def _table(doc) -> dict:
    """The records of one parsed table; TypeError if it is not one."""
    entries = doc.get("instances", {}) if isinstance(doc, dict) else None
    if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
        raise TypeError("not a table of instance records")
    return entries
