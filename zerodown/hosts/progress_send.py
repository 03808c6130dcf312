"""Feeding a command's stdin with a limit on progress, not on the whole transfer.

    done = await send(conn, "base64 -d | tar -xz -C ...", data, stall=60)
    done.status is None   # nothing moved for 60s: the host or its link stalled (unknown)

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

from zerodown.hosts.done import Done, as_text, exit_status

CHUNK = 1 << 16      # bytes queued on the channel at a time (this side's buffer, kept small)
LOOK = 0.25          # how often progress is looked at (the window adjusts have no callback)


class Stalled(Exception):
    """Nothing moved for the limit; the host had taken `taken` bytes of `total`."""

    def __init__(self, taken: int, total: int, stall: float):
        super().__init__(taken, total, stall)
        self.taken, self.total, self.stall = taken, total, stall

    def said(self, host: str) -> str:
        return (f"nothing moved to {host} for {self.stall:g}s ({mb(self.taken)} of "
                f"{mb(self.total)} taken there)")


async def send(conn, command: str, data: bytes, stall: float) -> Done:
    """Run `command` on `conn` with `data` as its stdin, then its end; Done once it exits.
    Stalled when nothing moved for `stall` seconds (the caller drops the connection: the
    command's outcome is unknown)."""
    try:
        process = await asyncio.wait_for(conn.create_process(command, encoding=None), stall)
    except asyncio.TimeoutError:  # its session never opened (cut off as it began)
        raise Stalled(0, len(data), stall) from None
    try:
        ended = asyncio.ensure_future(process.wait(check=False))
        try:
            await _feed(process, data, stall, ended)
            done = await ended
        finally:
            ended.cancel()
        return Done(exit_status(done), as_text(done.stdout), as_text(done.stderr))
    finally:
        process.close()


async def _feed(process, data: bytes, stall: float, ended: asyncio.Future) -> None:
    """Keep at most CHUNK bytes queued until all is written and the end sent; return when
    the command exits, or raise Stalled."""
    channel, queued, eof = process.channel, 0, False
    window = _window(channel)  # as the host opened it: what it takes unread
    loop = asyncio.get_running_loop()
    seen, moved = None, loop.time()
    while not ended.done():
        while queued < len(data) and channel.get_write_buffer_size() < CHUNK:
            process.stdin.write(data[queued:queued + CHUNK])
            queued = min(queued + CHUNK, len(data))
        if queued == len(data) and not eof:
            process.stdin.write_eof()  # sent after what is still queued
            eof = True
        sent = queued - channel.get_write_buffer_size()
        now = (sent, _window(channel))
        if now != seen:
            seen, moved = now, loop.time()
        elif loop.time() - moved >= stall:
            raise Stalled(_taken(sent, window, now[1]), len(data), stall)
        await asyncio.wait([ended], timeout=min(LOOK, stall / 4))


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
