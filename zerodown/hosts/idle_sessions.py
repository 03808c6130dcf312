"""The `ask` sessions kept open between requests (hosts/connections.py), per host and
command: an agent's `--serve` answered, and waits for the next request.

    idle = IdleSessions(permits)                 # permits(host): its session semaphore
    process = idle.take(host, command, conn)     # an open one on `conn`, or None
    idle.keep(host, command, conn, process, heartbeat=True)   # kept for the next request
    idle.beat_every(loop, keepalive)             # a blank line to each, every keepalive
    idle.discard(host, process)                  # closed, its permit given back
    idle.make_room(host)                         # one of the host's closed (any command)

Each session holds one of its host's session permits while it is open, idle or not
(sshd's MaxSessions counts idle channels too); closing it gives the permit back. Used
on the connections' event loop only.

Heartbeats: an idle agent (`agent --serve --idle LIMIT`, hosts/agent.py) ends by itself
when no line came for LIMIT seconds, so one whose controller is gone without the host
knowing (a partition that lost the connection's reset: sshd keeps the session until its
TCP keepalive, ~2 h) does not wait for it. Every runtime.keepalive the connections send
each idle session of such a command a blank line, answered with nothing; the controller
daemon's kept connections (runtimes/kept.py) thus hold their agents for hours, as they
should. LIMIT is MISSED_BEATS heartbeats, and never under MIN_IDLE: a controller stalled a
moment (a loaded machine) must not lose its agents; one that exits closes its
connections (a reset), which ends its agents at once anyway. A session busy with a
request is sent nothing and the agent counts nothing while it serves one.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import asyncssh

IDLE_SESSIONS = 4   # `ask` sessions kept open per host and command
MISSED_BEATS = 4    # heartbeats an idle agent goes without before it ends
MIN_IDLE = 5.0      # seconds: an idle agent's limit is never shorter


def agent_idle_limit(keepalive: float) -> float:
    """How long an idle agent waits for a line (a heartbeat every `keepalive`) before it
    ends: the `--idle` of hosts/agent.py."""
    return max(MISSED_BEATS * keepalive, MIN_IDLE)


class IdleSessions:
    def __init__(self, permits: Callable[[str], asyncio.Semaphore]):
        self._permits = permits
        self._idle: dict[tuple[str, str], list[tuple[Any, Any]]] = {}  # (conn, process)
        self._beaten: set[tuple[str, str]] = set()  # (host, command)s that take heartbeats
        self._beating: asyncio.TimerHandle | None = None

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

    def keep(self, host: str, command: str, conn, process, heartbeat: bool = False) -> None:
        """A session that answered, kept for the next request unless IDLE_SESSIONS are;
        `heartbeat`: the command takes a blank line as one (and answers it with nothing)."""
        if heartbeat:
            self._beaten.add((host, command))
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

    def beat_every(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        """beat() now and every `interval` seconds on `loop`, until close_all(). The next
        beat is scheduled before this one is sent: whatever one beat raises, the beats go
        on (the idle agents end after MISSED_BEATS without them)."""
        self._beating = loop.call_later(interval, self.beat_every, loop, interval)
        self.beat()

    def beat(self) -> None:
        """A heartbeat to every idle session that takes them. One that cannot be written
        to has ended: take() closes it."""
        for key in self._beaten:
            for _, process in self._idle.get(key, ()):
                try:
                    process.stdin.write("\n")
                except (asyncssh.Error, OSError):
                    pass

    def close_all(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
        for sessions in self._idle.values():
            for _, process in sessions:
                process.close()
        self._idle.clear()
