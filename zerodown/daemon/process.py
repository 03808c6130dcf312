"""The CLI's side of the daemon's process: find it, start it, stop it.

Any command that needs the controller starts it when none holds the state dir's
controller.lock (it was never started, or it died): `zerodown controller --foreground`
in a session of its own, its output in <state dir>/controller.log. So a
SIGKILLed controller is back, resuming its deployment, at the next CLI call. One
that holds the lock and does not answer is busy (or still starting): it is waited
for or named, never doubled — the lock is the truth, not an answer's timing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import zerodown
from zerodown.api.client import Client, Unanswered, Unreachable
from zerodown.errors import ZerodownError

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def socket_path(state_dir: str | os.PathLike) -> str:
    return str(Path(state_dir) / "controller.sock")


def log_path(state_dir: str | os.PathLike) -> Path:
    return Path(state_dir) / "controller.log"


def down_marker(state_dir: str | os.PathLike) -> Path:
    """Written by `zerodown down`: a look (`status`) then starts no controller; any command
    that acts starts it (and removes this)."""
    return Path(state_dir) / "controller.down"


def pid(state_dir: str | os.PathLike) -> int | None:
    """The running controller's pid: whoever holds controller.lock."""
    from zerodown.controller import lock_holder
    return lock_holder(str(Path(state_dir) / "controller.lock"))


def answers(client: Client, starting: bool = False) -> bool:
    """Does the controller answer now? One connected that does not answer its status
    (from memory) within a few seconds (api/client.PROBE) is busy or stuck: Unanswered
    (its message names the pid and its process's state) is raised, unless it is
    `starting` (waited for)."""
    try:
        client.alive()
        return True
    except Unanswered:
        if not starting:
            raise
        return False
    except Unreachable:
        return False


def ensure(file: str, state_dir: str | os.PathLike, api_listen: str | None = None) -> Client:
    """A client of this state dir's controller: the one that answers; else the one holding
    controller.lock, once it answers (starting, or a socket call refused); else one started
    now. Unanswered (it is busy, its pid named) when the running one does not answer."""
    client = Client(socket_path=socket_path(state_dir))
    if answers(client):
        return client
    if pid(state_dir) is None or not _answers_while_held(client, state_dir):
        start(file, state_dir, api_listen)
    return client


def _answers_while_held(client: Client, state_dir: str | os.PathLike) -> bool:
    """True once the controller holding the lock answers; False if it lets go of the lock
    (it stopped). A holder that neither answers nor lets go within START_TIMEOUT is named."""
    holder, deadline = pid(state_dir), time.monotonic() + START_TIMEOUT
    while holder is not None:
        if answers(client):
            return True
        if time.monotonic() > deadline:
            raise ZerodownError(f"the controller (pid {holder}) holds "
                                f"{Path(state_dir) / 'controller.lock'} and does not answer on "
                                f"{client.socket_path} within {START_TIMEOUT:g}s; see "
                                f"{log_path(state_dir)} (`zerodown controller --stop` "
                                "stops it)")
        time.sleep(0.05)
        holder = pid(state_dir)
    return False


def start(file: str, state_dir: str | os.PathLike, api_listen: str | None = None) -> int:
    """Start the controller in the background; its pid once its socket answers."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    down_marker(state_dir).unlink(missing_ok=True)
    log = log_path(state_dir)
    argv = [sys.executable, "-m", "zerodown", "--file", os.path.abspath(file), "--state-dir",
            str(state_dir), "controller", "--foreground"]
    if api_listen:
        argv += ["--api-listen", api_listen]
    root = str(Path(zerodown.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    with open(log, "ab") as out:
        start_at = out.tell()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": path})
    client = Client(socket_path=socket_path(state_dir), timeout=2.0)
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(client, starting=True):
        code = proc.poll()
        if code is not None and pid(state_dir) is None:  # it failed, and no other one runs
            raise ZerodownError(f"the controller did not start (exit {code}): "
                                f"{_tail(log, start_at)}")
        if time.monotonic() > deadline:
            raise ZerodownError(f"the controller (pid {proc.pid}) did not answer on "
                                f"{client.socket_path} within {START_TIMEOUT:g}s; see {log}")
        time.sleep(0.02)
    client.close()
    return pid(state_dir) or proc.pid


def listen_note(listen: str | None, dashboard: str | None) -> str | None:
    """What to tell when the controller.listen asked for (zerodown.yaml, --api-listen) is
    not where the running controller listens: it reads it once, as it starts, so a key
    added to a running service's file is not in force until the controller starts again."""
    if not listen:
        return None
    port = listen.rpartition(":")[2]
    if dashboard is not None and f":{port}/" in dashboard:
        return None
    where = f"it listens at {dashboard.removesuffix('/dashboard/')}" if dashboard \
        else "it listens on its unix socket only"
    return (f"note: controller.listen {listen} is not in force: the controller started "
            f"before it ({where}); `zerodown controller --stop`, and the next command "
            "starts it with it")


def stop(state_dir: str | os.PathLike, timeout: float = STOP_TIMEOUT) -> int | None:
    """SIGTERM the controller and wait for it to be gone; its pid, or None if none ran."""
    found = pid(state_dir)
    if found is None:
        return None
    os.kill(found, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid(state_dir) == found:
        if time.monotonic() > deadline:
            os.kill(found, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.02)
    return found


def _tail(log: Path, start: int, lines: int = 5) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return f"see {log}"
    return " | ".join(text[-lines:]) or f"no output (see {log})"
