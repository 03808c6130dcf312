"""How an instance ended, said by whoever asks after (zerodown/hosts/exits.py): its parent
records the exit in its log as it reaps it; a zombie's status is read from /proc before
that; nobody's (its parent gone when it ended) is said unknown, never guessed. Real
processes; the service's case through the command line and its controller."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.cli import Service
from tests.support.net import wait_until
from zerodown.hosts import exits, local
from zerodown.hosts.instances import InstanceTable


def zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return stat[stat.rindex(b")") + 2:].split()[0] == b"Z"


def test_a_zombie_s_status_is_read_from_proc_before_its_parent_reaps_it(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("")
    quits = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(0.2); "
                              "sys.exit(7)"])
    killed = subprocess.Popen(["sleep", "60"])
    try:
        started = {p.pid: local.start_time(p.pid) for p in (quits, killed)}
        os.kill(killed.pid, signal.SIGKILL)
        wait_until(lambda: zombie(quits.pid) and zombie(killed.pid), 10, "both zombies")
        assert exits.ended(log, quits.pid, started[quits.pid]) == {"status": 7}
        assert exits.ended(log, killed.pid, started[killed.pid]) == {"signal": "SIGKILL"}
        assert exits.ended(log, quits.pid, started[quits.pid] + 1) == {}, "another start"
    finally:
        quits.wait()
        killed.wait()
    assert exits.ended(log, quits.pid, started[quits.pid]) == {}, "reaped by a stranger"
    assert exits.words({}) == "ended; its exit status is unknown"


def test_the_parent_records_the_exit_that_a_table_in_another_process_reads(tmp_path):
    """The instance started here (this process its parent, as an agent session is); the
    table asked from another process (another session, a later status) reads the line."""
    table = InstanceTable(tmp_path)
    table.claim("shop-r1-s0", {"service": "shop", "revision": 1, "version": "v1", "slot": 0,
                               "host": None}, "127.0.0.1")
    entry = table.launch("shop-r1-s0", [sys.executable, "-c", "import sys; sys.exit(3)"],
                         str(tmp_path), dict(os.environ), "starting shop-r1-s0")
    wait_until(lambda: not local.running(entry["pid"], entry["start_time"]), 10, "its exit")
    asked = subprocess.run(
        [sys.executable, "-c", "import json, sys; from zerodown.hosts.instances import "
         "InstanceTable; print(json.dumps(InstanceTable(sys.argv[1]).ended(sys.argv[2], "
         "int(sys.argv[3]), 5)))", str(tmp_path), "shop-r1-s0", str(entry["pid"])],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    got = json.loads(asked.stdout)
    assert got["how"] == {"status": 3}, asked
    assert got["tail"][-1].endswith(f": pid {entry['pid']} exited with status 3"), got


def test_an_orphan_reaped_by_init_is_said_unknown(tmp_path):
    log = tmp_path / "orphan.log"
    log.write_text("")
    out = subprocess.run(["sh", "-c", "sleep 0.3 & echo $!"], capture_output=True, text=True)
    pid = int(out.stdout)
    started = local.start_time(pid)
    # reaped, not only ended: an init that reaps by polling (this machine's PID 1 takes
    # ~1.5 s) leaves a zombie meanwhile, whose status is read from /proc, rightly
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the orphan reaped by init")
    assert exits.ended(log, pid, started) == {}


def test_status_says_an_instance_was_killed_by_sigkill(tmp_path):
    """The controller started the instances (its daemon their parent): one killed,
    `zerodown status` and its JSON (the dashboard's) say how it ended."""
    s = Service(tmp_path)
    try:
        s.run("up")
        victim, other = sorted(s.pids())
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: "killed by SIGKILL" in s.run("status").stdout, 20,
                   "status saying the instance was killed")
        health = {i["pid"]: (i["alive"], i["health"]) for i in s.status()["instances"]}
        assert health[victim] == (False, "killed by SIGKILL"), health
        assert health[other][0] is True, health
    finally:
        left = s.cleanup()
    assert not left, f"processes left after the test: {left}"
