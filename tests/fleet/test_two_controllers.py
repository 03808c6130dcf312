"""Two controllers (two state folders, as two laptops') deploying one service to one fleet:
the second is refused in the pre-flight naming the first, nothing changed (its `up` starts
nothing, its `plan` says so); it takes the
service over; the first is then refused naming it; `down` leaves no owner behind. Before
this, the second one's `up` stopped the first one's instances as orphans and started its
own under the same names (docs/fleet.md, "One controller per service"). Unit versions:
tests/unit/test_service_owner.py."""

from __future__ import annotations

import json

from tests.support.cli import Service, ours

OWNER = "cat /srv/zerodown/services/shop/owner.json 2>/dev/null; true"


def owners(fleet) -> dict[str, dict | None]:
    return {h.name: json.loads(text) if (text := h.run(OWNER).stdout.strip()) else None
            for h in fleet.hosts}


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
