"""Hosts runtime.hosts names otherwise, or no longer names, on the real fleet: `plan` shows
what `deploy` does with a host only renamed (root@zdf1 for zdf1: the same user, address
and port); `down` lets go of this controller's owner record where it stopped instances
off the list (a host it cannot reach is named as still holding it); `hosts --take-over`
takes over there too, so the deployment that stops them there is not refused. Unit
versions: tests/unit/test_renamed_host.py, tests/unit/test_service_owner.py."""

from __future__ import annotations

import json
from contextlib import contextmanager

from tests.fleet.test_instance_hosts import up_then_list_changed
from tests.fleet.test_two_controllers import owners
from tests.support.cli import Service
from tests.support.net import wait_until
from zerodown.api.client import Client

THREE = "hosts: [zdf1, zdf2, zdf3]"


@contextmanager
def on_three(fleet, tmp_path):
    """(a Service, its zerodown.yaml on zdf1-3, one instance each, batch_by: host); the
    file as it was again before the cleanup's `down`, so that it reaches every host."""
    s = Service(tmp_path)
    three = fleet.service_config(s.port, "{kind: rolling, batch_by: host}", per_host=1)
    try:
        yield s, three
    finally:
        s.file.write_text(three)
        s.cleanup()


def test_plan_shows_a_renamed_hosts_instances_as_the_deployment_acts_on_them(
        healthy_fleet, tmp_path):
    """r1 on zdf1-3, then runtime.hosts says root@zdf1 for zdf1 (the fleet's ssh_config
    gives zdf1 User root). `plan v2` batches its instance on root@zdf1, a listed host, as
    `deploy v2` then does (it records the rows under the listed name first); before, the
    plan had a batch "on zdf1 (not listed)" the deployment did not."""
    fleet = healthy_fleet
    with on_three(fleet, tmp_path) as (s, three):
        s.file.write_text(three)
        s.run("up")
        s.file.write_text(three.replace(THREE, "hosts: [root@zdf1, zdf2, zdf3]"))
        s.run("controller", "--stop")   # the one started anew knows only the new list
        s.run("controller")
        text = s.run("plan", "v2").stdout
        steps = json.loads(s.run("plan", "v2", "--json").stdout)["steps"]
        assert "not listed" not in text and "(on root@zdf1)" in text, text
        assert {h for st in steps for h in st.get("hosts", ())} == {
            "root@zdf1", "zdf2", "zdf3"}, steps
        assert not any(st.get("hosts_not_listed") for st in steps), steps

        s.run("deploy", "v2")
        (v2,) = [d for d in json.loads(s.run("history", "--json").stdout)["deployments"]
                 if d["to"]["version"] == "v2"]
        api = Client(socket_path=str(s.state_dir / "controller.sock"))
        done = api.get(f"/api/v1/deployments/{v2['id']}")["plan_steps"]
        assert [p["text"] for p in done] == [st["text"] for st in steps], (done, steps)
        assert [h.app_versions() for h in fleet.hosts] == [["v2"]] * 3


def test_down_lets_go_of_the_owner_record_on_a_host_off_the_list_it_stopped(
        healthy_fleet, tmp_path):
    """r1 on zdf1-3, then zdf2 off the list, its instance still running. `down` with zdf2
    cut off names it as still holding this controller's record (and its instance left);
    healed, the next `down` stops it there and lets go of the record, as on zdf1 and zdf3.
    Before, zdf2 kept it: another controller listing zdf2 again was refused there."""
    fleet, zdf2 = healthy_fleet, healthy_fleet.hosts[1]
    with on_three(fleet, tmp_path) as (s, three):
        up_then_list_changed(s, three)
        me = json.loads((s.state_dir / "controller.json").read_text())["id"]
        assert {h: o and o["id"] for h, o in owners(fleet).items()} == dict.fromkeys(
            ("zdf1", "zdf2", "zdf3"), me)
        fleet.partition(zdf2)
        try:
            cut = s.run("down", code=1)
        finally:
            fleet.heal(zdf2)
        assert "host zdf2 did not answer" in cut.stderr and "still recorded: shop-r1-s1; " \
            "this controller is still recorded as the service's owner there" in cut.stderr, cut
        assert {h: o and o["id"] for h, o in owners(fleet).items()} == {
            "zdf1": None, "zdf2": me, "zdf3": None}
        assert zdf2.app_versions() == ["v1"]

        s.run("down")
        assert zdf2.app_count() == 0
        assert owners(fleet) == dict.fromkeys(("zdf1", "zdf2", "zdf3"))


def test_a_take_over_takes_a_host_off_the_list_where_the_store_has_instances(
        healthy_fleet, tmp_path):
    """r1 on zdf1-3, zdf2 then off the list; the state folder's controller.json is lost,
    so it is a new controller (docs/fleet.md), refused by its old record everywhere, zdf2
    too: its next deployment stops r1-s1 there. `hosts --take-over` takes zdf2 over as
    well as zdf1 and zdf3; the deployment goes and stops it there, and `down` leaves no
    record where it runs. Before, zdf2 kept the old record: the deployment was refused
    there (its pre-flight reads the owner where its plan stops an instance) after every
    take-over."""
    fleet = healthy_fleet
    with on_three(fleet, tmp_path) as (s, three):
        up_then_list_changed(s, three)
        old = json.loads((s.state_dir / "controller.json").read_text())["id"]
        s.run("controller", "--stop")
        (s.state_dir / "controller.json").unlink()
        s.run("controller")

        refused = s.run("deploy", "v2", code=None)
        said = refused.stderr + refused.stdout
        assert refused.returncode != 0 and f"(controller {old[:8]}, since" in said, said
        for host in ("zdf1", "zdf2", "zdf3"):
            assert f"{host}: shop here is deployed by another controller" in said, said
        assert [h.app_versions() for h in fleet.hosts] == [["v1"]] * 3

        taken = s.run("hosts", "--take-over").stdout
        for host in ("zdf1", "zdf2", "zdf3"):
            assert f"{host}: shop taken over from " in taken, taken
        me = json.loads((s.state_dir / "controller.json").read_text())["id"]
        assert me != old and {h: o and o["id"] for h, o in owners(fleet).items()} == \
            dict.fromkeys(("zdf1", "zdf2", "zdf3"), me)

        s.run("deploy", "v2")   # (its last stops end in the background)
        wait_until(lambda: [h.app_versions() for h in fleet.hosts] == [["v2"], [], ["v2"]],
                   what="r1 stopped everywhere, zdf2's too")
        s.run("down")
        assert {h: o and o["id"] for h, o in owners(fleet).items()} == {
            "zdf1": None, "zdf2": me, "zdf3": None}   # (see docs/fleet.md: left there)
