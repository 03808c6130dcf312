"""Fixtures of the engine's tests on fakes (tests/support/engine_world.py): `world`, a fresh
World in the test's tmp_path, and `no_proof_samples`, which the test_runner*.py files use;
and, for every test here, `stores_closed`."""

from __future__ import annotations

import sqlite3

import pytest

from tests.support.engine_world import World
from zerodown.engine import proof_recorder
from zerodown.engine.store import Store
from zerodown.errors import ZerodownError

_opened: list[Store] = []  # the stores the running test opened (stores_closed)
_open = Store.__init__


def _tracked(self: Store, *args, **kwargs) -> None:
    _open(self, *args, **kwargs)
    _opened.append(self)


Store.__init__ = _tracked  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def stores_closed():
    """Every state store a test opened is closed at its end, by the test or else here: a
    World's controllers (a connection each restart), an Engine given a Store, a Controller
    not closed. They were left open, ~3,000 in a run of this folder, each a connection, a
    WAL's file descriptors and up to two kept threads, for the worker's life. A close that
    fails here (a WAL worker stuck: wal_sync.WalWorkers.close) fails the test."""
    _opened.clear()
    yield
    left, _opened[:] = list(_opened), []
    failed = []
    for store in left:
        try:
            store.db.total_changes  # (raises once the connection is closed)
        except sqlite3.ProgrammingError:
            continue
        try:
            store.close()
        except ZerodownError as e:
            failed.append(str(e))
    if failed:
        pytest.fail("a state store the test opened could not be closed: " + "; ".join(failed))


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


@pytest.fixture
def no_proof_samples(monkeypatch):
    """The proof's thread samples the router every SAMPLE seconds of real time: on a slow
    machine a run makes more counted calls than on a fast one, and a crash point numbered
    in one run may never come in the next (CI: "the crash point was never reached"). Its
    first and last readings stay; the samples between are not these tests' matter."""
    monkeypatch.setattr(proof_recorder, "SAMPLE", 3600.0)

