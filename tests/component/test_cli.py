"""The command line end to end: `python -m zerodown ...` as real processes in a temp dir.

Each test runs its own service (the example app, 2 instances, health checks
every 0.1s) behind its own embedded proxy on a free port of 127.0.0.1, and
ends with `zerodown down` plus a check that no process of its state
directory is left (anything left is killed by pid, and the test fails).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import time

from tests.support import APP, HOST, free_port, get, port_open
from tests.support.cli import CLI_TIMEOUT, Service, alive, ours, service, up  # noqa: F401
from tests.support.net import wait_until as wait_for, wait_until_refused
from zerodown.commands.examples import EXAMPLES


# --- configuration ---------------------------------------------------------------------

def test_init_in_an_empty_directory_writes_a_config_that_validates_plans_and_serves(tmp_path):
    s = Service(tmp_path)
    s.file.unlink()
    port = free_port()
    out = s.run("init", "--service", "web", "--port", str(port)).stdout
    assert "wrote" in out
    for version in ("v1", "v2"):
        assert (tmp_path / "releases" / version / "app.py").read_bytes() == APP.read_bytes()
    assert s.run("validate").stdout.startswith(f"{s.file}: valid; service web on 127.0.0.1:{port}")
    plan = s.run("plan", "v1").stdout
    assert "web: r1 (first deploy), 2 instances" in plan and "1. start web-r1-" in plan
    assert not s.state_dir.exists(), "plan changed something"
    assert "already exists" in s.run("init", code=2).stderr
    s.port = port
    try:
        assert "web is up: r1 (v1) serves" in s.run("up").stdout
        assert s.text() == "hello from v1\n"
        assert s.status()["instances"][0]["address"] is not None
        s.run("deploy", "v2")
        # the help's and README's example instance name exists with the starter config
        name = EXAMPLES["logs"][0].split()[2]
        assert "listening on" in s.run("logs", name).stdout, name
    finally:
        left = s.cleanup()
    assert not left


def test_validate_reports_every_error_with_file_line_and_key_and_exits_2(service):
    service.file.write_text("service: shop\nlisten: 127.0.0.1:1\ninstancez: 3\n"
                            "app: {command: [x]}\nstrategy:\n  kind: rolling\n  max_surge: lots\n")
    err = service.run("validate", code=2).stderr
    assert "zerodown.yaml:3: instancez: unknown key" in err
    assert 'did you mean "instances"' in err
    assert "zerodown.yaml:7: strategy.max_surge: must be a count or a percentage" in err
    assert "Traceback" not in err
    assert service.run("deploy", "v2", code=2).stderr == err  # every command reads it the same
    schema = json.loads(service.run("validate", "--schema").stdout)
    assert {"service", "listen", "app", "strategy"} <= set(schema["properties"])


def test_bad_usage_is_one_line_and_exit_2(service):
    err = service.run("deploy", code=2).stderr  # argparse: the usage, then one message
    assert err.splitlines()[-1] == ("zerodown deploy: error: the following arguments are "
                                    "required: version")
    err = service.run("deploy", "v2", "--set", "instances=zero", code=2).stderr
    assert err.startswith("--set instances=zero: instances: must be an integer from 1 to ")
    assert err.endswith(', got "zero"\n') and err.count("\n") == 1
    err = service.run("deploy", "v2", "--strategy", "sideways", code=2).stderr
    assert "invalid choice: 'sideways'" in err
    assert "nothing deployed yet" in service.run("status").stdout
    err = service.run("pause", code=2).stderr
    assert err.startswith("zerodown: error: ") and err.count("\n") == 1
    assert "was never deployed here" in err
    assert "no previous revision" in service.run("rollback", code=2).stderr
    assert not (service.state_dir / "proxy.pid").exists(), "a refused command started the proxy"


# --- deploying ----------------------------------------------------------------------------

def test_up_then_rolling_then_in_place_then_rollback(up):
    s = up
    assert s.text() == "hello from v1\n"
    status = s.status()
    assert status["stable"] == {"revision": 1, "version": "v1"}
    assert status["proxy"]["running"] and status["deployment"] is None
    assert [(i["name"][:8], i["revision"], i["state"], i["healthy"], i["alive"])
            for i in status["instances"]] == [("shop-r1-", 1, "routed", True, True)] * 2
    assert status["traffic"][0]["revision"] == "r1" and status["traffic"][0]["weight"] == 100
    assert status["traffic"][0]["requests"] >= 1
    assert "already serves v1" not in s.run("up").stdout  # up again: nothing to do

    plan = s.run("plan", "v2").stdout
    assert "shop: r1 → r2, 2 instances, rolling max_surge=1" in plan
    assert "(deploying v2 as r2)" in plan and "route r1 50% to" in plan
    assert "; r2 50% to" in plan
    rows = [line for line in s.run("history").stdout.splitlines() if line[:1] != " "]
    assert len(rows) == 2, "plan created a deployment"

    v1 = s.pids(1)
    watch = s.start("status", "--watch", "--interval", "0.1")
    first = status["instances"][0]["name"]
    follow = s.start("logs", first, "--follow")
    wait_for(lambda: first in watch.log(), what="status --watch output")
    wait_for(lambda: "listening on" in follow.log(), what="logs -f output")
    out = s.run("deploy", "v2").stdout
    assert "instances r1 (v1): 1 routed" in out and "traffic r1 50% · r2 50%" in out
    assert out.splitlines()[-2].endswith("r2 (v2) serves")
    assert re.fullmatch(r" +[\d,]+ requests during the deployment, 0 failed by it; app 5xx: 0.*",
                        out.splitlines()[-1]), out  # the zero-downtime proof
    assert s.text() == "hello from v2\n"
    wait_for(lambda: not any(alive(p) for p in v1), what="the v1 instances gone")
    wait_for(lambda: "r2 (v2)" in watch.log(), what="status --watch showing v2")
    wait_for(lambda: "stopped on SIGTERM" in follow.log(), what="logs -f following the stop")
    assert watch.alive and follow.alive  # both run until interrupted
    watch.stop()
    follow.stop()

    v2 = s.pids(2)
    done = s.run("deploy", "v3", "--strategy", "in-place", "-m", "try in-place")
    out = done.stdout
    assert "in-place batch_size=1" in out and "r3 (v3) serves" in out
    assert "ignoring max_surge, max_unavailable (not an option of in-place)" in done.stderr
    row = s.run("history", "-v", "-n", "1").stdout.splitlines()
    assert row[1].split()[-1] == pwd.getpwuid(os.getuid()).pw_name, row  # who asked
    assert {"    why: try in-place", '    config: strategy.kind: "rolling" → "in-place"',
            "    config: strategy.max_surge: removed (was 1)"} <= set(row), row
    assert s.text() == "hello from v3\n"
    wait_for(lambda: not any(alive(p) for p in v2), what="the v2 instances gone")
    v3 = [i["name"] for i in s.status()["instances"]]
    assert [name.startswith("shop-r3-s") for name in v3] == [True, True]

    assert "rollback r3 (v3) → r2 (v2)" in s.run("rollback").stdout
    assert s.text() == "hello from v2\n"
    assert "r2 (v2) → r1 (v1)" in s.run("rollback", "--to", "r1").stdout
    assert s.text() == "hello from v1\n"

    history = [line for line in s.run("history").stdout.splitlines() if line[:1] != " "]
    assert [line.split()[0] for line in history[1:]] == ["5", "4", "3", "2", "1"]
    assert all("succeeded" in line for line in history[1:])
    assert s.run("history").stdout.count("failed by it") == 5  # each one's proof
    proofs = [d["proof"] for d in json.loads(s.run("history", "--json").stdout)["deployments"]]
    assert all(p["router"] == "embedded" and p["failed"] == 0 for p in proofs), proofs
    verbose = s.run("history", "-v", "-n", "1").stdout
    assert "step 1/" in verbose and "deployment 5 succeeded" in verbose
    data = json.loads(s.run("history", "--json", "-n", "2").stdout)["deployments"]
    assert [(d["id"], d["kind"], d["phase"], d["to"]) for d in data] == [
        (5, "rollback", "succeeded", {"revision": 1, "version": "v1"}),
        (4, "rollback", "succeeded", {"revision": 2, "version": "v2"})]
    plan = json.loads(s.run("plan", "v4", "--json", "--strategy", "canary", "--steps",
                            "50,pause").stdout)
    assert (plan["revision"], plan["from"], plan["version"]) == (4, [1], "v4")
    assert [step["action"] for step in plan["steps"]][-3:] == ["route", "drain", "stop"]
    assert {"action": "route", "step": 3, "preview": False} | plan["steps"][2] == plan["steps"][2]
    log = s.run("logs", v3[0].removeprefix("shop-")).stdout  # r3-s0 for shop-r3-s0
    assert f"starting {v3[0]}" in log and "listening on" in log  # kept after its stop
    assert "is not an instance" in s.run("logs", "r9-s9", code=2).stderr


def test_a_version_that_never_becomes_healthy_is_rolled_back_and_exits_1(up):
    s = up
    done = s.run("deploy", "v2", "--set", "app.env.APP_UNHEALTHY=1",
                 "--set", "health.start_timeout=1s", code=1)
    assert "did not become healthy within 1s" in done.stdout
    assert "rolled back in" in done.stdout
    assert s.text() == "hello from v1\n"
    assert {i["revision"] for i in s.status()["instances"]} == {1}
    assert "rolled back" in s.run("history").stdout.splitlines()[1]


def test_one_deployment_at_a_time_and_steering_it_from_other_processes(up):
    s = up
    started = time.monotonic()
    out = s.run("deploy", "v2", "--detach", "--set", "app.env.APP_START_DELAY=5").stdout
    assert time.monotonic() - started < 5, "--detach waited for the deployment"
    assert "deployment 2 runs in the background" in out and "(pid -)" not in out, out
    d = s.status()["deployment"]
    assert (d["id"], d["phase"]) == (2, "running") and alive(d["controller_pid"])

    refused = s.run("deploy", "v3", code=2)
    assert "already has deployment 2" in refused.stderr and "--wait" in refused.stderr
    waiting = s.start("deploy", "v3", "--wait")
    wait_for(lambda: "waiting for deployment 2" in waiting.log(), what="deploy --wait waiting")

    assert "deployment 2 paused" in s.run("pause").stdout
    assert s.status()["deployment"]["phase"] == "paused"
    # the waiter says so: a paused deployment ends only when someone steers it
    wait_for(lambda: "waiting for deployment 2 (paused) to end; it holds until someone runs "
             "`zerodown resume`" in waiting.log(), what="deploy --wait saying it is paused")
    assert "controller (pid" in s.run("resume").stdout
    assert s.status()["deployment"]["phase"] == "running"
    out = s.run("abort").stdout
    assert "deployment 2 aborting" in out and "aborted in" in out
    assert s.text() in ("hello from v1\n", "hello from v3\n")  # v3 may already have its turn

    assert waiting.wait(CLI_TIMEOUT) == 0, waiting.log()
    assert "r3 (v3) serves" in waiting.log()
    assert s.text() == "hello from v3\n"
    history = [line for line in s.run("history").stdout.splitlines()[1:] if line[:1] != " "]
    assert ["  aborted  " in line for line in history] == [False, True, False], history
    log = s.run("logs", "controller").stdout
    assert "deployment 2 aborted" in log


def test_a_killed_controller_is_started_again_by_the_next_command_and_finishes_the_deployment(up):
    s = up
    s.run("deploy", "v2", "--detach", "--set", "app.env.APP_START_DELAY=4")
    pid = s.status()["deployment"]["controller_pid"]
    os.kill(pid, signal.SIGKILL)  # the controller `up` started
    wait_for(lambda: not alive(pid), what="the controller gone")
    d = s.status()["deployment"]  # this command starts it again; it resumes the deployment
    assert d["phase"] == "running" and d["controller_pid"] not in (None, pid)
    assert "run by controller pid" in s.run("status").stdout
    assert "it is running" in s.run("resume", code=2).stderr  # nothing to resume
    wait_for(lambda: s.status()["deployment"] is None, timeout=30, what="the deployment done")
    assert s.text() == "hello from v2\n"
    status = s.status()
    assert sorted(i["revision"] for i in status["instances"]) == [2, 2]
    assert "succeeded" in s.run("history").stdout.splitlines()[1]


def test_down_stops_everything_and_up_starts_it_again(up):
    s = up
    status = s.status()
    pids = {i["pid"] for i in status["instances"]} | {status["proxy"]["pid"]}
    assert all(alive(p) for p in pids) and set(ours(s.state_dir)) >= pids
    assert "shop is down: stopped the proxy and 2 instances" in s.run("down").stdout
    wait_for(lambda: not any(alive(p) for p in pids), what="every process gone")
    assert ours(s.state_dir) == {}
    wait_until_refused(HOST, s.port)
    assert not port_open(HOST, s.port)
    after = s.status()
    assert after["instances"] == [] and not after["proxy"]["running"]
    assert ours(s.state_dir) == {}, "a look at a service that is down started something"
    # a second down stops nothing, and says so (not "stopped the proxy and 0 instances")
    assert "shop is down: the proxy was not running; stopped 0 instances, and the controller" \
        in s.run("down").stdout

    assert "shop is up: r2 (v1) serves" in s.run("up").stdout
    assert s.text() == "hello from v1\n"


def test_an_up_after_down_that_cannot_start_its_version_starts_nothing(up):
    """After `down`, an `up` whose version cannot start (here its folder is gone; on a
    fleet, a host not ready) was refused only by the deployment, once the load balancer
    and the controller had started: "nothing was changed" left a proxy answering 502 on
    the service's address. A first `up` was checked before anything started; now this too."""
    s = up
    s.run("down")
    assert ours(s.state_dir) == {}
    s.file.write_text(s.file.read_text().replace(
        "  env: {APP_DRAIN_TIMEOUT", "  cwd: gone/{version}\n  env: {APP_DRAIN_TIMEOUT"))
    refused = s.run("up", code=2).stderr
    assert "app.cwd" in refused and "does not exist" in refused, refused
    assert ours(s.state_dir) == {}, "a refused up started something"
    assert not port_open(HOST, s.port)


def test_blue_green_from_the_cli_preview_promote_and_rollback_inside_the_window(up):
    s = up
    blue = s.pids(1)
    deploy = s.start("deploy", "v2", "--strategy", "blue-green", "--set",
                     "strategy.auto_promote=false", "--set", "strategy.scale_down_delay=60s")
    wait_for(lambda: (s.status()["deployment"] or {}).get("phase") == "paused",
             what="green up, held for a person")
    assert "zerodown promote" in s.run("status").stdout
    assert s.text() == "hello from v1\n"
    assert get(s.port, "/", headers={"X-Zerodown-Preview": "1"}).text == "hello from v2\n"
    assert "goes past its pause" in s.run("promote").stdout  # the controller goes on
    # deploy returns at the switch: the controller keeps blue for the window by itself
    assert deploy.wait(CLI_TIMEOUT) == 0, deploy.log()
    assert "keeps r1 (v1) up for an instant rollback" in deploy.log()
    assert "blue kept" in s.status()["deployment"]["step_text"]
    shown = s.run("status").stdout
    assert "blue/green: r2 (v2) (green) serves all traffic; r1 (v1) (blue) is kept" in shown
    assert re.search(r"stopped in (\d+s|1m00s) \(`zerodown rollback` goes back now\)", shown), shown
    assert s.text() == "hello from v2\n"
    assert s.pids(1) == blue, "blue still runs in its window"
    out = s.run("rollback").stdout
    assert "rolling back means aborting it" in out and "aborted" in out
    assert s.text() == "hello from v1\n"
    assert s.pids() == blue, "rolling back inside the window starts no process"
    assert "  aborted  " in s.run("history").stdout.splitlines()[1]  # it did not succeed
