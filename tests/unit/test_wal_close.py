"""A store's close waits for its WAL workers (engine/wal_sync.py WalWorkers.close): a
checkpoint under way, or asked and not begun, ends before close returns, so nothing of the
store's goes on past it (a file moved aside, a folder removed, the process's exit); one
stuck past CLOSE_WAIT is an error naming the file, and the connection is closed anyway."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from zerodown.engine import wal_sync
from zerodown.engine.records import StoreError
from zerodown.engine.store import Store

BOUND = 5.0


@pytest.fixture
def held(monkeypatch):
    """Checkpoints that wait for `release`, each noted in `log` as it ends."""
    log: list[str] = []
    began, release = threading.Event(), threading.Event()
    real = wal_sync.checkpoint

    def checkpoint(path, *restart_past):
        began.set()
        assert release.wait(BOUND)
        real(path, *restart_past)
        log.append("checkpointed")
    monkeypatch.setattr(wal_sync, "checkpoint", checkpoint)
    yield log, began, release
    release.set()


def closes_once_released(store: Store, release: threading.Event, log: list[str]) -> None:
    """store.close() in a thread: still in it 0.2 s later, its worker held; then `release`d,
    it returns ("closed" in `log`)."""
    closer = threading.Thread(target=lambda: (store.close(), log.append("closed")))
    closer.start()
    closer.join(0.2)
    assert closer.is_alive(), "close returned while its worker ran"
    release.set()
    closer.join(BOUND)


def test_close_returns_once_the_checkpoints_under_way_and_asked_are_done(tmp_path, held):
    log, began, release = held
    store = Store(str(tmp_path / "zerodown.db"))
    store.idle()
    assert began.wait(BOUND)
    store.idle()  # asked while the first runs: queued, begun after it
    closes_once_released(store, release, log)
    assert log == ["checkpointed", "checkpointed", "closed"]
    with pytest.raises(sqlite3.ProgrammingError):
        store.db.execute("SELECT 1")


def test_a_checkpoint_stuck_past_the_wait_is_an_error_and_the_store_is_closed(
        tmp_path, held, monkeypatch):
    log, began, release = held
    monkeypatch.setattr(wal_sync, "CLOSE_WAIT", 0.2)
    path = str(tmp_path / "zerodown.db")
    store = Store(path)
    store.idle()
    assert began.wait(BOUND)
    with pytest.raises(StoreError) as raised:
        store.close()
    assert str(raised.value) == (
        f"closing the state store {path}: its WAL's checkpoint still ran 0.2s after it was "
        f"asked to end (its disk does not answer?); closed without waiting more, nothing "
        f"committed is lost")
    with pytest.raises(sqlite3.ProgrammingError):
        store.db.execute("SELECT 1")
    assert log == []


def test_a_sync_beside_under_way_in_another_thread_is_awaited(tmp_path, monkeypatch):
    """(A store closed by one thread while another's act syncs beside it.)"""
    syncing, release, log = threading.Event(), threading.Event(), []
    real = wal_sync._sync

    def sync(path):
        syncing.set()
        assert release.wait(BOUND)
        real(path)
        log.append("synced")
    monkeypatch.setattr(wal_sync, "_sync", sync)
    store = Store(str(tmp_path / "zerodown.db"))
    with store._tx(durable=False) as tx:  # a commit not synced yet: the sync has work
        tx.event("shop", "test", "lazy")

    def act():
        with store.synced_beside():
            pass
    actor = threading.Thread(target=act)
    actor.start()
    assert syncing.wait(BOUND)
    closes_once_released(store, release, log)
    actor.join(BOUND)
    assert log == ["synced", "closed"]
