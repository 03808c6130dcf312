"""The `ask` sessions kept open between requests (hosts/connections.py), per host and
command: an agent's `--serve` answered, and waits for the next request.

    idle = IdleSessions(permits)                 # permits(host): its session semaphore
    process = idle.take(host, command, conn)     # an open one on `conn`, or None
    idle.keep(host, command, conn, process)      # answered: kept for the next request
    idle.discard(host, process)                  # closed, its permit given back
    idle.make_room(host)                         # one of the host's closed (any command)

Each session holds one of its host's session permits while it is open, idle or not
(sshd's MaxSessions counts idle channels too); closing it gives the permit back. Used
on the connections' event loop only.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

IDLE_SESSIONS = 4   # `ask` sessions kept open per host and command


class IdleSessions:
    def __init__(self, permits: Callable[[str], asyncio.Semaphore]):
        self._permits = permits
        self._idle: dict[tuple[str, str], list[tuple[Any, Any]]] = {}  # (conn, process)

    def take(self, host: str, command: str, conn) -> Any | None:
        """An idle session of `command` on `conn` (the newest first); the ones whose
        connection or process ended are closed on the way."""
        idle = self._idle.setdefault((host, command), [])
        while idle:
            was, found = idle.pop()
            if was is conn and not conn.is_closed() and found.exit_status is None:
                return found
            self.discard(host, found)
        return None

    def keep(self, host: str, command: str, conn, process) -> None:
        """A session that answered, kept for the next request unless IDLE_SESSIONS are."""
        idle = self._idle.setdefault((host, command), [])
        if len(idle) < IDLE_SESSIONS:
            idle.append((conn, process))
        else:
            self.discard(host, process)

    def make_room(self, host: str) -> None:
        """Close one idle session of `host` (of any command): a channel for another call."""
        for (name, _), sessions in self._idle.items():
            if name == host and sessions:
                self.discard(host, sessions.pop(0)[1])
                return

    def discard(self, host: str, process) -> None:
        """Close an `ask` session and give back its permit."""
        process.close()
        self._permits(host).release()

    def close_all(self) -> None:
        for sessions in self._idle.values():
            for _, process in sessions:
                process.close()
        self._idle.clear()
