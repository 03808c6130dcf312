"""The local runtime against real child processes of examples/app/app.py."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import APP, REPO, get, wait_until, wait_until_refused
from zerodown.config import parse_config
from zerodown.errors import ConfigError, RuntimeFailure
from zerodown.model import Instance, Revision, Slot
from zerodown.hosts.local import LOCAL, exit_code, start_time, terminate
from zerodown.hosts.registry import Registry
from zerodown.protocols import Host
from zerodown.runtimes.local import LocalRuntime

IGNORES_SIGTERM = """\
import signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("ignoring SIGTERM", flush=True)
while True:
    time.sleep(60)
"""


def config(tmp_path: Path, *, command=None, env=None, cwd=None, health=None):
    """A ServiceConfig parsed from YAML, as if read from tmp_path/zerodown.yaml."""
    command = command or [sys.executable, str(APP), "--port", "{port}", "--version", "{version}"]
    source = (f"service: shop\nlisten: 127.0.0.1:8080\n"
              f"app:\n  command: {json.dumps(command)}\n  env: {json.dumps(env or {})}\n"
              + (f"  cwd: {cwd}\n" if cwd else "")
              + f"health: {json.dumps(health or {'timeout': '1s'})}\nstop_grace: 5s\n")
    return parse_config(source, file=str(tmp_path / "zerodown.yaml"))


def revision(cfg, number: int = 1, version: str = "v1") -> Revision:
    return Revision("shop", number, version, cfg.app, cfg.health)


def wait_healthy(rt: LocalRuntime, inst: Instance, rev: Revision, timeout: float = 10.0) -> str:
    last = []

    def probe():
        ok, seen = rt.healthy(inst, rev)
        last.append(seen)
        return ok
    try:
        wait_until(probe, timeout, f"{inst.id} healthy")
    except AssertionError:
        raise AssertionError(f"{inst.id} not healthy within {timeout:g}s; last: {last[-1]}") from None
    return last[-1]


def wait_reason(rt: LocalRuntime, inst: Instance, rev: Revision, text: str,
                timeout: float = 10.0, never_ok: bool = True) -> str:
    """Probe until the reason contains `text` (with never_ok, no probe may pass meanwhile)."""
    seen: list[tuple[bool, str]] = []

    def probe():
        seen.append(rt.healthy(inst, rev))
        return text in seen[-1][1]
    try:
        wait_until(probe, timeout, f"{text!r} from {inst.id}")
    except AssertionError:
        raise AssertionError(f"never saw {text!r}; last: {seen[-1]}") from None
    assert not (never_ok and any(ok for ok, _ in seen)), seen
    return seen[-1][1]


@pytest.fixture
def state_dir(tmp_path):
    """The runtime's state directory; every instance recorded there is killed at the end."""
    path = tmp_path / "state"
    yield path
    if path.exists():
        for entry in Registry(path / "instances.json").load().values():
            if entry.get("pid"):
                terminate(entry["pid"], entry["start_time"], 0.5, entry["address"])


def test_started_instance_becomes_healthy_and_serves(tmp_path, state_dir):
    cfg = config(tmp_path)
    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    inst = rt.start(rev, Slot(0))
    assert inst.id == "shop-r1-s0" and inst.address.startswith("127.0.0.1:") and inst.pid
    seen = wait_healthy(rt, inst, rev)
    assert seen == f"HTTP 200 from {inst.address}/healthz"
    reply = get(int(inst.address.rsplit(":", 1)[1]), "/")
    assert reply.status == 200 and reply.text == "hello from v1\n"
    assert rt.alive(inst)


def test_reason_while_starting_is_connection_refused(tmp_path, state_dir):
    cfg = config(tmp_path, env={"APP_START_DELAY": "1"})
    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    inst = rt.start(rev, Slot(0))
    assert rt.healthy(inst, rev) == (False, f"connection refused by {inst.address}/healthz")
    wait_healthy(rt, inst, rev)


def test_start_twice_returns_the_same_instance(tmp_path, state_dir):
    cfg = config(tmp_path)
    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    first = rt.start(rev, Slot(0))
    assert rt.start(rev, Slot(0)) == first
    other = rt.start(rev, Slot(1))
    assert other.pid != first.pid and other.address != first.address
    assert len(Registry(state_dir / "instances.json").load()) == 2


def test_stop_sends_sigterm_and_the_app_exits_cleanly(tmp_path, state_dir):
    cfg = config(tmp_path)
    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    inst = rt.start(rev, Slot(0))
    wait_healthy(rt, inst, rev)
    began = time.monotonic()
    rt.stop(inst, grace=5)
    assert time.monotonic() - began < 4, "a clean SIGTERM exit must not wait for the grace period"
    assert not rt.alive(inst) and exit_code(inst.pid) is None  # reaped and forgotten
    wait_until_refused("127.0.0.1", int(inst.address.rsplit(":", 1)[1]), 2)
    # its last line, written to its log stamper's pipe just before it exited, reaches the
    # file when the stamper has read it (the app exits within ~1 ms of that line)
    wait_until(lambda: "stopped on SIGTERM" in Path(rt.logs(inst)).read_text(), 5,
               "the app's last line in its log")
    rt.stop(inst, grace=5)  # idempotent
    # its exit, recorded in its log as it was reaped, said whoever asks later
    assert re.match(r"instance shop-r1-s0 \(pid \d+\) exited with status 0; last log lines",
                    rt.healthy(inst, rev)[1]), rt.healthy(inst, rev)[1]


def test_a_process_ignoring_sigterm_is_killed_after_grace(tmp_path, state_dir):
    cfg = config(tmp_path, command=[sys.executable, "-c", IGNORES_SIGTERM, "{port}"],
                 health={"tcp": True, "timeout": "1s"})
    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    inst = rt.start(rev, Slot(0))
    assert wait_healthy(rt, inst, rev) == f"TCP connect to {inst.address} succeeded"
    wait_until(lambda: "ignoring SIGTERM" in Path(rt.logs(inst)).read_text(), 5, "handler set")
    began = time.monotonic()
    rt.stop(inst, grace=0.5)
    took = time.monotonic() - began
    assert 0.5 <= took < 5, took
    assert not rt.alive(inst) and start_time(inst.pid) is None


def test_unhealthy_app_is_never_healthy_and_says_why(tmp_path, state_dir):
    cfg = config(tmp_path, env={"APP_UNHEALTHY": "1"})
    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    inst = rt.start(rev, Slot(0))
    reason = wait_reason(rt, inst, rev, "HTTP 503")
    assert reason == f"HTTP 503 from {inst.address}/healthz (expected 200)"
    assert all(rt.healthy(inst, rev) == (False, reason) for _ in range(3))


def test_crashing_app_is_reported_with_exit_code_and_log_tail(tmp_path, state_dir):
    cfg = config(tmp_path, env={"APP_CRASH_AFTER": "0.3"})
    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    inst = rt.start(rev, Slot(0))
    reason = wait_reason(rt, inst, rev, "exited with status 3", never_ok=False)
    assert "last log lines" in reason and "crashing on purpose" in reason
    assert not rt.alive(inst)
    again = rt.start(rev, Slot(0))  # a dead instance is started afresh, not returned
    assert again.pid != inst.pid and rt.alive(again)


def test_instance_outlives_its_controller_and_is_adopted(tmp_path, state_dir):
    cfg = config(tmp_path)
    (tmp_path / "zerodown.yaml").write_text(json.dumps(cfg.source))
    controller = ("import json, sys\n"
                  "from zerodown.config import load_config\n"
                  "from zerodown.model import Revision, Slot\n"
                  "from zerodown.runtimes.local import LocalRuntime\n"
                  "cfg = load_config(sys.argv[1])\n"
                  "rt = LocalRuntime(sys.argv[2], cfg)\n"
                  "i = rt.start(Revision('shop', 1, 'v1', cfg.app, cfg.health), Slot(0))\n"
                  "print(json.dumps([i.pid, i.address]))\n")
    out = subprocess.run([sys.executable, "-c", controller, str(tmp_path / "zerodown.yaml"),
                          str(state_dir)], cwd=REPO, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    pid, address = json.loads(out.stdout)  # the controller has exited; the instance runs on

    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    adopted = rt.adopt("shop")
    assert [(i.id, i.pid, i.address) for i in adopted] == [("shop-r1-s0", pid, address)]
    assert rt.adopt("other") == []
    assert rt.start(rev, Slot(0)) == adopted[0], "a recorded live instance is not started twice"
    wait_healthy(rt, adopted[0], rev)
    rt.stop(adopted[0], grace=5)  # not our child: gone is seen through /proc
    assert start_time(pid) is None and rt.adopt("shop") == []


def test_a_reused_pid_is_not_adopted(tmp_path, state_dir):
    cfg = config(tmp_path)
    state_dir.mkdir()
    me = os.getpid()  # alive, but not the process that was recorded
    fake = {"service": "shop", "revision": 1, "version": "v1", "slot": 0, "host": "local",
            "address": "127.0.0.1:9", "port": 9, "command": ["x"], "cwd": "/",
            "pid": me, "start_time": start_time(me) - 1}
    (state_dir / "instances.json").write_text(json.dumps({"instances": {"shop-r1-s0": fake}}))
    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    assert rt.adopt("shop") == []
    assert not rt.alive(Instance("shop", 1, Slot(0), "127.0.0.1:9", me))
    inst = rt.start(rev, Slot(0))
    assert inst.pid != me
    rt.stop(Instance("shop", 1, Slot(0), "127.0.0.1:9", me), grace=1)  # not ours: untouched
    assert rt.alive(inst)


def test_each_instance_has_its_own_log(tmp_path, state_dir):
    cfg = config(tmp_path)
    rt = LocalRuntime(state_dir, cfg)
    a, b = rt.start(revision(cfg, 1, "v1"), Slot(0)), rt.start(revision(cfg, 2, "v2"), Slot(1))
    assert rt.logs(a) == str(state_dir / "logs" / "shop-r1-s0.log")
    assert rt.logs(b) == str(state_dir / "logs" / "shop-r2-s1.log")
    for inst, version in ((a, "v1"), (b, "v2")):
        wait_until(lambda: f"app {version} pid {inst.pid}: listening" in Path(rt.logs(inst)).read_text(),
                   10, f"{inst.id} log")
    assert "v2" not in Path(rt.logs(a)).read_text().split("listening")[-1]


def test_a_port_answered_by_a_stranger_is_not_healthy(tmp_path, state_dir, app_factory):
    cfg = config(tmp_path, command=[sys.executable, "-c", "import time; time.sleep(60)", "{port}"])
    rt, rev = LocalRuntime(state_dir, cfg), revision(cfg)
    inst = rt.start(rev, Slot(0))
    app_factory("stranger", port=int(inst.address.rsplit(":", 1)[1]))  # takes our port first
    ok, reason = rt.healthy(inst, rev)
    assert not ok and "another process took it" in reason and f"pid {inst.pid}" in reason


def test_missing_cwd_and_command_are_named(tmp_path, state_dir):
    cfg = config(tmp_path, cwd="nowhere")
    with pytest.raises(RuntimeFailure, match=rf"shop-r1-s0: working directory {tmp_path}/nowhere does not exist"):
        LocalRuntime(state_dir, cfg).start(revision(cfg), Slot(0))
    cfg = config(tmp_path, command=["no-such-program-zd", "{port}"])
    with pytest.raises(RuntimeFailure, match=r"shop-r1-s0: cannot run 'no-such-program-zd'"):
        LocalRuntime(state_dir, cfg).start(revision(cfg), Slot(0))
    assert Registry(state_dir / "instances.json").load() == {}


def test_app_release_is_the_working_directory_locally_with_app_cwd_inside_it(tmp_path,
                                                                             state_dir):
    (tmp_path / "releases/v1/web").mkdir(parents=True)
    cfg = config(tmp_path, cwd="web")
    cfg = dataclasses.replace(cfg, app=dataclasses.replace(cfg.app, release="releases/{version}"))
    rt = LocalRuntime(state_dir, cfg)
    inst = rt.start(revision(cfg), Slot(0))
    try:
        assert os.readlink(f"/proc/{inst.pid}/cwd") == str(tmp_path / "releases/v1/web")
    finally:
        rt.stop(inst, grace=3)
    with pytest.raises(ConfigError, match=r"app.cwd: version v2: release folder .*releases/v2/web"):
        rt.check_release(cfg.app, "v2")


def test_the_local_host_names_a_process_by_pid_and_start_time(tmp_path):
    """Routers and the runtime ask a Host, not /proc: the local one passes the protocol,
    and a pid whose start time differs (a reused pid) is not the process it was."""
    assert isinstance(LOCAL, Host)
    proc = LOCAL.spawn([sys.executable, "-c", "import time; time.sleep(60)"], cwd=None, env=None,
                       log_path=tmp_path / "sleep.log", banner="a sleeper")
    started = LOCAL.start_time(proc.pid)
    assert started is not None and LOCAL.running(proc.pid, started)
    assert not LOCAL.running(proc.pid, started + 1)
    assert LOCAL.parent_of(proc.pid) == os.getpid()
    assert any(pid == proc.pid for pid, _ in LOCAL.processes())
    LOCAL.terminate(proc.pid, started, 5.0, "the sleeper")
    assert not LOCAL.running(proc.pid, started) and LOCAL.wait_gone(proc.pid, started, 0.1)
    assert LOCAL.exit_code(proc.pid) == -15
    LOCAL.forget(proc.pid)
    assert LOCAL.exit_code(proc.pid) is None
    banner, ended = LOCAL.tail(tmp_path / "sleep.log", 2)
    assert banner.endswith("a sleeper") and ended.endswith(f": pid {proc.pid} killed by SIGTERM")
