"""The host an instance runs on is the one recorded with its row (runs_on), not its slot's
host in today's runtime.hosts: the store's migration, its writes, and every reader of an
existing instance's host (status, logs, a skipped host, reconcile). Fleet version:
tests/fleet/test_instance_hosts.py."""

from __future__ import annotations

import dataclasses
import sqlite3
from types import SimpleNamespace

import pytest

from tests.unit.test_host_failure import HOSTS, Fleet, fleet_config
from tests.support.engine_world import World
from zerodown import render
from zerodown.commands.remote_logs import remote_logs
from zerodown.engine.host_failure import without_host
from zerodown.engine.lifecycle import Phase
from zerodown.engine.records import InstanceRow
from zerodown.engine.store import MIGRATIONS, Change, Store
from zerodown.errors import UsageError
from zerodown.gather import instance_view
from zerodown.model import Adopted, Instance, InstanceRef, Slot, host_for, on_host, silent_host
from zerodown.plan import Stop
from zerodown.views import RevisionLabel

KNOWN = {1: RevisionLabel(1, "v1")}


def ref(slot: int, revision: int = 1) -> InstanceRef:
    return InstanceRef(revision, Slot(slot))


def schema_at(path, version: int) -> sqlite3.Connection:
    """A new store file with the schema of an older zerodown (`version` of MIGRATIONS)."""
    db = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:version]:
        for statement in script.split(";\n"):
            if statement.strip():
                db.execute(statement)
    db.execute(f"PRAGMA user_version = {version}")
    return db


def old_store(path) -> None:
    """A store as zerodown wrote it before hosts were recorded (schema 3), one instance."""
    db = schema_at(path, 3)
    db.execute("INSERT INTO services (name, config, updated) VALUES ('shop', '{}', 0)")
    db.execute("INSERT INTO revisions VALUES ('shop', 1, 'v1', '{}', 0)")
    db.execute("INSERT INTO instances VALUES ('shop', 1, 2, 'local', 'routed', '10.0.0.3:5000', "
               "42, 0)")
    db.close()


def test_an_older_store_migrates_and_keeps_its_rows_with_no_host_recorded(tmp_path):
    old_store(tmp_path / "z.db")
    with Store(tmp_path / "z.db") as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 6
        (row,) = s.instances("shop").values()
        assert (row.ref, row.state, row.address, row.pid, row.runs_on) == (
            ref(2), "routed", "10.0.0.3:5000", 42, None)
        # read by today's rule, as before: slot 2 of [app1, app2] is app1
        assert row.host(("app1", "app2")) == "app1" and row.host(()) is None
        # adopted once (reconcile): the host that reported it is written in
        s.set_instances("shop", [Change(ref(2), "routed", Instance(
            "shop", 1, Slot(2), "10.0.0.3:5000", 42, runs_on="app3"))])
        assert s.instances("shop")[ref(2)].host(("app1", "app2")) == "app3"


def test_the_recorded_host_is_kept_until_a_new_life_forgets_it(tmp_path):
    with Store(tmp_path / "z.db") as s:
        s.db.execute("INSERT INTO services (name, config, updated) VALUES ('shop', '{}', 0)")
        s.db.execute("INSERT INTO revisions VALUES ('shop', 1, 'v1', '{}', 0)")
        started = Instance("shop", 1, Slot(0), "10.0.0.2:5000", 7, "v1", runs_on="app2")
        s.set_instances("shop", [Change(ref(0), "starting", started)])
        assert s.instances("shop")[ref(0)].runs_on == "app2"
        s.set_instances("shop", [Change(ref(0), "routed")])  # a state change alone
        assert s.instances("shop")[ref(0)].runs_on == "app2"
        row = s.instances("shop")[ref(0)]
        assert row.instance("shop").runs_on == "app2"  # what the runtime is handed back
        # an Instance that names no host (built from an older row) leaves it as it is
        s.set_instances("shop", [Change(ref(0), "routed", dataclasses.replace(
            started, runs_on=None))])
        assert s.instances("shop")[ref(0)].runs_on == "app2"
        s.set_instances("shop", [Change(ref(0), "starting", set_address=True)])  # a new life
        assert s.instances("shop")[ref(0)].runs_on is None


def row(slot: int, runs_on: str | None, state: str = "routed") -> InstanceRow:
    return InstanceRow(ref(slot), state, f"10.0.0.{slot}:5000", 100 + slot, runs_on)


@pytest.mark.parametrize("runs_on, hosts, host, listed", [
    ("app1", ("app3", "app1"), "app1", True),    # reordered: where it was started
    ("app2", ("app3", "app1"), "app2", False),   # removed from the list: named, not listed
    (None, ("app3", "app1"), "app1", True),      # an older row: slot 1 of today's list
    (None, (), None, None),                      # no fleet
])
def test_status_names_the_recorded_host_and_whether_it_is_still_listed(runs_on, hosts, host,
                                                                      listed):
    view = instance_view("shop", row(1, runs_on), KNOWN, hosts)
    assert (view.host, view.host_listed) == (host, listed)


def test_status_text_says_a_host_is_no_longer_listed():
    view = instance_view("shop", row(1, "app2"), KNOWN, ("app1",))
    assert render.host_cell(view) == "app2 (not listed)"
    assert render.host_cell(instance_view("shop", row(0, "app1"), KNOWN, ("app1",))) == "app1"


def test_logs_read_each_instance_on_its_recorded_host_and_host_takes_an_unlisted_one():
    runtime = SimpleNamespace(names=["app3", "app1"], remote_dir="/srv/z/services/shop")
    instances = [("shop-r1-s0", "app1"), ("shop-r1-s1", "app2")]
    logs = remote_logs(runtime, instances, None, None)
    assert [(l.host, l.instance) for l in logs] == [("app1", "shop-r1-s0"), ("app2", "shop-r1-s1")]
    (only,) = remote_logs(runtime, instances, None, "app2")   # no longer listed, still runs
    assert only.path == "/srv/z/services/shop/logs/shop-r1-s1.log"
    with pytest.raises(UsageError, match=r"not one of runtime.hosts, nor a host an instance "
                                         r"runs on \(app3, app1, app2\)"):
        remote_logs(runtime, instances, None, "app9")
    with pytest.raises(UsageError, match="no instance on app3 runs"):
        remote_logs(runtime, instances, None, "app3")


def test_a_skipped_host_leaves_out_the_instances_recorded_there_not_its_slots_today():
    stop = Stop((ref(0), ref(1), ref(2)))
    # slot 0 was started on app2 (an older list); slot 1 is app2's by today's list but was
    # recorded on app1; slot 2 has no record: today's rule (app3)
    recorded = {ref(0): "app2", ref(1): "app1"}
    (left,) = without_host((stop,), "app2", HOSTS, recorded)
    assert left.instances == (ref(1), ref(2))
    assert on_host(None, HOSTS, 1) == host_for(HOSTS, 1) == "app2"


def test_a_silent_host_is_the_instances_own():
    found = Adopted([], {"app2": "timed out"})
    assert silent_host(found, "app2") == "app2"
    assert silent_host(found, "app1") is None and silent_host(found, None) is None
    assert silent_host([], "app2") is None


class Recording(Fleet):
    """The fleet fake, saying where each instance runs as the ssh runtime does."""

    def start(self, revision, slot):
        inst = super().start(revision, slot)
        return dataclasses.replace(inst, runs_on=host_for(HOSTS, slot.index))

    def adopt(self, service, recorded=()):
        found = super().adopt(service, recorded)
        return Adopted([dataclasses.replace(i, runs_on=host_for(HOSTS, i.slot.index))
                        for i in found], found.unreachable)


def test_the_engine_records_the_host_a_start_returned_and_fills_an_older_row_on_adopt(
        tmp_path):
    world = World(tmp_path)
    world.runtime = Recording(healthy_after=2, faults=world.faults, journal=world.journal)
    world.runtime.down = set()
    e = world.engine(fleet_config("pause"))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    rows = e.store.instances("shop", live=True)
    assert {r.slot.index: row.runs_on for r, row in rows.items()} == {
        0: "app1", 1: "app2", 2: "app3"}
    e.store.db.execute("UPDATE instances SET runs_on = NULL")  # as an older store left them
    e.reconcile()
    rows = e.store.instances("shop", live=True)
    assert {r.slot.index: row.runs_on for r, row in rows.items()} == {
        0: "app1", 1: "app2", 2: "app3"}
