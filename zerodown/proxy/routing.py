"""A routing table compiled for the hot path.

`Routes.pick(head)` chooses the revision for one request from its raw header
block: rules first (header or cookie match, in table order), then the
weighted split. Weighted choice and stickiness are one mechanism: every
request has a point on the 0..100 line — random, or fixed per user (a cookie
the proxy sets, or a hash of a header/cookie naming the user) — and the
revisions lie on the line in table order. A sticky user therefore moves only
when a boundary crosses their point, that is only as weights change.

Matching works on the raw head bytes with precompiled regexes: one C-level
search per rule instead of a Python call per header.
"""

from __future__ import annotations

import random
import re
import zlib
from typing import Any, Callable, Final

from zerodown.linear_regex import compile_rule
from zerodown.proxy.headscan import HeadMarks
from zerodown.model import RoutingTable, Rule, Sticky

_random: Final = random.random  # Final: a C static in the compiled module


# Headers the client must not set for the backend: the proxy says scheme, host and the
# path prefix it took off (prefix.py).
_CLIENT_FORWARDED = rb"x-forwarded-(?:proto|host|prefix)"  # names, matched case-insensitively
_CLIENT_FORWARDED_NAMES = [b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-prefix"]
_CLIENT_FORWARDED_LINES = re.compile(rb"\r\n(?i:" + _CLIENT_FORWARDED + rb")[ \t]*:[^\r\n]*")


def strip_client_forwarded(head: bytes) -> bytes:
    return _CLIENT_FORWARDED_LINES.sub(b"", head)


def header_pattern(name: str) -> re.Pattern[bytes]:
    """Matches every `name:` header line of a head, capturing its value."""
    return re.compile(rb"\r\n(?i:" + re.escape(name.encode()) + rb")[ \t]*:[ \t]*([^\r\n]*?)[ \t]*(?=\r\n)")


_COOKIE_LINES = header_pattern("Cookie")


def cookie_value(head: bytes, name: bytes) -> bytes | None:
    """The value of cookie `name` in any Cookie header of `head`, or None."""
    if name not in head:  # cheap pre-check: most heads lack most cookies
        return None
    for line in _COOKIE_LINES.findall(head):
        for pair in line.split(b";"):
            k, sep, v = pair.strip().partition(b"=")
            if sep and k == name:
                return v.strip(b'"')
    return None


def header_values(head: bytes, pattern: re.Pattern[bytes]) -> list[bytes]:
    return pattern.findall(head)


def point_of(value: bytes) -> float:
    """A user's fixed place on the 0..100 line, from a value naming the user."""
    return (zlib.crc32(value) % 1_000_000) / 10_000


def _rule_matcher(rule: Rule) -> Callable[[bytes], bool]:
    want = rule.equals
    if rule.regex is not None:
        test: Callable[[bytes], bool] = compile_rule(rule.regex)  # linear time, bounded value
    else:
        wanted = want.encode("latin-1", "replace")  # type: ignore[union-attr]
        test = lambda v: v == wanted
    if rule.cookie is not None:
        name = rule.cookie.encode()

        def match_cookie(head: bytes) -> bool:
            v = cookie_value(head, name)
            return v is not None and test(v)
        return match_cookie
    pattern = header_pattern(rule.header or "")
    return lambda head: any(test(v) for v in pattern.findall(head))


class Routes:
    """The compiled form of one RoutingTable; immutable once built.

    `targets` maps each revision name to whatever the server attaches to it
    (its backend pool); Routes itself knows nothing about connections.
    """

    __slots__ = ("table", "targets", "_rules", "marks", "_single", "_bounds",
                 "_by_bound", "_sticky", "_sticky_name", "_sticky_header", "_cookie_attrs")

    def __init__(self, table: RoutingTable, targets: dict[str, Any]):
        self.table = table
        self.targets = targets
        self._rules = [(_rule_matcher(r), targets[r.revision]) for r in table.rules]
        # One pass per request (headscan.py) finds where the head ends and, on the way,
        # whether it needs a closer look: a line naming a header some rule matches on,
        # or an X-Forwarded-Proto/-Host/-Prefix the client sent (the server strips those),
        # or a Cookie line with the name of a cookie some rule matches on. Most heads have
        # none, and then no rule is evaluated. Names as prefixes, no `:`: a wider net
        # never misses, and a false alarm only costs the look.
        self.marks = HeadMarks(
            [*_CLIENT_FORWARDED_NAMES, *(r.header.encode() for r in table.rules if r.header)],
            tuple(sorted({r.cookie.encode() + b"=" for r in table.rules if r.cookie is not None})))
        bounds: list[float] = []
        by_bound: list[Any] = []
        edge = 0.0
        for rev in table.revisions:
            if rev.weight > 0:
                edge += rev.weight
                bounds.append(edge)
                by_bound.append(targets[rev.name])
        if bounds:
            bounds[-1] = 100.0  # absorb float rounding: the line is always covered
        self._bounds, self._by_bound = bounds, by_bound
        self._single = by_bound[0] if len(by_bound) == 1 else None  # no dice to roll
        self._sticky: Sticky | None = table.sticky
        s = table.sticky
        self._sticky_name = s.name.encode() if s else b""
        self._sticky_header = header_pattern(s.name) if s and s.mode == "header" else None
        self._cookie_attrs = f"; Path=/; Max-Age={s.max_age}; HttpOnly".encode() if s else b""

    def pick(self, head: bytes, scanned: bool = True) -> tuple[Any, bytes | None]:
        """(target, Set-Cookie header line to add or None) for one request head.

        `scanned=False`: the head scan (headscan.py, with `marks`) flagged no line, so no
        rule can match.
        """
        if scanned:
            for matches, target in self._rules:
                if matches(head):
                    return target, None
        if self._sticky is None:
            if self._single is not None:
                return self._single, None
            if not self._bounds:
                return None, None
            return self._at(_random() * 100.0), None
        if not self._bounds:
            return None, None
        point, set_cookie = self._sticky_point(head)
        return self._at(point), set_cookie

    def _at(self, point: float) -> Any:
        """The target whose stretch of the 0..100 line holds `point` (a few
        revisions at most: a compiled loop beats a call to bisect)."""
        bounds = self._bounds
        for i in range(len(bounds)):
            if point < bounds[i]:
                return self._by_bound[i]
        return self._by_bound[-1]

    def _sticky_point(self, head: bytes) -> tuple[float, bytes | None]:
        s = self._sticky
        if s.mode == "cookie":  # type: ignore[union-attr]
            raw = cookie_value(head, self._sticky_name)
            if raw is not None:
                try:
                    p = float(raw)
                    if 0.0 <= p < 100.0:
                        return p, None
                except ValueError:
                    pass
            p = round(_random() * 100.0, 4) % 100.0
            return p, b"Set-Cookie: %s=%.4f%s\r\n" % (self._sticky_name, p, self._cookie_attrs)
        if self._sticky_header is not None:
            values = self._sticky_header.findall(head)
            value = values[0] if values else None
        else:
            value = cookie_value(head, self._sticky_name)
        if not value:
            return _random() * 100.0, None  # nothing names this user: no stickiness possible
        return point_of(value), None

    def share_of(self, name: str) -> float:
        rev = self.table.revision(name)
        return rev.weight if rev else 0.0
