"""`zerodown deploy` beside a controller that is stuck says so within seconds, naming it
(pid, socket) and what to do, while one that is at work on a long pre-flight is waited
for, visibly, and its refusal heard.

A real controller of a fleet service whose one host accepts TCP and never says a word
(its pre-flight waits runtime.connect_timeout), made stuck by SIGSTOP (our own process,
by pid). Before, a controller stopped while it pre-flighted was waited for as long as a
fleet's release check may take (30 + connect_timeout + 10 + 3 x command_timeout: 230 s
with the default options), silently, then called busy; one stopped before the command
asked, 30 s."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.support.cli import Service, ours, service  # noqa: F401
from tests.support.net import silent, wait_until  # noqa: F401 (silent: a fixture)
from zerodown.api.client import LOOK, PROBE
from zerodown.api.patience import FIRST_SAID
from zerodown.daemon import process

SAID_WITHIN = PROBE + LOOK + 4.0  # the probe's bound, a slice, and a loaded machine's slack


@pytest.fixture
def fleet_service(tmp_path, silent):
    """A service on the silent host, its controller running (its pid); `connect_timeout`
    set by the test (fleet_service(seconds))."""
    made: list[Service] = []

    def make(connect_timeout: float) -> tuple[Service, int]:
        s = Service(tmp_path)
        (tmp_path / "known_hosts").write_text("")
        s.file.write_text(f"""\
service: shop
listen: 127.0.0.1:{s.port}
instances: 1
app:
  command: [python3, app.py, --port, "{{port}}"]
runtime:
  kind: ssh
  hosts: [{silent[0]}]
  known_hosts: {tmp_path / "known_hosts"}
  connect_timeout: {connect_timeout:g}s
""")
        made.append(s)
        assert "controller of shop runs" in s.run("controller").stdout
        pid = process.pid(s.state_dir)
        assert pid is not None
        return s, pid

    yield make
    for s in made:
        pid = process.pid(s.state_dir)
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        s.run("controller", "--stop", code=None)
        left = ours(s.state_dir)
        for p in left:
            os.kill(p, signal.SIGKILL)
        assert not left, f"processes left after the test: {left}"


def deploy(s: Service) -> subprocess.Popen:
    return subprocess.Popen(s.argv("deploy", "v2"), cwd=s.root, env=s.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def ended(proc: subprocess.Popen, within: float) -> tuple[str, str]:
    """Its output once it exits within `within` seconds; killed and failed otherwise."""
    try:
        return proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still waiting after {within:g}s on a stuck controller:\n{out}\n{err}")


def test_a_controller_stopped_on_the_deploys_preflight_is_named_within_seconds(
        fleet_service, silent):
    s, pid = fleet_service(60)   # the pre-flight alone holds the request a minute
    command = deploy(s)
    # the controller answered the command's look, took its request, and pre-flights
    wait_until(lambda: silent[1], timeout=30, what="the pre-flight's connection")
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    out, err = ended(command, SAID_WITHIN + 20)
    took = time.monotonic() - stopped
    assert took < SAID_WITHIN, f"said after {took:.1f}s of a stopped controller"
    assert command.returncode == 1, (out, err)
    assert f"the controller (pid {pid}) stopped answering while on deploy v2" in err, err
    assert f"its status went unanswered on unix:{s.state_dir}/controller.sock within " \
           f"{PROBE:g}s" in err, err
    assert f"its process is stopped (SIGSTOP, a debugger or a shell's Ctrl-Z; `kill -CONT " \
           f"{pid}` lets it go on)" in err, err
    assert "`zerodown status` once it answers" in err and "`zerodown controller --stop`" in err
    assert "Traceback" not in err, err


def test_a_controller_stopped_before_the_deploy_is_named_within_seconds(fleet_service):
    s, pid = fleet_service(60)
    os.kill(pid, signal.SIGSTOP)
    began = time.monotonic()
    out, err = ended(deploy(s), SAID_WITHIN + 30)
    took = time.monotonic() - began
    assert took < SAID_WITHIN, f"said after {took:.1f}s of a stopped controller"
    assert f"the controller (pid {pid}) is busy: no answer on unix:{s.state_dir}/" \
           f"controller.sock within {PROBE:g}s; its process is stopped" in err, err
    assert f"`kill -CONT {pid}`" in err and "`zerodown controller --stop`" in err, err
    assert process.pid(s.state_dir) == pid, "a second controller was started"


def test_a_preflight_longer_than_the_look_is_waited_for_visibly_and_its_refusal_heard(
        fleet_service, silent):
    """A controller at work (it answers) is not called busy however long its pre-flight
    takes within the bound: here the silent host's connect_timeout, past FIRST_SAID."""
    s, pid = fleet_service(FIRST_SAID + 3)
    out, err = ended(deploy(s), 60)
    assert "is busy" not in err and "stopped answering" not in err, err
    assert f"deploy v2: the controller (pid {pid}) is at it (" in err, err
    assert "each host is pre-flighted and given the release first); it answers, so it is " \
           "waited for, up to" in err, err
    assert f"{silent[0]}: no SSH connection within {FIRST_SAID + 3:g}s " \
           "(runtime.connect_timeout)" in err, err
    assert "nothing was changed" in err, err


def test_a_controller_stopped_while_the_deploy_follows_it_is_named_within_seconds(
        service):  # noqa: F811
    """Past its request: the command follows the deployment (each next event held up to a
    second by the controller, `?wait=1`); stopped then, it was waited for 30 s."""
    service.run("up")
    command = deploy(service)
    assert "deployment 2" in command.stdout.readline()  # its first event: it follows
    pid = process.pid(service.state_dir)
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        out, err = ended(command, SAID_WITHIN + 30)
    finally:
        os.kill(pid, signal.SIGCONT)
    took = time.monotonic() - stopped
    assert took < SAID_WITHIN + 1, f"said after {took:.1f}s of a stopped controller"
    assert command.returncode == 1, (out, err)
    assert f"the controller (pid {pid}) is busy: no answer on unix:{service.state_dir}/" \
           "controller.sock within " in err, err
    assert f"its process is stopped (SIGSTOP, a debugger or a shell's Ctrl-Z; `kill -CONT " \
           f"{pid}` lets it go on)" in err, err
    service.run("status")  # going on by itself once let go
