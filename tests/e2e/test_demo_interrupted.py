"""`zerodown demo` interrupted (Ctrl-C, or SIGTERM: a `kill`), and interrupted again while
it stops what it started (impatient; each instance's stop takes a moment): it still stops
the instances and the proxy it started, and leaves no process behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from tests.support.net import wait_until

BOUND = 60.0
TEARDOWN = "stopping the demo's instances and proxy first"  # a Ctrl-C in it, said


def processes_under(folder: str) -> dict[int, str]:
    """pid -> command line of the processes whose command line or cwd is under `folder`."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            line = open(f"/proc/{entry.name}/cmdline", "rb").read().replace(b"\0", b" ")
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            continue
        if folder.encode() in line or cwd.startswith(folder):
            found[int(entry.name)] = line.decode(errors="replace")
    return found


ATTEMPTS = 3  # a teardown can end before any later signal lands in it: then again


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_demo_interrupted_twice_stops_everything_it_started(sent):
    # every attempt stops everything and says no traceback; at least one must have had a
    # signal land in the teardown (said so), the case this test is for
    for _ in range(ATTEMPTS):
        if interrupted(sent):
            return
    pytest.fail(f"no signal landed in the demo's teardown in {ATTEMPTS} attempts")


def interrupted(sent: signal.Signals) -> bool:
    """The demo interrupted by `sent`, again and again until it says a signal came during
    its teardown or it ends: whether one did. Fails the test if it left a process, said a
    traceback or did not exit 130."""
    # its own short TMPDIR (a pytest tmp_path makes its sockets' paths too long), where
    # the demo makes its folder: its processes are found by it
    folder = tempfile.mkdtemp(prefix="zdi")
    demo = subprocess.Popen([sys.executable, "-m", "zerodown", "demo"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "TMPDIR": folder})
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(demo.stdout), daemon=True)
    reader.start()
    said = lambda text: any(line.startswith(text) for line in seen)  # noqa: E731
    try:  # its v1 up, and a deployment under way
        wait_until(lambda: said("deploying v2") or demo.poll() is not None, timeout=BOUND,
                   what="the demo's first deployment")
        assert processes_under(folder), "".join(seen)
        # Ctrl-C (or a kill), then again and again while it stops what it started, until it
        # says so
        deadline = time.monotonic() + BOUND
        while demo.poll() is None and not said(TEARDOWN) and time.monotonic() < deadline:
            demo.send_signal(sent)
            time.sleep(0.02)  # (the pace of an impatient hand, not a condition awaited)
        code = demo.wait(BOUND)
        reader.join(BOUND)
        wait_until(lambda: not processes_under(folder), timeout=5,
                   what="no process of the demo left")
        assert code == 130, "".join(seen)
        assert "Traceback" not in "".join(seen), "".join(seen)
        return said(TEARDOWN)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for pid in processes_under(folder):  # (only the demo's own, found by their folder)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(folder, ignore_errors=True)
