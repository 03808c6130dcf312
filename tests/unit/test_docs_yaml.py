"""Every zerodown.yaml example in the README and docs/ is read by the real parser: a key the
parser no longer takes, or a value it refuses, fails here naming the page and its line.

A ```yaml block whose top-level keys are zerodown.yaml's is merged into the starter file
(`zerodown init`'s) and parsed; only a file the example names and this checkout lacks (a
certificate) is let pass. Blocks of other files (prometheus.yml) and fragments that
continue a section shown above them are left out, and counted so the check cannot go
quietly empty."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from zerodown.config import json_schema, parse_config, starter_yaml
from zerodown.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOP = set(json_schema()["properties"])


def yaml_blocks() -> list[tuple[str, str]]:
    """(page:line, text) of every ```yaml block."""
    out = []
    for page in PAGES:
        lang, lines, start = None, [], 0
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                if lang is None:
                    lang, lines, start = line[3:].strip(), [], number + 1
                else:
                    if lang == "yaml":
                        out.append((f"{page.relative_to(REPO)}:{start}", "\n".join(lines)))
                    lang = None
            elif lang is not None:
                lines.append(line)
    return out


def alternatives(text: str) -> list[dict]:
    """The files a block shows: a top-level key written again starts another (`router:
    embedded` then `router: {kind: haproxy}`, one a line, are two examples, not one)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        return []
    loader, docs, doc = yaml.SafeLoader(""), [], {}
    for key, value in node.value:
        name = loader.construct_object(key, deep=True)
        if name in doc:
            docs.append(doc)
            doc = {}
        doc[name] = loader.construct_object(value, deep=True)
    return [*docs, doc]


def examples() -> list[tuple[str, dict]]:
    out = []
    for where, text in yaml_blocks():
        try:
            docs = alternatives(text)
        except yaml.YAMLError:
            continue  # two files side by side, or a fragment: not one file
        out += [(f"{where}#{n}" if len(docs) > 1 else where, doc) for n, doc in
                enumerate(docs, 1) if doc and all(isinstance(k, str) for k in doc)
                and set(doc) <= TOP]
    return out


def merged(base: dict, extra: dict) -> dict:
    """The starter file with the example's keys, section by section (a section the example
    gives as a mapping keeps the starter's other keys unless the example changes its kind)."""
    out = dict(base)
    for key, value in extra.items():
        kept = base.get(key)
        same_kind = not (isinstance(value, dict) and "kind" in value) or \
            (isinstance(kept, dict) and kept.get("kind") == value.get("kind"))
        out[key] = {**kept, **value} if isinstance(kept, dict) and isinstance(value, dict) \
            and same_kind else value
    return out


def missing_files_only(error: ConfigError) -> bool:
    lines = [line for line in str(error).splitlines() if ": " in line]
    return bool(lines) and all("cannot read" in line and "no such file" in line for line in lines)


@pytest.mark.parametrize("where,doc", examples(), ids=[w for w, _ in examples()])
def test_a_documented_zerodown_yaml_example_is_taken_by_the_parser(where, doc):
    try:
        parse_config(yaml.safe_dump(merged(yaml.safe_load(starter_yaml()), doc)))
    except ConfigError as e:
        if not missing_files_only(e):
            raise AssertionError(f"{where}: the example is refused:\n{e}") from None


def test_the_examples_are_found():
    assert len(examples()) >= 8, [w for w, _ in examples()]


def test_a_stale_key_is_caught():
    """The check can fail: a key the parser does not take, in a section the starter has."""
    with pytest.raises(ConfigError, match="max_surg"):
        parse_config(yaml.safe_dump(merged(yaml.safe_load(starter_yaml()),
                                           {"strategy": {"max_surg": 1}})))
