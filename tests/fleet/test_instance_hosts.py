"""Which host runs which instance, after runtime.hosts changed and before the next
deployment: `status` (JSON and text), `logs --host` and `plan` name the host each instance
was started on (recorded with its row), not slot i's host in today's list; the next
deployment's step log and dashboard plan name where each step acted; its adopt asks a host
no longer listed, and its pre-flight checks it when the plan acts there; `hosts --forget`
lets go of one gone for good (unit versions: tests/unit/test_instance_host.py,
tests/unit/test_plan_hosts.py, tests/unit/test_step_hosts.py,
tests/unit/test_unlisted_hosts.py, tests/unit/test_forget_host.py)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.stack import Stack
from tests.support.cli import Service
from tests.support.net import free_port, wait_until
from zerodown.api.client import Client
from zerodown.engine.lifecycle import Phase
from zerodown.errors import RuntimeFailure

# r1 as `up` places it on [zdf1, zdf2, zdf3]: slot i on host i
where = {"shop-r1-s0": "zdf1", "shop-r1-s1": "zdf2", "shop-r1-s2": "zdf3"}


def up_then_list_changed(s: Service, three: str, restart: bool = True) -> None:
    """r1 up on the three hosts, then runtime.hosts [zdf3, zdf1] (2 instances), read by a
    controller started anew (`restart`), or by the one that runs: its status reads the
    list as the file has it now."""
    s.file.write_text(three)
    s.run("up")
    assert {i["name"]: i["host"] for i in s.status()["instances"]} == where
    s.file.write_text(three.replace("hosts: [zdf1, zdf2, zdf3]", "hosts: [zdf3, zdf1]")
                      .replace("instances: 3", "instances: 2"))
    assert "hosts: [zdf3, zdf1]" in s.file.read_text(), "the test changed nothing"
    if restart:
        s.run("controller", "--stop")   # the controller reads the file when it starts:
        s.run("controller")             # this one knows only the new list


def test_status_and_logs_name_each_old_instances_true_host_after_the_list_changed(
        healthy_fleet, tmp_path):
    """r1 on zdf1, zdf2, zdf3 (slot i on host i); then runtime.hosts is [zdf3, zdf1]:
    reordered, and zdf2 removed. Today's rule would put s0 on zdf3, s1 on zdf1, s2 on zdf3;
    each is still where it started, looked at there (alive, healthy), and s1's host is
    named as one the list no longer has; `plan v2` (batch_by: host) stops each on that
    host, one host's instances at a time, each listed host's after its new one started;
    `down` stops each there."""
    fleet = healthy_fleet
    s = Service(tmp_path)
    three = fleet.service_config(s.port, "{kind: rolling, batch_by: host}", per_host=1)
    address = {h.name: h.address for h in fleet.hosts}
    try:
        up_then_list_changed(s, three, restart=False)  # as a user edits the file: status
                                                       # says zdf2 is no longer listed
        seen = {i["name"]: (i["host"], i["host_listed"], i["address"].split(":")[0],
                            i["alive"], i["healthy"]) for i in s.status()["instances"]}
        assert seen == {name: (host, host != "zdf2", address[host], True, True)
                        for name, host in where.items()}, seen
        rows = {line.split()[0]: line for line in s.run("status").stdout.splitlines()
                if line.startswith("shop-r1-s")}
        assert set(rows) == set(where), rows
        for name, host in where.items():
            assert f" {host} " in rows[name] and address[host] in rows[name], rows[name]
        assert "zdf2 (not listed)" in rows["shop-r1-s1"], rows["shop-r1-s1"]

        for name, host in where.items():   # each host's log, read on that host
            out = s.run("logs", "--host", host).stdout
            assert {line.split(" | ")[0] for line in out.splitlines()} == {f"{host} {name}"}, out
            assert f"starting {name} on {host}" in out, out

        # the plan of the next deployment stops each old instance on that host too, in its
        # text and its JSON; its new instances are placed by today's list
        steps = json.loads(s.run("plan", "v2", "--json").stdout)["steps"]
        text = s.run("plan", "v2").stdout
        stops = [st for st in steps if st["action"] == "stop"]
        assert sorted(n for st in stops for n in st["instances"]) == sorted(where), steps
        for st in stops:
            hosts = list(dict.fromkeys(where[n] for n in st["instances"]))
            assert st["hosts"] == hosts, st
            assert st["hosts_not_listed"] == [h for h in hosts if h == "zdf2"], st
            assert st["text"] in text, (st["text"], text)
        assert any("zdf2 (not listed)" in st["text"] for st in stops), stops
        # batch_by: host batches them by that host too: one host per stop, and a listed
        # host's new instance is started before its old one stops (by today's rule zdf3's
        # batch held s0 and s2, and s0 left zdf1 before zdf1 ran a new one); zdf2's, above
        # the 2 instances now asked for, leaves first
        started: set[str] = set()
        for st in steps:
            if st["action"] == "start":
                started |= set(st["hosts"])
            elif st["action"] == "stop":
                assert len(st["hosts"]) == 1 and st["hosts"][0] in {"zdf2", *started}, steps
        starts = [st for st in steps if st["action"] == "start"]
        assert {h for st in starts for h in st["hosts"]} == {"zdf3", "zdf1"}, starts

        # `down` stops each where it runs, zdf2's too, though no longer listed (acted on at
        # its slot's host in today's list, zdf1, it was "stopped" there and kept serving)
        assert [h.app_versions() for h in fleet.hosts] == [["v1"]] * 3
        assert "3 instances" in s.run("down").stdout
        assert [h.app_count() for h in fleet.hosts] == [0, 0, 0], "an instance runs after down"
    finally:
        s.file.write_text(three)   # the down of cleanup reaches every host again
        s.cleanup()


def test_the_step_log_names_where_each_step_acted_after_the_list_changed(healthy_fleet,
                                                                         tmp_path):
    """The same change of runtime.hosts, then `deploy v2`: each stop of an r1 instance is
    logged with the host it ran on (zdf2, no longer listed, marked so), in `history -v`'s
    text and --json, and the dashboard's plan names the same; after a rollback starts r1
    again on today's hosts (r1-s1 on another host than zdf2), v2's done steps still name
    where they acted: the record of their start, not the rows of today."""
    fleet = healthy_fleet
    s = Service(tmp_path)
    three = fleet.service_config(s.port, "{kind: rolling, batch_by: host}", per_host=1)
    try:
        up_then_list_changed(s, three)
        s.run("deploy", "v2")  # (its last stops' exits are confirmed just after it ends)
        assert wait_until(lambda: fleet.hosts[1].app_count() == 0, timeout=10), \
            "r1-s1's stop did not act on zdf2"
        (v2,) = [d for d in json.loads(s.run("history", "-v", "--json").stdout)["deployments"]
                 if d["to"]["version"] == "v2"]
        stops = {e["message"].split(": stop ", 1)[1].split(" (on ")[0]: e["hosts"]
                 for e in v2["events"]
                 if e["kind"] == "step.started" and ": stop shop-r1-" in e["message"]}
        assert {n for names in stops for n in names.split(", ")} == set(where), v2["events"]
        for names, hosts in stops.items():
            assert hosts == list(dict.fromkeys(where[n] for n in names.split(", "))), stops
        text = s.run("history", "-v").stdout
        assert "stop shop-r1-s1 (on zdf2 (not listed))" in text, text
        starts = [e["hosts"] for e in v2["events"]
                  if e["kind"] == "step.started" and ": start shop-r2-" in e["message"]]
        assert {h for hosts in starts for h in hosts} == {"zdf3", "zdf1"}, v2["events"]

        def dashboard() -> list[dict]:
            api = Client(socket_path=str(s.state_dir / "controller.sock"))
            return api.get(f"/api/v1/deployments/{v2['id']}")["plan_steps"]
        before = dashboard()
        stop_s1 = [p for p in before if p["text"].startswith("stop shop-r1-s1")]
        assert [p["hosts"] for p in stop_s1] == [["zdf2"]], before
        s.run("rollback")   # r1 again, on [zdf3, zdf1]: r1-s1's row now names one of them
        again = {i["name"]: i["host"] for i in s.status()["instances"]}
        assert again.get("shop-r1-s1") in ("zdf3", "zdf1"), again
        assert dashboard() == before
    finally:
        s.file.write_text(three)   # the down of cleanup reaches every host again
        s.cleanup()


def test_a_gone_host_forgotten_lets_the_next_deployment_and_down_go_without_it(
        healthy_fleet, tmp_path):
    """The same change of runtime.hosts, then zdf2 cut off for good: `deploy v2` is
    refused in pre-flight naming zdf2 (r1-s1 is recorded live there), and would be for
    ever; `hosts --forget zdf2` marks r1-s1 stopped, sending nothing there. With zdf2
    still cut off, `deploy v2` then succeeds, `status` lists no instance there and `down`
    exits 0: neither asked zdf2. r1-s1 still runs there, the user's to stop (here the
    test's)."""
    fleet = healthy_fleet
    zdf2 = fleet.hosts[1]
    s = Service(tmp_path)
    three = fleet.service_config(s.port, "{kind: rolling, batch_by: host}", per_host=1)
    try:
        up_then_list_changed(s, three)
        fleet.partition(zdf2)
        refused = s.run("deploy", "v2", code=1)
        assert "nothing was changed:\n  zdf2: no SSH connection" in refused.stderr, refused.stderr
        assert "nothing was changed" in refused.stderr, refused.stderr
        assert {i["name"] for i in s.status()["instances"]} == set(where)

        out = s.run("hosts", "--forget", "zdf2").stdout
        assert "zdf2 forgotten: shop-r1-s1 marked stopped" in out, out
        s.run("deploy", "v2")   # zdf2 still cut off: asked, it would refuse again
        # deploy returns once the run did, the last old instances' exits confirmed
        now = {i["name"]: (i["host"], i["version"]) for i in s.status()["instances"]}
        assert "shop-r1-s1" not in now and set(now.values()) == {("zdf3", "v2"),
                                                                 ("zdf1", "v2")}, now
        assert "shop-r1-s1" not in s.run("status").stdout
        s.run("down")
        assert [h.app_versions() for h in fleet.hosts] == [[], ["v1"], []], \
            "down stopped too little, or something reached zdf2"
    finally:
        fleet.heal(zdf2)
        s.file.write_text(three)   # the down of cleanup reaches every host again
        s.cleanup()
        zdf2.run("ps -ww -eo pid=,args= | awk '/[a]pp.py/ {print $1}' | xargs -r kill -9")
    assert zdf2.app_count() == 0, "the forgotten r1-s1 still runs on zdf2"


def test_an_unlisted_hosts_instances_are_adopted_and_preflighted_before_a_plan_acts_there(
        healthy_fleet, tmp_path):
    """v1 then v2 on zdf1 and zdf2 by blue/green keeping the previous: r1 out of the table
    (the way back of a rollback) and r2 routed, one of each on zdf2; then zdf2 is taken
    out of runtime.hosts. The next deployment's plan stops both there. Cut off, zdf2 is
    named by adopt, and the deployment is refused in pre-flight naming it, nothing
    changed (it started, and paused at its first stop there). Answering, the deployment
    adopts r1-s1 there (it was "missing", taken as stopped, and left running unknown) and
    stops both there, each routed or kept instance of a host no longer listed."""
    fleet = healthy_fleet
    zdf2 = fleet.hosts[1]
    two = fleet.service_config(
        free_port(), "{kind: blue-green, scale_down_delay: 0s, keep_previous: true}",
        per_host=1).replace("instances: 3", "instances: 2").replace(
        "hosts: [zdf1, zdf2, zdf3]", "hosts: [zdf1, zdf2]")
    path = tmp_path / "zerodown.yaml"
    path.write_text(two)
    stacks = [Stack(path, tmp_path / "state")]
    try:
        assert stacks[0].deploy("v1") is Phase.SUCCEEDED
        assert stacks[0].deploy("v2") is Phase.SUCCEEDED
        assert zdf2.app_versions() == ["v1", "v2"]
        stacks[0].store.close()
        stacks[0].runtime.close()   # the controller ends; its instances run on
        path.write_text(two.replace("instances: 2", "instances: 1").replace(
            "hosts: [zdf1, zdf2]", "hosts: [zdf1]"))
        stack = Stack(path, tmp_path / "state")
        stacks.append(stack)

        def rows():
            return {r.name("shop"): (row.state, row.runs_on)
                    for r, row in stack.store.instances("shop", live=True).items()}
        before = rows()
        assert {n: s for n, s in before.items() if s[1] == "zdf2"} == {
            "shop-r1-s1": ("healthy", "zdf2"), "shop-r2-s3": ("routed", "zdf2")}, before

        fleet.partition(zdf2)   # (the runtime has not reached zdf2 before the pre-flight)
        with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  zdf2: no SSH connection"):
            stack.deploy("v3", strategy="rolling")
        assert [r.number for r in stack.store.revisions("shop")] == [1, 2]
        assert rows() == before and zdf2.app_versions() == ["v1", "v2"]
        assert set(stack.runtime.adopt("shop", ["zdf2"]).unreachable) == {"zdf2"}
        fleet.heal(zdf2)

        assert stack.deploy("v3", strategy="rolling") is Phase.SUCCEEDED
        assert stack.store.events("shop", kind="instance.missing") == []
        assert zdf2.app_versions() == [], "an instance still runs on zdf2"
        assert fleet.hosts[0].app_versions() == ["v3"]
    finally:
        fleet.kill_apps()
        stacks[-1].close()
