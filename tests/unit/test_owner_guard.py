"""A host refuses a controller that is no longer the service's owner: the agent's check
before each change (zerodown/hosts/agent.py `owned`, on a temp folder), what the
controller makes of its answer (hosts/ssh.py: NotOwner naming the owner), and what a
deployment does with it (engine/replanning.py: failed, neither skipped, paused nor rolled
back; a refused background stop fails it at its next step). The fleet version:
tests/fleet/test_two_controllers.py (a deployment paused, taken over, resumed)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.unit.test_host_failure import HOSTS, Fleet, fleet_config, world  # noqa: F401
from zerodown.engine.lifecycle import Phase
from zerodown.errors import NotOwner, OwnerUnreadable
from zerodown.hosts import agent
from zerodown.hosts.instances import InstanceTable
from zerodown.hosts.owner import FILE, TAKE_OVER, owner
from zerodown.hosts.ssh import SshHost
from zerodown.model import host_for

A = {"id": "a" * 32, "where": "ana@laptop:/home/ana/shop/.zerodown"}
B = {"id": "b" * 32, "where": "root@ci:/srv/shop/.zerodown"}
RECORD = {"service": "shop", "revision": 1, "slot": 0, "host": "local", "version": "v1"}


def ask(op: str, *args) -> dict:
    return agent.answer(json.dumps({"op": op, "args": list(args)}))


def owned(folder, me: dict, method: str, *args) -> dict:
    return ask("owned", str(folder), me["id"], "table", [method, *args])


@pytest.fixture
def service(tmp_path):
    return tmp_path / "services" / "shop"


def test_a_change_is_asked_with_the_controllers_id_or_not_at_all(service):
    for method, args in (("claim", ["shop-r1-s0", RECORD, "127.0.0.1"]),
                         ("stop", ["shop-r1-s0", None, 1.0, "instance shop-r1-s0"]),
                         ("drop", ["shop-r1-s0"]), ("hasten", [["shop-r1-s0"]])):
        said = ask("table", str(service), method, *args)["error"]
        assert f"{method!r} changes the service's instances" in said and "'owned'" in said
    assert "release_commit" not in agent.OPS and "release_commit" in agent.OWNED
    assert ask("table", str(service), "entry", "shop-r1-s0") == {"ok": None}   # a look


def test_nobody_recorded_yet_or_this_controller_is_accepted(service):
    got = owned(service, A, "claim", "shop-r1-s0", RECORD, "127.0.0.1")   # a first deployment
    assert "port" in got["ok"], got
    owner(str(service), A, "claim")
    assert owned(service, A, "drop", "shop-r1-s0") == {"ok": None}
    assert "shop-r1-s0" not in InstanceTable(service).registry.load()


def test_another_controllers_record_refuses_each_change_naming_it(service):
    owned(service, A, "claim", "shop-r1-s0", RECORD, "127.0.0.1")
    owner(str(service), B, "take")   # B took the service over since A's pre-flight
    before = InstanceTable(service).registry.load()
    for method, args in (("claim", ["shop-r1-s1", RECORD, "127.0.0.1"]),
                         ("drop", ["shop-r1-s0"]),
                         ("stop", ["shop-r1-s0", None, 1.0, "instance shop-r1-s0"]),
                         ("start", ["shop-r1-s1", RECORD, "127.0.0.1", ["true"], "/", {}, "b"])):
        got = owned(service, A, method, *args)
        assert got["kind"] == "not_owner" and got["service"] == "shop", got
        assert got["owner"]["id"] == B["id"] and got["owner"]["where"] == B["where"]
        assert B["where"] in got["error"]
    assert InstanceTable(service).registry.load() == before   # nothing changed
    got = ask("owned", str(service), A["id"], "release_commit",
              [str(service.parent.parent / "releases" / "shop"), "v1", {}, 1, [], None])
    assert got["kind"] == "not_owner"
    assert owned(service, B, "drop", "shop-r1-s0") == {"ok": None}   # the owner's: done


def test_an_adopt_by_another_is_a_read_the_owner_tidies(service):
    owned(service, A, "claim", "shop-r1-s0", RECORD, "127.0.0.1")
    table = InstanceTable(service)
    with table.registry.locked() as entries:   # a claim long past: an adopt forgets it
        entries["shop-r1-s0"]["claimed"] = ["another boot", 0.0]
        table.registry.save(entries)
    owner(str(service), B, "take")
    assert owned(service, A, "adopt", "shop") == {"ok": []}
    assert "shop-r1-s0" in table.registry.load()   # A's adopt wrote nothing
    assert ask("table", str(service), "adopt", "shop") == {"ok": []}   # nor a plain one
    assert "shop-r1-s0" in table.registry.load()
    assert owned(service, B, "adopt", "shop") == {"ok": []}
    assert "shop-r1-s0" not in table.registry.load()   # the owner's adopt tidies


def test_an_unreadable_record_refuses_a_change_as_unreadable(service):
    service.mkdir(parents=True)
    (service / FILE).write_text("{")
    got = owned(service, A, "claim", "shop-r1-s0", RECORD, "127.0.0.1")
    assert got["kind"] == "owner_unreadable" and TAKE_OVER in got["error"]


def test_an_unreadable_record_answers_an_adopt_as_a_read(service):
    """Whose it is cannot be told: the adopt (a deployment's reconcile, `down`'s) is
    answered, as another's is, without the owner's housekeeping; the next change is
    refused as unreadable (the deployment fails there, engine/replanning.py) instead of
    the run raising out of its reconcile, retried by the daemon without end."""
    owned(service, A, "claim", "shop-r1-s0", RECORD, "127.0.0.1")
    table = InstanceTable(service)
    with table.registry.locked() as entries:   # a claim long past: a tidy adopt forgets it
        entries["shop-r1-s0"]["claimed"] = ["another boot", 0.0]
        table.registry.save(entries)
    (service / FILE).write_text("{")
    assert owned(service, A, "adopt", "shop") == {"ok": []}
    assert "shop-r1-s0" in table.registry.load()   # nothing written


class Asked:
    """Connections whose agent is this process's (agent.answer on the request)."""

    def __init__(self):
        self.options = SimpleNamespace(command_timeout=5.0, keepalive=15.0)
        self.agents = {}

    def ask(self, name, command, request, timeout, heartbeat):
        return SimpleNamespace(status=0, ok=True, stdout=json.dumps(agent.answer(request)),
                               stderr="")


def test_the_controller_names_the_owner_its_origin_and_the_way_out(service):
    host = SshHost(Asked(), "zdf1", "/srv/zerodown")
    host.connections.agents["zdf1"] = {host.agent_dir}
    owner(str(service), {**B, "where": "root@ci:/srv/shop/.zerodown"}, "take")
    with pytest.raises(NotOwner) as e:
        host.owned(str(service), A["id"], "table", "claim", "shop-r1-s0", RECORD, "127.0.0.1")
    said = str(e.value)
    assert said.startswith("host zdf1: refused, the service was taken over: shop here is "
                           "deployed by another controller: root@ci:/srv/shop/.zerodown "
                           f"(controller {B['id'][:8]}, since "), said
    assert TAKE_OVER in said and e.value.host == "zdf1" and e.value.owner["id"] == B["id"]
    (service / FILE).write_text("garbage")
    with pytest.raises(OwnerUnreadable):
        host.owned(str(service), A["id"], "table", "stop", "shop-r1-s0", None, 1.0, "x")


class TakenOver(Fleet):
    """The fake fleet where the hosts in `taken` refuse this controller's changes."""

    taken: set[str] = set()
    stops_refused: set[str] = set()  # ... their stops only

    def start(self, revision, slot):
        self._refuse(slot, self.taken)
        return super().start(revision, slot)

    def stop(self, instance, grace):
        self._refuse(instance.slot, self.taken | self.stops_refused)
        return super().stop(instance, grace)

    def _refuse(self, slot, hosts) -> None:
        host = host_for(HOSTS, slot.index)
        if host in hosts:
            raise NotOwner(f"host {host}: refused, the service was taken over: shop here "
                           f"is deployed by another controller: root@ci:/srv/shop", host, B)


@pytest.fixture
def taken(world):  # noqa: F811
    world.runtime = TakenOver(healthy_after=2, faults=world.faults, journal=world.journal)
    world.runtime.down, world.runtime.taken, world.runtime.stops_refused = set(), set(), set()
    return world


def started(world, name: str) -> bool:
    return any(j[0] == "start" and j[1] == name for j in world.journal)


@pytest.mark.parametrize("policy", ["skip", "pause"])
def test_a_refused_start_fails_the_deployment_neither_skipped_nor_rolled_back(taken, policy):
    e = taken.engine(fleet_config(policy))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")
    taken.runtime.taken.add("app2")
    before = len([j for j in taken.journal if j[0] == "apply"])
    assert e.run(d) is Phase.FAILED
    dep = e.store.deployment(d)
    assert "taken over" in dep.error and "root@ci:/srv/shop" in dep.error, dep.error
    assert dep.plan_kind == "deploy"   # not rolled back (its acts would be refused alike)
    assert not e.store.events("shop", d, kind="host.skipped")
    assert not started(taken, "shop-r2-s1")   # app2's
    # what it routed before the refusal stays (the owner's now); nothing routed after it
    applied = [j for j in taken.journal if j[0] == "apply"]
    assert all("r2-s1" not in str(j[1]) for j in applied[before:])


def test_a_refused_background_stop_fails_the_deployment_at_its_next_step(taken):
    taken.runtime.stops_slowly = True   # (stopping.py: the stop runs beside the next steps)
    e = taken.engine(fleet_config("skip"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    d = e.deploy("v2")
    taken.runtime.stops_refused.add("app1")   # its first stop (r1 on app1) is refused
    assert e.run(d) is Phase.FAILED
    dep = e.store.deployment(d)
    assert "taken over" in dep.error and dep.plan_kind == "deploy", dep.error
    (failed,) = e.store.events("shop", kind="instance.stop_failed")
    assert "shop-r1-s0" in failed.message and "taken over" in failed.message
    # nothing this controller does stops it now (its next deployment and `down` are
    # refused there alike): the event says what would
    assert "the next deployment or `zerodown down` stops it" not in failed.message
    assert "once this controller takes the service over again" in failed.message, \
        failed.message
    # the instance whose stop was refused stays recorded as live (stopping), not stopped
    assert e.store.instances("shop", live=True)[
        next(r for r in e.store.instances("shop", live=True)
             if r.name("shop") == "shop-r1-s0")].state == "stopping"


def test_a_refused_orphan_stop_is_said_where_no_deployment_fails_at_it(taken):
    """The controller's start with no deployment to resume (daemon/runs.py: a reconcile
    whose stops are finished beside the runs) finds an instance its store does not own
    on a host taken over since: its stop is refused, and an event says so (the
    `instance.orphan` event before it said it was being stopped; no deployment is there
    to fail with the refusal)."""
    from zerodown.engine.finishing import Finishing
    from zerodown.model import Slot
    e = taken.engine(fleet_config("skip"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    other = taken.runtime.start(SimpleNamespace(service="shop", number=9, version="v9"),
                                Slot(0))   # the new owner's, on app1
    taken.runtime.taken.add("app1")
    ended = []
    Finishing().reconcile(e, done=lambda: ended.append(True))
    assert ended and taken.runtime.alive(other)   # refused: not stopped
    (failed,) = e.store.events("shop", kind="instance.stop_failed")
    assert "shop-r9-s0" in failed.message and "taken over" in failed.message, failed.message
