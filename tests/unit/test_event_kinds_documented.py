"""Every kind of event the code writes is in docs/api.md's Events table, and every kind the
table lists is one the code writes (a kind renamed or dropped cannot stay documented).

The kinds are found in the source, not listed here: a call `x.event(service, "kind", ...)`,
`on_event("kind", ...)`, or a `("kind", message)` pair put in a list named `events`; the
kind either branch of a conditional gives (`"hook.ok" if ok else "hook.failed"`); a kind
made at run time from a prefix (`f"analysis.{verdict}"`) stands for the prefix's kinds.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIND = re.compile(r"^[a-z_]+(\.([a-z_]+|\*))?$")


def const(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def consts(node: ast.AST) -> set[str | None]:
    """The kinds an argument can be: a string, either branch of a conditional, or a kind
    made at run time as its prefix and `*` (`analysis.*`)."""
    if isinstance(node, ast.IfExp):
        return consts(node.body) | consts(node.orelse)
    if isinstance(node, ast.JoinedStr) and node.values and (head := const(node.values[0])) \
            and head.endswith("."):
        return {head + "*"}
    return {const(node)}


def kinds_in(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name == "event" and len(node.args) >= 2:
                found |= consts(node.args[1])
            elif name == "on_event" and node.args:
                found |= consts(node.args[0])
            elif name == "append" and isinstance(node.func, ast.Attribute) and \
                    getattr(node.func.value, "id", None) == "events" and node.args and \
                    isinstance(node.args[0], ast.Tuple):
                found.add(const(node.args[0].elts[0]))
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "id", None) == "events" for t in targets):
                value = node.value
                pairs = value.elts if isinstance(value, ast.List) else \
                    [value.elt] if isinstance(value, ast.ListComp) else []
                found |= {const(p.elts[0]) for p in pairs if isinstance(p, ast.Tuple)}
    return {k for k in found if k and KIND.match(k)}


def written_kinds() -> set[str]:
    kinds: set[str] = set()
    for path in (ROOT / "zerodown").rglob("*.py"):
        kinds |= kinds_in(ast.parse(path.read_text()))
    return kinds


def events_section() -> str:
    return (ROOT / "docs" / "api.md").read_text().split("## Events", 1)[1].split("\n## ", 1)[0]


def listed_kinds() -> set[str]:
    """The kinds the Events table's rows are for (its first column)."""
    return {kind for line in events_section().splitlines() if line.startswith("| `")
            for kind in re.findall(r"`([a-z_.]+)`", line.split("|")[1])}


def documented_kinds() -> set[str]:
    return set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)?)`", events_section()))


def test_the_scan_finds_the_kinds_it_should():
    kinds = written_kinds()
    for kind in ("step.started", "action", "instance.orphan", "analysis.planned",
                 "service.down", "host.reachable"):
        assert kind in kinds, kind


def test_every_event_kind_is_documented():
    written = written_kinds()
    made = {k.removesuffix("*") for k in written if k.endswith("*")}
    missing = sorted(k for k in written - documented_kinds() if not k.endswith("*"))
    missing += sorted(prefix + "*" for prefix in made
                      if not any(k.startswith(prefix) for k in documented_kinds()))
    assert not missing, f"docs/api.md's Events table does not name {missing}"


def test_every_kind_listed_is_written():
    written = written_kinds()
    made = tuple(k.removesuffix("*") for k in written if k.endswith("*"))
    assert {"hook.ok", "hook.failed"} <= written and "analysis.*" in written  # the scan sees them
    stale = sorted(k for k in listed_kinds() if k not in written and not k.startswith(made))
    assert not stale, f"docs/api.md's Events table lists kinds no code writes: {stale}"
