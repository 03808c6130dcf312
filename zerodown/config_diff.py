"""What changed in zerodown.yaml between two revisions (each keeps its config snapshot):
pure, for `zerodown history`."""

from __future__ import annotations

import json
from typing import Any

MISSING = object()
SHOWN = 60  # characters of a value shown; the rest is cut (…)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"strategy.max_surge": 1, ...}: mappings by key path; lists and scalars are leaves."""
    if not isinstance(data, dict) or (prefix and not data):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def changes(old: dict | None, new: dict | None) -> list[tuple[str, Any, Any]]:
    """(key path, old value or MISSING, new value or MISSING) for every key that differs,
    in key order; nothing before the first revision."""
    if old is None or new is None:
        return []
    a, b = flatten(old), flatten(new)
    return [(k, a.get(k, MISSING), b.get(k, MISSING)) for k in sorted(set(a) | set(b))
            if a.get(k, MISSING) != b.get(k, MISSING)]


def shown(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


def change_text(key: str, old: Any, new: Any) -> str:
    """`strategy.max_surge: 1 → 2`, `app.env.DEBUG: added "1"`, `health.timeout: removed`."""
    if old is MISSING:
        return f"{key}: added {shown(new)}"
    if new is MISSING:
        return f"{key}: removed (was {shown(old)})"
    return f"{key}: {shown(old)} → {shown(new)}"


def change_dict(key: str, old: Any, new: Any) -> dict:
    return {"key": key, "from": None if old is MISSING else old,
            "to": None if new is MISSING else new,
            "change": "added" if old is MISSING else "removed" if new is MISSING else "changed"}
