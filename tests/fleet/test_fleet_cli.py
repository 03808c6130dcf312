"""The fleet through the command line and the controller service: up, deploy, status, down."""

from __future__ import annotations

import pytest

from tests.support.cli import Service


@pytest.fixture
def fleet_service(healthy_fleet, tmp_path):
    s = Service(tmp_path)
    s.file.write_text(healthy_fleet.service_config(
        s.port, "{kind: in-place, batch_by: host}", per_host=2))
    yield s
    s.cleanup()


def test_up_deploy_status_and_down_across_the_fleet(fleet_service, healthy_fleet):
    s = fleet_service
    assert "shop is up: r1 (v1) serves" in s.run("up").stdout
    plan = s.run("plan", "v2").stdout   # in-place, batch_by: host: one host's pair at a time
    for pair in ("shop-r1-s0, shop-r1-s3", "shop-r1-s1, shop-r1-s4", "shop-r1-s2, shop-r1-s5"):
        assert f"stop {pair}" in plan, plan
    s.run("deploy", "v2")
    status = s.status()
    by_host = {(i["host"], i["version"], i["address"].split(":")[0]) for i in status["instances"]}
    assert by_host == {(h.name, "v2", h.address) for h in healthy_fleet.hosts}
    assert len(status["instances"]) == 6
    assert "HOST" in s.run("status").stdout
    assert s.text() == "hello from v2\n"
    s.run("down")
    for host in healthy_fleet.hosts:   # down stopped every instance on every host
        left = host.run("ps -eo args= | grep -c '[a]pp.py' || true").stdout.strip()
        assert left == "0", f"{host.name}: {left} instances left"


def test_logs_says_where_a_fleets_logs_are(fleet_service):
    err = fleet_service.run("logs", code=2).stderr
    assert "/srv/zerodown/services/shop/logs/<instance>.log" in err
