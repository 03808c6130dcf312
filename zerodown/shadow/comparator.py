"""The comparator: shadow traffic for a load balancer that mirrors but cannot compare (nginx).

    python -m zerodown.shadow.comparator FD SETTINGS.json ADMIN.sock   (the nginx router starts it)

nginx's `mirror` sends a copy of each request as a subrequest and throws the answer away,
so the comparison happens here, Diffy-style: each copy nginx sends on the listening socket
FD is answered at once (204: nginx waits for a mirror subrequest before the client's next
request on its connection, never for us to compare), then, if its method and the percent
choose it and the bounded queue has room (else dropped, counted), it is replayed to the
stable revision (`stable`, one of its instances) and the stable answer is compared with the
shadow's by the same Mirror the embedded proxy uses (mirror.py, diff.py). The replay to
stable is why only safe methods are allowed (GET, HEAD, OPTIONS: routers/capabilities.py):
an unsafe one would be done twice on stable.

GET /shadow on the unix socket ADMIN answers the counts in the embedded proxy's shape
(docs/proxy.md). The process runs at the lowest priority (worker.lower) and ends when its
parent (the controller that started it) stops it, or when the listening socket is closed.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys

import httptools

from zerodown.proxy.tap import Tap
from zerodown.shadow.mirror import Mirror, SAFE, exchange, make_mirror
from zerodown.shadow.worker import lower

_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)


class Comparator:
    def __init__(self, settings: dict, stable: tuple[str, int]):
        self.settings, self.stable = settings, stable
        self.mirror: Mirror = make_mirror(settings)
        methods = [m for m in settings["methods"] if m in SAFE]
        self.tap = Tap(tuple(m.encode() + b" " for m in methods), float(settings["percent"]),
                       settings["capacity"])
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=settings["capacity"])
        self.received = self.stable_failed = 0
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.mirror.start()
        self._tasks = [asyncio.ensure_future(self._replay())
                       for _ in range(self.settings["workers"])]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """nginx's mirror subrequests on one connection (kept alive)."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                m = _LENGTH.search(head)
                body = await reader.readexactly(int(m.group(1))) if m else b""
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                self.received += 1
                if self.tap.wants(head):
                    if self.queue.full():
                        self.tap.dropped += 1
                    else:
                        self.queue.put_nowait((head, body))
                        self.tap.offered += 1
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _replay(self) -> None:
        conn: list = []  # this worker's connection to stable, kept alive
        timeout = self.settings["timeout_s"]
        while True:
            head, body = await self.queue.get()
            try:
                async with asyncio.timeout(timeout):
                    stable = await exchange(conn, self.stable, head, body, self.mirror.max_body,
                                            bool(self.mirror.spec.headers))
            except (OSError, ValueError, TimeoutError, httptools.HttpParserError):
                self.stable_failed += 1
                if conn:
                    conn[1].close()
                    conn.clear()
                continue
            self.mirror.offer(head, body, stable)

    def stats(self) -> dict:
        got = self.mirror.stats()
        shown = {k: self.settings[k] for k in ("address", "percent", "methods")}
        return {**shown, "runner": "comparator", "stable": "%s:%d" % self.stable,
                "unsafe_methods": [], "offered": self.tap.offered,
                "dropped": self.tap.dropped + got["dropped"], "too_large": 0,
                "compared": got["compared"], "differing": got["differing"],
                "timed_out": got["timed_out"], "failed": got["failed"] + self.stable_failed,
                "queued": self.queue.qsize() + got["queued"], "examples": got["examples"]}

    async def admin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = json.dumps(self.stats()).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


async def run(listening: socket.socket, settings: dict, admin_path: str) -> None:
    host, _, port = settings["stable"].rpartition(":")
    comparator = Comparator(settings, (host.strip("[]"), int(port)))
    lower(settings.get("nice", 19))
    comparator.start()
    server = await asyncio.start_server(comparator.serve, sock=listening)
    admin = await asyncio.start_unix_server(comparator.admin, path=admin_path)
    async with server, admin:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[0].isdigit():
        print("usage: python -m zerodown.shadow.comparator FD SETTINGS.json ADMIN.sock "
              "(started by the nginx router)", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        settings = json.load(f)
    listening = socket.socket(fileno=int(argv[0]))
    import uvloop
    uvloop.run(run(listening, settings, argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
