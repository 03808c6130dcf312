"""Does the shadow's answer differ from stable's? Pure.

Compared: the status code, the headers the user chose (by name, case-insensitive),
and the body, exactly or as JSON with paths to ignore (`$.time`, `$.items[*].id`).
A difference names the first place it was found: the status, a header's name, a
JSON path, or a byte offset, with both sides' values (shortened), so an example
in the event log says where to look.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SHOWN = 80  # characters of each side a difference quotes
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")


class PathError(ValueError):
    """An ignore path that is not `$` followed by `.name`, `.*`, `[n]` or `[*]` segments."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)


@dataclass(frozen=True)
class Spec:
    headers: tuple[str, ...] = ()  # header names compared
    body: str = "json"  # json (exact when either side is not JSON) | exact | none
    ignore: tuple[tuple[str | int, ...], ...] = ()  # parsed JSON paths (parse_path)


@dataclass(frozen=True)
class Difference:
    what: str  # status | header | body
    where: str  # "status", the header's name, a JSON path ($.a[2].b) or "byte 17"
    stable: str
    shadow: str

    def text(self) -> str:
        return f"{self.where}: stable {self.stable} · shadow {self.shadow}"


def parse_path(text: str) -> tuple[str | int, ...]:
    """`$.items[*].id` -> ("items", "*", "id"); `*` matches any key or index."""
    if not text.startswith("$"):
        raise PathError(f"{text!r}: a JSON path starts with $ (e.g. $.time, $.items[*].id)")
    out: list[str | int] = []
    rest = text[1:]
    while rest:
        m = _SEGMENT.match(rest)
        if m is None:
            raise PathError(f"{text!r}: cannot read {rest!r}; segments are .name, .*, [n], [*]")
        key, index = m.groups()
        out.append(key if key is not None else ("*" if index == "*" else int(index)))
        rest = rest[m.end():]
    return tuple(out)


def compare(stable: Answer, shadow: Answer, spec: Spec) -> Difference | None:
    """The first difference that matters, or None when the answers agree."""
    if stable.status != shadow.status:
        return Difference("status", "status", str(stable.status), str(shadow.status))
    for name in spec.headers:
        a, b = stable.header(name), shadow.header(name)
        if a != b:
            return Difference("header", name, _short(a), _short(b))
    if spec.body == "none" or stable.body == shadow.body:
        return None
    if spec.body == "json":
        try:
            a_doc, b_doc = json.loads(stable.body), json.loads(shadow.body)
        except ValueError:
            pass  # not JSON on one side: byte for byte
        else:
            return _json_diff(a_doc, b_doc, (), spec.ignore)
    at = next((i for i, (x, y) in enumerate(zip(stable.body, shadow.body)) if x != y),
              min(len(stable.body), len(shadow.body)))
    return Difference("body", f"byte {at}", _short(stable.body[at:at + SHOWN]),
                      _short(shadow.body[at:at + SHOWN]))


def _ignored(path: tuple, ignore: tuple[tuple[str | int, ...], ...]) -> bool:
    return any(len(p) == len(path) and all(s == "*" or s == k for s, k in zip(p, path))
               for p in ignore)


def _json_diff(a: Any, b: Any, path: tuple, ignore: tuple) -> Difference | None:
    if _ignored(path, ignore):
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                if _ignored((*path, key), ignore):
                    continue
                return Difference("body", _path_text((*path, key)),
                                  _short(a.get(key, "(absent)")), _short(b.get(key, "(absent)")))
            found = _json_diff(a[key], b[key], (*path, key), ignore)
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _json_diff(x, y, (*path, i), ignore)
            if found is not None:
                return found
        if len(a) != len(b):
            return Difference("body", _path_text(path) + ".length", str(len(a)), str(len(b)))
        return None
    if a != b or type(a) is not type(b):
        return Difference("body", _path_text(path), _short(a), _short(b))
    return None


def _path_text(path: tuple) -> str:
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)


def _short(value: Any) -> str:
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
    elif isinstance(value, str) or value is None:
        text = str(value)
    else:
        text = json.dumps(value)
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"
