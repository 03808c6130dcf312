"""What a long-lived controller does besides deploying does not grow with the service's
history either: status and the dashboard's tick, the API's deployments and events,
`history`, a rollback's checks, a restart's resume and reconcile. Each statement they
make is found by an index (no whole-table SCAN), and the same statements read no more
after many more deployments (counted in SQLite VM instructions, as test_store_history.py
counts a deployment's); the structures a daemon keeps per deployment are bounded."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sqlite3
from argparse import Namespace

from tests.support.engine_world import World, config
from tests.unit.test_store_history import assert_no_growth, assert_no_scans
from zerodown import gather
from zerodown.api.routes import Api
from zerodown.api.server import Request
from zerodown.commands.inspect import cmd_history
from zerodown.controller import Controller, labels
from zerodown.daemon.observer import INTERVAL, KEEP, Observer
from zerodown.daemon.watchdog import Watchdog
from zerodown.engine import schema, wal_sync
from zerodown.engine.store_deployments import PLANS_KEPT

FILE = """\
service: shop
listen: 127.0.0.1:8080
instances: 3
app: {command: ["app", "--port", "{port}", "--version", "{version}"]}
health: {interval: 1s, start_timeout: 5s}
drain_timeout: 3s
strategy: {kind: rolling, max_surge: 1, max_unavailable: 0}
"""


def _get(path: str, **query: str) -> Request:
    return Request("GET", path, query, {}, b"", "tester", "unix socket", False)


class Traced:
    """Every store connection opened meanwhile (the observer's, the API's pool), and the
    statements made on them while `tracing`."""

    def __init__(self, monkeypatch):
        self.connections: list[sqlite3.Connection] = []
        self.seen: list[str] = []
        opened = schema.connect

        def connect(*args, **kwargs):
            db = opened(*args, **kwargs)
            self.connections.append(db)
            return db
        monkeypatch.setattr(schema, "connect", connect)

    @contextlib.contextmanager
    def tracing(self):
        # set here, not as each is opened: a trace callback while the engine's threads
        # share a connection can deadlock them
        for db in self.connections:
            db.set_trace_callback(self.seen.append)
        try:
            yield
        finally:
            for db in self.connections:
                db.set_trace_callback(None)


def _paths(tmp_path, engine, traced: Traced) -> list[str]:
    """The statements of status, the API, history, a rollback's checks and a restart."""
    (tmp_path / "zerodown.yaml").write_text(FILE)
    ctl = Controller(str(tmp_path / "zerodown.yaml"), state_dir=str(tmp_path / "state"))
    ctl.watched = ctl.watch()
    observer = Observer(ctl, lambda: None)
    api = Api(observer, None, "shop", lambda: None)
    last = engine.store.deployments("shop", limit=1)[0]
    with traced.tracing():
        observer.tick()
        api.deployments(_get("/deployments"))
        api.deployment(_get("/deployments/1"), str(last.id))
        api.events(_get("/events", deployment=str(last.id)))
        gather.progress(engine.store, "shop")
        gather.deployment_view(last, labels(engine.store, "shop"), None, engine.store)
        with contextlib.redirect_stdout(io.StringIO()):
            cmd_history(Namespace(json=True, limit=20, verbose=True, no_color=True), ctl)
        engine.rollback_target()
        engine.resume_interrupted()
    return [sql for sql in traced.seen if sql.lstrip().upper().startswith(
        ("SELECT", "UPDATE", "DELETE"))]


def _history(tmp_path, monkeypatch, deployments: int):
    traced = Traced(monkeypatch)
    world = World(tmp_path / "state")
    engine = world.engine(config(3))
    for n in range(deployments):
        engine.run(engine.deploy(f"v{n}"))
    return world, engine, traced


def test_no_statement_of_status_the_api_history_or_a_rollback_reads_a_whole_table(
        tmp_path, monkeypatch):
    _, engine, traced = _history(tmp_path, monkeypatch, 4)
    assert_no_scans(engine, _paths(tmp_path, engine, traced))


def test_their_reads_do_not_grow_with_past_deployments(tmp_path, monkeypatch):
    # more past deployments than any listing shows (20), so the replay lists as many
    _, engine, traced = _history(tmp_path, monkeypatch, 24)
    # (the event log's follower reads what came after its last id: new events, by design)
    reads = [sql for sql in _paths(tmp_path, engine, traced)
             if sql.lstrip().upper().startswith("SELECT")
             and not re.search(r"FROM events WHERE id > [1-9]", sql)]
    assert_no_growth(engine, reads, 40)


def test_a_store_keeps_a_bounded_number_of_parsed_plans(tmp_path):
    engine = World(tmp_path).engine(config(1))
    for n in range(PLANS_KEPT + 6):
        engine.run(engine.deploy(f"v{n}"))
    listed = engine.store.deployments("shop", limit=10_000)
    assert len(listed) == PLANS_KEPT + 6 and all(d.steps for d in listed)
    assert len(engine.store._plans) == PLANS_KEPT
    newest = listed[0]
    assert engine.store.deployment(newest.id).steps == newest.steps  # (parsed again if evicted)


def test_the_dashboards_metrics_forget_a_revision_once_its_window_passed(tmp_path):
    (tmp_path / "zerodown.yaml").write_text(FILE)
    observer = Observer(Controller(str(tmp_path / "zerodown.yaml")), lambda: None)
    counters = {"requests": 0, "responses": {"5xx": 0}, "errors": 0}
    now = 1000.0
    for revision in range(1, 30):  # each deployment's revision served for a minute
        for _ in range(60):
            now += INTERVAL
            counters = {**counters, "requests": counters["requests"] + 5}
            observer._sample_metrics(now, {"revisions": {f"r{revision}": counters}})
        assert str(revision) in observer.series
    # those whose last point is within the window (ten minutes, its edge included) are
    # kept, and no more
    assert sorted(map(int, observer.series)) == list(range(29 - KEEP // 60, 30))


def _wal_bytes(engine) -> int:
    engine.store._wal._checkpoints.submit(lambda: None).result()  # the one asked, done
    return os.path.getsize(f"{engine.store.path}-wal")


def test_the_stores_wal_does_not_grow_with_past_deployments(tmp_path):
    """Each deployment's end checkpoints the WAL whole, beside: the next commit writes it
    from its start again (the file keeps its largest size, no more)."""
    engine = World(tmp_path).engine(config(3))
    for n in range(10):
        engine.run(engine.deploy(f"v{n}"))
    early = _wal_bytes(engine)
    for n in range(50):
        engine.run(engine.deploy(f"w{n}"))
        _wal_bytes(engine)  # (as a daemon idles between deployments)
    assert _wal_bytes(engine) <= early * 1.2, (early, _wal_bytes(engine))


class _WriteBesidePassive:
    """sqlite3 as the store's checkpoint worker sees it: each passive checkpoint runs while
    a write transaction of `store` is under way (the next deployment's first commit, back
    to back), committed once the checkpoint is done. What deployments back to back (a
    daemon's services, a CI pipeline) do by chance, here every time."""

    Error = sqlite3.Error

    def __init__(self, store):
        self.store = store

    def connect(self, *args, **kwargs):
        return _Connection(sqlite3.connect(*args, **kwargs), self.store)


class _Connection:
    def __init__(self, db: sqlite3.Connection, store):
        self.db, self.store = db, store

    def execute(self, sql: str):
        if "PASSIVE" not in sql:
            return self.db.execute(sql)
        with self.store._tx() as tx:
            tx.event("shop", "test", "the next deployment's first commit")
            return _Rows(self.db.execute(sql).fetchall())

    def close(self):
        self.db.close()


class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def fetchone(self):
        return self.rows[0]


def test_the_stores_wal_stays_under_its_bound_when_deployments_come_back_to_back(
        tmp_path, monkeypatch):
    """A passive checkpoint never blocks the writer, and the WAL starts over only at a
    write transaction begun with every frame copied: a write under way while it copies
    leaves the WAL to be written on at its end (it grew by each deployment, 33 MB after
    these 40, without the bound)."""
    monkeypatch.setattr(wal_sync, "WAL_BOUND", 2 * 2**20)
    engine = World(tmp_path).engine(config(3))
    monkeypatch.setattr(wal_sync, "sqlite3", _WriteBesidePassive(engine.store))
    wal, sizes = f"{engine.store.path}-wal", []
    for n in range(40):  # ~0.8 MB of WAL each
        engine.run(engine.deploy(f"v{n}"))
        engine.store._wal._checkpoints.submit(lambda: None).result()  # the one asked, done
        sizes.append(os.path.getsize(wal))
    assert max(sizes) > 2 * 2**20, f"too little written to cross the bound: {sizes}"
    # (one deployment past it at most: the checkpoint at its end restarts it)
    assert max(sizes) < 2 * 2**20 + 1.5e6, f"the WAL's size after each deployment: {sizes}"


def test_the_watchdog_keeps_the_deadline_of_the_deployment_it_watches_alone(tmp_path):
    engine = World(tmp_path).engine(config(1))
    for n in range(5):
        engine.run(engine.deploy(f"v{n}"))
    watchdog = Watchdog(lambda: None, "shop", lambda: None)
    for d in reversed(engine.store.deployments("shop")):  # as each was the active one
        assert watchdog._deadline(engine.store, d) == config(1).progress_deadline
    assert list(watchdog._deadlines) == [engine.store.deployments("shop", limit=1)[0].id]


def test_the_plan_read_last_is_the_last_evicted(tmp_path):
    """The running deployment's plan is read every step while listings parse past ones:
    a hit keeps it (a 10,000-instance plan is not parsed again each step)."""
    engine = World(tmp_path).engine(config(1))
    for n in range(PLANS_KEPT + 6):
        engine.run(engine.deploy(f"v{n}"))
    running, *others = [d.id for d in engine.store.deployments("shop", limit=10_000)]
    engine.store._plans.clear()
    engine.store.deployment(running)
    parsed = engine.store._plans[running]
    for id in others:  # more than PLANS_KEPT parsed, the running one read between each
        engine.store.deployment(running)
        engine.store.deployment(id)
    assert engine.store._plans.get(running) is parsed, "the running one's parsed again"
