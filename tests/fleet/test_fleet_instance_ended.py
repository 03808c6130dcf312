"""How a fleet host's instance ended, as the local runtime says it: `zerodown status` (and
its JSON, the dashboard's) says "killed by SIGKILL" of an instance killed on zdf1, and a
deployment whose new instance exits with status 3 before it is healthy fails saying so,
with its log's last lines (it said "instance X is not running on zdf1" either way). The
exit is recorded on the host by the agent session that started the instance, as it reaps
it (zerodown/hosts/exits.py), and read there by whichever session asks."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import Service
from tests.support.net import wait_until


@pytest.fixture
def fleet_service(healthy_fleet, tmp_path):
    s = Service(tmp_path)
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1))
    yield s
    s.cleanup()


def on_host(status: dict, host: str) -> list[dict]:
    return [i for i in status["instances"] if i["host"] == host]


def test_status_says_a_killed_instance_was_killed_by_sigkill(fleet_service, healthy_fleet):
    s, zdf1 = fleet_service, healthy_fleet.hosts[0]
    s.run("up")
    (victim,) = on_host(s.status(), zdf1.name)
    assert zdf1.run(f"kill -9 {victim['pid']}").returncode == 0
    wait_until(lambda: not on_host(s.status(), zdf1.name)[0]["alive"], 20,
               f"status seeing {victim['name']} gone")
    (seen,) = on_host(s.status(), zdf1.name)
    assert seen["health"] == "killed by SIGKILL", seen
    shown = [line for line in s.run("status").stdout.splitlines() if victim["name"] in line]
    assert shown and "killed by SIGKILL" in shown[0], shown
    s.run("down")


def test_a_deployment_whose_instance_exits_3_says_so_with_its_host(fleet_service,
                                                                  healthy_fleet):
    s = fleet_service
    s.run("up")
    crash = json.dumps(["/usr/bin/python3", "-c",
                        "import sys; print('boom: no DB_URL', flush=True); sys.exit(3)"])
    out = s.run("deploy", "v2", "--set", f"app.command={crash}", code=None)
    said = out.stdout + out.stderr
    assert out.returncode != 0, said
    assert "exited with status 3; last log lines (zdf" in said, said
    assert "boom: no DB_URL" in said and "is not running on" not in said, said
    s.run("down")
