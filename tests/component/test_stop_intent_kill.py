"""A controller killed (SIGKILL) or stopped (SIGTERM) while an old instance's stop is in
flight, on real processes: the local runtime, the embedded proxy, the controller daemon.
The old instance's exit is held up by a request of its own (it drains before exiting), so
the Stop step is recorded finished while the process still runs. Its row must be
`stopping` then, never `stopped`; the next controller stops it and writes it stopped
(engine/stopping.py; on fakes: tests/unit/test_stop_intent.py)."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import Service, alive
from tests.support.net import wait_until

LINGER = 30  # seconds an old instance drains its held request before it exits


@pytest.fixture
def lingering(tmp_path):
    """A service serving v1 whose instances take up to LINGER seconds to exit on SIGTERM
    while a request is in flight (APP_DRAIN_TIMEOUT), and whose stops wait for that."""
    s = Service(tmp_path)
    text = s.file.read_text()
    for before, after in (('APP_DRAIN_TIMEOUT: "5"', f'APP_DRAIN_TIMEOUT: "{LINGER}"'),
                          ("stop_grace: 5s", f"stop_grace: {LINGER}s")):
        assert before in text
        text = text.replace(before, after)
    s.file.write_text(text)
    assert "shop is up: r1 (v1) serves" in s.run("up").stdout
    held: list[socket.socket] = []
    yield s, held
    for sock in held:
        sock.close()
    left = s.cleanup()
    assert not left, f"processes left after the test: {left}"


def hold(address: str) -> socket.socket:
    """A slow request straight to an instance (not through the proxy, whose drain would
    wait for it): in flight when the instance is told to stop."""
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(b"GET /slow?ms=120000 HTTP/1.1\r\nHost: app\r\n\r\n")
    return sock


def read(db: Path, sql: str, *args) -> list[tuple]:
    """The store as it is on disk, read without the CLI (which would start a controller)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, args).fetchall()


def stop_finished(db: Path, name: str) -> bool:
    """Is deployment 2's Stop step of instance `name` recorded finished?"""
    return bool(read(db, "SELECT 1 FROM steps WHERE deployment = 2 AND step = ? AND "
                         "finished_at IS NOT NULL", f"stop {name}"))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("which", [0, -1], ids=["first-stop", "last-stop"])
def test_a_controller_ended_while_a_stop_is_in_flight_leaves_the_row_stopping(
        lingering, sig, which):
    """The first stop: killed mid-deployment, resumed by the next controller, whose
    reconcile stops it. The last: killed once the deployment succeeded, while its run
    awaited that exit; the next controller, with nothing to resume, finishes the stop."""
    s, held = lingering
    instances = s.status()["instances"]
    old = {i["name"]: i["pid"] for i in instances}
    # held up: one (the other's exit, held too, would hold up the test by LINGER)
    stops = re.findall(r"^ *\d+\. stop (shop-r1-s\d+)$", s.run("plan", "v2").stdout, re.M)
    assert len(stops) == 2, stops
    name = stops[which]
    held += [hold(i["address"]) for i in instances if i["name"] == name]
    s.run("deploy", "v2", "--detach")
    controller = s.status()["deployment"]["controller_pid"]
    db = s.state_dir / "zerodown.db"
    wait_until(lambda: stop_finished(db, name), timeout=30, what=f"{name}'s stop sent")
    os.kill(controller, sig)
    wait_until(lambda: not alive(controller), what="the controller gone")
    assert alive(old[name]), "the old instance exited already: the test proves nothing"
    slot = int(name.rsplit("-s", 1)[1])
    (state,) = read(db, "SELECT state FROM instances WHERE revision = 1 AND slot = ?", slot)
    assert state == ("stopping",), f"{name} taken as {state[0]} while its process runs"

    # the next command starts a controller again: it resumes, and stops what still runs
    wait_until(lambda: s.status()["deployment"] is None, timeout=60,
               what="the deployment done")
    assert "succeeded" in s.run("history").stdout.splitlines()[1]
    # (the run's end awaits its stops after the phase is written: confirmed soon after)
    wait_until(lambda: read(db, "SELECT state FROM instances WHERE revision = 1") ==
               [("stopped",)] * 2, timeout=LINGER, what="the old rows confirmed stopped")
    assert not alive(old[name])
    said = [m for (m,) in read(db, "SELECT message FROM events WHERE kind = "
                                   "'instance.stopping'")]
    assert any(m.startswith(f"stopping {name} at ") for m in said), said
    assert sorted(i["revision"] for i in s.status()["instances"]) == [2, 2]
