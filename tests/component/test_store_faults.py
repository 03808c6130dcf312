"""The state store's file under faults: a full disk in the middle of a deployment, a damaged
file. Each gives one message naming the file and what to do, never a traceback, and a
deployment interrupted by a full disk goes on from its step once there is space again.

The full disk is real: a 2 MiB tmpfs mounted by the test (root, as CI runs). Where mounting
is not allowed the same SQLite error (SQLITE_FULL, "database or disk is full") is made with
`PRAGMA max_page_count`; the engine sees the same error either way.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import service, up  # noqa: F401
from tests.support.disk import fill, small_disk
from zerodown.cli import main
from zerodown.config import parse_config
from zerodown.engine.lifecycle import Phase
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store, StoreUnavailable
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime

CONFIG = """
service: shop
listen: 127.0.0.1:8080
instances: 3
app: {command: ["app", "--port", "{port}"]}
health: {interval: 1s, start_timeout: 5s}
strategy: {kind: rolling, max_surge: 1, max_unavailable: 0}
"""


class Filling:
    """Fills the disk under the store the first time the router is asked to apply a table
    (mid-deployment, just before the step's finish is written)."""

    def __init__(self, store: Store, real_disk: bool):
        self.store, self.real_disk, self.armed, self.filler = store, real_disk, False, None

    def fill(self) -> None:
        self.armed = False
        db = self.store.db
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the next write must grow a file
        if not self.real_disk:  # no file system to fill: cap the engine's connection instead
            db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
            for size in (2000, 200, 1):  # every write records an event: leave no room for one
                with contextlib.suppress(sqlite3.OperationalError):
                    while True:
                        db.execute("INSERT INTO events (time, service, kind, message, data) "
                                   "VALUES (0, 'filler', 'filler', ?, '{}')", ("x" * size,))
            return
        self.filler = fill(Path(self.store.path).parent)

    def free(self, store: Store) -> None:
        if self.filler is not None:
            self.filler.unlink()
        else:
            store.db.execute("PRAGMA max_page_count = 1073741823")


def test_a_full_disk_stops_the_deployment_with_a_clear_message_and_resume_finishes_it(tmp_path):
    with small_disk(tmp_path / "state", "2m") as real:
        path = tmp_path / "state" / "zerodown.db"
        cfg = parse_config(CONFIG)
        runtime, clock = FakeRuntime(healthy_after=1), FakeClock(limit=100_000)
        store = Store(str(path))
        filling = Filling(store, real)

        class Router(FakeRouter):
            def apply(self, table):
                if filling.armed:
                    filling.fill()
                return super().apply(table)

        router = Router()
        engine = Engine(store, runtime, router, clock, cfg)
        assert engine.run(engine.deploy("v1")) is Phase.SUCCEEDED
        id = engine.deploy("v2")
        filling.armed = True
        with pytest.raises(StoreUnavailable) as e:
            engine.run(id)
        message = str(e.value)
        assert f"cannot write the state store {path}: its disk is full" in message
        assert "database or disk is full" in message and "zerodown resume" in message
        assert "cannot rollback" not in message
        serving = set(router.table.backends())
        assert serving and serving <= runtime.running("shop")  # whatever is routed still runs
        assert Store(str(path)).deployment(id).phase is Phase.RUNNING  # readable, not failed

        store.close()
        again = Engine(Store(str(path)), runtime.restarted(), router, clock, cfg)  # `resume`
        filling.free(again.store)
        assert again.run(id) is Phase.SUCCEEDED
        assert {r.name for r in router.table.revisions} == {"r2"}
        assert runtime.running("shop") == set(router.table.backends())


def test_a_damaged_store_gives_one_message_on_status(tmp_path, capsys):
    (tmp_path / "zerodown.yaml").write_text(CONFIG)
    state = tmp_path / ".zerodown"
    state.mkdir()
    (state / "zerodown.db").write_bytes(b"this is not what SQLite wrote" * 100)
    code = main(["-f", str(tmp_path / "zerodown.yaml"), "status"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert f"the state store {state / 'zerodown.db'} is damaged and cannot be read" in err
    assert f"mv {state / 'zerodown.db'} {state / 'zerodown.db'}.damaged" in err


def test_a_store_damaged_after_opening_gives_the_same_message(tmp_path):
    path = tmp_path / "zerodown.db"
    store = Store(str(path))
    store.event("shop", "test", "written")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(path, "r+b") as f:  # the header survives; the pages behind it do not
        f.seek(100)
        f.write(os.urandom(path.stat().st_size - 100))
    with pytest.raises(StoreUnavailable, match="is damaged and cannot be read"):
        Store(str(path)).events("shop")


def test_deleting_the_store_under_a_running_service_loses_no_request(up):
    """Issue 11.7 as it was found: zerodown.db deleted under a running service (the
    controller daemon running too), then `status` and `deploy`, under load."""
    from zerodown.loadgen import LoadInBackground

    s = up
    v1 = s.pids(1)
    with LoadInBackground(f"http://127.0.0.1:{s.port}/", connections=4, duration=60) as load:
        load.wait_for_responses(100)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{s.state_dir / 'zerodown.db'}{suffix}")
        status = s.status()
        assert status["stable"] == {"revision": 1, "version": "v1"}, status
        assert {i["pid"] for i in status["instances"]} == v1
        s.run("deploy", "v2")
        load.wait_for_responses(load.progress()[0] + 100)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert s.text() == "hello from v2\n"
    assert {i["revision"] for i in s.status()["instances"]} == {2}
