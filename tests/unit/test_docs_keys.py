"""Every zerodown.yaml key the README and docs/ name by its path (`runtime.keep_releases`,
`strategy.sticky.max_age`, `--set strategy.max_surge=2`) is one the schema has: a key
renamed or dropped cannot stay in a sentence, where tests/unit/test_docs_yaml.py (the
yaml blocks) does not look. A dotted name that starts like a section but is no key (an
event kind, a file name, a table of the state store) is told apart below."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from zerodown.config import json_schema

from test_event_kinds_documented import listed_kinds

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SCHEMA = json_schema()
PATH = re.compile(r"(?<![\w./$-])([a-z_]+(?:\.[a-z_0-9]+)+)(?![\w/(-])")
FILE = re.compile(r"\.(py|js|css|json|lock|md|ya?ml|sock|log|db|sh|txt|pem|key)$")
NOT_KEYS = {"instances.runs_on": "a column of the state store's instances table"}


def nodes_under(node: dict) -> list[dict]:
    """The node and the alternatives and items it holds (`anyOf` kinds, a list's item)."""
    out = [node]
    for branch in node.get("anyOf", []) + node.get("oneOf", []):
        out += nodes_under(branch)
    if isinstance(node.get("items"), dict):
        out += nodes_under(node["items"])
    return out


def is_key(path: str) -> bool:
    """Whether `a.b.c` walks the schema: a property at each part (any name, under a
    mapping of free keys such as app.env)."""
    nodes = [SCHEMA]
    for part in path.split("."):
        nodes = [child for node in nodes for n in nodes_under(node)
                 for child in ([n["properties"][part]] if part in n.get("properties", {}) else [])
                 + ([n["additionalProperties"]] if isinstance(n.get("additionalProperties"), dict)
                    and n["additionalProperties"] else [])]
        if not nodes:
            return False
    return True


def key_paths() -> list[tuple[str, str]]:
    """(page:line, path) of every dotted name starting with a top-level key."""
    top, skip = set(SCHEMA["properties"]), listed_kinds() | set(NOT_KEYS)
    return [(f"{page.relative_to(ROOT)}:{number}", path)
            for page in PAGES
            for number, line in enumerate(page.read_text().splitlines(), 1)
            for path in PATH.findall(line)
            if path.split(".")[0] in top and path not in skip and not FILE.search(path)]


def test_every_key_path_named_is_in_the_schema():
    named = key_paths()
    assert len(named) > 150, len(named)  # the pattern still finds them
    unknown = [f"{where}: {path}" for where, path in named if not is_key(path)]
    assert not unknown, "no such key in zerodown.yaml:\n" + "\n".join(unknown)


def test_the_walk_tells_a_key_from_none():
    assert is_key("strategy.sticky.max_age") and is_key("runtime.keep_releases")
    assert is_key("app.env.ANY_NAME") and is_key("strategy.steps")
    assert not is_key("strategy.max_surg") and not is_key("runtime.keep_release")
    assert not is_key("router.lanes.x")


def test_the_not_keys_are_still_named():
    named = {path for page in PAGES for path in PATH.findall(page.read_text())}
    assert set(NOT_KEYS) <= named, set(NOT_KEYS) - named


def test_the_readmes_analysis_defaults_are_the_schemas():
    """The README's table of analysis keys says each default (`max_false_alarm` `0.01`,
    `interval`, `count`, `failure_limit` `10s`, `3`, `0`): each is the parser's own."""
    from zerodown.schema import parse_duration
    table = (ROOT / "README.md").read_text().split("| key | default | what it does |", 1)[1]
    rows = [line.split("|")[1:3] for line in table.split("\n\n", 1)[0].splitlines()[1:]]
    analysis = next(n for n in nodes_under(SCHEMA["properties"]["strategy"])
                    if "analysis" in n.get("properties", {}))["properties"]["analysis"]
    fields = next(n for n in nodes_under(analysis) if "properties" in n)["properties"]
    checked = 0
    for keys, defaults in rows:
        names, said = re.findall(r"`(\w+)`", keys), re.findall(r"`([^`]+)`", defaults)
        if defaults.strip() == "–":  # said to have none
            assert all("default" not in fields[n] for n in names), f"README: {names} have one"
        for name, value in zip(names, said) if len(names) == len(said) else ():
            code = fields[name].get("default")
            value = parse_duration(value) if re.fullmatch(r"\d+(ms|s|m|h)", value) else \
                yaml.safe_load(value)
            assert value == code, f"README: analysis {name} said {value!r}, is {code!r}"
            checked += 1
    assert checked >= 7, checked
