"""Waits on file descriptors work past fd 1023: select() refuses those ("filedescriptor
out of range in select()", as a test worker that had run many tests found), and a
long-lived process — an agent, a controller with a large fleet, a proxy — can hold that
many. zerodown waits with poll() instead; this checks the waits and that no select()
came back."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from zerodown.hosts import agent, one_off

HIGH = 1500  # past FD_SETSIZE (1024)


@pytest.fixture
def high_pipe():
    """A pipe whose read end is fd HIGH; (read fd, write fd)."""
    r, w = os.pipe()
    os.dup2(r, HIGH)
    os.close(r)
    yield HIGH, w
    for fd in (HIGH, w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_a_hangup_is_seen_on_a_high_fd(high_pipe):
    r, w = high_pipe
    hangup = one_off.eof_of(r)
    assert hangup(0.01) is False  # nothing yet: the wait timed out
    os.close(w)
    assert hangup(1.0) is True


def test_lines_are_read_from_a_high_fd_and_idle_ends_them(high_pipe):
    r, w = high_pipe
    os.write(w, b"one\ntwo\n")
    got = agent.lines(r, idle=0.05)
    assert next(got) == "one\n" and next(got) == "two\n"
    assert list(got) == []  # nothing more within `idle`: the reading ends


def test_no_select_call_is_left_in_the_code():
    root = Path(__file__).resolve().parents[2] / "zerodown"
    found = [f"{p.relative_to(root)}:{n}" for p in root.rglob("*.py")
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"\bselect\.select\(|\bSelectSelector\b", line)]
    assert not found, f"select() refuses fds past 1023; use select.poll(): {found}"
