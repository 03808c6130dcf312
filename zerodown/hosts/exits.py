"""How a process zerodown started ended, recorded by whoever sees it end, read by anyone
after (stdlib only: the agent runs it on every host).

    record(log_path, pid, returncode)     # its parent reaped it: one line in its log
    ended(log_path, pid, started)          # {"status": 3} | {"signal": "SIGKILL"} | {}
    words(ended)                           # "exited with status 3" | "killed by SIGKILL" | ...

Only a process's parent learns its exit status (waitpid), and on a host that is whichever
agent session started the instance (or, for the local runtime, the controller): another
session, a later `zerodown status`, a restarted controller never could. So the parent,
as it reaps the child (hosts/local.py), appends a line to the child's log, where anyone
who reads the log later finds it, and `zerodown logs` shows it:

    --- zerodown 2026-12-05 13:40:01: pid 4242 exited with status 3

An instance's own lines are stamped with their time (hosts/stamper.py), so none of them
can pass for this one. Until its parent reaps it the process is a zombie whose status the
kernel shows in /proc/<pid>/stat (field 52, since Linux 3.5): read there, matched by its
start time. Neither found — the host restarted, or the parent was gone and init reaped
it — the status is unknown, and said so.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from zerodown.hosts import files

TAIL = 64 * 1024  # bytes of the log's end searched: the line is among the last written
_LINE = re.compile(rb"^--- zerodown [\d-]+ [\d:]+: pid (\d+) "
                   rb"(?:exited with status (\d+)|killed by (SIG\w+|signal \d+))$", re.M)


def record(log_path: str | os.PathLike, pid: int, returncode: int) -> None:
    """Append how `pid` ended (Popen.returncode: negative, the signal) to its log. A log
    that cannot be written loses the line only: the status is then said unknown."""
    line = f"--- zerodown {time.strftime('%Y-%m-%d %H:%M:%S')}: pid {pid} {_said(returncode)}\n"
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return
    try:
        os.write(fd, line.encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def ended(log_path: str | os.PathLike, pid: int | None, started: int | None = None) -> dict:
    """How `pid` (whose log is `log_path`) ended: {"status": N}, {"signal": "SIGKILL"}, or
    {} when nobody recorded it and it is no zombie of that start time."""
    if pid is None:
        return {}
    found = _recorded(Path(log_path), pid)
    if found:
        return found
    if started is not None:
        zombie = _zombie(pid, started)
        if zombie is not None:
            return _decoded(zombie)
        return _recorded(Path(log_path), pid)  # reaped (and recorded) since the first look
    return {}


def words(how: dict) -> str:
    """How it ended, in words: "exited with status 3", "killed by SIGKILL", or "ended; its
    exit status is unknown"."""
    if "status" in how:
        return f"exited with status {how['status']}"
    if "signal" in how:
        return f"killed by {how['signal']}"
    return "ended; its exit status is unknown"


def _said(returncode: int) -> str:
    return words({"status": returncode} if returncode >= 0 else {"signal": _name(-returncode)})


def _name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _recorded(log_path: Path, pid: int) -> dict:
    for m in reversed(list(_LINE.finditer(files.end_of(log_path, TAIL) or b""))):
        if int(m[1]) == pid:
            return {"status": int(m[2])} if m[2] is not None else {"signal": m[3].decode()}
    return {}


def _zombie(pid: int, started: int) -> int | None:
    """The wait status of `pid` if it is a zombie that started at `started`."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read()
    except OSError:
        return None
    fields_after = fields[fields.rindex(b")") + 2:].split()
    if fields_after[0] != b"Z" or int(fields_after[19]) != started or len(fields_after) < 50:
        return None
    return int(fields_after[49])  # field 52: the status as waitpid(2) reports it


def _decoded(status: int) -> dict:
    if os.WIFSIGNALED(status):
        return {"signal": _name(os.WTERMSIG(status))}
    return {"status": os.WEXITSTATUS(status)}
