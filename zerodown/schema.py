"""The vocabulary zerodown.yaml is written in: the kinds of value a key takes.

Each Kind parses one YAML value (raising Invalid with a message that says
what is allowed) and knows its JSON Schema fragment, so validation and the
editor schema cannot drift apart. Mappings of keys (Section, Context,
list_of, a driver's options) are schema_sections.py.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import shlex
import string
from dataclasses import dataclass
from typing import Any, Callable, NoReturn

PLACEHOLDERS = ("version", "port", "slot", "instance", "host")
_DURATION_PART = r"(\d+(?:\.\d+)?)(ms|s|m|h)"
DURATION_PATTERN = rf"^({_DURATION_PART})+$"
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TOKEN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # a header or cookie name (RFC 9110 token)


class Invalid(ValueError):
    """A value is not what its key allows; the message says what is."""


@dataclass(frozen=True)
class Amount:
    """A count of instances ("2") or a share of them ("25%")."""

    value: int
    percent: bool = False

    def resolve(self, total: int, *, round_up: bool) -> int:
        if not self.percent:
            return self.value
        scaled = total * self.value
        return -(-scaled // 100) if round_up else scaled // 100

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


def shown(value: Any) -> str:
    """A value as the user wrote it (YAML-ish), for "got ..." in messages; a long one cut."""
    return clip(json.dumps(value, default=str))


def clip(text: str, limit: int = 80) -> str:
    """At most `limit` characters of `text`, saying how long it was: errors never echo
    a ten-megabyte value."""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1)
    return f' (did you mean "{close[0]}"?)' if close else f" (allowed: {', '.join(choices)})"


@dataclass(frozen=True)
class Kind:
    parse: Callable[[Any], Any]
    schema: dict


def _check(ok: object, allowed: str, value: Any) -> None:
    if not ok:
        _refuse(allowed, value)


def _refuse(allowed: str, value: Any) -> NoReturn:
    raise Invalid(f"must be {allowed}, got {shown(value)}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


INT_MAX = 2**31 - 1  # no count zerodown takes is larger; load balancers' configs take it


def integer(lo: int = 0, hi: int | None = None) -> Kind:
    """An integer from `lo` to `hi` (without one, INT_MAX: what a config file can carry)."""
    hi = INT_MAX if hi is None else hi
    allowed = f"an integer from {lo} to {hi}"

    def parse(v: Any) -> int:
        _check(_is_int(v) and lo <= v <= hi, allowed, v)
        return v
    return Kind(parse, {"type": "integer", "minimum": lo, "maximum": hi})


def number(lo: float, hi: float | None = None) -> Kind:
    allowed = f"a number from {lo:g} to {hi:g}" if hi is not None else f"a number of at least {lo:g}"

    def parse(v: Any) -> float:
        _check((_is_int(v) or isinstance(v, float)) and v >= lo and (hi is None or v <= hi),
               allowed, v)
        return float(v)
    return Kind(parse, {"type": "number", "minimum": lo, **({"maximum": hi} if hi else {})})


def boolean() -> Kind:
    def parse(v: Any) -> bool:
        _check(isinstance(v, bool), "true or false", v)
        return v
    return Kind(parse, {"type": "boolean"})


def text(pattern: str | None = None, allowed: str = "a non-empty string") -> Kind:
    def parse(v: Any) -> str:
        # fullmatch: with match, "$" also matches before a final line break ("X-Id\n")
        _check(isinstance(v, str) and v != "" and (pattern is None or re.fullmatch(pattern, v)),
               allowed, v)
        return v
    return Kind(parse, {"type": "string", "minLength": 1, **({"pattern": pattern} if pattern else {})})


def enum(*choices: str) -> Kind:
    def parse(v: Any) -> str:
        if v not in choices:
            close = difflib.get_close_matches(str(v), choices, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise Invalid(f"must be one of {', '.join(choices)}, got {shown(v)}{hint}")
        return v
    return Kind(parse, {"enum": list(choices)})


MAX_DURATION = 30 * 24 * 3600.0  # a month: longer is a typo (or an attempt to overflow a timer)


def parse_duration(v: Any, hi: float = MAX_DURATION) -> float:
    """Seconds from 500ms, 1s, 2m, 1h, 1m30s or a plain number of seconds, at most `hi`."""
    allowed = 'a duration like "500ms", "1s", "2m" or "1h" (a number is seconds)'
    if _is_int(v) or isinstance(v, float):
        seconds = float(v) if math.isfinite(v) and v >= 0 else None
    else:
        _check(isinstance(v, str) and len(v) <= 40 and
               re.match(DURATION_PATTERN, v.strip()) is not None, allowed, v)
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in re.findall(_DURATION_PART, v))
    if seconds is None:
        _refuse(allowed, v)
    if seconds > hi:
        raise Invalid(f"must be at most {_span(hi)}, got {shown(v)}")
    return seconds


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def duration(lo: float = 0.0, hi: float = MAX_DURATION) -> Kind:
    """A duration from `lo` to `hi` seconds."""
    def parse(v: Any) -> float:
        seconds = parse_duration(v, hi)
        if seconds < lo:
            raise Invalid(f"must be at least {_span(lo) if lo >= 1 else f'{lo * 1000:g}ms'}, "
                          f"got {shown(v)}")
        return seconds
    return Kind(parse, {"anyOf": [{"type": "number", "minimum": lo, "maximum": hi},
                                  {"type": "string", "pattern": DURATION_PATTERN}]})


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
               "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
               "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
               "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}
SIZE_PATTERN = r"^\s*(\d+(?:\.\d+)?)\s*([KkMmGgTt]?(?:[Ii]?[Bb])?)\s*$"


def _bytes_text(n: int) -> str:
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n} bytes"


def size(lo: int, hi: int, least: str = "") -> Kind:
    """A size in bytes from `lo` to `hi` (`least`: why no less): 10MB, 512KB, 1GB, 100m
    (docker's), or a number of bytes. K, M, G and T are 1024's powers, as docker,
    logrotate and systemd take them."""
    allowed = ('a size like "10MB", "512KB" or "1GB" (K, M, G: 1024, 1024², 1024³ bytes; '
               'a number is bytes)')

    def parse(v: Any) -> int:
        if _is_int(v):
            n = v
        else:
            m = re.match(SIZE_PATTERN, v) if isinstance(v, str) and len(v) <= 40 else None
            _check(m and m[2].lower() in _SIZE_UNITS, allowed, v)
            assert m is not None
            n = int(float(m[1]) * _SIZE_UNITS[m[2].lower()])
        if n < lo:
            raise Invalid(f"must be at least {_bytes_text(lo)}{least}, got {shown(v)}")
        if n > hi:
            raise Invalid(f"must be at most {_bytes_text(hi)}, got {shown(v)}")
        return n
    return Kind(parse, {"anyOf": [{"type": "integer", "minimum": lo, "maximum": hi},
                                  {"type": "string", "pattern": SIZE_PATTERN}]})


VERSION = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}"


def version_label(v: str) -> str:
    """A version label (`zerodown deploy v2`): the app sees it as {version}, in its
    arguments, its environment and often its working directory (releases/{version})."""
    if not isinstance(v, str) or not re.fullmatch(VERSION, v):
        raise Invalid(f"a version label must be 1 to 128 letters, digits, and . _ + - (not "
                      f"first), like v2 or 1.4.0; got {shown(v)}")
    return v


def amount(least: int = 0) -> Kind:
    """A count or a percentage of the instances, e.g. 2 or "25%"."""
    # the ranges said: "150%" read as a percentage to whoever wrote it, refused unexplained
    allowed = (f'a count or a percentage like "25%" (a whole number from {least}, or '
               f'{least}% to 100%)')

    def parse(v: Any) -> Amount:
        if _is_int(v) and v >= least:
            return Amount(v)
        m = re.fullmatch(r"\s*(\d{1,3})\s*%\s*", v) if isinstance(v, str) else None
        if m is None or not least <= int(m.group(1)) <= 100:
            _refuse(allowed, v)
        return Amount(int(m.group(1)), percent=True)
    return Kind(parse, {"anyOf": [{"type": "integer", "minimum": least},
                                  {"type": "string", "pattern": r"^\d{1,3}%$"}]})


def address() -> Kind:
    def parse(v: Any) -> str:
        m = _ADDRESS.match(v) if isinstance(v, str) else None
        _check(m is not None and 0 < int(m.group(2)) < 65536,
               'host:port like "127.0.0.1:8080" (port 1 to 65535)', v)
        return v
    return Kind(parse, {"type": "string", "pattern": _ADDRESS.pattern})


def no_nul(v: str) -> str:
    """No argument, path or environment value of a process can hold a NUL character."""
    if "\0" in v:
        raise Invalid(f"must not contain a NUL character, got {shown(v)}")
    return v


def check_template(v: str) -> str:
    """A string whose {placeholders} are all known and plain ({port}, not {port:>9999}:
    a format spec could make a gigabyte); {{ }} are literal braces; no NUL."""
    no_nul(v)
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(v)
                  if f is not None]
    except ValueError as e:
        raise Invalid(f"{e} in {shown(v)} (write {{{{ and }}}} for literal braces)") from None
    for f, spec, conv in fields:
        if f not in PLACEHOLDERS or spec or conv:
            written = f + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "")
            raise Invalid(f"unknown placeholder {{{clip(written, 40)}}} in {shown(v)} (allowed: "
                          + " ".join(f"{{{p}}}" for p in PLACEHOLDERS) + ")")
    return v


def template() -> Kind:
    return Kind(lambda v: check_template(text().parse(v)), {"type": "string", "minLength": 1})


def inner_path() -> Kind:
    """A path inside a folder (a release): relative, every part a name (no `.` or `..`),
    not one of zerodown's own `.zerodown*` files there; a final / is dropped."""
    allowed = ('a relative path inside the release folder, like "uploads" or '
               '"config/database.yml" (no leading /, no . or .. part)')

    def parse(v: Any) -> str:
        _check(isinstance(v, str) and bool(v), allowed, v)
        parts = v.rstrip("/").split("/") if v != "/" else [""]
        if v.startswith("/") or any(p in ("", ".", "..") or any(ord(c) < 32 for c in p)
                                    for p in parts):
            raise Invalid(f"must be {allowed}, got {shown(v)}")
        if parts[0].startswith(".zerodown"):
            raise Invalid(f"{shown(v)} is where zerodown keeps its own files in a release; "
                          f"name another path")
        return "/".join(parts)
    return Kind(parse, {"type": "string", "minLength": 1,
                        "pattern": r"^(?!/)(?!.*//.)(?!\.zerodown)(?!(.*/)?\.{1,2}(/|$))"
                                   r"[^\u0000-\u001f]+$"})


def command() -> Kind:
    """A list of arguments, or one string split like a shell would (but run without one)."""
    allowed = 'a list of arguments or a command line string, like ["python", "app.py"]'

    def parse(v: Any) -> tuple[str, ...]:
        if isinstance(v, str):
            try:
                v = shlex.split(v)
            except ValueError as e:
                raise Invalid(f"cannot split {shown(v)} into arguments: {e}") from None
        _check(isinstance(v, list) and v and all(isinstance(a, (str, int, float)) and
                                                  not isinstance(a, bool) for a in v), allowed, v)
        return tuple(check_template(str(a)) for a in v)
    return Kind(parse, {"anyOf": [{"type": "string", "minLength": 1},
                                  {"type": "array", "minItems": 1,
                                   "items": {"type": ["string", "number"]}}]})


def string_map(key: re.Pattern, what: str, value: Callable[[str, str], str] = lambda k, v: v,
               allowed: str | None = None) -> Kind:
    """A mapping from `what` (keys matching `key`) to scalars, kept as strings
    (booleans as true/false); `value(key, text)` may check or change each one."""
    def parse(v: Any) -> dict[str, str]:
        _check(isinstance(v, dict), allowed or f"a mapping of {what}: value", v)
        out = {}
        for name, item in v.items():
            if not (isinstance(name, str) and key.fullmatch(name)):
                raise Invalid(f"{shown(name)} is not a valid {what}")
            if isinstance(item, (dict, list)) or item is None:
                raise Invalid(f"{name}: must be a string or number, got {shown(item)}")
            out[name] = value(name, str(item).lower() if isinstance(item, bool) else str(item))
        return out
    return Kind(parse, {"type": "object", "propertyNames": {"pattern": key.pattern},
                        "additionalProperties": {"type": ["string", "number", "boolean"]}})


def env() -> Kind:
    return string_map(ENV_NAME, "environment variable name", lambda k, v: check_template(v),
                      "a mapping of NAME: value")


def optional(kind: Kind) -> Kind:
    return Kind(lambda v: None if v is None else kind.parse(v),
                {"anyOf": [kind.schema, {"type": "null"}]})
