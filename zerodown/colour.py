"""Colour for a person at a terminal, never for a pipe, a file, `NO_COLOR` or `--no-color`
(https://no-color.org). The renderers stay plain text; colour is painted on what they made,
by word: outcomes and states green, yellow or red. ANSI codes take no columns, so tables
stay aligned."""

from __future__ import annotations

import os
import re
from typing import Mapping, TextIO

RESET = "\x1b[0m"
_WORDS = (
    ("32", r"succeeded|healthy|routed|serves"),
    ("33", r"paused|starting|draining|skipped|unrouted|aborting|rolling back|waiting"),
    ("31", r"failed|rolled back|aborted|unhealthy|not running|error:"),
)
_PATTERN = re.compile("|".join(f"(?P<c{code}>(?<![\\w-])(?:{words})(?![\\w-]))"
                               for code, words in _WORDS))


def wanted(stream: TextIO, no_color: bool = False,
           env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if no_color or env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a file
        return False


def paint(text: str) -> str:
    def one(m: re.Match) -> str:
        code = (m.lastgroup or "")[1:]  # (every alternative is a named group)
        return f"\x1b[{code}m{m.group()}{RESET}"
    return _PATTERN.sub(one, text)


def plain(text: str) -> str:
    """`paint`'s inverse (tests, and widths)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
