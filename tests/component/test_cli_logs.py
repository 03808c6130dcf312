"""`zerodown logs` through the real CLI: every line stamped with its time by the runtime, all
running instances merged with their names, --since."""

from __future__ import annotations

import os
import re
import signal
import time

from tests.support.cli import Service, alive, service, up  # noqa: F401
from tests.support.net import wait_until

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} "


def test_every_line_has_its_time_and_no_name_merges_every_instance(up):
    s = up
    names = [i["name"] for i in s.status()["instances"]]
    one = s.run("logs", names[0]).stdout.splitlines()
    assert one[0].startswith(f"--- zerodown ") and f"starting {names[0]}" in one[0]
    assert all(re.match(STAMP, line) for line in one[1:]) and len(one) > 1, one
    merged = s.run("logs").stdout.splitlines()
    assert {line.split(" | ")[0] for line in merged} == set(names), merged
    assert sum("listening on" in line for line in merged) == 2
    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 1))
    wait_until(lambda: time.strftime("%Y-%m-%dT%H:%M:%S") > later, what="a second later")
    s.run("deploy", "v2")

    def since_later() -> str | None:
        """The logs since `later` once v1's stops are in them: each instance's stamper
        writes its last lines a moment after it exited, when `deploy` may have returned."""
        out = s.run("logs", "--all", "--since", later).stdout
        return out if all(name in out for name in names) else None
    fresh = wait_until(since_later, what="v1's stops, logged after `later`")
    assert "--version v2" in fresh and "--version v1" not in fresh.split("stopped")[0]
    assert "--since 'soon'" in s.run("logs", "--since", "soon", code=2).stderr
    assert s.run("logs", "--instance", names[0]).stdout.splitlines()[:1] == one[:1]
    assert "--host picks the instances of one host of runtime: ssh" in \
        s.run("logs", "--host", "app1", code=2).stderr
    assert "two instances named" in s.run("logs", names[0], "--instance", names[1],
                                          code=2).stderr


def test_logs_dash_f_as_tail_s_follow_says_it_is_file_and_names_follow(service):
    """`zerodown logs -f`, as tail, docker and kubectl follow: argparse said only "argument
    -f/--file: expected one argument", and `logs -f NAME` looked for a config file NAME.
    A real -f FILE after `logs` still works."""
    s = service
    way = "to follow the logs, zerodown logs --follow"
    assert s.run("logs", "-f", code=2).stderr == (
        f"zerodown logs: -f is --file (the service's zerodown.yaml, in every command), not "
        f"follow: {way}\n")
    assert f"and there is no file shop-r1-s0: {way}" in \
        s.run("logs", "-f", "shop-r1-s0", code=2).stderr
    assert "zerodown: error: no instance runs" in \
        s.run("logs", "-f", str(s.file), code=2).stderr


def test_a_crashed_instances_log_is_read_after_the_next_deploy_until_keep_ended_others_end(
        tmp_path):
    """`logs: {keep_ended: 2}`: an instance killed under the service is read by `zerodown
    logs <id>` after the deployment that replaced it, and removed once two instances ended
    after it (the next deployment's), when its log is pruned at an instance's end."""
    s = Service(tmp_path, "logs: {keep_ended: 2, max_size: 1MB}\n")
    try:
        assert "shop is up: r1 (v1) serves" in s.run("up").stdout
        dead = next(i for i in s.status()["instances"] if i["name"] == "shop-r1-s0")
        os.killpg(dead["pid"], signal.SIGKILL)  # its own session: the group is the instance
        wait_until(lambda: not alive(dead["pid"]), what="the killed instance gone")
        s.run("deploy", "v2")
        after = s.run("logs", "shop-r1-s0").stdout
        assert after.startswith("--- zerodown ") and "starting shop-r1-s0" in after
        assert "listening on" in after, after
        v2 = [i["name"] for i in s.status()["instances"]]
        s.run("deploy", "v3")  # v2's two end: 6 logs, over 2 × keep_ended
        gone = wait_until(lambda: s.run("logs", "shop-r1-s0", code=None).returncode == 2,
                          30, "the crashed instance's log pruned")
        assert gone and "shop-r1-s0 ended and its log " in \
            s.run("logs", "shop-r1-s0", code=2).stderr
        assert "keeps the newest 2 ended instances' logs of shop" in \
            s.run("logs", "shop-r1-s0", code=2).stderr
        assert all(f"starting {name}" in s.run("logs", name).stdout for name in v2), v2
    finally:
        left = s.cleanup()
        assert not left, f"processes left after the test: {left}"
