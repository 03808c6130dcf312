"""`zerodown demo --fleet`: the demo on a practice fleet it builds, every strategy shipped
under load with no request failed, and nothing of the fleet left after it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.fleet import FleetLock, leftovers
from zerodown import demo_fleet


def test_the_fleet_demo_ships_every_strategy_on_three_hosts_and_leaves_nothing(
        no_fleet_up, tmp_path, capsys):
    # the lock held across the run and the look after it: another fleet (a test run
    # elsewhere, a benchmark) coming up in between would be taken for leftovers
    with FleetLock() as lock:
        assert demo_fleet.run(tmp_path, lock=lock) == 0
        left = leftovers(str(tmp_path))   # the proxy here too
    out = capsys.readouterr().out
    assert left == [], left
    rows = [line for line in out.splitlines() if "succeeded" in line]
    assert [r.split("  ")[0].strip() for r in rows] == [label for label, _ in
                                                        demo_fleet.STRATEGIES], out
    assert all(r.split()[r.split().index("succeeded") + 3] == "0" for r in rows), out  # failed
    assert all("zdf1 2, zdf2 2, zdf3 2" in r for r in rows), out   # each version on each host
    assert ", 0 failed" in out


def test_a_demo_cut_short_tears_its_fleet_down_too(no_fleet_up, tmp_path, monkeypatch):
    seen = []

    def interrupted(ctl, *args, **kwargs):   # Ctrl-C once the fleet and the config exist
        seen.extend(leftovers())
        ctl.close()
        raise KeyboardInterrupt
    monkeypatch.setattr(demo_fleet.demo, "ship_all", interrupted)
    with FleetLock() as lock:
        with pytest.raises(KeyboardInterrupt):
            demo_fleet.run(tmp_path, lock=lock)
        left = leftovers(str(tmp_path))
    assert "namespace zdf3" in seen and "link zdfbr0" in seen, seen   # it was up
    assert left == [], left


def test_a_fleet_that_cannot_be_built_is_said_with_the_tool_and_its_words(no_fleet_up,
                                                                          tmp_path):
    """Root without the right to make network links (a container without NET_ADMIN; here
    a user namespace, whose root is root only within it): `ip link add` refused, said with
    the command and what it said, exit 1 — it was a CalledProcessError's traceback that
    named neither the refusal nor its reason. Nothing of the fleet is left."""
    done = subprocess.run(["unshare", "--user", "--map-root-user", sys.executable, "-m",
                           "zerodown", "demo", "--fleet"], text=True, capture_output=True,
                          env={**os.environ, "TMPDIR": str(tmp_path)},
                          timeout=1200)  # (it waits for the fleet lock another run may hold)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert ("zerodown demo: error: cannot build the practice fleet: `ip link add zdfbr0 type "
            "bridge` failed (exit 2): RTNETLINK answers: Operation not permitted"
            in done.stderr), done.stderr
    with FleetLock():
        assert leftovers(str(tmp_path)) == []
