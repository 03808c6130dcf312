"""The one process running a service's deployment: it holds the service's lock file.

    with held(store.lock_path("shop"), "shop"):   # DeploymentBusy naming the holder's pid
        ...run the deployment...

An flock, not a row in the store: the kernel drops it when the process dies, so a
restarted controller takes over at once, with no lease to expire. Other processes
only signal through the store (Store.signal); runner.Engine holds this while it runs.
Who holds a lock (`lock_holder`) is read without taking it; the controller daemon's own
lock (controller.lock) is found the same way, by the API client too (it imports nothing
heavy: this file only).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Callable, Iterator  # (typing costs the API client ~2 ms)

from zerodown.errors import ZerodownError


class DeploymentBusy(ZerodownError):
    """Another zerodown process is running this service's deployment."""


@contextmanager
def held(path: str, service: str) -> Iterator[None]:
    """The lock file `path` of `service`, with this process's pid in it, while the body runs."""
    fd = take(path, 0o644, lambda holder: DeploymentBusy(
        f"another zerodown process (pid {holder}) is running {service}'s deployment; it "
        "picks up pause/resume/promote/abort by itself"))
    try:
        yield
    finally:
        os.close(fd)


def take(path: str | os.PathLike, mode: int, refused: Callable[[str], Exception]) -> int:
    """An flock on `path` (made with `mode`), this process's pid written in it: its fd,
    which holds the lock until closed. Held by another process: refused(its pid) is raised."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise refused(holder) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def lock_holder(path: str) -> int | None:
    """The pid holding a flock on `path` (Linux: /proc/locks), else None.

    Read without taking the lock: trying it would make a controller that is
    starting at that moment fail to get it.
    """
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        return None
    try:
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return _pid_in(path)
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK":  # "->" entries wait for a lock, not hold it
            continue
        if parts[5].rsplit(":", 1)[-1] == str(inode):
            return int(parts[4])
    return None


def _pid_in(path: str) -> int | None:
    """Without /proc/locks: the pid the engine wrote into the lock file, if it still runs."""
    from zerodown.hosts.local import running, start_time  # (not for the API client's import)
    try:
        pid = int(Path(path).read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid and running(pid, start_time(pid)) else None
