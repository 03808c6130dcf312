"""The comparator: shadow traffic for a load balancer that mirrors but cannot compare (nginx).

    python -m zerodown.shadow.comparator FD SETTINGS.json ADMIN.sock   (the nginx router starts it)

nginx's `mirror` sends a copy of each request as a subrequest and throws the answer away,
so the comparison happens here, Diffy-style. This process answers each copy nginx sends on
the listening socket FD at once (204: nginx holds a client's next request on its connection
until the mirror subrequest ended, so this part runs at the users' priority and does
nothing else), and keeps the copies of safe methods in a Tap, as the embedded proxy does
(zerodown/proxy/tap.py; nginx itself sent only the `percent` share: nginx_render.py); an Outbox (outbox.py) ships them to a worker process at
the lowest priority (worker.py) whose Mirror replays each to the stable revision (`stable`,
one of its instances) and to the shadow, and compares the two answers (mirror.py, diff.py).
When the worker falls behind, copies are dropped and counted before anything is kept.
The replay to stable is why only safe methods are copied (GET, HEAD, OPTIONS: an unsafe
one would be done twice on stable; routers/capabilities.py refuses more).

GET /shadow on the unix socket ADMIN answers the counts in the embedded proxy's shape
(docs/proxy.md). The nginx router stops the process (comparing.py); its worker then reads
the end of its socket and exits too.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
from typing import Any

from zerodown.proxy.tap import Tap
from zerodown.shadow.mirror import SAFE
from zerodown.shadow.outbox import Outbox
from zerodown.socket_path import short

_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)


NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
MAX_HEAD = 64 << 10  # nginx sends a request's head; more without its end is not nginx


class _Copies(asyncio.Protocol):
    """One of nginx's connections carrying mirror subrequests: each answered at once (all
    of a read in one write), the chosen ones kept in the Tap."""

    def __init__(self, tap: Tap):
        self.tap, self.buf = tap, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        at = answered = 0
        tap = self.tap
        while (end := buf.find(b"\r\n\r\n", at)) >= 0:
            head = buf[at:end + 4]
            m = _LENGTH.search(head)
            size = int(m.group(1)) if m else 0
            if end + 4 + size > len(buf):
                break  # its body is still on the way
            answered += 1
            if tap.wants(head):
                tap.offer(head, buf[end + 4:end + 4 + size], b"")  # b"": the worker asks stable
            at = end + 4 + size
        if answered:
            self.transport.write(NO_CONTENT * answered)
        self.buf = buf[at:]
        if len(self.buf) > MAX_HEAD:
            self.transport.close()


class Front:
    """nginx's side: answers every copy at once, keeps the chosen ones for the worker."""

    def __init__(self, settings: dict):
        self.settings = settings
        methods = [m for m in settings["methods"] if m in SAFE]
        # nginx sends only its share of the requests (split_clients, nginx_render.py)
        self.tap = Tap(tuple(m.encode() + b" " for m in methods), 100.0, settings["capacity"])
        self.outbox = Outbox({**settings, "runner": "process"}, self.tap)

    def stats(self) -> dict:
        shown = {k: self.settings[k] for k in ("address", "percent", "methods")}
        return {**shown, "runner": "comparator", "stable": self.settings["stable"],
                "unsafe_methods": [], **self.outbox.stats()}

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
    front = Front(settings)
    front.outbox.start()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Copies(front.tap), sock=listening)
    admin = await asyncio.start_unix_server(front.admin, path=short(admin_path))
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
