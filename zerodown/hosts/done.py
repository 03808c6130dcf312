"""What a command run on a host returned (hosts/connections.py runs them): its exit
status, None when unknown (the channel died or timed out: never taken as success), and
its output as text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Done:
    """What a remote command returned; status None: unknown (never taken as success)."""

    status: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0


def exit_status(done) -> int | None:
    """A finished channel's exit status; None when it closed without saying how it ended."""
    status = done.exit_status
    if status is None or done.exit_signal is not None and status < 0:
        return None
    return status


def as_text(data: Any) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
