"""The real Clock (zerodown/protocols.py): what the engine runs by outside tests."""

from __future__ import annotations

import time


class SystemClock:
    """The real Clock. Wall time, not monotonic: step records and timed pauses outlive a restart."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))
