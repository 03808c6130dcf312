"""Instance log lines as `zerodown logs` shows them: each stamped with its time when it was
written (hosts/stamper.py), filtered by --since, several instances merged in time
order with a name prefix. Pure: bytes in, bytes out."""

from __future__ import annotations

import re
import time
from typing import Iterable, Mapping, Sequence

_STAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3}) ")
_BANNER = re.compile(rb"^--- zerodown (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): ")


def line_time(line: bytes) -> float | None:
    """When the line was written (local time), from its stamp or a zerodown banner."""
    m = _STAMP.match(line)
    if m:
        return time.mktime(time.strptime(m.group(1).decode(), "%Y-%m-%dT%H:%M:%S")) \
            + int(m.group(2)) / 1000
    m = _BANNER.match(line)
    if m:
        return time.mktime(time.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S"))
    return None


def timed(lines: Iterable[bytes], start: float = 0.0) -> list[tuple[float, bytes]]:
    """(time, line) for each line; a line without a stamp (written before stamps existed,
    or by another writer) takes the time of the line before it."""
    out, t = [], start
    for line in lines:
        found = line_time(line)
        t = found if found is not None else t
        out.append((t, line))
    return out


def since(lines: Sequence[bytes], after: float | None) -> list[bytes]:
    if after is None:
        return list(lines)
    return [line for t, line in timed(lines) if t >= after]


def merged(logs: Mapping[str, Sequence[bytes]]) -> list[bytes]:
    """Every instance's lines in time order (a stable sort: one instance's lines keep their
    order), each prefixed with its instance's name, padded so the text lines up."""
    width = max((len(n) for n in logs), default=0)
    rows = [(t, i, n, line) for n, lines in logs.items()
            for i, (t, line) in enumerate(timed(lines))]
    rows.sort(key=lambda r: r[0])
    return [prefixed(n, line, width) for _, _, n, line in rows]


def prefixed(name: str, line: bytes, width: int) -> bytes:
    return f"{name:<{width}} | ".encode() + line


_AGO = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def since_time(text: str, now: float) -> float:
    """`--since 10m` (ago), `--since 17:05`, `--since 2026-12-03T17:05:00` → a Unix time."""
    m = _AGO.match(text.strip())
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(text.strip(), fmt))
        except ValueError:
            pass
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            t = time.strptime(text.strip(), fmt)
        except ValueError:
            continue
        day = time.localtime(now)
        return time.mktime((day.tm_year, day.tm_mon, day.tm_mday, t.tm_hour, t.tm_min,
                            t.tm_sec, 0, 0, -1))
    raise ValueError(f"--since {text!r}: a duration ago like 10m, 30s, 2h, or a time like "
                     "17:05, 2026-12-03T17:05:00")
