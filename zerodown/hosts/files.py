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


def read_chunks(wanted: list, max_bytes: int = 16 << 20) -> list[list]:
    """For each [path, offset]: [start, end, text] of what the file holds from `offset`
    (negative: that many bytes before its end; past the end: the file was truncated, so
    from 0), at most `max_bytes`. `zerodown logs` reads instances' logs on a host with it."""
    out = []
    for path, offset in wanted:
        total = size(path)
        start = max(0, total + offset) if offset < 0 else (offset if offset <= total else 0)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(max_bytes)
        except OSError:
            data = b""
        out.append([start, start + len(data), data.decode(errors="replace")])
    return out


def end_of(path, max_bytes: int) -> bytes | None:
    """The last `max_bytes` of a file (a log's last lines are there); None if unreadable."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            return f.read()
    except OSError:
        return None


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
