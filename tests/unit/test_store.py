"""The state store on a real SQLite file in a temp dir: schema, transactions, the one-deployment rule."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from zerodown.config import RollingStrategy
from zerodown.engine.lifecycle import Phase, PhaseError
from zerodown.engine.store import (MIGRATIONS, Change, DeploymentConflict, NotFound, PlanMoved,
                                   Store, StoreError)
from zerodown.engine.transaction import Tx
from zerodown.model import Instance, InstanceRef, RoutingTable, Slot
from zerodown.plan import Pause, Route, Share, Start, Target, WaitHealthy, route_table
from zerodown.strategies import plan_for


def ref(rev: int, slot: int) -> InstanceRef:
    return InstanceRef(rev, Slot(slot))


def rolling(n: int = 2):
    return lambda state, rev: plan_for(RollingStrategy(), state, Target(rev, n))


def create(store: Store, service: str = "shop", n: int = 2, **kw):
    kw.setdefault("version", "v1")
    return store.create_deployment(service, {"source": {}}, {}, "rollback", rolling(n), **kw)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "zerodown.db") as s:
        clock = iter(range(1000, 10**6))
        s.now = lambda: float(next(clock))
        yield s


def pragma(store: Store, name: str):
    return store.db.execute(f"PRAGMA {name}").fetchone()[0]


def test_a_new_store_is_wal_durable_versioned_and_checks_foreign_keys(store):
    assert pragma(store, "journal_mode") == "wal"
    assert pragma(store, "synchronous") == 2  # FULL
    assert pragma(store, "foreign_keys") == 1
    assert pragma(store, "busy_timeout") == 30000
    assert pragma(store, "user_version") == len(MIGRATIONS)


def test_reopening_keeps_the_data_and_a_newer_schema_is_refused(tmp_path):
    with Store(tmp_path / "z.db") as s:
        create(s)
    with Store(tmp_path / "z.db") as s:
        assert s.deployment(1).to_revision == 1
        s.db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this zerodown knows"):
        Store(tmp_path / "z.db")


def test_revisions_are_numbered_per_service_and_immutable(store):
    d1 = create(store)
    d2 = create(store, "cart", version="v9")  # another service: its own numbers, its own lock
    assert (d1.to_revision, d2.to_revision) == (1, 1)
    assert store.revision("cart", 1).version == "v9"
    for sql in ("UPDATE revisions SET version = 'x'", "DELETE FROM revisions"):
        with pytest.raises(sqlite3.DatabaseError, match="revisions are immutable"):
            store.db.execute(sql)
    with pytest.raises(NotFound, match="service shop has no revision r5"):
        store.revision("shop", 5)


def test_the_event_log_is_append_only(store):
    create(store)
    for sql in ("UPDATE events SET message = 'x'", "DELETE FROM events"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.db.execute(sql)


def test_one_active_deployment_per_service_with_a_message_saying_how_to_wait_or_abort(store):
    first = create(store)
    events = len(store.events())
    with pytest.raises(DeploymentConflict) as e:
        create(store, version="v2")
    assert str(e.value) == (
        "service shop already has deployment 1 (pending, r1, step 1/3); one deployment per "
        "service at a time: wait for it with `zerodown deploy --wait`, or stop it with "
        "`zerodown abort 1`")
    # Refused as a whole: no revision, no deployment, no event was written.
    assert [r.number for r in store.revisions("shop")] == [1]
    assert len(store.events()) == events
    store.signal(first.id, "abort")  # pending: nothing to undo, it ends at once
    assert create(store, version="v2").to_revision == 2


def test_the_database_itself_refuses_a_second_active_deployment(store):
    create(store)
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO deployments (service, kind, to_revision, strategy, plan, "
                         "plan_kind, phase, on_failure, created, updated) VALUES ('shop', "
                         "'deploy', 1, '{}', '[]', 'deploy', 'running', 'pause', 0, 0)")


def test_two_processes_racing_to_deploy_one_service_one_wins(tmp_path):
    Store(tmp_path / "z.db").close()
    stores = [Store(tmp_path / "z.db") for _ in range(4)]
    barrier, results = threading.Barrier(len(stores)), []

    def go(s: Store) -> None:
        barrier.wait()
        try:
            results.append(create(s).id)
        except DeploymentConflict:
            results.append("refused")

    threads = [threading.Thread(target=go, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [1, "refused", "refused", "refused"]


def test_a_write_waits_for_another_process_then_says_the_store_is_busy(tmp_path):
    with Store(tmp_path / "z.db") as s:
        create(s)
    other = sqlite3.connect(tmp_path / "z.db", isolation_level=None)
    with Store(tmp_path / "z.db", timeout=0.05) as s:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreError, match=r"is busy \(waited 0.05s for another zerodown"):
            s.signal(1, "abort")
        other.execute("ROLLBACK")
        assert s.signal(1, "abort").phase is Phase.ABORTED


def test_a_write_beside_a_read_part_way_waits_for_the_lock_as_any_write(tmp_path):
    """Another thread's read part-way through its rows on the store's shared connection
    made SQLite fail a write at once, without its busy wait, while another connection
    held the write lock (the demo's deployment failed so on CI)."""
    with Store(tmp_path / "z.db") as s:
        d = create(s)
        other = sqlite3.connect(tmp_path / "z.db", isolation_level=None, check_same_thread=False)
        reading = s.db.execute("SELECT name FROM sqlite_master")
        reading.fetchone()  # part-way: the connection is inside a read
        other.execute("BEGIN IMMEDIATE")  # another process's write, held 0.2 s
        threading.Timer(0.2, other.execute, ("COMMIT",)).start()
        began = time.monotonic()
        assert s.signal(d.id, "abort").phase is Phase.ABORTED
        assert time.monotonic() - began >= 0.15  # it waited for the lock rather than failed
        reading.fetchall()
    with Store(tmp_path / "z.db", timeout=0.1) as s:  # the timeout still bounds the wait
        reading = s.db.execute("SELECT name FROM sqlite_master")
        reading.fetchone()
        other.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        with pytest.raises(StoreError, match=r"is busy \(waited 0.1s"):
            s.event("web", "note", "x", d.id)
        assert 0.05 <= time.monotonic() - began < 5
        other.execute("ROLLBACK")
        reading.fetchall()


def test_opening_a_store_at_the_newest_schema_takes_no_write_lock(tmp_path):
    """`status` and the dashboard open stores while a deployment writes: an open that
    migrates nothing is a reader, never a writer the engine's next write waits on."""
    with Store(tmp_path / "z.db") as s:
        create(s)
    other = sqlite3.connect(tmp_path / "z.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with Store(tmp_path / "z.db", timeout=0.05) as s:
            assert s.deployment(1).to_revision == 1
    finally:
        other.execute("ROLLBACK")


def test_a_signal_from_another_process_is_seen_by_the_runner_s_store(tmp_path):
    runner, cli = Store(tmp_path / "z.db"), Store(tmp_path / "z.db")
    d = create(runner)
    runner.set_phase(d.id, Phase.RUNNING, "started")
    cli.signal(d.id, "pause")
    assert runner.deployment(d.id).phase is Phase.PAUSED


def test_a_phase_change_and_its_event_are_one_transaction(store, monkeypatch):
    d = create(store)

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Tx, "event", broken)
    with pytest.raises(StoreError, match="disk I/O error"):
        store.signal(d.id, "abort")
    monkeypatch.undo()
    assert store.deployment(d.id).phase is Phase.PENDING
    assert [e.kind for e in store.events()] == ["deployment.created"]


def test_refused_transitions_change_nothing(store):
    d = create(store)
    with pytest.raises(PhaseError, match="cannot resume deployment 1: it is pending"):
        store.signal(d.id, "resume")
    assert store.deployment(d.id).phase is Phase.PENDING


def test_steps_record_start_and_finish_and_move_the_cursor(store):
    d = create(store)
    store.set_phase(d.id, Phase.RUNNING, "started")
    rec = store.begin_step(d.id, 0, [Change(ref(1, 0), "starting")])
    assert (rec.index, rec.attempts, rec.finished_at) == (0, 1, None)
    assert store.begin_step(d.id, 0).attempts == 2  # a re-run after a crash
    assert store.step_record(d.id, 0).started_at == rec.started_at  # the first start is kept
    with pytest.raises(PlanMoved, match="deployment 1 is at step 1, not 2"):
        store.begin_step(d.id, 1)
    inst = Instance("shop", 1, Slot(0), "127.0.0.1:4000", 77)
    store.finish_step(d.id, 0, "started", [Change(ref(1, 0), "starting", inst)])
    assert store.deployment(d.id).cursor == 1
    assert store.step_record(d.id, 0).outcome == "started"
    row = store.instances("shop")[ref(1, 0)]
    assert (row.state, row.address, row.pid) == ("starting", "127.0.0.1:4000", 77)
    with pytest.raises(PlanMoved):
        store.finish_step(d.id, 0, "twice")


def test_a_manual_pause_is_reached_in_the_same_transaction_as_its_step_start(store):
    d = store.create_deployment("shop", {"source": {}}, {}, "pause", lambda state, rev: type(
        "P", (), {"steps": (Pause("look"),), "describe": lambda self: "shop: pause"})(),
        version="v1")
    store.set_phase(d.id, Phase.RUNNING, "started")
    store.begin_step(d.id, 0, pause="pause: look")
    assert store.deployment(d.id).phase is Phase.PAUSED
    assert store.step_record(d.id, 0).in_progress


def test_replan_keeps_an_interrupted_step_in_the_log_and_appends_the_new_plan(store):
    d = create(store)
    store.set_phase(d.id, Phase.RUNNING, "started")
    store.begin_step(d.id, 0)
    store.signal(d.id, "abort")
    store.replan(d.id, 0, (Start((ref(1, 5),)),), "abort", "aborted")
    after = store.deployment(d.id)
    assert after.steps == (d.steps[0], Start((ref(1, 5),)))
    assert (after.cursor, after.plan_kind, after.phase) == (1, "abort", Phase.ABORTING)
    assert store.step_record(d.id, 0).outcome == "aborted"
    assert store.step_record(d.id, 0).finished_at is not None


def test_routing_versions_only_grow_and_a_re_run_restages_the_same_table(store):
    d = create(store)
    store.set_phase(d.id, Phase.RUNNING, "started")
    addresses = {ref(1, 0): "127.0.0.1:4000", ref(1, 1): "127.0.0.1:4001"}
    store.set_instances("shop", [Change(r, "healthy", Instance("shop", 1, r.slot, a))
                                 for r, a in addresses.items()])
    step = Route((Share(1, tuple(addresses)),))
    for _ in range(3):  # staged before apply; a crash and re-run gets the same version
        table = store.stage_table(d.id, 0, lambda v: route_table(step, addresses, "shop", v))
        assert table.version == 1
    assert store.routing("shop").table.version == 0  # not yet confirmed by the router
    store.finish_step(d.id, 0, "applied", routed=frozenset(addresses))
    assert store.routing("shop").table == table
    assert {r.state for r in store.instances("shop").values()} == {"routed"}
    with pytest.raises(sqlite3.DatabaseError, match="routing table versions only grow"):
        store.db.execute("UPDATE routing SET version = 0")


def test_routing_out_marks_instances_draining_and_the_state_says_so(store):
    d = create(store)
    store.set_phase(d.id, Phase.RUNNING, "started")
    store.set_instances("shop", [Change(ref(1, 0), "routed"), Change(ref(1, 1), "routed"),
                                 Change(ref(1, 2), "healthy"), Change(ref(1, 3), "stopped")])
    store.stage_table(d.id, 0, lambda v: RoutingTable(v))
    store.finish_step(d.id, 0, "applied", routed=frozenset({ref(1, 1), ref(1, 2)}))
    states = {r.slot.index: row.state for r, row in store.instances("shop").items()}
    assert states == {0: "draining", 1: "routed", 2: "routed", 3: "stopped"}
    state = store.service_state("shop")
    assert (state.routed, state.unrouted) == ((ref(1, 1), ref(1, 2)), (ref(1, 0),))


def test_step_writes_are_proportional_to_the_instances_changed_not_to_all(store):
    create(store)
    store.set_instances("shop", [Change(ref(1, i), "routed") for i in range(5000)])
    d = store.deployment(1)
    store.set_phase(d.id, Phase.RUNNING, "started")
    before = store.db.total_changes
    store.begin_step(d.id, 0, [Change(ref(1, 9000), "starting"), Change(ref(1, 9001), "starting")])
    store.finish_step(d.id, 0, "started", [Change(ref(1, 9000), "starting"),
                                           Change(ref(1, 9001), "starting")])
    # 2 instances twice, the step row twice, the cursor, 2 events; and the next step (a
    # health wait) begun with the finish: its row and its event
    assert isinstance(d.steps[1], WaitHealthy)
    assert store.db.total_changes - before == 11


def test_finishing_a_deployment_makes_its_revision_stable_and_keeps_the_previous_one(store):
    for version in ("v1", "v2"):
        d = create(store, version=version)
        store.set_phase(d.id, Phase.RUNNING, "started")
        store.replan(d.id, 0, (), "deploy", "skipped for the test")
        assert store.finish(d.id) is Phase.SUCCEEDED
    assert store.stable("shop") == (2, 1)


def test_events_can_be_followed_from_the_last_id_seen(store):
    create(store)
    store.event("shop", "note", "hello", 1, who="me")
    first, second = store.events()
    assert second.data == {"who": "me"} and second.deployment == 1
    assert store.events(after=first.id) == [second]
    assert store.events(deployment=2) == []


def test_listeners_hear_events_only_once_they_are_committed(store):
    heard = []
    store.listeners.append(lambda e: heard.append((e.kind, len(store.events()))))
    create(store)
    assert heard == [("deployment.created", 1)]


def test_a_signal_answers_the_phase_it_set_even_if_the_engine_moved_on_at_once(
        tmp_path, monkeypatch):
    """The ring wakes an engine of this process at once (engine/doorbell.py): a promote at
    a manual pause could be answered "paused" — the next pause, reached by the woken engine
    before the answer was read (CI saw it in test_api). The answer is the signal's."""
    from zerodown.engine import store_deployments as store_module
    runner, api = Store(tmp_path / "z.db"), Store(tmp_path / "z.db")
    d = create(runner)
    runner.set_phase(d.id, Phase.RUNNING, "started")
    runner.set_phase(d.id, Phase.PAUSED, "at a manual pause")
    ring = store_module.doorbell.ring

    def woken_engine_reaches_the_next_pause(path):
        ring(path)
        runner.set_phase(d.id, Phase.PAUSED, "at the next manual pause")
    monkeypatch.setattr(store_module.doorbell, "ring", woken_engine_reaches_the_next_pause)
    assert api.signal(d.id, "promote").phase is Phase.RUNNING
    assert runner.deployment(d.id).phase is Phase.PAUSED  # (the engine did move on)
