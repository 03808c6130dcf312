"""An HAProxy the user runs, for attach mode's tests: its own config, never written by
zerodown, one backend `app` with no server of its own."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .net import free_port, wait_until
from .procs import ManagedProcess

CONFIG = """\
global
    stats socket {socket} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
{defaults}frontend site
    bind {listen}
    default_backend app
backend app
    balance roundrobin
{backend}"""


@dataclass
class UsersHAProxy:
    port: int
    socket: Path
    config: Path
    process: ManagedProcess


@contextmanager
def users_haproxy(folder: Path, defaults: str = "", backend: str = "") -> Iterator[UsersHAProxy]:
    """Run it (checked with `haproxy -c` first) until the block ends; extra lines for its
    defaults and its backend, each ending in a newline."""
    port, socket_path, cfg = free_port(), folder / "admin.sock", folder / "site.cfg"
    cfg.write_text(CONFIG.format(socket=socket_path, listen=f"127.0.0.1:{port}",
                                 defaults=defaults, backend=backend))
    assert subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)]).returncode == 0
    process = ManagedProcess(["haproxy", "-db", "-f", str(cfg)], name="users-haproxy")
    try:
        wait_until(socket_path.exists, 10, "the user's HAProxy stats socket")
        yield UsersHAProxy(port, socket_path, cfg, process)
    finally:
        process.cleanup()
