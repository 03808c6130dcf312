"""An instance's log bounded by logs.max_size (zerodown.yaml): its stamper
(zerodown/hosts/stamper.py) renames it <instance>.log.1 past half of it and begins a new
one; files.read_log reads the two as one (what `zerodown logs`, a crash's tail and a
fleet's `zerodown logs` read). Real instances through an InstanceTable, both ways a
stamper starts; read_log over real files."""

from __future__ import annotations

import sys

import pytest

from zerodown.hosts import exits, files, stamper
from zerodown.hosts.instances import InstanceTable
from zerodown.hosts.local import tail
from zerodown.config_model import LogsConfig
from tests.support.net import wait_until

MAX_SIZE = 256 << 10  # the least logs.max_size takes
LINES = 700  # of ~1 KB: 700 KB, past max_size's half five times
TALKER = [sys.executable, "-c",
          f"import sys\nfor i in range({LINES}): sys.stdout.write('%05d ' % i + 'x' * 1000 + "
          f"'\\n')\nprint('done', flush=True)"]


def stampers_running() -> int:
    stamper.reap()
    return len(stamper._forked) + len(stamper._execed)


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "new interpreter"])
def test_a_log_past_max_size_is_rotated_and_read_whole_newest_lines_in_order(
        tmp_path, monkeypatch, forked):
    monkeypatch.setattr(stamper, "single_threaded", lambda: forked)
    table = InstanceTable(tmp_path)
    record = {"service": "shop", "revision": 1, "version": "v1", "slot": 0, "host": "local",
              "logs": LogsConfig(max_size=MAX_SIZE).record()}
    table.start("shop-r1-s0", record, "127.0.0.1", TALKER, str(tmp_path), {}, "starting")
    wait_until(lambda: stampers_running() == 0, 30, "the instance and its stamper ended")
    log = table.log("shop-r1-s0")
    older = log.with_name(log.name + ".1")
    sizes = log.stat().st_size, older.stat().st_size
    assert max(sizes) <= MAX_SIZE // 2 and sum(sizes) <= MAX_SIZE, sizes
    start, end, data = files.read_log(str(log), -files.MAX_READ)
    assert (start, end) == (0, sizes[0])
    # the app's lines, each after its time stamp (not the exit its parent may append)
    lines = [line for line in data.decode().splitlines() if not line.startswith("--- ")]
    numbers = [int(line.split()[1]) for line in lines[:-1]]
    # the newest lines, none lost at a rotation: at least half of max_size of them
    assert numbers == list(range(LINES - len(numbers), LINES)), numbers[:3]
    assert len(data) >= MAX_SIZE // 2 and lines[-1].endswith(" done")
    assert "starting" not in data.decode(), "the banner went with the oldest lines"
    # a crash's last lines (hosts/local.py tail) reach into .1 when the new log has few
    new = log.read_text().count("\n")
    assert new < 120 and tail(log, 120, MAX_SIZE)[-1].endswith(" done")
    assert [line.split()[1] for line in tail(log, 120, MAX_SIZE)[:-1]] == \
        ["%05d" % i for i in range(LINES - 119, LINES)]


def test_unbounded_by_default(tmp_path):
    table = InstanceTable(tmp_path)
    record = {"service": "shop", "revision": 1, "version": "v1", "slot": 0, "host": "local"}
    table.start("shop-r1-s0", record, "127.0.0.1", TALKER, str(tmp_path), {}, "starting")
    wait_until(lambda: stampers_running() == 0, 30, "the instance and its stamper ended")
    assert table.log("shop-r1-s0").stat().st_size > LINES * 1000
    assert [p.name for p in table.log_dir.iterdir()] == ["shop-r1-s0.log"]


def test_a_follower_reads_on_across_a_rotation_without_a_gap(tmp_path):
    """Past the log's end: it was rotated since the offset read, so the rest of .1 from it,
    then the new log; the offset to read on from is in the new log."""
    log = tmp_path / "shop-r1-s0.log"
    log.write_bytes(b"one\ntw")
    begun, end, data = files.read_log(str(log), 0)
    assert (begun, end, data) == (0, 6, b"one\ntw")
    with open(log, "ab") as f:
        f.write(b"o\nthree\n")
    log.rename(tmp_path / "shop-r1-s0.log.1")
    log.write_bytes(b"four\n")
    assert files.read_log(str(log), end) == (6, 5, b"o\nthree\nfour\n")
    # read from the end: the two as one
    assert files.read_log(str(log), -11) == (8, 5, b"three\nfour\n")
    assert files.read_log(str(log), -1000) == (0, 5, b"one\ntwo\nthree\nfour\n")
    # truncated, not rotated (the rotated part shorter than the offset): from 0
    log.write_bytes(b"x\n")
    assert files.read_log(str(log), 100) == (0, 2, b"x\n")
    assert files.read_log(str(tmp_path / "none.log"), -10) == (0, 0, b"")


def test_an_exit_recorded_just_before_a_rotation_is_found_in_the_rotated_part(tmp_path):
    """The parent appends the exit line (hosts/exits.py) by the log's path; the stamper,
    flushing the instance's last lines, may rotate after it: it is in .1 then."""
    log = tmp_path / "shop-r1-s0.log"
    log.write_text("2026-12-05T13:40:00.000 a line\n")
    exits.record(log, 4242, 3)
    log.rename(tmp_path / "shop-r1-s0.log.1")
    log.write_text("2026-12-05T13:40:01.000 the last line, after the rotation\n")
    assert exits.ended(log, 4242) == {"status": 3}
    assert tail(log, 2)[0].endswith("pid 4242 exited with status 3")
