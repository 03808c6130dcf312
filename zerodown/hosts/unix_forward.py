"""Local unix sockets whose every connection is a channel to a unix socket on a host.

    forwards = UnixForwards(connection, command_timeout)   # connection: async host -> conn
    local = await forwards.local("lb1", "/run/haproxy/admin.sock")
    ...                                                     # connect to `local` as if there
    forwards.close()

A load balancer's admin socket on its host is reached this way (hosts/ssh.py). Each local
connection asks for the host's connection anew, so one that died is re-opened; on any
failure the local side is closed (its client sees the socket end and may try again).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from typing import Awaitable, Callable

import asyncssh

from zerodown.hosts.ssh_connect import HostUnreachable
from zerodown.socket_path import short


class UnixForwards:
    """The local sockets made so far, one per (host, remote path), in a folder of their own."""

    def __init__(self, connection: Callable[[str], Awaitable], command_timeout: float):
        self._connection, self._timeout = connection, command_timeout
        self._forwards: dict[tuple[str, str], str] = {}  # (host, remote path) -> local path
        self._dir: str | None = None

    async def local(self, host: str, remote_path: str) -> str:
        """The local socket forwarding to `remote_path` on `host` (made on first ask)."""
        key = (host, remote_path)
        if key not in self._forwards:
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="zerodown-fwd-")
                # a command (`zerodown status`) exits without closing its connections
                atexit.register(shutil.rmtree, self._dir, True)
            local = short(os.path.join(self._dir, f"{len(self._forwards)}.sock"))  # a deep $TMPDIR

            async def serve(reader, writer):
                await self._relay(host, remote_path, reader, writer)
            await asyncio.start_unix_server(serve, local)
            self._forwards[key] = local
        return self._forwards[key]

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    async def _relay(self, host: str, remote_path: str, reader, writer) -> None:
        """Pipe one local connection to `remote_path` on `host` and back."""
        try:
            conn = await self._connection(host)
            far_reader, far_writer = await asyncio.wait_for(
                conn.open_unix_connection(remote_path), self._timeout)
        except (HostUnreachable, asyncssh.Error, OSError, asyncio.TimeoutError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, far_writer), _pipe(far_reader, writer))
        far_writer.close()
        writer.close()


async def _pipe(src, dst) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (asyncssh.Error, OSError):
        pass
    finally:
        try:
            dst.write_eof()  # a half-close: HAProxy's master CLI answers on it
        except (asyncssh.Error, OSError, AttributeError):
            dst.close()
