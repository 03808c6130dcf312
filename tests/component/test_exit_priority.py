"""A leaving instance's CPU priority (zerodown/hosts/priority.py, InstanceTable.stop and
hasten): lowered before a yielding stop's SIGTERM — its process group's nice and its
session's autogroup — and given back by hasten(), by a stop that does not yield, or by
the stop itself after half of stop_grace, while the process still shuts down."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from zerodown.hosts import priority
from zerodown.hosts.instances import InstanceTable
from zerodown.hosts.local import proc_stat
from tests.support.net import wait_until

RECORD = {"service": "shop", "revision": 1, "version": "v1", "slot": 0, "host": "local"}
BOUND = 10.0


def shutting_down_until(go) -> list[str]:
    """An app whose graceful shutdown lasts until the file `go` exists."""
    return [sys.executable, "-c",
            "import os, signal, time\n"
            "signal.signal(signal.SIGTERM, lambda *a: None)\n"
            f"open({str(go)!r} + '.ready', 'w').close()\n"
            "signal.pause()\n"
            f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"]


def ignoring_term(go) -> list[str]:
    return [sys.executable, "-c", "import signal, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            f"open({str(go)!r} + '.ready', 'w').close()\ntime.sleep(60)\n"]


def nice_of(pid: int) -> int | None:
    fields = proc_stat(pid)
    return int(fields[16]) if fields is not None else None  # field 19 of proc(5)


def both(pid: int) -> tuple[int | None, int | None]:
    return nice_of(pid), priority.autogroup_nice(pid)


def launched(tmp_path, argv) -> tuple[InstanceTable, dict]:
    """Launched, its SIGTERM handler in place."""
    table = InstanceTable(tmp_path)
    table.claim("shop-r1-s0", RECORD, "127.0.0.1")
    entry = table.launch("shop-r1-s0", argv, str(tmp_path), dict(os.environ), "test")
    wait_until(lambda: (tmp_path / "go.ready").exists(), BOUND)
    return table, entry


def stopping(table: InstanceTable, entry: dict, grace: float, yielding: bool) -> threading.Thread:
    thread = threading.Thread(target=table.stop, args=("shop-r1-s0", entry["pid"], grace,
                                                       "instance shop-r1-s0", yielding))
    thread.start()
    return thread


needs_root = pytest.mark.skipif(not priority.can_raise_to(0) and os.environ.get("CI") != "true",
                                reason="giving a nice value back needs CAP_SYS_NICE (root)")


@needs_root
def test_a_yielding_stop_lowers_the_leaving_process_and_hasten_gives_it_back(tmp_path):
    go = tmp_path / "go"
    table, entry = launched(tmp_path, shutting_down_until(go))
    pid = entry["pid"]
    own = both(pid)
    assert own[0] < priority.LOW and own[1] is not None and own[1] < priority.LOW
    thread = stopping(table, entry, grace=30, yielding=True)
    try:
        wait_until(lambda: both(pid) == (priority.LOW, priority.LOW), BOUND)
        wait_until(lambda: "yielded" in table.registry.load()["shop-r1-s0"], BOUND)
        InstanceTable(tmp_path).hasten(["shop-r1-s0"])  # another session of the agent
        assert both(pid) == own, "its own priority back while it still shuts down"
        assert thread.is_alive()
    finally:
        go.touch()
        thread.join(BOUND)
    assert not thread.is_alive() and proc_stat(pid) is None
    assert "shop-r1-s0" not in table.registry.load()


@needs_root
def test_a_yielding_stop_gives_the_priority_back_after_half_its_grace(tmp_path):
    """Whatever the controller does: a shutdown has half its grace at least at its own
    priority before a SIGKILL, however loaded the host."""
    table, entry = launched(tmp_path, ignoring_term(tmp_path / "go"))
    pid = entry["pid"]
    own = both(pid)
    began = time.monotonic()
    thread = stopping(table, entry, grace=2.0, yielding=True)
    try:
        wait_until(lambda: both(pid) == (priority.LOW, priority.LOW), BOUND)
        wait_until(lambda: both(pid) == own or proc_stat(pid) is None, BOUND)
        given_back = time.monotonic() - began
        assert proc_stat(pid) is not None, "given back before the SIGKILL, not by it"
        assert 0.9 <= given_back < 2.0, given_back
    finally:
        thread.join(BOUND)
    assert proc_stat(pid) is None


@needs_root
def test_a_stop_that_does_not_yield_gives_back_what_an_earlier_one_lowered(tmp_path):
    """A yielding stop cut off (its agent's session died) left the process low: the stop
    asked next (a reconcile's, the deployment's end) does not leave it starving."""
    go = tmp_path / "go"
    table, entry = launched(tmp_path, shutting_down_until(go))
    pid = entry["pid"]
    own = both(pid)
    first = stopping(table, entry, grace=30, yielding=True)
    second = None
    try:
        wait_until(lambda: "yielded" in table.registry.load()["shop-r1-s0"], BOUND)
        second = stopping(InstanceTable(tmp_path), entry, grace=30, yielding=False)
        wait_until(lambda: both(pid) == own, BOUND)
    finally:
        go.touch()
        first.join(BOUND)
        if second is not None:
            second.join(BOUND)
    assert proc_stat(pid) is None


NOT_ROOT = """
import json, os, subprocess, sys, time
sys.path.insert(0, {root!r})
from zerodown.hosts import priority
proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                        start_new_session=True)
for _ in range(40):  # the kernel takes one unprivileged autogroup write every 100 ms,
    was = priority.lower(proc.pid)  # machine-wide: a lowering skips it meanwhile
    if was:
        break
    time.sleep(0.05)
low = [os.getpriority(os.PRIO_PGRP, proc.pid), priority.autogroup_nice(proc.pid)]
priority.give_back(proc.pid, was)
back = [os.getpriority(os.PRIO_PGRP, proc.pid), priority.autogroup_nice(proc.pid)]
proc.kill()
print(json.dumps({{"was": was, "low": low, "back": back}}))
"""


PYTHON3 = "/usr/bin/python3"  # as a fleet host's agent; this venv's may be in root's home


@pytest.fixture
def readable_code():
    """A copy of zerodown's code that another user can read: the checkout may be in a
    folder only root enters (a fresh clone in `mktemp -d`, mode 700)."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    where = tempfile.mkdtemp(prefix="zd-code-", dir="/tmp")
    try:
        os.chmod(where, 0o755)
        shutil.copytree(os.path.join(repo, "zerodown"), os.path.join(where, "zerodown"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        for folder, _, files in os.walk(where):   # whatever umask the clone was made with
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        yield where
    finally:
        shutil.rmtree(where)


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(PYTHON3),
                    reason="runs the agent's code as another user")
def test_as_non_root_only_the_autogroup_is_lowered_since_only_it_can_be_given_back(
        readable_code):
    done = subprocess.run([PYTHON3, "-c", NOT_ROOT.format(root=readable_code)], user=65534,
                          group=65534, extra_groups=[], capture_output=True, text=True,
                          timeout=30, cwd="/", env={"PATH": os.environ.get("PATH", "")})
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["was"] == {"autogroup": 0}, "the nice untouched: it could not be raised back"
    assert got["low"] == [0, priority.LOW] and got["back"] == [0, 0]


@pytest.mark.parametrize("nice, caps, rlimit, can", [
    (0, 1 << priority.CAP_SYS_NICE, 0, True),
    (0, 0, 0, False),            # unprivileged, the default RLIMIT_NICE: only upwards
    (0, 0, 20, True),            # RLIMIT_NICE 20: down to 0
    (5, 0, 15, True),
    (4, 0, 15, False),
    (-5, 0, -1, True),           # RLIM_INFINITY
])
def test_whether_a_nice_value_can_be_given_back(nice, caps, rlimit, can):
    import resource
    rlimit = resource.RLIM_INFINITY if rlimit == -1 else rlimit
    assert priority.can_raise_to(nice, caps, rlimit) is can
