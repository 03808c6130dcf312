"""A send that ends while its next chunk is being made (hosts/progress_send.py): the
command exited (its disk full) or the host stalled, and that chunk's making then fails
(a release file unreadable). Its outcome is no one's: it must not reach the user as
asyncio's "Future exception was never retrieved" and a traceback on stderr."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from types import SimpleNamespace

from zerodown.errors import RuntimeFailure
from zerodown.hosts import progress_send


class FailingLate:
    """One chunk, then the command ends, then reading the next fails."""

    total = 10

    def __init__(self, ended: threading.Event):
        self.ended, self.release = ended, threading.Event()

    def __iter__(self):
        yield b"QUJD", 3
        self.ended.set()
        self.release.wait(5)
        raise RuntimeFailure("release file big.bin could not be read: Input/output error")


class Process:
    """An SSH process whose command exits (status 2) once `ended` is set."""

    def __init__(self, ended: threading.Event):
        self.ended = ended
        self.channel = SimpleNamespace(set_write_buffer_limits=lambda high: None,
                                       get_write_buffer_size=lambda: 0)
        self.stdin = SimpleNamespace(write=lambda data: None, write_eof=lambda: None,
                                     drain=self._drain)

    async def _drain(self):
        pass

    async def wait(self, check=False):
        while not self.ended.is_set():
            await asyncio.sleep(0.01)
        return SimpleNamespace(exit_status=2, exit_signal=None, stdout=b"",
                               stderr=b"tar: Wrote only 512 of 10240 bytes")

    def close(self):
        pass


def test_a_chunk_still_being_made_when_the_send_ends_says_nothing(caplog):
    ended = threading.Event()
    source = FailingLate(ended)

    async def create_process(command, encoding=None):
        return Process(ended)

    async def main():
        done = await progress_send.send(SimpleNamespace(create_process=create_process),
                                        "base64 -d | tar -xz", source, stall=5)
        source.release.set()  # the making fails only now, the send long over
        await asyncio.sleep(0.2)
        return done

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        done = asyncio.run(main())
        gc.collect()
    assert done.status == 2 and "Wrote only" in done.stderr
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text
