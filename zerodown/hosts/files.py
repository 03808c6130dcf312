"""Files and short commands on a host: what a router keeps and runs where its load balancer
runs (its configuration, state and command sockets), and what `zerodown logs` reads. This
machine's through LocalHost (zerodown/hosts/local.py), an SSH host's through its agent
(zerodown/hosts/agent.py), which runs these same functions there (stdlib only).
"""

from __future__ import annotations

import os
import subprocess

from zerodown.atomic_write import write_atomic
from zerodown.socket_path import short


def read_text(path: str, offset: int = 0) -> str | None:
    """The text of a file from byte `offset` on; None if there is no such file."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return None


ROTATED = ".1"  # <log>.1: the part of a log rotated out (hosts/stamper.py, logrotate's)
MAX_READ = 16 << 20


def read_chunks(wanted: list, max_bytes: int = MAX_READ) -> list[list]:
    """read_log for each [path, offset], as [start, end, text]. `zerodown logs` reads
    instances' logs on a host with it."""
    return [[start, end, data.decode(errors="replace")]
            for start, end, data in (read_log(path, offset, max_bytes)
                                     for path, offset in wanted)]


def read_log(path: str, offset: int, max_bytes: int = MAX_READ) -> tuple[int, int, bytes]:
    """What the log `path` holds from `offset`, at most `max_bytes`: (start, end, bytes),
    `end` the offset to read on from. Its rotated part (<path>.1) comes before it:
    - `offset` negative: that many bytes before the end of the two (start: where in the
      two the read began, past 0 when it may begin inside a line);
    - past the log's end: the log was rotated since `offset` was read, so the rest of the
      rotated part from `offset`, then the new log (start = `offset`: read on without a
      gap); or, the rotated part shorter, truncated: the log from 0 (start 0)."""
    total = size(path)
    if 0 <= offset <= total:
        data = _read(path, offset, max_bytes)
        return offset, offset + len(data), data
    older = size(path + ROTATED)
    if offset < 0:
        start = max(0, older + total - min(-offset, max_bytes))
        head = _read(path + ROTATED, start, older - start) if start < older else b""
        at = max(0, start - older)
    else:
        start = offset if offset <= older else 0
        head = _read(path + ROTATED, offset, max_bytes) if start else b""
        at = 0
    data = _read(path, at, max_bytes - len(head))
    return start, at + len(data), head + data


def _read(path: str, offset: int, most: int) -> bytes:
    if most <= 0:
        return b""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(most)
    except OSError:
        return b""


def end_of(path, max_bytes: int) -> bytes | None:
    """The last `max_bytes` of a log (its last lines are there), of its rotated part too
    when the log holds less (read_log); None if there is neither."""
    data = read_log(str(path), -max_bytes)[2]
    return data if data or os.path.exists(path) else None


def write_text(path: str, text: str) -> None:
    """Write a file whole (old content or new after a crash, never half; mode 0600)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomic(path, text)


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def makedirs(path: str) -> None:
    os.makedirs(path, exist_ok=True)


def size(path: str) -> int:
    """The size of a file in bytes; 0 if there is none."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def run(argv: list[str], timeout: float, cwd: str | None = None) -> tuple[int | None, str]:
    """(exit code, stdout and stderr) of a short command, in a session of its own; exit
    code None if it could not start or did not end within `timeout` (then it is killed).
    Its output goes to a file, not a pipe: a daemon it starts (nginx) would hold a pipe
    open, and the read would wait for the daemon's end."""
    import tempfile
    with tempfile.TemporaryFile() as out:
        try:
            code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                  timeout=timeout, cwd=cwd, start_new_session=True).returncode
        except OSError as e:
            return None, f"cannot run {argv[0]}: {e.strerror or e}"
        except subprocess.TimeoutExpired:
            return None, f"{argv[0]} did not finish within {timeout:g}s"
        out.seek(0)
        return code, out.read().decode(errors="replace")


def ask_unix(path: str, data: str, timeout: float) -> str:
    """Send `data` to the unix socket `path`, half-close, and read the whole answer (how
    HAProxy's command sockets talk); OSError if it cannot be reached."""
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(short(path))
        s.sendall(data.encode())
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def ask_unix_many(path: str, datas: list[str], timeout: float, stop_at: str | None = None
                  ) -> list[str]:
    """ask_unix() for each of `datas` in turn, one connection each (HAProxy answers one
    command a connection); the answers. With `stop_at` (a regular expression), the answer
    that matches it is the last one: the commands after a refused one are not sent."""
    import re
    answers = []
    for data in datas:
        answers.append(ask_unix(path, data, timeout))
        if stop_at is not None and re.search(stop_at, answers[-1]):
            break
    return answers


BATCH_OPS = {"read_text": read_text, "write_text": write_text, "remove": remove,
             "ask_unix": ask_unix, "ask_unix_many": ask_unix_many}  # this machine's (LocalHost)


def batch(calls: list, ops: dict = BATCH_OPS) -> list:
    """Several calls of `ops` in one: [[op, [args...]], ...] run in order; their results.
    A call given as [op, [args...], [key, ...]] ends the batch when its answer has a true
    value at one of those keys (a pre-flight's problem: nothing after it runs on that host).
    Every op is checked before any runs; one that raises stops the rest and its error is
    the batch's, so over SSH (the agent's batch, of all its calls) a batch is one round
    trip whose answer comes whole or not at all."""
    for op, *_ in calls:
        if op not in ops:
            raise ValueError(f"no batch operation {op!r}; valid: {', '.join(sorted(ops))}")
    results = []
    for op, args, *stop in calls:
        results.append(ops[op](*args))
        if stop and isinstance(results[-1], dict) and any(results[-1].get(k) for k in stop[0]):
            break
    return results
