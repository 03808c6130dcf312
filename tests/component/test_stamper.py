"""The log stamper (zerodown/hosts/stamper.py) as zerodown's agent starts it: forked from
the one-threaded agent, not a new interpreter (whose start an instance starting at the same
moment waits for), holding nothing of the agent's but what it reads and writes."""

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
# An agent's part: start a stamped instance (it prints, then sleeps), say the pids, exit.
AGENT = r"""
import json, os, sys
from zerodown.hosts import local
proc = local.spawn([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                   cwd=sys.argv[1], env=None, log_path=sys.argv[1] + "/i.log", banner="t",
                   stamp=True)
helpers = [c for c, _, _ in local.children(os.getpid()) if c != proc.pid]
print(json.dumps({"instance": proc.pid, "stampers": helpers, "me": os.getpid()}), flush=True)
"""


def _wait(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def _stamped(log: Path) -> bool:
    return bool(re.search(r"^\d{4}-\d\d-\d\dT[\d:.]+ up$", log.read_text(), re.M))


def _readers(pipe: str) -> list[int]:
    """The pids of the processes whose stdin is `pipe` (as /proc/PID/fd names it)."""
    found = []
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            if os.readlink(f"/proc/{pid}/fd/0") == pipe:
                found.append(pid)
        except OSError:
            pass  # ended, or not ours to look at
    return found


def test_the_agent_forks_its_stampers_and_they_keep_none_of_its_files(tmp_path):
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(tmp_path)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    # the agent's stdin and stdout are its SSH channel: they must close when it ends, even
    # with its instance and the stamper running on (a stamper holding them hangs this read)
    out, _ = agent.communicate(timeout=20)
    pids = json.loads(out)
    instance, stampers = pids["instance"], pids["stampers"]
    try:
        assert len(stampers) == 1, f"one stamper beside the instance: {pids}"
        (pid,) = stampers
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert b"-S" not in argv, "forked from the agent, no new interpreter started"
        # closed after its fds 0-2 are replaced, which ended the agent's channel: a moment
        # after the agent's output ended on a busy machine
        fds = lambda: sorted(os.listdir(f"/proc/{pid}/fd"))  # noqa: E731
        assert _wait(lambda: fds() == ["0", "1", "2"]), fds()
        assert os.readlink(f"/proc/{pid}/fd/1") == str(tmp_path / "i.log")
        assert os.readlink(f"/proc/{pid}/fd/2") == os.devnull
        assert os.getsid(pid) == pid, "a session of its own: a stop of the instance's leaves it"
        assert _wait(lambda: _stamped(tmp_path / "i.log"))
    finally:
        os.killpg(instance, signal.SIGKILL)
    # the instance gone, its pipe has no writer: the stamper ends with it
    assert _wait(lambda: start_time(pid) is None)


def test_the_agent_compiles_the_stamper_once_and_each_pipe_has_one_reader(tmp_path):
    """The stamper's code is compiled in the agent once, not in each forked child (~1.5 ms
    of CPU beside its instance's boot), and each instance's pipe is read by its own stamper
    and nothing else (two readers would split its lines between two logs)."""
    script = r"""
import builtins, json, sys
from zerodown.hosts import local, stamper
compiled, compile_ = [], builtins.compile
def counting(source, *args, **kwargs):
    compiled.append(source == stamper.STAMPER)
    return compile_(source, *args, **kwargs)
builtins.compile = counting
folder = sys.argv[1]
spawned = [local.spawn([sys.executable, "-c", "import time; print('up', flush=True); "
                        "time.sleep(60)"], cwd=folder, env=None,
                       log_path=f"{folder}/i{i}.log", banner="t", stamp=True)
           for i in range(2)]
print(json.dumps({"instances": [p.pid for p in spawned], "compiled": sum(compiled),
                  "stampers": [local._stampers[f"{folder}/i{i}.log"] for i in range(2)]}))
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    try:
        assert got["compiled"] == 1, got
        for i, instance in enumerate(got["instances"]):
            pipe = os.readlink(f"/proc/{instance}/fd/1")
            # (a stamper just forked takes the pipe as its stdin a moment later)
            assert _wait(lambda: _readers(pipe) == [got["stampers"][i]]), \
                (pipe, _readers(pipe), got)
            assert _wait(lambda: _stamped(tmp_path / f"i{i}.log"))
    finally:
        for instance in got["instances"]:
            os.killpg(instance, signal.SIGKILL)


def test_a_long_running_agent_collects_its_ended_stampers(tmp_path):
    """The agent answers calls until its session ends: the stamper of an instance that
    stopped is collected after the next call (reap_ended), not left a zombie until the
    next start."""
    script = r"""
import os, sys, time
from zerodown.hosts import local, stamper
proc = local.spawn([sys.executable, "-c", "pass"], cwd=sys.argv[1], env=None,
                   log_path=sys.argv[1] + "/i.log", banner="t", stamp=True)
(pid,) = stamper._forked
proc.wait()
deadline = time.monotonic() + 10
while stamper._forked and time.monotonic() < deadline:
    local.reap_ended()   # what the agent does after each answer
    time.sleep(0.02)
print(stamper._forked, os.path.exists(f"/proc/{pid}"))
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.split() == ["[]", "False"], done.stdout + done.stderr


def test_an_exited_instances_last_lines_are_in_its_log_once_settled(tmp_path):
    """A crash's reason is in the instance's last lines: read after it exited, they may still
    be in the pipe (the stamper starts after the instance, slower on a busy machine) —
    settle_log waits for the stamper to write them (a CI run read the tail without them)."""
    import threading
    from zerodown.hosts import local
    log = tmp_path / "i.log"
    script = "import sys\nprint('crashing on purpose')\nsys.exit(3)"
    done = threading.Event()
    other = threading.Thread(target=done.wait)  # as in the controller: the stamper is a
    other.start()                                 # new interpreter, not a fork
    try:
        proc = local.spawn([sys.executable, "-S", "-c", script], cwd=str(tmp_path), env=None,
                           log_path=log, banner="t", stamp=True)
    finally:
        done.set()
        other.join()
    assert proc.wait(10) == 3
    local.settle_log(log)
    assert local.tail(log, 1)[0].endswith("crashing on purpose")
    local.forget(proc.pid)
