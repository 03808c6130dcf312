"""Hitless restart: a new proxy process takes the listening sockets of the old.

The old proxy listens on a unix socket beside its state file. A new proxy
started with the same state file connects there, receives the listening
sockets themselves (SCM_RIGHTS) and the table in force, starts serving on
them and says READY; only then does the old one stop accepting and drain.
Because both processes hold the *same* socket, connections waiting in the
accept queue are never dropped — the gap that SO_REUSEPORT handovers and
plain restarts leave does not exist. The listeners beside the two (EXTRA: the
/metrics one, the HTTP redirect's) go the same way, named in the message; a
successor asked for one the old proxy did not have binds it.
"""

from __future__ import annotations

import array
import asyncio
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from zerodown import table_json
from zerodown.model import RoutingTable
from zerodown.socket_path import short

MAX_MSG = 16 * 1024 * 1024
EXTRA = ("metrics", "redirect")  # listeners handed over beside the public one and the admin
READY_TIMEOUT = 15.0


def path_for(state: str) -> str:
    """Where a proxy with the state file `state` listens for its successor (a unix socket,
    bound and connected to through zerodown/socket_path.py's short())."""
    return os.path.abspath(state) + ".handover"


@dataclass
class Inherited:
    listen: socket.socket
    admin: socket.socket
    table: RoutingTable
    channel: socket.socket  # kept open until READY is sent
    services: dict | None = None  # the other services' sites and tables (services.py); None:
    # the old proxy predates them, read the saved ones
    extra: dict[str, socket.socket] = field(default_factory=dict)  # by name, of EXTRA

    def ready(self) -> None:
        self.channel.sendall(b"READY\n")
        self.channel.close()


def take_over(path: str) -> Inherited | None:
    """Ask a running proxy for its sockets; None when no proxy runs there."""
    ch = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        ch.connect(short(path))
    except (FileNotFoundError, ConnectionRefusedError):
        ch.close()
        _unlink(path)  # a stale path from a proxy that died
        return None
    ch.settimeout(READY_TIMEOUT)
    ch.sendall(b"TAKEOVER\n")
    mark, fds, _, _ = socket.recv_fds(ch, 1, 2 + len(EXTRA))
    if mark != b"F":
        raise ConnectionError("the running proxy did not send its sockets")
    msg = b""
    while not msg.endswith(b"\n"):
        more = ch.recv(MAX_MSG)
        if not more:
            raise ConnectionError("the running proxy closed the handover channel")
        msg += more
    info = json.loads(msg)
    names = [n for n in info.get("extra", []) if n in EXTRA]  # (an older proxy sends none)
    if len(fds) != 2 + len(names):
        raise ConnectionError(f"the running proxy sent {len(fds)} sockets, expected "
                              f"{2 + len(names)}")
    return Inherited(listen=socket.socket(fileno=fds[0]), admin=socket.socket(fileno=fds[1]),
                     table=table_json.from_dict(info["table"]), channel=ch,
                     services=info.get("services"),
                     extra={n: socket.socket(fileno=fd) for n, fd in zip(names, fds[2:])})


async def serve(path: str,
                offer: Callable[[], tuple[list[int], RoutingTable, dict, list[str]]],
                handed_over: Callable[[], Awaitable[None]],
                cancelled: Callable[[], None]) -> asyncio.AbstractServer:
    """Listen for a successor. `offer` pauses table writes and gives the sockets: the
    public listener's, the admin's, then those named (EXTRA) in that order."""
    _unlink(path)

    async def on_successor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await reader.readline() != b"TAKEOVER\n":
                return
            fds, table, services, names = offer()
            payload = json.dumps({"table": table_json.to_dict(table), "services": services,
                                  "extra": names}).encode() + b"\n"
            sock = writer.get_extra_info("socket")
            raw = socket.socket(fileno=os.dup(sock.fileno()))
            try:
                raw.setblocking(True)
                raw.sendmsg([b"F"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            finally:
                raw.close()
            writer.write(payload)
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), READY_TIMEOUT)
            if line == b"READY\n":
                await handed_over()
                return
        except (OSError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
        cancelled()  # the successor failed: keep serving as before

    server = await asyncio.start_unix_server(on_successor, path=short(path))
    os.chmod(path, 0o600)
    return server


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
