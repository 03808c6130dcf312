"""Durable before acted on, with fewer syncs (engine/store.py's module docstring).

A step's record of what it did is committed without a sync; the commit right before
any act outside the store (a start, a routing table applied, a stop) is synced, and
syncing the WAL makes every commit before it durable too. So at every act no commit
may be waiting for a sync; and a deployment syncs a few times a batch, not at every
record.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import pytest

from tests.support.net import wait_until
from tests.support.unit_config import shop_config
from zerodown.engine.lifecycle import Phase
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store, StoreUnavailable
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime


class JournalStore(Store):
    """Each commit goes into the acts' journal: ("commit", durable, unsynced after it)."""

    def __init__(self, path, journal: list):
        self.journal = journal
        super().__init__(path)

    @contextmanager
    def _tx(self, durable: bool = True):
        with super()._tx(durable) as tx:
            yield tx
        self.journal.append(("commit", durable, self.unsynced))

    @contextmanager
    def synced_beside(self):
        self.journal.append(("sync beside", self.unsynced))
        with super().synced_beside():
            yield
        self.journal.append(("synced", self.unsynced))


def deploy_twice(tmp_path, strategy: str, second: str = "v2", stops_once: bool = False,
                 **runtime) -> tuple[list, Phase]:
    journal: list = []
    store = JournalStore(str(tmp_path / "zerodown.db"), journal)
    fake = FakeRuntime(journal=journal, **runtime)
    fake.stops_once = stops_once  # (protocols.Runtime.stop: a stop asked again awaits the first)
    engine = Engine(store, fake, FakeRouter(journal=journal),
                    FakeClock(), shop_config(strategy=strategy, on_failure="rollback"))
    engine.run(engine.deploy("v1"))
    journal.clear()
    return journal, engine.run(engine.deploy(second))


STRATEGIES = {
    "rolling": "{kind: rolling, max_surge: 1, max_unavailable: 0}",
    "in-place": "{kind: in-place, batch_size: 1}",
    "blue-green": "{kind: blue-green, scale_down_delay: 5s}",
    "canary": "{kind: canary, steps: [{weight: 20}, {pause: 5s}, {weight: 50}]}",
}


@pytest.mark.parametrize("stops_once", [False, True], ids=["stops", "stops once"])
@pytest.mark.parametrize("strategy", STRATEGIES.values(), ids=list(STRATEGIES))
@pytest.mark.parametrize("second, phase", [("v2", Phase.SUCCEEDED), ("bad", Phase.ROLLED_BACK)])
def test_every_act_follows_a_synced_commit(tmp_path, strategy, second, phase, stops_once):
    journal, ended = deploy_twice(tmp_path, strategy, second, stops_once,
                                  never_healthy={"bad"})
    assert ended is phase
    unsynced, acts, beside = 0, 0, False
    for entry in journal:
        if entry[0] == "commit":
            assert not beside, "a commit (the start's outcome) before its intent's sync ended"
            unsynced = entry[2]
        elif entry[0] == "sync beside":
            beside = True
        elif entry[0] == "synced":
            beside, unsynced = False, entry[1]
            assert unsynced == 0, "the sync beside the starts covers every commit before them"
        elif entry[0] in ("start", "stop", "apply"):
            acts += 1
            # a start may run while its intent is synced (the runtime keeps its own), and
            # a stop where the runtime marks it under way (stops_once)
            assert unsynced == 0 or (beside and (entry[0] == "start" or (
                entry[0] == "stop" and stops_once))), \
                f"{entry[:2]} acted on {unsynced} commits not yet on disk"
    assert acts and journal[-1][:2] == ("commit", True), "the deployment's end is synced"


def test_a_rolling_batch_syncs_three_times_and_records_the_rest_lazily(tmp_path):
    journal, ended = deploy_twice(tmp_path, "{kind: rolling, max_surge: 3, max_unavailable: 0}")
    assert ended is Phase.SUCCEEDED
    commits = [e[1] for e in journal if e[0] == "commit"]
    # one batch of 3, synced: the staged table (with its step's start), the stop's start
    # and the proof; the start's intents synced beside the starts; the deployment's
    # creation, the phase change to running, the step finishes, the waits' starts and the
    # end lazily
    assert commits.count(True) == 3 and commits.count(False) >= 9, commits
    assert [e[0] for e in journal].count("sync beside") == 1


def test_a_stop_that_is_sent_once_is_sent_while_its_intent_syncs(tmp_path):
    """A runtime that marks a stop under way before it signals (stops_once): the Stop
    step's intent is synced beside its stops, one synced commit fewer on the way to the
    deployment's last exits; the stop's outcome is recorded only once that sync is done."""
    journal, ended = deploy_twice(tmp_path, "{kind: rolling, max_surge: 3, max_unavailable: 0}",
                                  stops_once=True)
    assert ended is Phase.SUCCEEDED
    commits = [e[1] for e in journal if e[0] == "commit"]
    assert commits.count(True) == 2, commits  # the staged table and the proof
    kinds = [e[0] for e in journal]
    assert kinds.count("sync beside") == 2
    beside = max(i for i, k in enumerate(kinds) if k == "sync beside")
    synced = kinds.index("synced", beside)
    assert "stop" in kinds[beside:synced], "the stop went out while its intent synced"
    assert journal[beside][1] > 0, "its intent was not on disk when the stop went out"


def test_a_lazy_commit_is_made_at_synchronous_normal_and_full_is_back_after(tmp_path):
    store = Store(str(tmp_path / "zerodown.db"))
    seen: list[str] = []
    store.db.set_trace_callback(seen.append)
    with store._tx(durable=False) as tx:
        tx.event("shop", "test", "lazy")
    assert store.unsynced == 1
    assert seen[0] == "PRAGMA synchronous = NORMAL" and seen[-1] == "PRAGMA synchronous = FULL"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2
    with store._tx() as tx:
        tx.event("shop", "test", "synced")
    assert store.unsynced == 0, "a synced commit syncs the lazy ones before it"


def test_a_store_that_does_not_sync_never_counts_lazy_commits(tmp_path):
    store = Store(str(tmp_path / "zerodown.db"), synchronous="OFF")
    with store._tx(durable=False) as tx:
        tx.event("shop", "test", "lazy")
    assert store.unsynced == 0
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 0


def test_without_wal_every_commit_is_synced(tmp_path, monkeypatch):
    from zerodown.engine import schema
    connect = schema.connect

    def rollback_journal(path, timeout, synchronous):  # as on a file system without WAL
        db = connect(path, timeout, synchronous)
        db.execute("PRAGMA journal_mode = DELETE")
        return db
    monkeypatch.setattr(schema, "connect", rollback_journal)
    store = Store(str(tmp_path / "zerodown.db"))
    seen: list[str] = []
    store.db.set_trace_callback(seen.append)
    with store._tx(durable=False) as tx:
        tx.event("shop", "test", "lazy asked")
    assert store.unsynced == 0
    assert not [s for s in seen if s.startswith("PRAGMA synchronous")], seen


def test_a_sync_beside_an_act_runs_while_it_acts_and_covers_what_was_committed(
        tmp_path, monkeypatch):
    store = Store(str(tmp_path / "zerodown.db"))
    with store._tx(durable=False) as tx:
        tx.event("shop", "test", "the start's intent")
    acting, synced = threading.Event(), []
    real = os.fdatasync

    def fdatasync(fd):  # the sync waits for the act to have begun: beside it, not before
        synced.append((acting.wait(5), os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    with store.synced_beside():
        acting.set()
        assert store.unsynced == 1  # not known to be on disk while the act runs
    assert synced == [(True, str(tmp_path / "zerodown.db-wal"))]
    assert store.unsynced == 0
    with store.synced_beside():  # nothing left to sync: no thread, no sync
        pass
    assert len(synced) == 1


def test_a_sync_beside_that_fails_says_so_after_the_act(tmp_path, monkeypatch):
    store = Store(str(tmp_path / "zerodown.db"))
    with store._tx(durable=False) as tx:
        tx.event("shop", "test", "lazy")

    def fails(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "fdatasync", fails)
    acted = []
    with pytest.raises(StoreUnavailable, match="cannot sync the state store .*zerodown.db"):
        with store.synced_beside():
            acted.append(True)
    assert acted and store.unsynced == 1


class TxStore(Store):
    """Each commit's events, by kind and step index: [[("step.finished", 0), ...], ...]."""

    def __init__(self, path):
        self.txs: list[list[tuple[str, int | None]]] = []
        super().__init__(path)

    @contextmanager
    def _tx(self, durable: bool = True):
        with super()._tx(durable) as tx:
            yield tx
        self.txs.append([(e.kind, e.data.get("index")) for e in tx.events])


@pytest.mark.parametrize("strategy", [STRATEGIES["rolling"], STRATEGIES["in-place"]])
def test_a_wait_or_drain_starts_in_the_commit_of_the_step_before_it(tmp_path, strategy):
    from zerodown.plan import Drain, WaitHealthy
    store = TxStore(str(tmp_path / "zerodown.db"))
    engine = Engine(store, FakeRuntime(), FakeRouter(), FakeClock(),
                    shop_config(strategy=strategy))
    engine.run(engine.deploy("v1"))
    store.txs.clear()
    id = engine.deploy("v2")
    assert engine.run(id) is Phase.SUCCEEDED
    steps = store.deployment(id).steps
    waits = [i for i, s in enumerate(steps) if isinstance(s, (WaitHealthy, Drain))]
    assert waits and any(isinstance(steps[i], Drain) for i in waits)
    for i in waits:
        tx = next(t for t in store.txs if ("step.started", i) in t)
        assert ("step.finished", i - 1) in tx, f"step {i + 1} ({steps[i]}) began alone: {tx}"
    assert all(r.attempts == 1 for r in store.steps(id))


def test_a_wait_begun_with_the_step_before_starts_again_in_another_process(tmp_path):
    path = str(tmp_path / "zerodown.db")
    engine = Engine(Store(path), FakeRuntime(), FakeRouter(), FakeClock(),
                    shop_config(strategy=STRATEGIES["rolling"]))
    id = engine.deploy("v1")
    store = engine.store
    store.set_phase(id, Phase.RUNNING, "started")
    store.begin_step(id, 0)
    store.finish_step(id, 0, "started")   # step 2, the wait, begun with it
    assert store.step_record(id, 1).in_progress
    assert Store(path).begin_waiting(id, 1).attempts == 2, "a restart's run begins it again"
    assert store.begin_waiting(id, 1).attempts == 2, "begun in this store: as it is"


def test_the_wal_is_checkpointed_in_a_worker_not_by_the_commit_that_crossed_the_mark(
        tmp_path, monkeypatch):
    from zerodown.engine import wal_sync
    monkeypatch.setattr(wal_sync, "CHECKPOINT_EVERY", 3)
    ran, release = [], threading.Event()
    real = wal_sync.checkpoint

    def slow(path, *restart_past):  # held until the commit that asked for it has returned
        assert release.wait(5)
        ran.append(threading.current_thread().name)
        real(path, *restart_past)
    monkeypatch.setattr(wal_sync, "checkpoint", slow)
    store = Store(str(tmp_path / "zerodown.db"))
    assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for n in range(3):
        with store._tx(durable=False) as tx:
            tx.event("shop", "test", f"commit {n}")
    assert ran == [], "the third commit returned without waiting for the checkpoint"
    release.set()
    wait_until(lambda: ran, timeout=5, what="the checkpoint")
    # each in the worker (how many: the new store's own commits, its migrations, may have
    # asked one before these three did)
    assert set(ran) == {"checkpoint of zerodown.db_0"}, ran
    store.close()


def test_checkpoints_asked_before_the_last_one_asked_began_make_one(tmp_path, monkeypatch):
    """Deployments back to back end faster than a checkpoint runs (10-35 ms of syncs):
    one asked at each end queued by the hundred. One not begun yet reads the WAL as it
    is when it begins: it serves every ask made meanwhile."""
    from zerodown.engine import wal_sync
    ran, began, release = [], threading.Event(), threading.Event()

    def held(path, restart_past=None):
        began.set()
        assert release.wait(5)
        ran.append(restart_past)
    monkeypatch.setattr(wal_sync, "checkpoint", held)
    monkeypatch.setattr(wal_sync, "CHECKPOINT_EVERY", 1)
    store = Store(str(tmp_path / "zerodown.db"))
    store.idle()
    assert began.wait(5)
    for ask in (store._wal.committed, store.idle, store.idle):  # while the first runs
        ask()
    release.set()
    store._wal._checkpoints.submit(lambda: None).result()
    assert ran == [wal_sync.WAL_BOUND, wal_sync.WAL_BOUND]
    store.close()


def test_a_checkpoint_never_makes_a_store_file_that_is_gone(tmp_path):
    from zerodown.engine.wal_sync import checkpoint
    checkpoint(str(tmp_path / "gone.db"))
    assert list(tmp_path.iterdir()) == []
