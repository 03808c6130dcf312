"""The proxy's side of a mirror that runs off the proxy's event loop.

    outbox = Outbox(read_settings({"address": "127.0.0.1:9001"}), tap)  # mirror.from_settings
    outbox.start()                        # on the proxy's event loop

The user's path only appends a copy (the request, and the raw bytes stable answered)
to the Tap's list (zerodown/proxy/tap.py); once per turn of the event loop the list goes,
as one write, to a Mirror (mirror.py) that sends the copies to the shadow and compares
the answers elsewhere:

- process (the default): a worker process of its own (worker.py), at a low priority
  (`nice`), over a socket pair. It compares with the CPU the users leave over: when it
  falls behind, the socket's buffers fill, the Tap is `blocked` and later copies are
  dropped and counted before anything of them is kept. It reports its counts back every
  REPORT_S; GET /shadow shows the last report.
- thread: a thread with its own event loop in the proxy's process (it shares the
  interpreter's lock with the users' loop); loop: on the proxy's own event loop. Both
  measured as costlier to users (benchmarks/README.md, "Shadow traffic"), kept to measure.

A worker that ends (crashes, killed) stops the copies (all dropped, counted) and is
named in the stats' `error`; users are untouched either way.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zerodown.proxy.tap import Tap

FRAME = struct.Struct("!III")  # one copy: the lengths of its head, body and stable's raw answer
BUFFER = 64 << 10  # bytes buffered towards the worker: by the proxy (then it drops copies),
# and by the kernel on each side of the socket: with the worker's queue, copies wait a bounded time
REPORT_S = 0.02  # how often the worker reports its counts
CHECK_S = 0.005  # how often the thread and loop runners look whether their Mirror is full


def frames(batch: list) -> bytes:
    """Copies [(head, body, raw), ...] as the worker reads them."""
    parts: list[bytes] = []
    for head, body, raw in batch:
        parts += (FRAME.pack(len(head), len(body), len(raw)), head, body, raw)
    return b"".join(parts)


def unframe(buf: bytes | bytearray, at: int = 0) -> tuple[list, int]:
    """The whole copies in buf from `at`, and where the first incomplete one starts."""
    got = []
    end = len(buf)
    while end - at >= FRAME.size:
        h, b, r = FRAME.unpack_from(buf, at)
        start = at + FRAME.size
        if start + h + b + r > end:
            break
        got.append((bytes(buf[start:start + h]), bytes(buf[start + h:start + h + b]),
                    bytes(buf[start + h + b:start + h + b + r])))
        at = start + h + b + r
    return got, at


class _Link(asyncio.Protocol):
    """The socket to the worker process: its reports come back as JSON lines."""

    def __init__(self, outbox: Outbox):
        self.outbox, self.buf = outbox, b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\n" in self.buf:
            lines = self.buf.split(b"\n")
            self.buf = lines[-1]
            self.outbox.report = json.loads(lines[-2])

    def pause_writing(self) -> None:
        self.outbox.tap.blocked = True

    def resume_writing(self) -> None:
        self.outbox.tap.blocked = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.outbox.ended("the shadow's worker process ended")


class Outbox:
    """Takes the Tap's copies (zerodown/proxy/tap.py) to a Mirror run by `settings["runner"]`."""

    def __init__(self, settings: dict, tap: Tap):
        self.settings, self.tap = settings, tap
        self.report: dict[str, Any] = {}  # the worker process's last counts
        self.error: str | None = None
        self._send: Any = None  # ships a batch, once the worker is there
        self._closing = False
        self._proc: subprocess.Popen | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._local: _Local | None = None  # the thread and loop runners

    def start(self) -> None:
        self.loop = asyncio.get_event_loop()
        self.tap.wake = self._wake
        if self.settings["runner"] != "process":
            self._local = _Local(self.settings, self.tap, self.settings["runner"] == "thread")
            self._send = self._local.take
            return
        mine, theirs = socket.socketpair()
        for end in (mine, theirs):
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "zerodown.shadow.worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        asyncio.ensure_future(self._connect(mine))

    async def _connect(self, sock: socket.socket) -> None:
        transport, _ = await self.loop.create_unix_connection(lambda: _Link(self), sock=sock)
        if self._closing:
            transport.close()
            return
        transport.set_write_buffer_limits(high=BUFFER)
        doc = json.dumps(self.settings).encode()
        transport.write(struct.pack("!I", len(doc)) + doc)
        self._transport = transport
        self._send = lambda batch: transport.write(frames(batch))
        self._flush()  # what waited for the worker to start

    def _wake(self) -> None:
        self.loop.call_soon(self._flush)  # once per batch, not per copy

    def _flush(self) -> None:
        tap = self.tap
        if tap.pending and self._send is not None and not self._closing:
            batch, tap.pending = tap.pending, []
            self._send(batch)

    def ended(self, why: str) -> None:
        self.tap.blocked = True
        self._send = None
        if not self._closing:
            self.error = why
            self.tap.dropped += len(self.tap.pending)
            self.tap.pending = []

    async def close(self) -> None:
        self._closing = True
        self.tap.blocked = True
        self.tap.wake = None
        if self._local is not None:
            await self._local.stop()
        if self._transport is not None:
            self._transport.close()  # the worker reads the end and exits
        if self._proc is not None:
            await self.loop.run_in_executor(None, _reap, self._proc)

    def stats(self) -> dict:
        tap = self.tap
        got = self._local.stats() if self._local is not None else self.report
        out = {"offered": tap.offered, "dropped": tap.dropped + got.get("dropped", 0),
               "too_large": tap.too_large}
        for key in ("compared", "differing", "timed_out", "failed"):
            out[key] = got.get(key, 0)
        # waiting: in the Tap's list or on the way (not yet received), or in the Mirror's queue
        out["queued"] = tap.offered - got.get("received", 0) + got.get("queued", 0)
        out["examples"] = got.get("examples", [])
        if self.error is not None:
            out["error"] = self.error
        return out


def _reap(proc: subprocess.Popen) -> None:
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Local:
    """A Mirror in the proxy's own process: on an event loop of its own in a thread, or on
    the proxy's loop beside the users (both measured as costlier than the process)."""

    def __init__(self, settings: dict, tap: Tap, threaded: bool):
        from zerodown.shadow.mirror import make_mirror
        self.mirror, self.tap, self.capacity = make_mirror(settings), tap, settings["capacity"]
        self.proxy_loop = asyncio.get_event_loop()
        self.checking = self.proxy_loop.call_later(CHECK_S, self._check)
        if not threaded:
            self.loop = self.proxy_loop
            self.mirror.start()
            return
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.mirror.start()
            self.loop.call_soon(started.set)
            self.loop.run_forever()
            self.loop.close()

        threading.Thread(target=run, name="shadow-mirror", daemon=True).start()
        started.wait()

    def take(self, batch: list) -> None:
        if self.loop is self.proxy_loop:
            self._offer(batch)
        else:
            self.loop.call_soon_threadsafe(self._offer, batch)

    def _offer(self, batch: list) -> None:
        for head, body, raw in batch:
            self.mirror.offer(head, body, raw)

    def stats(self) -> dict:
        mirror = self.mirror
        return {**mirror.stats(), "received": mirror.offered + mirror.dropped}

    def _check(self) -> None:
        """The Tap is blocked while the Mirror's queue is full (the socket's buffers do
        this for the process runner)."""
        self.tap.blocked = self.mirror.queue.qsize() + len(self.tap.pending) >= self.capacity
        self.checking = self.proxy_loop.call_later(CHECK_S, self._check)

    async def stop(self) -> None:
        self.checking.cancel()
        if self.loop is self.proxy_loop:
            await self.mirror.close()
            return
        done = asyncio.run_coroutine_threadsafe(self.mirror.close(), self.loop)
        await asyncio.wrap_future(done)
        self.loop.call_soon_threadsafe(self.loop.stop)
