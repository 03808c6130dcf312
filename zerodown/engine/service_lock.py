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
from typing import Iterator

from zerodown.errors import ZerodownError


class DeploymentBusy(ZerodownError):
    """Another zerodown process is running this service's deployment."""


@contextmanager
def held(path: str, service: str) -> Iterator[None]:
    """The lock file `path` of `service`, with this process's pid in it, while the body runs."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise DeploymentBusy(f"another zerodown process (pid {holder}) is running {service}"
                             "'s deployment; it picks up pause/resume/promote/abort by itself")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
