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
    controller = int((s.state_dir / "controller.pid").read_text())  # (status: none once it ended)
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


GRACE = 12  # seconds: the stop_grace, each stop of a v1 instance (they ignore SIGTERM)


@pytest.fixture
def stuck(tmp_path):
    """A service serving v1 whose instances ignore SIGTERM (APP_IGNORE_TERM): each stop of
    one lasts the whole stop_grace, GRACE, ended by the SIGKILL after it; the revisions
    after it stop at once. Deployment 2 (blue-green, r2 in slots 2 and 3) stops both v1
    instances at its end, and its controller is killed (SIGKILL) while it awaits their
    exits, the deployment written succeeded: rows `stopping`, processes running."""
    s = Service(tmp_path)
    s.up_deaf_to_sigterm(GRACE)
    old = {i["name"]: i["pid"] for i in s.status()["instances"]}
    s.run("deploy", "v2", "--strategy", "blue-green", "--scale-down-delay", "0s", "--detach")
    controller = int((s.state_dir / "controller.pid").read_text())  # (status: none once it ended)
    db = s.state_dir / "zerodown.db"
    wait_until(lambda: read(db, "SELECT phase FROM deployments WHERE id = 2") ==
               [("succeeded",)], timeout=30, what="deployment 2 succeeded")
    os.kill(controller, signal.SIGKILL)
    wait_until(lambda: not alive(controller), what="the controller gone")
    assert all(alive(pid) for pid in old.values()), "an old instance exited already"
    assert old_rows(db) == [("stopping",)] * 2
    yield s, db, old
    left = s.cleanup()
    assert not left, f"processes left after the test: {left}"


def old_rows(db: Path) -> list[tuple]:
    return read(db, "SELECT state FROM instances WHERE revision = 1 ORDER BY slot")


def restopped(db: Path) -> list[tuple]:
    """(time, message) of each 'stopping ... again' of the old instances."""
    return read(db, "SELECT time, message FROM events WHERE kind = 'instance.stopping' "
                    "ORDER BY id")


def test_a_restarted_controller_finishes_old_stops_beside_a_deployment_asked_at_once(stuck):
    """The new controller sends the old stops again and finishes them beside its runs: a
    deployment asked at once (its first step in no slot of theirs) begins well before
    their grace ends, and its reconcile leaves them to their finisher (no second stop,
    whose SIGTERM would end a draining app at once). Before: the controller's start
    awaited them (GRACE), and `zerodown deploy` seemed to hang."""
    s, db, old = stuck
    s.run("deploy", "v3", "--strategy", "in-place", "--detach")  # starts a controller
    wait_until(lambda: read(db, "SELECT started_at FROM steps WHERE deployment = 3 AND "
                                "idx = 0"), timeout=30, what="deployment 3's first step")
    ((first,),) = read(db, "SELECT started_at FROM steps WHERE deployment = 3 AND idx = 0")
    sent = restopped(db)
    assert len(sent) == 2, sent  # the new controller's, one for each
    after = first - min(t for t, _ in sent)
    print(f"deployment 3's first step began {after:.2f}s after the old stops were sent")
    assert after < GRACE / 2, f"deployment 3 began {after:.1f}s after the old stops"
    wait_until(lambda: read(db, "SELECT phase FROM deployments WHERE id = 3") ==
               [("succeeded",)], timeout=60, what="deployment 3 succeeded")
    wait_until(lambda: old_rows(db) == [("stopped",)] * 2, timeout=GRACE + 20,
               what="the old rows confirmed stopped")
    assert not any(alive(pid) for pid in old.values())
    assert restopped(db) == sent, "an old instance stopped twice"
    assert sorted(i["revision"] for i in s.status()["instances"]) == [3, 3]


def test_a_controller_stopped_while_it_finishes_old_stops_leaves_them_stopping(stuck):
    """SIGTERM to the new controller while it finishes the old stops: their rows stay
    `stopping` (never stopped while the process runs), and the next controller finishes
    them."""
    s, db, old = stuck
    s.status()  # starts a controller
    wait_until(lambda: len(restopped(db)) == 2, timeout=30, what="the old stops sent again")
    controller = int((s.state_dir / "controller.pid").read_text())
    os.kill(controller, signal.SIGTERM)
    wait_until(lambda: not alive(controller), what="the controller gone")
    assert old_rows(db) == [("stopping",)] * 2
    assert all(alive(pid) for pid in old.values()), "the test proves nothing"
    s.status()  # the next controller
    wait_until(lambda: old_rows(db) == [("stopped",)] * 2, timeout=GRACE + 20,
               what="the old rows confirmed stopped")
    assert not any(alive(pid) for pid in old.values())
