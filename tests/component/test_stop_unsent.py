"""A stop whose sender was killed (SIGKILL) after it marked the instance stopping and before
its SIGTERM went (hosts/stop_once.py): the next stop tells the app, as a first stop would —
a SIGTERM, then the grace — instead of SIGKILLing it at a deadline it never heard of. On
real processes: the sender is the local runtime's controller (the daemon), a stop in a
process of its own as the controller runs it (InstanceTable.stop), or a host's agent as
the ssh runtime asks it. Each lands exactly between the mark and the signal by a test-only
fault point (tests/support/die_before_sigterm/sitecustomize.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.component.test_stop_once import (  # noqa: F401 (nothing_left: autouse)
    BOUND, NAME, counter, mark, nothing_left, stop_request, terms)
from tests.component.test_stop_intent_kill import read
from tests.support import REPO
from tests.support.cli import Service, alive
from tests.support.net import wait_until
from zerodown.hosts.instances import InstanceTable
from zerodown.hosts.local import code_root, proc_stat
from zerodown.runtimes.release import instance_of

FAULT = REPO / "tests" / "support" / "die_before_sigterm"

# A stop as the local runtime's controller runs it, in a process of its own.
STOP = """
import sys
from zerodown.hosts.instances import InstanceTable
InstanceTable(sys.argv[1]).stop(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), "test")
"""


def armed(flag: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (else ours) for a process that dies where its first stop's SIGTERM would go."""
    flag.touch()
    return {**(env or os.environ), "PYTHONPATH": f"{FAULT}{os.pathsep}{REPO}",
            "ZERODOWN_TEST_DIE_BEFORE_SIGTERM": str(flag)}


def killed_before_its_sigterm(tmp_path: Path, entry: dict, grace: float, how: str) -> None:
    """A first stop of the instance, its process SIGKILLed between mark and signal."""
    env = armed(tmp_path / "armed")
    if how == "agent":
        proc = subprocess.Popen([sys.executable, "-m", "zerodown.hosts.agent"], cwd=code_root(),
                                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        proc.communicate(stop_request(tmp_path, entry, grace), timeout=BOUND)
    else:
        proc = subprocess.Popen([sys.executable, "-c", STOP, str(tmp_path), NAME,
                                 str(entry["pid"]), str(grace)], env=env)
        proc.wait(BOUND)
    assert proc.returncode == -signal.SIGKILL, proc.returncode
    assert not (tmp_path / "armed").exists(), "the fault point was not reached"


@pytest.mark.parametrize("how", ["controller", "agent"])
def test_a_stop_killed_between_its_mark_and_its_sigterm_is_sent_by_the_next(tmp_path, how):
    """The app drains and exits by itself (0.5 s after its SIGTERM), well within the grace:
    before, the next stop sent nothing and SIGKILLed it at the first stop's deadline."""
    table, entry, out = counter(tmp_path, drain=0.5)
    grace = 10.0
    killed_before_its_sigterm(tmp_path, entry, grace, how)
    assert mark(table)["signalled"] is False, mark(table)
    assert terms(out) == 0 and proc_stat(entry["pid"]) is not None
    # what the resumed controller's adopt finds: a stop under way (engine/reconciling.py)
    assert [instance_of(e).stopping for e in table.adopt("shop")] == [True]
    asked = time.monotonic()
    answer = InstanceTable(tmp_path).stop(NAME, entry["pid"], grace, f"instance {NAME}")
    took = time.monotonic() - asked
    assert "exited" in answer["at"]
    assert terms(out) == 1, out.read_text()
    assert out.read_text().splitlines()[-1] == "exit", "it drained and exited by itself"
    assert 0.5 <= took < grace / 2, f"the stop took {took:.2f}s"
    assert proc_stat(entry["pid"]) is None and NAME not in table.registry.load()


def test_an_unsent_stop_resumed_has_its_grace_from_its_sigterm_the_shorter_one(tmp_path):
    """An app that never exits: SIGKILLed the shorter grace after the SIGTERM the next stop
    sent (not the first's deadline, nor the longer grace)."""
    table, entry, out = counter(tmp_path, drain=-1)
    killed_before_its_sigterm(tmp_path, entry, 1.0, "controller")
    asked = time.monotonic()
    answer = InstanceTable(tmp_path).stop(NAME, entry["pid"], 30, f"instance {NAME}")
    took = time.monotonic() - asked
    assert "exited" in answer["at"]
    assert terms(out) == 1 and "exit" not in out.read_text(), "killed, told once"
    assert 1.0 <= took < 2.5, f"SIGKILL {took:.2f}s after the SIGTERM"
    assert proc_stat(entry["pid"]) is None


def test_a_controller_killed_between_a_stop_s_mark_and_its_sigterm(tmp_path):
    """The whole path: deployment 2's controller (the daemon) dies at its first stop's
    SIGTERM, the instance marked and never told; the next command's controller resumes the
    deployment, whose reconcile stops it again: it gets SIGTERM and drains (its log says
    so), not a SIGKILL."""
    s = Service(tmp_path)
    try:
        assert "shop is up: r1 (v1) serves" in s.run("up").stdout
        old = {i["name"]: i["pid"] for i in s.status()["instances"]}
        first = re.findall(r"^ *\d+\. stop (shop-r1-s\d+)$", s.run("plan", "v2").stdout,
                           re.M)[0]
        s.run("controller", "--stop")  # the next one starts armed
        s.env = armed(tmp_path / "armed", s.env)
        s.run("deploy", "v2", "--detach")
        controller = int((s.state_dir / "controller.pid").read_text())
        wait_until(lambda: not alive(controller), 30, "the controller dead at its SIGTERM")
        assert not (tmp_path / "armed").exists(), "the fault point was not reached"
        entry = InstanceTable(s.state_dir).registry.load()[first]
        assert entry["stopping"]["signalled"] is False, entry
        assert alive(old[first])
        log = s.state_dir / "logs" / f"{first}.log"
        assert "stopped on" not in log.read_text()

        wait_until(lambda: s.status()["deployment"] is None, 60, "the deployment resumed")
        assert "succeeded" in s.run("history").stdout.splitlines()[1]
        wait_until(lambda: not alive(old[first]), 10, f"{first} gone")
        said = [m for (m,) in read(s.state_dir / "zerodown.db", "SELECT message FROM events "
                                   "WHERE kind = 'instance.stopping'")]
        assert any(m.startswith(f"stopping {first} at ") for m in said), said
        assert re.search(r"stopped on SIGTERM, drained \d+ busy", log.read_text()), \
            log.read_text()
        # (the run's end awaits the other old stop after the phase is written: soon after)
        wait_until(lambda: sorted(i["revision"] for i in s.status()["instances"]) == [2, 2],
                   30, "only r2's instances left")
    finally:
        left = s.cleanup()
    assert not left, f"processes left after the test: {left}"
