"""The fleet through the command line and the controller service: up, deploy, status, plan,
hosts and down (one host cut off, hosts written user@address:port). `logs`:
test_fleet_logs.py; `exec`: test_fleet_exec.py; the load balancer on a fleet host:
test_router_host_cli.py."""

from __future__ import annotations

import re
import subprocess
import threading
import time

import pytest

from tests.support.cli import Service
from tests.support.net import wait_until


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
    for pair, host in (("shop-r1-s0, shop-r1-s3", "zdf1"), ("shop-r1-s1, shop-r1-s4", "zdf2"),
                       ("shop-r1-s2, shop-r1-s5", "zdf3")):
        assert f"stop {pair} (on {host})" in plan, plan   # each step names its hosts
    before, seen, done = _controller_connections(s, healthy_fleet), set(), threading.Event()

    def watch():   # every connection the controller has while the deployment runs
        while not done.is_set():
            seen.update((h, end) for h, ends in _controller_connections(
                s, healthy_fleet).items() for end in ends)
            done.wait(0.02)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    s.run("deploy", "v2")
    done.set()
    watcher.join()
    # the controller keeps its connections from one request and run to the next
    # (runtimes/kept.py): the deployment opened none (each took ~0.2 s and an agent's
    # start; the request's release check and the run each opened their own)
    assert all(before.values()), before
    assert seen == {(h, end) for h, ends in before.items() for end in ends}, (seen, before)
    status = s.status()
    by_host = {(i["host"], i["version"], i["address"].split(":")[0]) for i in status["instances"]}
    assert by_host == {(h.name, "v2", h.address) for h in healthy_fleet.hosts}
    assert len(status["instances"]) == 6
    assert "HOST" in s.run("status").stdout
    assert s.text() == "hello from v2\n"
    s.run("down")
    assert [h.app_count() for h in healthy_fleet.hosts] == [0, 0, 0], "down stopped them all"


def _controller_connections(s, fleet) -> dict[str, set[str]]:
    """Host -> the local ends of the controller daemon's SSH connections to it."""
    pid = (s.state_dir / "controller.pid").read_text().strip()
    out = subprocess.run(["ss", "-Htnp", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    return {h.name: {line.split()[2] for line in out.splitlines()
                     if line.split()[3] == f"{h.address}:22" and f"pid={pid}," in line}
            for h in fleet.hosts}


def test_down_with_a_host_cut_off_stops_the_rest_names_it_and_finishes_once_it_answers(
        healthy_fleet, tmp_path):
    """`down` stops what it reaches, leaves the silent host's instances recorded (exit 1,
    the host and its instances named, within the command's bounds); healed, `down` again
    finds and stops them (exit 0)."""
    s = Service(tmp_path)
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1))
    cut = healthy_fleet.hosts[1]
    try:
        s.run("up")
        assert [h.app_count() for h in healthy_fleet.hosts] == [1, 1, 1]
        healthy_fleet.partition(cut)
        began = time.monotonic()
        done = s.run("down", code=1)
        took = time.monotonic() - began
        assert "host zdf2 did not answer" in done.stderr, done.stderr
        assert "left on it, still recorded: shop-r1-s1" in done.stderr, done.stderr
        assert "partly down: stopped the proxy and " in done.stderr, done.stderr
        assert "instances stopped, and" not in done.stderr, done.stderr  # "stopped" said once
        assert took < 60, f"down took {took:.1f}s with a host cut off"
        # status: what down left is not routed (the proxy is stopped), on the host it missed
        after = s.status()
        assert [(i["name"], i["state"]) for i in after["instances"]] == [
            ("shop-r1-s1", "unrouted")], after["instances"]
        assert after["left_by_down"] == ["zdf2"] and not after["proxy"]["running"]
        assert "left by `zerodown down` on zdf2" in s.run("status").stdout
        healthy_fleet.heal(cut)
        assert [h.app_count() for h in healthy_fleet.hosts] == [0, 1, 0]  # zdf2's still runs
        s.run("up")   # up finds it too: one instance per slot again, never two
        assert [h.app_count() for h in healthy_fleet.hosts] == [1, 1, 1]
        again = s.run("down")
        assert "3 instances" in again.stdout, again.stdout
        assert [h.app_count() for h in healthy_fleet.hosts] == [0, 0, 0]
    finally:
        healthy_fleet.heal(cut)
        s.cleanup()


def test_hosts_written_user_at_address_port_with_an_identity_file_up_to_down(healthy_fleet,
                                                                             tmp_path):
    """The issue's own form of runtime.hosts (`deploy@10.0.0.13:2222`), with identity_file and
    no ssh_config: every command that names a host (hosts, plan, status, logs) uses the
    name as written, and `{host}` is the address reached."""
    fleet = healthy_fleet
    names = [f"root@{fleet.hosts[0].address}:22", fleet.hosts[1].address,
             f"root@{fleet.hosts[2].address}"]
    s = Service(tmp_path)
    config = fleet.service_config(s.port, "{kind: rolling, batch_by: host}", per_host=1)
    config = (config.replace(f"hosts: [{', '.join(h.name for h in fleet.hosts)}]",
                             f"hosts: [{', '.join(names)}]")
              .replace(f"ssh_config: {fleet.ssh_config}", f"identity_file: {fleet.key}"))
    s.file.write_text(config)
    try:
        hosts = s.run("hosts").stdout
        for name, host in zip(names, fleet.hosts):
            assert re.search(rf"^{re.escape(name)}\s+{re.escape(host.address)}\S*\s+yes",
                             hosts, re.M), hosts
        s.run("up")
        plan = s.run("plan", "v2").stdout
        for i, name in enumerate(names):
            assert f"start shop-r2-s{i + 3} (on {name})" in plan, plan   # slot i+3: host i
        s.run("deploy", "v2")

        def placed() -> set:  # (the old ones' exits are confirmed just after deploy ends)
            return {(i["host"], i["version"], i["address"].split(":")[0])
                    for i in s.status()["instances"]}
        want = {(name, "v2", h.address) for name, h in zip(names, fleet.hosts)}
        assert wait_until(lambda: placed() == want, timeout=10), placed()
        logs = s.run("logs", "--host", names[0], "-n", "5").stdout
        assert logs and all(line.startswith(f"{names[0]} shop-r2-s3 | ")
                            for line in logs.splitlines()), logs
        s.run("down")
        assert [h.app_count() for h in fleet.hosts] == [0, 0, 0]
    finally:
        s.cleanup()
