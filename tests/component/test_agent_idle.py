"""A serving agent with `--idle` (zerodown/hosts/agent.py) ends when no line came for that
long while idle, never while it serves a request; blank lines (its controller's
heartbeats) keep it, and are answered with nothing. A real agent process on this machine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator

IDLE = 0.6


@contextmanager
def agent(idle: float | None = IDLE) -> Iterator[subprocess.Popen]:
    argv = [sys.executable, "-m", "zerodown.hosts.agent", "--serve"]
    proc = subprocess.Popen(argv + ([] if idle is None else ["--idle", str(idle)]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            bufsize=1)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def ended_within(proc: subprocess.Popen, seconds: float) -> bool:
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def ask(proc: subprocess.Popen, op: str, *args) -> dict:
    proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def test_an_idle_agent_without_heartbeats_ends_by_itself():
    with agent() as proc:
        assert ask(proc, "running", 1, 0) == {"ok": False}
        started = time.monotonic()
        assert ended_within(proc, IDLE + 5), "still serving with nothing on its stdin"
        assert time.monotonic() - started >= IDLE * 0.9 and proc.returncode == 0


def test_heartbeats_keep_it_and_are_answered_with_nothing():
    with agent() as proc:
        until = time.monotonic() + 4 * IDLE
        while time.monotonic() < until:  # a heartbeat every IDLE/3, as the controller's
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert not ended_within(proc, IDLE / 3), "ended though heartbeats came"
        assert ask(proc, "running", 1, 0) == {"ok": False}, "a heartbeat was answered"


def test_a_request_longer_than_the_limit_is_served_whole():
    """A before_start hook may run for an hour: the agent does not count while it serves."""
    with agent() as proc:
        assert ask(proc, "run", ["sleep", str(3 * IDLE)], 30, None) == {"ok": [0, ""]}
        assert ask(proc, "running", 1, 0) == {"ok": False}, "ended right after the request"


def test_without_idle_it_serves_until_its_stdin_ends():
    with agent(idle=None) as proc:
        assert not ended_within(proc, 3 * IDLE)
        assert ask(proc, "running", 1, 0) == {"ok": False}
        proc.stdin.close()
        assert proc.wait(5) == 0
