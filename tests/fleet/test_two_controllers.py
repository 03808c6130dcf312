"""Two controllers (two state folders, as two laptops') deploying one service to one fleet:
the second is refused in the pre-flight naming the first, nothing changed (its `up` starts
nothing, its `plan` says so); it takes the
service over; the first is then refused naming it; `down` leaves no owner behind. Before
this, the second one's `up` stopped the first one's instances as orphans and started its
own under the same names (docs/fleet.md, "One controller per service"). A deployment
already running when the other takes over (paused at a person's pause, then resumed) is
refused by the hosts at its next start, naming the new owner, and fails: nothing of the
new owner's is touched. Unit versions: tests/unit/test_service_owner.py,
tests/unit/test_owner_guard.py."""

from __future__ import annotations

import json

from tests.support.cli import Service, ours
from tests.support.net import wait_until
from zerodown.controller import Controller

CANARY = "{kind: canary, steps: [{weight: 34}, {pause: {}}]}"  # a person's pause, then the rest
OWNER = "cat /srv/zerodown/services/shop/owner.json 2>/dev/null; true"


def owners(fleet) -> dict[str, dict | None]:
    return {h.name: json.loads(text) if (text := h.run(OWNER).stdout.strip()) else None
            for h in fleet.hosts}


def served(s: Service) -> set[tuple[str, int]]:
    """(host, pid) of each instance (a pid is the host's: two hosts may have the same)."""
    return {(i["host"], i["pid"]) for i in s.status()["instances"]}


def test_a_second_controller_is_refused_takes_over_and_then_refuses_the_first(
        healthy_fleet, tmp_path):
    fleet = healthy_fleet
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = Service(tmp_path / "a"), Service(tmp_path / "b")
    for s in (a, b):
        s.file.write_text(fleet.service_config(s.port, "{kind: rolling}", per_host=1))
    try:
        a.run("up")
        a_id = json.loads((a.state_dir / "controller.json").read_text())["id"]
        assert {h: o and o["id"] for h, o in owners(fleet).items()} == \
            {h.name: a_id for h in fleet.hosts}
        pids = a.pids()

        refused = b.run("up", code=None)
        assert refused.returncode != 0, refused.stdout
        said = refused.stderr + refused.stdout
        for host in fleet.hosts:
            assert f"{host.name}: shop here is deployed by another controller: " in said, said
        assert f":{a.state_dir} (controller {a_id[:8]}, since " in said, said
        assert "zerodown hosts --take-over" in said, said
        assert a.pids() == pids and all(i["alive"] for i in a.status()["instances"])
        assert [h.app_count() for h in fleet.hosts] == [1, 1, 1]   # nothing of B's started,
        assert not ours(b.state_dir)   # not even its load balancer or controller here
        plan = b.run("plan", "v1", code=None)   # told as the deployment would be
        assert plan.returncode != 0 and "another controller" in plan.stderr, plan
        done = b.run("down", code=None)
        assert done.returncode != 0 and "another controller" in done.stderr, done
        assert not (b.state_dir / "controller.json").exists()   # refused: no id made
        assert a.pids() == pids

        table = b.run("hosts").stdout
        assert "OWNER" in table and table.count(str(a.state_dir)) == 3, table
        assert a.run("hosts").stdout.count("this controller") == 3

        taken = b.run("hosts", "--take-over").stdout
        assert taken.count(f"taken over from ") == 3 and str(a.state_dir) in taken, taken
        for argv in (("deploy", "v2"), ("exec", "--", "true"), ("down",)):
            done = a.run(*argv, code=None)
            text = done.stderr + done.stdout
            assert done.returncode != 0 and f":{b.state_dir} (controller" in text, text
        assert a.pids() == pids   # refused: nothing of A's changed either

        b.run("up")   # B's instances replace A's (its reconcile stops what it does not own)
        assert [h.app_count() for h in fleet.hosts] == [1, 1, 1]
        assert not pids & b.pids()
        b.run("down")
        assert owners(fleet) == {h.name: None for h in fleet.hosts}
        a.run("down")   # nobody owns it now: A's down goes (it finds nothing left to stop)
    finally:
        left = {**a.cleanup(), **b.cleanup()}
    assert not left, f"processes left after the test: {left}"


def test_a_deployment_running_when_another_takes_over_is_refused_at_its_next_start(
        healthy_fleet, tmp_path):
    """A's canary waits at its person's pause (its daemon holds it); B takes over and
    serves its own r1, under the names A's r1 had (shop-r1-s0...); A resumed: the hosts
    refuse its next start naming B, and the deployment fails, neither skipped nor rolled
    back through the hosts; B's instances are untouched (before, A's rollout went on:
    its stops of `shop-r1-s*` were B's instances)."""
    fleet = healthy_fleet
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = Service(tmp_path / "a"), Service(tmp_path / "b")
    a.file.write_text(fleet.service_config(a.port, CANARY, per_host=1))
    b.file.write_text(fleet.service_config(b.port, "{kind: rolling}", per_host=1))
    try:
        a.run("up")
        a.run("deploy", "v2", "--detach")
        paused = wait_until(lambda: (d := a.status()["deployment"]) and d["phase"] == "paused"
                            and d, timeout=60, what="A's canary at its pause")
        b.run("hosts", "--take-over")
        b.run("up")   # B's r1 replaces what ran (A's r1 and its canary: orphans to B)
        b_pids = served(b)
        assert [h.app_count() for h in fleet.hosts] == [1, 1, 1] and len(b_pids) == 3

        a.run("resume")
        store = Controller(str(a.file), str(a.state_dir)).store()
        ended = wait_until(lambda: (d := store.deployment(paused["id"])).phase.terminal and d,
                           timeout=60, what="A's deployment's end")
        assert ended.phase.value == "failed", (ended.phase, ended.error)
        assert "refused, the service was taken over: shop here is deployed by another " \
            f"controller: " in ended.error and f":{b.state_dir} (controller " in ended.error
        assert "zerodown hosts --take-over" in ended.error, ended.error
        assert ended.plan_kind == "deploy"   # not rolled back: every act there is refused
        assert not store.events("shop", paused["id"], kind="host.skipped")
        assert served(b) == b_pids and all(i["alive"] for i in b.status()["instances"])
        assert [h.app_count() for h in fleet.hosts] == [1, 1, 1]   # nothing of A's started
        b.run("down")
        assert owners(fleet) == {h.name: None for h in fleet.hosts}
    finally:
        left = {**a.cleanup(), **b.cleanup()}
    assert not left, f"processes left after the test: {left}"
