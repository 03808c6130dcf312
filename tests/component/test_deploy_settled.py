"""`zerodown deploy` through the controller daemon returns once the deployment's run has
returned, not at its phase: the run awaits its last old instances' exits after the phase
is written (engine/stopping.py), and a command that returned must leave nothing `stopping`
and no old process alive (`zerodown deploy v2 && zerodown status` shows v2 only). The
old instances here ignore SIGTERM, so each of their stops lasts the whole stop_grace
(ended by its SIGKILL): the last exits come GRACE after the phase, every time."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.cli import Service, alive
from tests.support.net import wait_until
from zerodown.api.client import Client

GRACE = 1.0  # seconds: the stop_grace, how long each stop of a v1 instance lasts


@pytest.fixture
def slow_exits(tmp_path):
    """A service serving v1 whose instances take GRACE to exit once stopped; v2's at once."""
    s = Service(tmp_path)
    s.up_deaf_to_sigterm(GRACE)
    yield s
    left = s.cleanup()
    assert not left, f"processes left after the test: {left}"


def rows(s: Service) -> list[tuple[int, str]]:
    """(revision, state) of every instance row, as the store on disk has them (read without
    the CLI or the API, which could take their time)."""
    db = s.state_dir / "zerodown.db"
    with sqlite3.connect(f"file:{Path(db)}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT revision, state FROM instances "
                            "ORDER BY revision, slot").fetchall()


def test_deploy_returns_once_the_old_instances_exited_and_are_written_stopped(slow_exits):
    s = slow_exits
    old = s.pids(revision=1)
    assert len(old) == 2
    began = time.monotonic()
    out = s.run("deploy", "v2").stdout
    took = time.monotonic() - began
    left, written = [pid for pid in old if alive(pid)], rows(s)  # at once, before anything
    assert "succeeded" in out, out
    assert not left, f"deploy returned with old instances alive: {left}"
    assert not [r for r in written if r[1] == "stopping"], written
    assert [state for revision, state in written if revision == 1] == ["stopped"] * 2, written
    assert took >= GRACE, "the old instances' stops did not last their grace: no race shown"


def test_the_deployment_says_settled_once_its_run_returned_and_waits_for_it(slow_exits):
    """GET /api/v1/deployments/{id}: `settled` false from the phase's end until the run
    returned; `?wait=S` holds the answer of an ended deployment until then."""
    s = slow_exits
    api = Client(socket_path=str(s.state_dir / "controller.sock"))
    old = s.pids(revision=1)
    assert api.get("/api/v1/deployments/1")["settled"] is True  # `up`'s, long ended
    id = api.post("/api/v1/deployments", {"version": "v2"})["id"]
    assert api.get(f"/api/v1/deployments/{id}")["settled"] is False  # not yet run
    ended = wait_until(lambda: (d := api.get(f"/api/v1/deployments/{id}"))["phase"]
                       == "succeeded" and d, timeout=30, what="its phase's end")
    assert ended["settled"] is False and any(alive(pid) for pid in old), \
        "settled with an old instance still exiting"
    assert api.request("GET", f"/api/v1/deployments/{id}?wait=11")[0] == 400  # over MAX_WAIT
    held = api.get(f"/api/v1/deployments/{id}?wait=10")
    assert held["settled"] is True and held["proof"] is not None, held
    assert not [pid for pid in old if alive(pid)]
    assert not [r for r in rows(s) if r[1] == "stopping"]
