"""The logs of ended instances are bounded (zerodown/hosts/log_prune.py), pruned by each
instance's log stamper at its end: real instances started and stopped through an
InstanceTable, both ways a stamper starts (zerodown/hosts/stamper.py)."""

from __future__ import annotations

import os
import time

import pytest

from zerodown.hosts import log_prune, stamper
from zerodown.hosts.instances import InstanceTable
from zerodown.hosts.local import terminate
from zerodown.config_model import LogsConfig
from tests.support.net import wait_until

SLEEPER = ["sleep", "30"]
RECORD = {"service": "shop", "version": "v1", "slot": 0, "host": "local"}


def start(table: InstanceTable, name: str, revision: int, keep: int = 50,
          argv: list[str] = SLEEPER) -> dict:
    """An instance started as a runtime starts it: `keep` is its record's logs.keep_ended."""
    record = {**RECORD, "revision": revision, "logs": LogsConfig(keep_ended=keep).record()}
    got = table.start(name, record, "127.0.0.1", argv, str(table.state_dir), {},
                      f"starting {name}")
    return got["started"]


def stampers_running() -> int:
    stamper.reap()
    return len(stamper._forked) + len(stamper._execed)


def logs(table: InstanceTable) -> set[str]:
    return {p.name[:-len(".log")] for p in table.log_dir.glob("*.log")}


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "new interpreter"])
def test_only_the_newest_ended_logs_remain_and_every_live_ones(tmp_path, monkeypatch, forked):
    """Pruned down to `keep` ended logs once a service's logs number more than twice that
    (so a new interpreter's import is paid once per ~keep exits): 3 × keep ended
    instances one after another leave between keep and 2 × keep ended logs, the newest."""
    monkeypatch.setattr(stamper, "single_threaded", lambda: forked)
    keep = 5  # logs.keep_ended, in each instance's record: its stamper prunes with it
    table = InstanceTable(tmp_path)
    live = start(table, "shop-r1-s1", 1, keep)
    # a quiet instance: its log is older than every ended one's, and is kept all the same
    day_ago = time.time() - 86400
    os.utime(table.log("shop-r1-s1"), (day_ago, day_ago))
    try:
        ended = [f"shop-r{r}-s0" for r in range(2, 2 + 3 * keep)]
        for revision, name in enumerate(ended, start=2):
            entry = start(table, name, revision, keep)
            table.stop(name, entry["pid"], grace=5, what=name)
        wait_until(lambda: stampers_running() <= 1, 30,
                   "every ended instance's stamper ended (the live one's runs)")
        kept = logs(table) - {"shop-r1-s1"}
        assert "shop-r1-s1" in logs(table)
        assert keep <= len(kept) <= 2 * keep and kept == set(ended[-len(kept):]), kept
        assert table.alive("shop-r1-s1", live["pid"])
        assert "starting shop-r1-s1" in table.log("shop-r1-s1").read_text()
        # the instance stopped last: `zerodown logs` still reads it
        assert f"starting {ended[-1]}" in table.log(ended[-1]).read_text()
    finally:
        terminate(live["pid"], live["start_time"], 1, "sleeper")


def test_a_recorded_instances_log_is_never_pruned_however_old(tmp_path):
    table = InstanceTable(tmp_path)
    live = start(table, "shop-r1-s0", 1)
    try:
        now = time.time()
        for i in range(3):  # ended instances' logs, newer than the live one's
            path = table.log_dir / f"shop-r{i + 2}-s0.log"
            path.write_text("ended\n")
            os.utime(path, (now - 30 + i, now - 30 + i))
        os.utime(table.log("shop-r1-s0"), (now - 86400, now - 86400))
        assert sorted(log_prune.prune(table.log_dir, keep=1)) == ["shop-r2-s0", "shop-r3-s0"]
        assert logs(table) == {"shop-r1-s0", "shop-r4-s0"}
        # another service's ended logs are counted apart
        (table.log_dir / "cart-r1-s0.log").write_text("ended\n")
        assert log_prune.prune(table.log_dir, keep=1) == []
    finally:
        terminate(live["pid"], live["start_time"], 1, "sleeper")


def test_logs_ended_in_the_same_clock_tick_are_ordered_by_revision(tmp_path):
    table = InstanceTable(tmp_path)
    same = time.time() - 60
    for name in ("shop-r9-s0", "shop-r10-s0", "shop-r10-s1"):
        path = table.log(name)
        path.write_text("ended\n")
        os.utime(path, (same, same))
    assert sorted(log_prune.prune(table.log_dir, keep=2)) == ["shop-r9-s0"]


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "new interpreter"])
def test_a_crashed_instances_log_stays_until_keep_ended_others_ended_recorded_or_not(
        tmp_path, monkeypatch, forked):
    """An instance that died on its own keeps its record until an adopt or a stop drops
    it; its log is an ended one's from its death all the same: readable while fewer than
    `keep` instances ended after it, then removed with the others past `keep` — not kept
    for as long as a dead record lasts (it was, as if the instance ran)."""
    monkeypatch.setattr(stamper, "single_threaded", lambda: forked)
    keep = 2
    table = InstanceTable(tmp_path)
    start(table, "shop-r1-s0", 1, keep, ["sh", "-c", "echo why it died >&2; exit 3"])
    wait_until(lambda: stampers_running() == 0, 30, "the crashed instance's stamper ended")
    assert "why it died" in table.log("shop-r1-s0").read_text()
    assert table.entry("shop-r1-s0") is not None, "recorded still: no stop, no adopt"

    def end(revision: int) -> None:
        name = f"shop-r{revision}-s0"
        table.stop(name, start(table, name, revision, keep)["pid"], grace=5, what=name)
        wait_until(lambda: stampers_running() == 0, 30, f"{name}'s stamper ended")
    for revision in (2, 3):  # `keep` ended after it: 3 logs, not over 2 × keep, none pruned
        end(revision)
    assert "why it died" in table.log("shop-r1-s0").read_text()
    for revision in (4, 5):  # 5 logs: pruned to the newest `keep`, the crashed one's too
        end(revision)
    assert logs(table) == {"shop-r4-s0", "shop-r5-s0"}
    assert table.entry("shop-r1-s0") is not None, "its record was not what removed it"


def test_a_start_under_way_keeps_its_log(tmp_path):
    """A record without a pid yet (claimed, its spawn under way) may be writing its log:
    never removed, however old; its rotated part goes with an ended log."""
    table = InstanceTable(tmp_path)
    assert "port" in table.claim("shop-r1-s0", {**RECORD, "revision": 1}, "127.0.0.1")
    long_ago = time.time() - 86400
    for name in ("shop-r2-s0.log.1", "shop-r1-s0.log", "shop-r2-s0.log", "shop-r3-s0.log"):
        long_ago += 1  # each written after the one before
        (table.log_dir / name).write_text("a line\n")
        os.utime(table.log_dir / name, (long_ago, long_ago))
    assert log_prune.prune(table.log_dir, keep=1) == ["shop-r2-s0"]
    assert sorted(p.name for p in table.log_dir.iterdir()) == ["shop-r1-s0.log",
                                                                "shop-r3-s0.log"]
