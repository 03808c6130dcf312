"""`zerodown demo --fleet`: the demo on a practice fleet it builds, every strategy shipped
under load with no request failed, and nothing of the fleet left after it."""

from __future__ import annotations

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
