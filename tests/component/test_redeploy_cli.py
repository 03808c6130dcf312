"""`zerodown deploy v1` while v1 serves: every instance restarts as a new revision, and the
user is told so before any step acts — in deploy's output, --detach's line and history -v.
Real controller, proxy and instances."""

from __future__ import annotations

from tests.support.cli import service, up  # noqa: F401
from tests.support.net import wait_until as wait_for

NOTE = "v1 already serves shop (r1): this restarts every instance as r2 (nothing else changed"


def test_deploying_the_serving_version_says_it_restarts_every_instance(up):  # noqa: F811
    before = up.pids()
    out = up.run("deploy", "v1").stdout
    lines = out.splitlines()
    said = next(i for i, line in enumerate(lines) if NOTE in line)
    first_step = next(i for i, line in enumerate(lines) if "step 1/" in line or "start " in line)
    assert said < first_step, out
    assert up.pids().isdisjoint(before), "every instance restarted"
    assert NOTE in up.run("history", "-v").stdout


def test_detached_it_is_the_first_line(up):  # noqa: F811
    lines = up.run("deploy", "v1", "--detach").stdout.splitlines()
    assert lines[0].startswith("v1 already serves shop (r1): this restarts every instance as r2")
    wait_for(lambda: up.status()["deployment"] is None, timeout=60, what="the restart's end")


def test_a_new_version_says_nothing_of_a_restart(up):  # noqa: F811
    assert "already serves" not in up.run("deploy", "v2").stdout
