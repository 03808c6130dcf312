"""Argument types for the command line: each value checked where argparse reads it.

A number the store cannot hold (`pause 99999999999999999999`), an interval of
`inf` or a blank version label is a usage error naming the argument, exit 2,
never a traceback later.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable


ID_MAX = 2**63 - 1  # SQLite's INTEGER


def count(lo: int, hi: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be {what}: an integer from {lo} to {hi}, "
                                             f"got {text[:40]!r}")
        return value
    parse.__name__ = what  # argparse names the type in some messages
    return parse


def seconds(lo: float, hi: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and lo <= value <= hi):
            raise argparse.ArgumentTypeError(f"must be a number of seconds from {lo:g} to {hi:g}, "
                                             f"got {text[:40]!r}")
        return value
    return parse


def duration(lo: float, hi: float) -> Callable[[str], float]:
    """Seconds, written as a number or as zerodown.yaml's durations: 90, 30s, 10m, 1h30m."""
    def parse(text: str) -> float:
        from zerodown.schema import Invalid, parse_duration  # here: `status` needs neither
        try:
            value = float(text)
        except ValueError:
            try:
                value = parse_duration(text.strip())
            except Invalid as e:
                raise argparse.ArgumentTypeError(str(e)) from None
        if not (math.isfinite(value) and lo <= value <= hi):
            raise argparse.ArgumentTypeError(f"must be from {lo:g}s to {hi:g}s, "
                                             f"got {text[:40]!r}")
        return value
    return parse


def version(text: str) -> str:
    from zerodown.schema import Invalid, version_label  # here: `zerodown status` needs neither
    try:
        return version_label(text)
    except Invalid as e:
        raise argparse.ArgumentTypeError(str(e)) from None


deployment_id = count(1, ID_MAX, "a deployment id")
