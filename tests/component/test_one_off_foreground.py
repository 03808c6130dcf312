"""A one-off command on a terminal (hosts/one_off.run, `zerodown exec` here and `exec -i`
on a host) that touches the terminal before it was given the foreground: the kernel
stops it (SIGTTIN on a read, SIGTTOU on a console setting raw mode), and it must go on
once it has the foreground, not stay stopped until --timeout."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.terminal import Terminal

ROOT = Path(__file__).resolve().parents[2]

# Runs on the terminal as its session's process. _foreground, which hands the command the
# terminal, first waits until the command is stopped for reading it in the background: the
# race a loaded machine loses (the command starts before run() gets to tcsetpgrp) made
# certain.
LATE = """
import json, os, sys, time
sys.path.insert(0, {root!r})
from zerodown.hosts import one_off

real = one_off._foreground

def late(fd, pgid):
    if fd is not None and pgid != os.getpgrp():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(f"/proc/{{pgid}}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "T":
                    print("stopped in the background", flush=True)
                    break
            time.sleep(0.005)
    return real(fd, pgid)

one_off._foreground = late
outcome = one_off.run(["sh", "-c", "read line; echo got:$line"], os.getcwd(),
                      dict(os.environ), 10, terminal=0)
print("outcome:" + json.dumps(outcome), flush=True)
"""


def test_a_command_stopped_before_it_had_the_terminal_goes_on_once_it_has_it(tmp_path):
    script = tmp_path / "late.py"
    script.write_text(LATE.format(root=str(ROOT)))
    with Terminal([sys.executable, str(script)], cwd=tmp_path) as term:
        term.expect(b"stopped in the background", timeout=15)
        term.write(b"hello\n")
        term.expect(b"outcome:", timeout=20)
        assert term.wait(10) == 0
    assert b"got:hello" in term.output, term.output
    assert b'outcome:{"code": 0' in term.output, term.output
