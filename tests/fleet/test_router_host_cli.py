"""The load balancer on a fleet host (router.host) through the command line and the
controller service: up, deploy, status, logs, hosts and down with HAProxy on zdf1, `down`
with the router host cut off, nginx's own log by `logs proxy`. Through the library:
test_router_host.py."""

from __future__ import annotations

import re
import time

from tests.support.cli import Service
from tests.support.net import get


def test_up_deploy_status_logs_and_down_with_haproxy_on_a_fleet_host(healthy_fleet, tmp_path):
    """router: {kind: haproxy, host: zdf1} through the command line and the controller
    service: users reach zdf1's address, status and logs say where it runs, down stops it."""
    s = Service(tmp_path)
    lb = healthy_fleet.hosts[0]
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1)
                      .replace(f"listen: 127.0.0.1:{s.port}", f"listen: {lb.address}:{s.port}")
                      + "router: {kind: haproxy, host: zdf1}\n")
    try:
        assert "shop is up" in s.run("up").stdout
        s.run("deploy", "v2")
        assert get(s.port, host=lb.address).text == "hello from v2\n"  # through zdf1
        status = s.run("status").stdout
        assert re.search(r"\(proxy pid \d+ on zdf1, table v\d+\)", status), status
        assert s.status()["proxy"]["host"] == "zdf1"
        assert "haproxy" in s.run("logs", "proxy").stdout.lower()
        assert lb.run("pgrep -x haproxy || true").stdout.strip()
        s.run("down")
        assert not lb.run("pgrep -x haproxy || true").stdout.strip()  # stopped on zdf1
        hosts = s.run("hosts").stdout   # router.host checked with its load balancer
        assert re.search(r"zdf1 \(router\)\s+10\.231\.77\.11\s+yes", hosts), hosts
        s.file.write_text(s.file.read_text().replace(
            "{kind: haproxy, host: zdf1}", "{kind: haproxy, host: zdf1, binary: /no/haproxy}"))
        hosts = s.run("hosts", code=1).stdout
        assert re.search(r"zdf1 \(router\)\s+10\.231\.77\.11\s+no\s.*no /no/haproxy there",
                         hosts), hosts
    finally:
        s.cleanup()


def lb_service(healthy_fleet, tmp_path, router: str) -> Service:
    """The load balancer on zdf1 (listening on its address), instances on zdf2 and zdf3."""
    s = Service(tmp_path)
    lb = healthy_fleet.hosts[0]
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1)
                      .replace(f"listen: 127.0.0.1:{s.port}", f"listen: {lb.address}:{s.port}")
                      .replace("instances: 3", "instances: 2")
                      .replace("hosts: [zdf1, zdf2, zdf3]", "hosts: [zdf2, zdf3]")
                      + f"router: {router}\n")
    return s


def test_down_with_the_router_host_cut_off_stops_the_instances_names_it_and_finishes_later(
        healthy_fleet, tmp_path):
    """`down` with router.host silent: bounded, the instances it reaches stopped, the router
    host named (exit 1) and left recorded; healed, `down` again stops HAProxy there."""
    s = lb_service(healthy_fleet, tmp_path, "{kind: haproxy, host: zdf1}")
    lb = healthy_fleet.hosts[0]
    try:
        s.run("up")
        assert [h.app_count() for h in healthy_fleet.hosts] == [0, 1, 1]
        healthy_fleet.partition(lb)
        cut = s.status()   # what is routed is unknown: the store's word, not "unrouted"
        assert [i["state"] for i in cut["instances"]] == ["routed", "routed"], cut
        assert cut["proxy"]["unreachable"] and "zdf1" in cut["proxy"]["unreachable"], cut
        began = time.monotonic()
        done = s.run("down", code=1)
        took = time.monotonic() - began
        assert took < 60, f"down took {took:.1f}s with the router host cut off"
        assert "router host zdf1 did not answer" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert "partly down" in done.stderr and "2 instances" in done.stderr, done.stderr
        assert [h.app_count() for h in healthy_fleet.hosts[1:]] == [0, 0]
        after = s.status()
        assert after["left_by_down"] == ["zdf1"], after
        assert after["proxy"]["unreachable"] and not after["proxy"]["running"], after["proxy"]
        text = s.run("status").stdout
        assert "(proxy on zdf1: unknown, its host does not answer)" in text, text
        assert "left by `zerodown down` on zdf1, silent when it ran: its load balancer on " \
               "zdf1 was not stopped" in text, text
        healthy_fleet.heal(lb)
        assert lb.run("pgrep -x haproxy || true").stdout.strip()  # still running there
        again = s.run("down")
        assert "stopped HAProxy" in again.stdout, again.stdout
        assert not lb.run("pgrep -x haproxy || true").stdout.strip()
        assert s.status().get("left_by_down") in (None, []), s.status()
    finally:
        healthy_fleet.heal(lb)
        s.cleanup()


def test_logs_proxy_reads_nginxs_own_log_on_the_router_host(healthy_fleet, tmp_path):
    """`zerodown logs proxy` with nginx on router.host: its error log there, prefixed with
    the host (it failed with an AttributeError: nginx has no proxy.log)."""
    s = lb_service(healthy_fleet, tmp_path, "{kind: nginx, host: zdf1}")
    try:
        s.run("up")
        shown = s.run("logs", "proxy", "-n", "50").stdout
        assert shown.startswith("zdf1 proxy | ") and "nginx" in shown, shown
        s.run("down")
    finally:
        s.cleanup()
