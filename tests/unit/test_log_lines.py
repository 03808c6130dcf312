"""Log lines with their time: parsed, filtered by --since, merged across instances."""

from __future__ import annotations

import time

import pytest

from zerodown.log_lines import line_time, merged, since, since_time, timed

T0 = time.mktime((2026, 12, 3, 17, 10, 33, 0, 0, -1))


@pytest.mark.parametrize("line, t", [
    (b"2026-12-03T17:10:33.263 listening\n", T0 + 0.263),
    (b"--- zerodown 2026-12-03 17:10:33: starting shop-r1-s0\n", T0),
    (b"a line from before stamps\n", None),
    (b"2026-12-03 17:10:33 not our stamp\n", None),
])
def test_line_time(line, t):
    assert line_time(line) == (None if t is None else pytest.approx(t))


A = [b"--- zerodown 2026-12-03 17:10:33: starting a\n", b"2026-12-03T17:10:34.000 a1\n",
     b"  continued\n", b"2026-12-03T17:10:40.000 a2\n"]
B = [b"2026-12-03T17:10:35.500 b1\n", b"2026-12-03T17:10:39.000 b2\n"]


def test_an_unstamped_line_takes_the_time_of_the_line_before():
    assert [t - T0 for t, _ in timed(A)] == [0, 1, 1, 7]


@pytest.mark.parametrize("after, kept", [(None, 4), (T0 + 1, 3), (T0 + 2, 1), (T0 + 99, 0)])
def test_since_keeps_lines_from_then(after, kept):
    assert since(A, after) == A[len(A) - kept:]


def test_merged_in_time_order_with_a_padded_name():
    out = merged({"shop-r1-s0": A, "r2": B})
    assert [line.split(b" | ", 1)[0] for line in out] == [
        b"shop-r1-s0", b"shop-r1-s0", b"shop-r1-s0", b"r2        ", b"r2        ", b"shop-r1-s0"]
    assert out[2] == b"shop-r1-s0 |   continued\n"
    assert merged({}) == []


@pytest.mark.parametrize("text, t", [
    ("10m", T0 - 600), ("30s", T0 - 30), ("1.5h", T0 - 5400), ("2d", T0 - 172800),
    ("17:05", T0 - 333), ("17:10:33", T0), ("2026-12-03T17:10:00", T0 - 33),
    ("2026-12-03 17:10:33", T0),
])
def test_since_time_reads_a_duration_ago_or_a_time(text, t):
    assert since_time(text, now=T0) == pytest.approx(t)


@pytest.mark.parametrize("text", ["yesterday", "10 minutes", "-5m", "25:00"])
def test_since_time_refuses_what_it_cannot_read_naming_it(text):
    with pytest.raises(ValueError, match=f"--since {text!r}: a duration ago like 10m"):
        since_time(text, now=T0)
