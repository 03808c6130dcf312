"""The routing table as the state store keeps it (engine/routing_rows.py): a head and a row
a backend, written as a diff, read back as the same table, in the same order; what a
route step writes bounded by what changed, not by the table; an older store's tables
migrated (the 9th migration), the staged one restored from after a crash."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import pytest

from tests.support.engine_world import World, config
from tests.unit.test_instance_host import schema_at
from zerodown import table_json
from zerodown.engine import routing_rows, wal_sync
from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import Store
from zerodown.model import Backend, HealthCheck, RevisionRoute, RoutingTable, Rule, Sticky

G = routing_rows.GAP


@pytest.mark.parametrize("ids, kept, expected", [
    ("abc", {}, [0, G, 2 * G]),
    ("abcd", {"a": 0, "b": G, "c": 2 * G}, [0, G, 2 * G, 3 * G]),  # one appended
    ("zab", {"a": 0, "b": G}, [-G, 0, G]),  # one put first
    ("bc", {"a": 0, "b": G, "c": 2 * G}, [G, 2 * G]),  # the first removed: no other moves
    ("axb", {"a": 0, "b": G}, [0, G // 2, G]),  # one between two
    ("axyb", {"a": 0, "b": 3}, [0, 1, 2, 3]),  # two between, just room
    ("axyb", {"a": 0, "b": 2}, [0, G, 2 * G, 3 * G]),  # no room: all numbered anew
    ("ba", {"a": 0, "b": G}, [0, G]),  # reordered: all numbered anew
])
def test_a_backend_s_position_is_kept_while_its_neighbours_stay_in_order(ids, kept, expected):
    got = routing_rows.positions([Backend(i, "127.0.0.1:1") for i in ids], kept)
    assert got == expected


def table(version: int, *revisions: tuple[str, int, str], **kw) -> RoutingTable:
    """revisions as (name, weight, backend slots: "0123")."""
    return RoutingTable(version, tuple(
        RevisionRoute(name, weight, tuple(Backend(f"shop-{name}-{s}", f"127.0.0.1:{4000 + int(s)}")
                                          for s in slots))
        for name, weight, slots in revisions), **kw)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "zerodown.db") as s:
        s.db.execute("INSERT INTO services (name, config, updated) VALUES ('shop', '{}', 0)")
        yield s


def put(store: Store, t: RoutingTable, which: str = "staged") -> int:
    """`t` written as the `which` table; the rows it changed."""
    before = store.db.total_changes
    with store._tx() as tx:
        routing_rows.write(tx, "shop", which, t)
    return store.db.total_changes - before


def got(store: Store, t: RoutingTable, which: str = "staged") -> RoutingTable:
    return routing_rows.read(store.db, "shop", which, routing_rows.head(t))


def test_each_table_reads_back_the_same_in_order_writing_only_the_backends_that_changed(store):
    rules, sticky = (Rule("r2", header="X-Beta", equals="1"),), Sticky("cookie", "zd", 60)
    steps = [  # (table, rows its write changes)
        (table(1, ("r1", 100, "0123")), 4),
        (table(2, ("r1", 75, "123"), ("r2", 25, "4")), 2),  # one out, one in
        (table(3, ("r1", 50, "23"), ("r2", 50, "45"), rules=rules, sticky=sticky), 2),
        (table(4, ("r1", 50, "32"), ("r2", 50, "45")), 2),  # two swapped: numbered anew
        (table(5, ("r2", 100, "6452"), health_check=HealthCheck("/up", 1.0, 0.5, 3, 2)), 4),
        (table(6, ("r2", 100, "6452"), epoch=3), 0),  # the head only
        (table(7), 4),
    ]
    for t, changed in steps:
        assert put(store, t) == changed, t
        assert got(store, t) == t


def test_an_address_or_weight_changed_is_one_row_and_reads_back(store):
    t = table(1, ("r1", 100, "012"))
    put(store, t)
    r1 = t.revisions[0]
    moved = dataclasses.replace(t, revisions=(dataclasses.replace(r1, backends=(
        r1.backends[0], Backend(r1.backends[1].id, "10.0.0.9:5000", 7), r1.backends[2])),))
    assert put(store, moved) == 1
    assert got(store, moved) == moved


def test_a_route_writes_pages_for_what_it_changed_not_for_the_whole_table(tmp_path,
                                                                          monkeypatch):
    """A rolling deployment one at a time: each Route stages a table of every instance and
    confirms it. The WAL pages its two commits write, each 4 kB, as the table grows 15x."""
    monkeypatch.setattr(wal_sync, "checkpoint", lambda *a, **k: None)  # every page stays
    per_route = {n: route_pages(tmp_path / str(n), n) for n in (10, 150)}
    assert per_route[10] <= 20
    # 16.3 and 20.0 (the B-trees deeper); whole tables (of 150 backends, ~11 kB each, twice
    # at each stage) and the plan written again with its deployment's row: 14.3 and 41.4
    assert per_route[150] <= per_route[10] + 6, per_route


def route_pages(tmp: Path, n: int) -> float:
    engine = World(tmp).engine(config(n))
    engine.run(engine.deploy("v1"))
    wal = f"{engine.store.path}-wal"
    spent: list[int] = []

    def counted(method, routes: bool):
        def call(self, *args, **kwargs):
            before = os.path.getsize(wal)
            try:
                return method(self, *args, **kwargs)
            finally:
                if routes or kwargs.get("routed") is not None:
                    spent.append(os.path.getsize(wal) - before)
        return call
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(Store, "stage_table", counted(Store.stage_table, True))
        patched.setattr(Store, "finish_step", counted(Store.finish_step, False))
        assert engine.run(engine.deploy("v2")) is Phase.SUCCEEDED
    engine.store.close()
    assert len(spent) == 2 * n  # a stage and its confirmation, each route
    return sum(spent) / (4096 + 24) / n


# --- a store of an older zerodown (schema 8: each table whole, as JSON) ---------------

OLD_APPLIED = table(4, ("r1", 50, "012"), ("r2", 50, "3"), epoch=2,
                    rules=(Rule("r2", cookie="beta", regex="^yes$"),),
                    sticky=Sticky("header", "X-User", 0))
OLD_STAGED = table(5, ("r1", 25, "12"), ("r2", 75, "34"), epoch=2)


def old_store(path: Path) -> None:
    """A store as zerodown wrote it before the 9th migration, a table staged (a crash
    between a route's stage and its apply): each table whole, the JSON of the time."""
    db = schema_at(path, 8)
    db.execute("INSERT INTO services (name, config, updated) VALUES ('shop', '{}', 0)")
    db.execute("INSERT INTO routing (service, version, epoch, applied, staged, "
               "staged_deployment, staged_step) VALUES ('shop', 5, 2, ?, ?, 7, 3)",
               (table_json.dumps(OLD_APPLIED), table_json.dumps(OLD_STAGED)))
    db.close()


def test_an_older_store_s_tables_migrate_to_rows_and_read_the_same(tmp_path):
    old_store(tmp_path / "z.db")
    with Store(tmp_path / "z.db") as s:
        routing = s.routing("shop")
        assert (routing.table, routing.staged) == (OLD_APPLIED, OLD_STAGED)
        assert (routing.version, routing.epoch, routing.staged_by) == (5, 2, (7, 3))
        # each revision's backends numbered in order; no row a head's revision lacks
        assert list(map(tuple, s.db.execute(
            "SELECT tbl, id, position FROM routing_backends WHERE revision = 'r1' ORDER BY tbl,"
            " position"))) == [
            ("applied", "shop-r1-0", 0), ("applied", "shop-r1-1", G),
            ("applied", "shop-r1-2", 2 * G), ("staged", "shop-r1-1", 0),
            ("staged", "shop-r1-2", G)]


def test_an_older_store_s_staged_table_is_restored_after_the_crash_then_confirmed(tmp_path):
    old_store(tmp_path / "z.db")
    with Store(tmp_path / "z.db") as s:
        again = s.stage_restore("shop")  # what a resumed engine does first (applying.py)
        assert again == dataclasses.replace(OLD_APPLIED, version=6)
        assert s.routing("shop").staged == again
        s.confirm_table("shop")
        routing = s.routing("shop")
        assert (routing.table, routing.staged, routing.version) == (again, None, 6)
        assert s.db.execute("SELECT count(*) FROM routing_backends WHERE tbl = 'applied'"
                            ).fetchone()[0] == 4


def test_an_older_store_with_no_table_staged_migrates_its_applied_one(tmp_path):
    db = schema_at(tmp_path / "z.db", 8)
    db.execute("INSERT INTO services (name, config, updated) VALUES ('shop', '{}', 0)")
    db.execute("INSERT INTO routing (service, version, epoch, applied) VALUES ('shop', 4, 2, ?)",
               (table_json.dumps(OLD_APPLIED),))
    db.close()
    with Store(tmp_path / "z.db") as s:
        routing = s.routing("shop")
        assert (routing.table, routing.staged, routing.staged_by) == (OLD_APPLIED, None, None)


def test_a_reader_of_the_routing_table_never_sees_a_head_and_rows_of_two_writes(tmp_path):
    """routing() read the head, then the rows, each in a snapshot of its own: a write
    committed by another connection between them (the runner's route step while `zerodown
    up`'s status look read) failed the reader with "has backends of revisions it does not
    list", an internal error on the user's `up` (tests/fleet/test_fleet_exec.py, once)."""
    path = tmp_path / "zerodown.db"
    with Store(path) as writer, Store(path) as reader:
        writer.db.execute("INSERT INTO services (name, config, updated) VALUES ('shop', '{}', 0)")
        done, version, seen = threading.Event(), [0], []

        def write() -> None:
            while not done.is_set():
                version[0] += 1
                t = table(version[0], (f"r{version[0] % 2 + 1}", 100, "0123"))
                with writer._tx(durable=False) as tx:
                    tx.execute("INSERT INTO routing (service, version, applied) VALUES "
                               "('shop', ?, ?) ON CONFLICT (service) DO UPDATE SET version = "
                               "excluded.version, applied = excluded.applied",
                               (t.version, routing_rows.head(t)))
                    routing_rows.write(tx, "shop", "applied", t)
        thread = threading.Thread(target=write)
        thread.start()
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(seen) < 3000:
                table_read = reader.routing("shop").table
                seen.append(table_read.version)
                assert len(table_read.revisions) in (0, 1), table_read
        finally:
            done.set()
            thread.join()
        assert version[0] > 100, "the writer hardly wrote: the race was not tried"
