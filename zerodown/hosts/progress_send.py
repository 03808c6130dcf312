"""Feeding a command's stdin with a limit on progress, not on the whole transfer.

    done = await send(conn, "tar -xz -C ...", uploads.reader(TarStream(...)), stall=60)
    done.status is None   # nothing moved for 60s: the host or its link stalled (unknown)

The data comes as chunks (hosts/shared_upload.py), each with how much of the source's
`total` it brings: the next is taken (off the loop, in its default executor: it may wait
for its making) only when the channel took the last, so a send holds a chunk or two
whatever the upload's size, and a stall is said in the source's bytes ("0.7 MB of
2.0 MB": of the files, not of the tar.gz).

A release's upload is as long as its size over the host's link: 500 MB at 50 Mbit/s
takes minutes. A bound on the whole command refused it though bytes were flowing, and
raising that bound slowed the finding of every hung host. Here the command fails only
when nothing moved for `stall` seconds: no byte left this side's channel buffer and the
host took none from its window (its window adjusts: it read what was sent). A host that
keeps taking bytes is receiving the release, however long that takes; a stalled host or
a cut link is found `stall` seconds after the last byte moved. No bound on the whole: the
only hosts it would catch are ones still receiving (keepalives find a dead link anyway).
"""

from __future__ import annotations

import asyncio
from typing import Iterator, Protocol

from zerodown.hosts.done import Done, as_text, exit_status

CHUNK = 1 << 16      # bytes queued on the channel at a time (this side's buffer, kept small)
LOOK = 0.25          # how often progress is looked at (the window adjusts have no callback)


class Source(Protocol):
    """What a send takes: (bytes to write, how much of `total` they bring in so far)."""

    total: int

    def __iter__(self) -> Iterator[tuple[bytes, int]]: ...


class Stalled(Exception):
    """Nothing moved for the limit; the host had taken `taken` bytes of `total`."""

    def __init__(self, taken: int, total: int, stall: float):
        super().__init__(taken, total, stall)
        self.taken, self.total, self.stall = taken, total, stall

    def said(self, host: str) -> str:
        return (f"nothing moved to {host} for {self.stall:g}s ({mb(self.taken)} of "
                f"{mb(self.total)} taken there)")


async def send(conn, command: str, source: Source, stall: float) -> Done:
    """Run `command` on `conn` with `source`'s chunks as its stdin, then its end; Done once
    it exits.
    Stalled when nothing moved for `stall` seconds (the caller drops the connection: the
    command's outcome is unknown)."""
    try:
        process = await asyncio.wait_for(conn.create_process(command, encoding=None), stall)
    except asyncio.TimeoutError:  # its session never opened (cut off as it began)
        raise Stalled(0, source.total, stall) from None
    try:
        ended = asyncio.ensure_future(process.wait(check=False))
        try:
            await _feed(process, source, stall, ended)
            done = await ended
        finally:
            ended.cancel()
        return Done(exit_status(done), as_text(done.stdout), as_text(done.stderr))
    finally:
        process.close()


async def _feed(process, source: Source, stall: float, ended: asyncio.Future) -> None:
    """Keep at most CHUNK bytes queued, the next chunk made only once the queue is below
    it, until all is written and the end sent; return when the command exits, or raise
    Stalled."""
    channel, chunks, fed = process.channel, iter(source), Fed()
    window = _window(channel)  # as the host opened it: what it takes unread
    loop = asyncio.get_running_loop()
    making = None  # the next chunk, being made off the loop (reading, compressing)
    channel.set_write_buffer_limits(CHUNK)  # above it: paused, a drain waits for room
    seen, moved = None, loop.time()
    try:
        while not ended.done():
            if making is None and not fed.eof and channel.get_write_buffer_size() <= CHUNK:
                making = loop.run_in_executor(None, next, chunks, None)
            if making is not None and making.done():
                got, making = making.result(), None
                if got is None:
                    process.stdin.write_eof()  # sent after what is still queued
                    fed.eof = True
                else:
                    process.stdin.write(got[0])
                    fed.add(*got)
                moved = loop.time()  # this side's progress: a slow making is no stalled host
                continue
            sent = fed.written - channel.get_write_buffer_size()
            now = (sent, _window(channel))
            if now != seen:
                seen, moved = now, loop.time()
            elif loop.time() - moved >= stall:
                raise Stalled(fed.source(_taken(sent, window, now[1])), source.total, stall)
            await _next_event(ended, making, None if making or fed.eof else process.stdin,
                              min(LOOK, stall / 4))
    finally:
        if making is not None:  # the send ended while a chunk was being made: that
            _let_go(making)     # chunk (a file that fails to read since) is no one's


async def _next_event(ended: asyncio.Future, making: asyncio.Future | None, stdin,
                      timeout: float) -> None:
    """Until the command ends, the chunk being made is ready, `stdin`'s buffer drained
    (paused above CHUNK) or `timeout`: the chunks follow the host's pace, not the look's;
    a look comes anyway, for stalls."""
    drained = asyncio.ensure_future(stdin.drain()) if stdin is not None else None
    waits = [w for w in (ended, making, drained) if w is not None]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if drained is not None:
            _let_go(drained)  # a failed drain: the connection's failure shows elsewhere


def _let_go(future: asyncio.Future) -> None:
    """No one awaits `future` any more: cancelled, or its outcome taken, so that a failure
    is not logged as asyncio's "exception never retrieved", a traceback on stderr."""
    if not future.cancel() and not future.cancelled():
        future.exception()


class Fed:
    """What a send wrote, in the channel's bytes and in the source's."""

    def __init__(self):
        self.written = self.done = 0
        self.eof = False

    def add(self, data: bytes, done: int) -> None:
        self.written += len(data)
        self.done = done

    def source(self, taken: int) -> int:
        """`taken` of the bytes written, in the source's bytes: by the ratio so far (the
        compression's), near enough for a message in tenths of a MB."""
        return round(taken * self.done / self.written) if self.written else 0


def _window(channel) -> int | None:
    """How much more the host will take now: it grows as the host reads what was sent,
    after this side's buffer is empty the only sign of progress. asyncssh keeps it
    private (no callback, no accessor): None where a version lacks it, and progress is
    then this side's buffer alone."""
    return getattr(channel, "_send_window", None)


def _taken(sent: int, opened: int | None, window: int | None) -> int:
    """What the host read of what was sent: what went out less what its window still
    holds unread (a cut link holds up to the whole window, 2 MB from OpenSSH's sshd)."""
    if opened is None or window is None:
        return sent
    return max(sent - max(opened - window, 0), 0)


def mb(size: int) -> str:
    """Bytes as megabytes, as the upload's messages say them: "0.7 MB"."""
    return f"{size / (1 << 20):.1f} MB"
