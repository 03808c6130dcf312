"""A serving agent's log stampers forked by the process it keeps for it
(zerodown/hosts/stamper_forker.py): what the stampers forked from the agent itself
guaranteed (tests/component/test_stamper.py) holds, the agent still knows when each ended,
and a forker gone or stuck leaves the agent forking them itself, never two on one pipe."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from zerodown.hosts.local import start_time

ROOT = Path(__file__).resolve().parents[2]

# An agent's start and part (hosts/agent.py serve: keep_forker first), then what the test
# asks by argv[2]: the forker's pid, each instance's and its stamper's; the agent then
# waits for a line on stdin (a test's cue) before it ends.
AGENT = r"""
import json, os, signal, sys, time
from zerodown.hosts import local, stamper, stamper_forker
stamper_forker.ANSWER_WAIT = 1.0
stamper.keep_forker()
forker = stamper._forker.pid
folder, how = sys.argv[1], sys.argv[2]
if how == "forker killed":
    os.kill(forker, signal.SIGKILL)
elif how == "forker stuck":
    os.kill(forker, signal.SIGSTOP)
began = time.monotonic()
spawned = [local.spawn([sys.executable, "-c", "import time; print('up', flush=True); "
                        "time.sleep(60)"], cwd=folder, env=None,
                       log_path=f"{folder}/i{i}.log", banner="t", stamp=True)
           for i in range(2)]
print(json.dumps({"forker": forker, "instances": [p.pid for p in spawned],
                  "stampers": [local._stampers[f"{folder}/i{i}.log"] for i in range(2)],
                  "kept": sorted(stamper._kept), "forked": sorted(stamper._forked),
                  "took": time.monotonic() - began, "me": os.getpid()}), flush=True)
sys.stdin.readline()
"""


def _wait(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def _agent(tmp_path, how: str):
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(tmp_path), how], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return agent, json.loads(agent.stdout.readline())


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _stamped(log: Path) -> bool:
    return bool(re.search(r"^\d{4}-\d\d-\d\dT[\d:.]+ up$", log.read_text(), re.M))


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_the_kept_forker_forks_the_stampers_and_ends_with_the_agent(tmp_path):
    agent, got = _agent(tmp_path, "as is")
    try:
        forker, stampers = got["forker"], got["stampers"]
        assert got["kept"] == sorted(stampers) and got["forked"] == [], got
        for pid, i in zip(stampers, range(2)):
            assert _ppid(pid) == forker, "the forker's child, not the agent's"
            fds = lambda: sorted(os.listdir(f"/proc/{pid}/fd"))  # noqa: E731
            assert _wait(lambda: fds() == ["0", "1", "2"]), fds()
            assert os.readlink(f"/proc/{pid}/fd/1") == str(tmp_path / f"i{i}.log")
            assert os.readlink(f"/proc/{pid}/fd/2") == os.devnull
            assert os.getsid(pid) == pid, "a session of its own"
            assert _wait(lambda: _stamped(tmp_path / f"i{i}.log"))
        # the forker holds none of the agent's files: not its stdin and stdout, the SSH
        # channel, which must close when the agent ends
        assert sorted(os.readlink(f"/proc/{forker}/fd/{fd}") for fd in "012") \
            == [os.devnull] * 3
        assert len(os.listdir(f"/proc/{forker}/fd")) == 4, "and its socket to the agent"
        agent.stdin.write("end\n")
        agent.stdin.close()
        assert agent.stdout.read() == "" and agent.wait(10) == 0
        assert _wait(lambda: start_time(forker) is None), "the forker ended with the agent"
        assert all(start_time(pid) is not None for pid in stampers), "its stampers go on"
    finally:
        _kill(got["instances"])
    assert _wait(lambda: all(start_time(pid) is None for pid in stampers)), \
        "each stamper ends with its instance"


def test_the_agent_knows_when_a_stamper_of_the_forker_ended(tmp_path):
    """Its stampers are the forker's children: the agent learns their end by pidfd (the
    crash's last lines: settle_log) and forgets them (collected by the forker: in
    tests/component/test_stamper.py)."""
    script = r"""
import os, sys, time
from zerodown.hosts import local, stamper
stamper.keep_forker()
log = sys.argv[1] + "/i.log"
proc = local.spawn([sys.executable, "-S", "-c", "import sys; print('crashing on purpose'); "
                    "sys.exit(3)"], cwd=sys.argv[1], env=None, log_path=log, banner="t",
                   stamp=True)
(pid,) = stamper._kept
assert proc.wait(10) == 3
local.settle_log(log, timeout=10)
print(local.tail(log, 1)[0].endswith("crashing on purpose"), pid in stamper._kept)
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == ["True False"], \
        done.stdout + done.stderr


def test_a_forker_killed_leaves_the_agent_forking_its_stampers_itself(tmp_path):
    agent, got = _agent(tmp_path, "forker killed")
    try:
        assert got["kept"] == [] and got["forked"] == sorted(got["stampers"]), got
        assert all(_ppid(pid) == got["me"] for pid in got["stampers"])
        assert all(_wait(lambda: _stamped(tmp_path / f"i{i}.log")) for i in range(2))
    finally:
        agent.stdin.close()
        agent.wait(10)
        _kill(got["instances"])


def test_a_stuck_forker_is_killed_and_never_starts_a_second_stamper(tmp_path):
    """A forker that does not answer (stopped here) is killed once its answer is late, and
    the stamper forked by the agent: had it been let go on, the request it holds would
    have forked a second reader of the instance's pipe once it resumed."""
    agent, got = _agent(tmp_path, "forker stuck")
    try:
        assert got["kept"] == [] and got["forked"] == sorted(got["stampers"]), got
        assert 1.0 <= got["took"] < 5, "one late answer waited for, then no more"
        assert start_time(got["forker"]) is None, "killed and collected"
        for i, instance in enumerate(got["instances"]):
            pipe = os.readlink(f"/proc/{instance}/fd/1")
            readers = lambda: [pid for pid in map(int, filter(str.isdigit,  # noqa: E731
                                                              os.listdir("/proc")))
                               if _reads(pid, pipe)]
            # (a stamper just forked takes the pipe as its stdin a moment later)
            assert _wait(lambda: readers() == [got["stampers"][i]]), (pipe, readers())
            assert _wait(lambda: _stamped(tmp_path / f"i{i}.log"))
    finally:
        agent.stdin.close()
        agent.wait(10)
        _kill(got["instances"])


def _reads(pid: int, pipe: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/fd/0") == pipe
    except OSError:
        return False
