"""The command line at a terminal (a real pty): colour there, none with NO_COLOR, --no-color
or into a pipe."""

from __future__ import annotations

import os
import pty
import subprocess

from tests.support.cli import CLI_TIMEOUT, service, up  # noqa: F401

GREEN = "\x1b[32msucceeded\x1b[0m"


def at_terminal(s, *args: str, env: dict | None = None) -> str:
    """Run a command with its stdout on a pty; what it wrote."""
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(s.argv(*args), cwd=s.root, env={**s.env, **(env or {})},
                                stdout=secondary, stderr=subprocess.PIPE)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(CLI_TIMEOUT) == 0, proc.stderr.read()
    finally:
        os.close(primary)
    return b"".join(chunks).decode()


def test_colour_at_a_terminal_only_and_never_against_no_color(up):
    s = up
    env = {k: v for k, v in s.env.items() if k != "NO_COLOR"}
    s.env = {**env, "TERM": "xterm"}
    assert GREEN in at_terminal(s, "history")
    assert "\x1b[" not in at_terminal(s, "history", env={"NO_COLOR": "1"})
    assert "\x1b[" not in at_terminal(s, "--no-color", "history")
    assert "\x1b[" not in at_terminal(s, "history", "--no-color")
    assert "\x1b[" not in s.run("history").stdout  # a pipe
    assert "\x1b[32mrouted\x1b[0m" in at_terminal(s, "status")
    assert "\x1b[" not in at_terminal(s, "status", "--json")
