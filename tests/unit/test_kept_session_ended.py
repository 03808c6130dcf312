"""A request on a kept agent session whose agent ended unseen (killed, or gone idle) is
asked again on a new session (hosts/connections.py `_ask`): the write to the ended
channel fails before anything was sent ("Channel not open for sending"), so nothing was
asked and the outcome is known — it was reported unknown, and the host's step failed
(CI's fleet test of an agent removed since it was put there, once)."""

from __future__ import annotations

import asyncio

from zerodown.hosts.connections import Connections
from zerodown.runtimes.ssh_options import parse_options


class Stdin:
    def __init__(self, broken: bool):
        self.broken, self.lines = broken, []

    def write(self, text: str) -> None:
        if self.broken:
            raise BrokenPipeError("Channel not open for sending")
        self.lines.append(text)


class Stdout:
    async def readline(self) -> str:
        return '{"ok": true}\n'


class Process:
    exit_status = None  # (as a killed agent's session can look until its close is read)

    def __init__(self, broken: bool):
        self.stdin, self.stdout, self.closed = Stdin(broken), Stdout(), False

    def close(self) -> None:
        self.closed = True


class Conn:
    def __init__(self):
        self.opened: list[Process] = []

    def is_closed(self) -> bool:
        return False

    async def create_process(self, command: str) -> Process:
        self.opened.append(Process(broken=False))
        return self.opened[-1]


def test_a_request_on_an_ended_kept_session_is_asked_on_a_new_one(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    connections = Connections(parse_options({"hosts": ["app1"], "known_hosts": str(known)}))
    conn, ended = Conn(), Process(broken=True)

    async def connection(host, timeout=None):
        return conn
    connections._connection = connection
    connections._idle.keep("app1", "agent", conn, ended, heartbeat=True)
    try:
        done = connections.ask("app1", "agent", '{"op": "running"}', timeout=5)
    finally:
        connections.close()
    assert done.status == 0 and done.stdout == '{"ok": true}\n', done
    assert ended.closed, "the ended session closed, its permit given back"
    assert [p.stdin.lines for p in conn.opened] == [['{"op": "running"}\n']]
