"""`zerodown status` with a fleet host cut off answers within seconds and names the host.

A newcomer cut a host off (a partition: no reset, no answer) and ran `zerodown status`, with
the ssh options' defaults: it waited over 60 s, or said `cannot reach the controller ...
timed out` after 30 s (the controller was fine: its status asked the silent host whether the
instance ran, a call bounded by runtime.command_timeout, 60 s)."""

from __future__ import annotations

import time

import pytest

from tests.support.cli import Service


@pytest.fixture
def fleet_service(healthy_fleet, tmp_path):
    s = Service(tmp_path)
    config = healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1)
    # the defaults a user has (the fleet's config shortens them to find a lost host fast)
    config = "".join(line for line in config.splitlines(keepends=True)
                     if not line.strip().startswith(("connect_timeout:", "keepalive:")))
    s.file.write_text(config)
    yield s
    s.cleanup()


def test_status_with_a_host_cut_off_answers_in_seconds_naming_it(fleet_service, healthy_fleet):
    s = fleet_service
    s.run("up")
    s.status()  # the controller's connection to every host is open: a cut leaves it hanging
    cut = healthy_fleet.hosts[1]
    healthy_fleet.partition(cut)
    try:
        began, looks = time.monotonic(), []
        while True:  # status is the controller's last look: polled until it saw the cut
            asked = time.monotonic()
            status = s.status()
            looks.append(round(time.monotonic() - asked, 1))
            by_host = {i["host"]: i for i in status["instances"]}
            if not by_host[cut.name]["healthy"] or time.monotonic() - began > 30:
                break
            time.sleep(0.2)
        assert cut.name in by_host[cut.name]["health"], by_host[cut.name]
        assert not by_host[cut.name]["healthy"], by_host[cut.name]
        assert all(by_host[h.name]["healthy"] for h in healthy_fleet.hosts if h is not cut)
        # each answer is quick, and a look at the cut-off host is bounded like a probe
        # (health.timeout + 1 s); it was over 60 s (runtime.command_timeout, and the CLI asked
        # the controller twice)
        assert max(looks) < 5 and time.monotonic() - began < 9, (looks, by_host[cut.name])
    finally:
        healthy_fleet.heal(cut)
    s.run("down")
