"""The mirror's worker process: `python -m zerodown.shadow.worker FD` (outbox.py starts it).

On the socket FD it reads the settings (a length-prefixed JSON object, mirror.read_settings'
shape), then copies (outbox.frames); it sends each to the shadow and compares the answer
with stable's (a Mirror, mirror.py, on this process's own event loop), and writes its
counts back as a JSON line every REPORT_S while they change. A full Mirror queue stops
the reading: the socket's buffers fill and the proxy drops copies before keeping them.
It lowers its own priority first (`nice`; at 19 the idle scheduling class): it compares
with the CPU users leave over.
The end of the socket (the proxy closed it, or died) ends the process.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import sys

from zerodown.shadow.mirror import Mirror, make_mirror
from zerodown.shadow.outbox import BUFFER, REPORT_S, unframe


async def serve(sock: socket.socket) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=sock, limit=BUFFER)
    size = struct.unpack("!I", await reader.readexactly(4))[0]
    settings = json.loads(await reader.readexactly(size))
    lower(settings.get("nice", 0))
    mirror = make_mirror(settings)
    mirror.start()
    received = [0]  # copies read off the socket: the proxy counts those still in between
    reporting = asyncio.ensure_future(_report(mirror, writer, received))
    buf = bytearray()
    try:
        while True:
            data = await reader.read(BUFFER)
            if not data:
                break
            buf += data
            copies, used = unframe(buf)
            del buf[:used]
            received[0] += len(copies)
            for copy in copies:
                await mirror.queue.put(copy)  # waits when full: the proxy's side fills
    finally:
        reporting.cancel()
        await mirror.close()


def lower(nice: int) -> None:
    """This process's priority: `nice`; at 19 also the idle scheduling class, whose tasks
    run only on a core no other task wants (and the scheduler counts such a core as idle
    when it places the users' path)."""
    if nice:
        os.nice(nice)
    if nice >= 19:
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except (OSError, AttributeError):
            pass  # not on Linux: nice 19 alone


async def _report(mirror: Mirror, writer: asyncio.StreamWriter, received: list[int]) -> None:
    last = None
    while True:
        stats = {**mirror.stats(), "received": received[0]}
        if stats != last:
            writer.write(json.dumps(stats).encode() + b"\n")
            last = stats
        await asyncio.sleep(REPORT_S)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m zerodown.shadow.worker FD (started by the proxy)", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(argv[0]))
    try:
        import uvloop
        uvloop.run(serve(sock))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the proxy went away: nothing left to compare for
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
