"""A comparator process (comparator.py) as a router keeps one: started, read, stopped.

    running = start(settings, state_dir)   # settings: mirror.read_settings' + "stable"
    stats(running)                         # GET /shadow on its admin socket, or None
    stop(running, state_dir)

`state_dir/shadow.json` says which one runs (its pid, start time, listening address and
admin socket), written before the load balancer is told to mirror to it, so a controller
that restarts finds it again (state) and can stop it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from zerodown.errors import RouterError
from zerodown.proxy.state import write_atomic
from zerodown.socket_path import short

READY_S = 15.0  # the comparator answers on its admin socket within this
STATE = "shadow.json"


def state(state_dir: Path) -> dict | None:
    try:
        return json.loads((state_dir / STATE).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # a damaged file: as if none ran (its process is stopped by pid below)


def forget(state_dir: Path) -> None:
    (state_dir / STATE).unlink(missing_ok=True)


ADMIN = "shadow.sock"  # in the router's state folder: a unix socket, its length counts


def start(settings: dict, state_dir: Path) -> dict:
    admin = state_dir / ADMIN
    admin.unlink(missing_ok=True)
    conf = state_dir / "shadow-settings.json"
    write_atomic(str(conf), json.dumps(settings) + "\n")
    listening = socket.socket()
    try:
        listening.bind(("127.0.0.1", 0))
        listening.listen(512)
        address = "127.0.0.1:%d" % listening.getsockname()[1]
        with open(state_dir / "shadow.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "zerodown.shadow.comparator", str(listening.fileno()),
                 str(conf), str(admin)], pass_fds=(listening.fileno(),),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    finally:
        listening.close()
    running = {"pid": proc.pid, "comparator": address, "admin": str(admin),
               "address": settings["address"], "percent": settings["percent"]}
    write_atomic(str(state_dir / STATE), json.dumps(running) + "\n")
    deadline = time.monotonic() + READY_S
    while stats(running) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(running, state_dir)
            tail = (state_dir / "shadow.log").read_text(errors="replace")[-800:]
            raise RouterError(f"the shadow's comparator did not start within {READY_S:g}s "
                              f"(log {state_dir / 'shadow.log'}):\n{tail}")
        time.sleep(0.02)
    return running


def stats(running: dict) -> dict | None:
    """Its counts (GET /shadow on its admin socket); None when it does not answer."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5.0)
            s.connect(short(running["admin"]))
            s.sendall(b"GET /shadow HTTP/1.1\r\nHost: comparator\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return json.loads(body) if head.startswith(b"HTTP/1.1 200") else None
    except ValueError:
        return None


def stop(running: dict, state_dir: Path) -> None:
    """End the comparator (by its pid, if that pid still runs a comparator)."""
    pid = running.get("pid")
    if isinstance(pid, int) and _is_comparator(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while _is_comparator(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.02)
        if _is_comparator(pid):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
    forget(state_dir)


def _is_comparator(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False  # exited, not yet reaped
        return b"zerodown.shadow.comparator" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # our child (or not: then nothing to reap)
    except ChildProcessError:
        pass
