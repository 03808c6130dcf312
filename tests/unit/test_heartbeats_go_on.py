"""The heartbeats to idle agents go on whatever one beat raises (hosts/idle_sessions.py):
a timer that stopped would let every idle agent end after MISSED_BEATS, and the next
requests pay a new agent's start."""

import asyncio
import time

from zerodown.hosts.idle_sessions import IdleSessions


class Stdin:
    def __init__(self):
        self.writes = 0

    def write(self, text: str) -> None:
        self.writes += 1
        if self.writes == 1:
            raise ValueError("an error nobody expected")  # not asyncssh's, not an OSError


class Process:
    exit_status = None

    def __init__(self):
        self.stdin = Stdin()

    def close(self) -> None:
        pass


def test_a_beat_that_raises_does_not_stop_the_next_ones():
    idle = IdleSessions(lambda host: asyncio.Semaphore(1))
    process = Process()
    idle.keep("app1", "agent", object(), process, heartbeat=True)
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda loop, context: None)  # the first beat's error: expected

    async def until_three_beats() -> int:
        deadline = time.monotonic() + 5
        while process.stdin.writes < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        return process.stdin.writes
    try:
        loop.call_soon(idle.beat_every, loop, 0.01)
        assert loop.run_until_complete(until_three_beats()) >= 3
    finally:
        idle.close_all()
        loop.close()
