"""An nginx master and its workers as the host's /proc shows them.

nginx names its processes by rewriting their command line: "nginx: master
process <argv>", "nginx: worker process", and once told to quit gracefully
"nginx: worker process is shutting down" (set just before it closes its
listening sockets). That title is how a reload is known to be served: every
worker from before the SIGHUP is gone or shutting down, and a new one runs.
A process is named by (pid, kernel start time), never by pid alone. Every look
asks the Host nginx runs on (this machine, or router.host over SSH).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from zerodown.hosts.local import LOCAL
from zerodown.protocols import Host

MASTER = "nginx: master process"
SHUTTING_DOWN = "shutting down"


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int
    title: str

    @property
    def key(self) -> tuple[int, int]:
        return self.pid, self.start

    @property
    def shutting_down(self) -> bool:
        return SHUTTING_DOWN in self.title


def title(pid: int, host: Host = LOCAL) -> str | None:
    argv = host.argv_of(pid)
    return None if argv is None else " ".join(argv).strip()


def workers(master: int, host: Host = LOCAL) -> list[Proc]:
    """The master's children that are still running (workers, old and new)."""
    return [Proc(pid, started, " ".join(argv).strip())
            for pid, started, argv in host.children(master)]


def reloaded(workers_now: list[Proc], old: set[tuple[int, int]]) -> bool:
    """After a reload: a new worker is up and every old one is gone or shutting down,
    so no new connection can reach the old configuration."""
    return (any(w.key not in old for w in workers_now)
            and not any(w.key in old and not w.shutting_down for w in workers_now))


def master_from(pid_file: Path, conf: Path | None = None, host: Host = LOCAL) -> Proc | None:
    """The running master named by `pid_file` (and started with `-c conf`, if given)."""
    try:
        pid = int((host.read_text(str(pid_file)) or "").strip())
    except (OSError, ValueError):
        return None
    started, name = host.start_time(pid), title(pid, host)
    if started is None or name is None or not name.startswith(MASTER):
        return None  # gone, or the pid now belongs to someone else
    if conf is not None and str(conf) not in name:
        return None
    return Proc(pid, started, name)


def find_master(conf: Path, host: Host = LOCAL) -> Proc | None:
    """The running master started with `-c conf`, by its title (when its pid file is lost)."""
    for pid, args in host.processes():
        name = " ".join(args).strip()
        if name.startswith(MASTER) and str(conf) in name.split():
            started = host.start_time(pid)
            if started is not None:
                return Proc(pid, started, name)
    return None


def alive(key: tuple[int, int] | list[int], host: Host = LOCAL) -> bool:
    return host.running(key[0], key[1])


def master_args(master: Proc) -> tuple[str | None, str | None]:
    """(prefix, conf) the master was started with (-p, -c), as far as its title says."""
    try:
        words = shlex.split(master.title[len(MASTER):])
    except ValueError:
        return None, None
    found: dict[str, str] = {}
    for flag, value in zip(words, words[1:]):
        if flag in ("-p", "-c"):
            found[flag] = value
    return found.get("-p"), found.get("-c")
