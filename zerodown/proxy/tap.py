"""The hot path's side of shadow traffic: which responses to keep, and where they wait.

Compiled with the other hot modules (accel.py): a client connection asks `wants(head)`
as it dispatches a request (a method check, a counter for the percent, no randomness,
one flag), keeps stable's response chunks by reference while it streams them to the
user (MAX_BODY at most), and `offer`s the copy once the response ended. The copy is
only appended to `pending`; whatever runs the comparison (zerodown/shadow/outbox.py)
is woken once per batch and takes the whole list. It sets `blocked` while it cannot
take more: copies are then dropped and counted before anything of them is kept.
"""

from __future__ import annotations

from typing import Any, Callable, Final

MAX_BODY: Final = 1 << 20  # the most of a stable response kept for a comparison


class Tap:
    def __init__(self, methods: tuple[bytes, ...], percent: float, capacity: int):
        self.methods = methods  # b"GET ", b"HEAD ", ...
        self.percent = percent
        self.capacity = capacity
        self.share = 0.0
        self.blocked = False
        self.pending: list = []  # (head, body, stable's raw response) per copy
        self.offered = 0
        self.dropped = 0
        self.too_large = 0  # stable's response was over MAX_BODY: not compared
        self.wake: Callable[[], None] | None = None  # told when a batch starts
        self.owner: Any = None  # the ProxyMirror (zerodown/shadow/mirror.py): admin API's side

    def wants(self, head: bytes) -> bool:
        if not head.startswith(self.methods):
            return False
        self.share += self.percent
        if self.share < 100.0:
            return False
        self.share -= 100.0
        if self.blocked or len(self.pending) >= self.capacity:
            self.dropped += 1
            return False
        return True

    def offer(self, head: bytes, body: bytes, stable: bytes) -> None:
        pending = self.pending
        pending.append((head, body, stable))
        self.offered += 1
        if len(pending) == 1:
            wake = self.wake
            if wake is not None:
                wake()
