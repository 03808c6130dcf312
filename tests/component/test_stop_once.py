"""A stop asked twice signals once (zerodown/hosts/stop_once.py, InstanceTable.stop), on
real processes: two stops at once from two threads and from another process (an agent), a
second stop after the first's agent session was killed, and the first stop's deadline kept
(SIGKILL then, not later at a longer grace's; earlier at a shorter one's). The example app
takes a second SIGTERM as "exit at once": its request in flight must complete all the
same."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from zerodown.hosts import priority
from zerodown.hosts.instances import PORT, InstanceTable
from zerodown.hosts.registry import Registry
from zerodown.hosts.local import code_root, proc_stat, running, signal_group
from zerodown.runtimes.release import instance_of
from tests.support.net import get, wait_until

RECORD = {"service": "shop", "revision": 1, "version": "v1", "slot": 0, "host": "local"}
NAME = "shop-r1-s0"
BOUND = 15.0
APP = Path(__file__).resolve().parents[2] / "examples" / "app" / "app.py"

# An app that writes a line for each SIGTERM it gets, and exits `drain` s after the first
# (never, with drain < 0: only a SIGKILL ends it).
COUNTER = """
import os, signal, sys, time
out, drain = sys.argv[1], float(sys.argv[2])
until = []
def on_term(signum, frame):
    with open(out, "a") as f:
        f.write("TERM\\n")
    if not until:
        until.append(time.monotonic() + drain)
signal.signal(signal.SIGTERM, on_term)
with open(out, "a") as f:
    f.write("ready\\n")
while not until or drain < 0 or time.monotonic() < until[0]:
    time.sleep(0.01)
with open(out, "a") as f:
    f.write("exit\\n")
"""


@pytest.fixture(autouse=True)
def nothing_left(tmp_path):
    """A failed test leaves no app behind: what is recorded and still runs is killed."""
    yield
    for entry in InstanceTable(tmp_path).registry.load().values():
        if running(entry.get("pid"), entry.get("start_time")):
            signal_group(entry["pid"], signal.SIGKILL)


def launched(tmp_path: Path, argv: list[str]) -> tuple[InstanceTable, dict]:
    table = InstanceTable(tmp_path)
    got = table.start(NAME, RECORD, "127.0.0.1", argv, str(tmp_path), dict(os.environ), "test")
    return table, got["started"]


def counter(tmp_path: Path, drain: float) -> tuple[InstanceTable, dict, Path]:
    """The counting app launched, its handler in place."""
    out = tmp_path / "signals.txt"
    table, entry = launched(tmp_path, [sys.executable, "-c", COUNTER, str(out), str(drain)])
    wait_until(lambda: out.exists() and "ready" in out.read_text(), BOUND, "the app ready")
    return table, entry, out


def terms(out: Path) -> int:
    return out.read_text().splitlines().count("TERM")


def mark(table: InstanceTable) -> dict | None:
    return table.registry.load().get(NAME, {}).get("stopping")


def stop_request(state_dir: Path, entry: dict, grace: float, yielding: bool = False) -> str:
    """A stop as the ssh runtime asks it of a host's agent (hosts/agent.py)."""
    return json.dumps({"op": "owned", "args": [
        str(state_dir), "test-controller", "table",
        ["stop", NAME, entry["pid"], grace, f"instance {NAME}", yielding]]}) + "\n"


def agent(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zerodown.hosts.agent", *args],
                            cwd=code_root(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def agent_stop(state_dir: Path, entry: dict, grace: float) -> dict:
    """A stop by another process: a one-shot agent's answer."""
    proc = agent()
    out, _ = proc.communicate(stop_request(state_dir, entry, grace), timeout=grace + BOUND)
    return json.loads(out)


def test_two_stops_at_once_from_two_threads_and_another_process_send_one_sigterm(tmp_path):
    table, entry, out = counter(tmp_path, drain=1.0)
    start = threading.Barrier(3, timeout=BOUND)

    def in_thread():
        start.wait()
        return InstanceTable(tmp_path).stop(NAME, entry["pid"], 10, f"instance {NAME}")

    def in_agent():
        # a serving agent, seen answering before the three go: a one-shot one's python
        # start (over a second on a loaded machine) let the threads' stop end first
        proc = agent("--serve")
        try:
            ask = json.dumps({"op": "running", "args": [entry["pid"], entry["start_time"]]})
            proc.stdin.write(ask + "\n")
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline()) == {"ok": True}
            start.wait()
            proc.stdin.write(stop_request(tmp_path, entry, 10))
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())
        finally:
            proc.stdin.close()
            proc.wait(timeout=BOUND)

    with ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(in_thread), pool.submit(in_thread), pool.submit(in_agent)]
        answers = [c.result(timeout=BOUND) for c in calls]
    assert "error" not in answers[2] and "exited" in answers[2]["ok"]["at"], answers[2]
    assert all("exited" in a["at"] for a in answers[:2]), answers
    assert terms(out) == 1, out.read_text()
    assert out.read_text().splitlines()[-1] == "exit", "it drained and exited by itself"
    assert proc_stat(entry["pid"]) is None
    assert NAME not in table.registry.load()


def test_the_example_app_completes_its_request_in_flight_though_stopped_twice(tmp_path):
    """Its second SIGTERM would exit at once, cutting the slow request."""
    table, entry = launched(tmp_path, [sys.executable, str(APP), "--port", PORT])
    port = entry["port"]
    wait_until(lambda: table.await_listening(NAME, entry["pid"], 0.5, 0.01, 1).get("listening"),
               BOUND, "the app listening")
    slow: dict = {}
    held = threading.Thread(target=lambda: slow.update(reply=get(port, "/slow?ms=1500",
                                                                 timeout=BOUND)))
    held.start()
    wait_until(lambda: json.loads(get(port, "/stats").body)["in_flight"] == 1, BOUND,
               "the slow request in flight")
    first = threading.Thread(target=table.stop, args=(NAME, entry["pid"], 10, "app"))
    first.start()
    wait_until(lambda: mark(table), BOUND, "the first stop's SIGTERM sent")
    second = agent_stop(tmp_path, entry, 10)  # another process, while the first waits
    held.join(BOUND)
    first.join(BOUND)
    assert "error" not in second, second
    assert slow["reply"].status == 200 and slow["reply"].text == "slept 1500 ms\n"
    log = table.log(NAME).read_text()
    assert "second signal" not in log, log
    assert proc_stat(entry["pid"]) is None


def test_a_stop_after_its_callers_agent_was_killed_sigkills_at_the_first_deadline(tmp_path):
    """The first stop's agent session is killed while it waits (its controller cut off);
    the next stop (the resumed controller's) sends no SIGTERM and SIGKILLs the app that
    never exits at the first stop's deadline, not `grace` after its own call."""
    table, entry, out = counter(tmp_path, drain=-1)
    first = agent("--serve")
    grace = 3.0
    first.stdin.write(stop_request(tmp_path, entry, grace))
    first.stdin.flush()
    sent = wait_until(lambda: mark(table), BOUND, "the first stop's SIGTERM sent")["sent"]
    wait_until(lambda: terms(out) == 1, BOUND, "the first SIGTERM taken")
    wait_until(lambda: mark(table)["signalled"], BOUND, "its SIGTERM recorded sent")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(BOUND)
    assert proc_stat(entry["pid"]) is not None, "the app ended with its stopper"
    # what the resumed controller's adopt finds: a stop under way (engine/reconciling.py)
    assert [instance_of(e).stopping for e in table.adopt("shop")] == [True]
    answer = InstanceTable(tmp_path).stop(NAME, entry["pid"], 30, f"instance {NAME}")
    gone = time.monotonic() - sent
    assert grace <= gone < grace + 1.5, f"SIGKILL {gone:.2f}s after the SIGTERM"
    assert "exited" in answer["at"]
    assert terms(out) == 1 and "exit" not in out.read_text(), "killed, told once"
    assert proc_stat(entry["pid"]) is None
    assert NAME not in table.registry.load()


def test_a_longer_grace_asked_again_does_not_wait_longer(tmp_path):
    table, entry, out = counter(tmp_path, drain=-1)
    grace = 2.0
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(table.stop, NAME, entry["pid"], grace, "first")
        sent = wait_until(lambda: mark(table), BOUND, "the first stop's SIGTERM")["sent"]
        again = pool.submit(InstanceTable(tmp_path).stop, NAME, entry["pid"], 30, "again")
        first.result(timeout=BOUND)
        again.result(timeout=BOUND)
        ended = time.monotonic() - sent
    assert grace <= ended < grace + 1.5, ended
    assert terms(out) == 1, out.read_text()
    assert proc_stat(entry["pid"]) is None


def test_a_shorter_grace_asked_again_sigkills_at_its_own_deadline_with_one_sigterm(tmp_path):
    """As a terminating Kubernetes pod's grace can be shortened: the earlier deadline holds,
    for the first stop too, and the second call ends within its own grace (its call's
    timeout is bounded by it), not the first's 30 s."""
    table, entry, out = counter(tmp_path, drain=-1)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(table.stop, NAME, entry["pid"], 30, "first")
        wait_until(lambda: mark(table), BOUND, "the first stop's SIGTERM")
        asked = time.monotonic()
        again = pool.submit(InstanceTable(tmp_path).stop, NAME, entry["pid"], 0.5, "again")
        assert "exited" in again.result(timeout=BOUND)["at"]
        took = time.monotonic() - asked
        assert "exited" in first.result(timeout=BOUND)["at"]
    assert 0.5 <= took < 2.0, f"the second stop took {took:.2f}s"
    assert terms(out) == 1 and "exit" not in out.read_text(), "killed, told once"
    assert proc_stat(entry["pid"]) is None


needs_root = pytest.mark.skipif(not priority.can_raise_to(0) and os.environ.get("CI") != "true",
                                reason="giving a nice value back needs CAP_SYS_NICE (root)")


@needs_root
def test_a_yielding_stop_after_its_agent_was_killed_gives_back_at_the_first_half_grace(
        tmp_path):
    """The first, yielding stop lowered the app and was cut off; the next yielding stop
    keeps the first's schedule: its own priority back at half the first's grace."""
    table, entry, out = counter(tmp_path, drain=-1)
    pid, grace = entry["pid"], 3.0
    own = os.getpriority(os.PRIO_PGRP, pid)
    first = agent("--serve")
    first.stdin.write(stop_request(tmp_path, entry, grace, yielding=True))
    first.stdin.flush()
    sent = wait_until(lambda: (mark(table) or {}).get("signalled") and mark(table), BOUND,
                      "the first stop's SIGTERM sent")["sent"]
    assert os.getpriority(os.PRIO_PGRP, pid) == priority.LOW
    os.kill(first.pid, signal.SIGKILL)
    first.wait(BOUND)
    second = threading.Thread(target=table.stop, args=(NAME, pid, grace, "again", True))
    second.start()
    try:
        wait_until(lambda: proc_stat(pid) is None or os.getpriority(os.PRIO_PGRP, pid) == own,
                   BOUND, "its priority given back")
        back = time.monotonic() - sent
        assert proc_stat(pid) is not None, "given back before the SIGKILL, not by it"
        assert grace / 2 - 0.1 <= back < grace, back
    finally:
        second.join(BOUND)
    assert terms(out) == 1 and proc_stat(pid) is None


def test_a_stop_on_a_full_disk_still_stops_the_instance(tmp_path, monkeypatch):
    """The mark and the record's removal are unsynced writes of the state folder: one that
    fails (ENOSPC: the disk filled, as deployments find it) must not keep the SIGTERM from
    going out. It did: the stop raised before it signalled, so nothing could stop the app,
    `zerodown down` included."""
    table, entry, out = counter(tmp_path, drain=0.2)
    real = Registry.ready  # (save's too): the mark, its record sent, the removal

    def full(self, entries, sync=False):
        if not sync:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, entries, sync)
    monkeypatch.setattr(Registry, "ready", full)
    answer = table.stop(NAME, entry["pid"], 10, f"instance {NAME}")
    assert "exited" in answer["at"]
    assert terms(out) == 1 and out.read_text().splitlines()[-1] == "exit"
    assert proc_stat(entry["pid"]) is None
