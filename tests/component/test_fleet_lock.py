"""The fleet lock (zerodown/fleet_lock.py): one fleet at a time per machine, and one
that must wait says so, naming the process that holds it, instead of hanging silently."""

from __future__ import annotations

import subprocess
import sys
import threading

from tests.support.net import wait_until
from zerodown.fleet_lock import FleetLock

HOLD = ("import fcntl, sys\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\nsys.stdin.read()\n")


def test_a_held_lock_is_waited_for_naming_its_holder_then_taken(tmp_path, capsys):
    path = tmp_path / "fleet.lock"   # not the machine's: a fleet elsewhere is not disturbed
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    taken = threading.Event()

    def take() -> None:
        with FleetLock(path):
            taken.set()
    try:
        assert holder.stdout.readline() == "held\n"
        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        said = []
        wait_until(lambda: said.append(capsys.readouterr().err) or "waiting" in "".join(said),
                   what="the waiting message")
        message = "".join(said)
        assert f"waiting for {path}: another fleet holds it (pid {holder.pid}: " in message
        assert "import fcntl, sys f = open(" in message and not taken.is_set()
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    waiter.join(timeout=10)
    assert taken.is_set()


def test_a_free_lock_is_taken_without_a_word(tmp_path, capsys):
    with FleetLock(tmp_path / "fleet.lock"):
        pass
    assert capsys.readouterr().err == ""
