"""The one process running a service's deployment: it holds the service's lock file.

    with held(store.lock_path("shop"), "shop"):   # DeploymentBusy naming the holder's pid
        ...run the deployment...

An flock, not a row in the store: the kernel drops it when the process dies, so a
restarted controller takes over at once, with no lease to expire. Other processes
only signal through the store (Store.signal); runner.Engine holds this while it runs.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import Callable, Iterator

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
