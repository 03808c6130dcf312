"""What changed in zerodown.yaml between two revisions' snapshots."""

from __future__ import annotations

import pytest

from zerodown.config_diff import MISSING, change_dict, change_text, changes, flatten

BASE = {"service": "shop", "instances": 2, "strategy": {"kind": "rolling", "max_surge": 1},
        "app": {"command": ["python", "app.py"], "env": {"A": "1"}}}


def test_flatten_by_key_path_with_lists_as_leaves():
    assert flatten(BASE) == {"service": "shop", "instances": 2, "strategy.kind": "rolling",
                             "strategy.max_surge": 1, "app.command": ["python", "app.py"],
                             "app.env.A": "1"}
    assert flatten({"app": {"env": {}}}) == {"app.env": {}}


@pytest.mark.parametrize("new, found", [
    (BASE, []),
    ({**BASE, "instances": 3}, [("instances", 2, 3)]),
    ({**BASE, "strategy": {"kind": "canary", "steps": [{"weight": 10}]}},
     [("strategy.kind", "rolling", "canary"), ("strategy.max_surge", 1, MISSING),
      ("strategy.steps", MISSING, [{"weight": 10}])]),
    ({**BASE, "app": {"command": ["python", "app.py", "-v"], "env": {"A": "1"}}},
     [("app.command", ["python", "app.py"], ["python", "app.py", "-v"])]),
])
def test_changes_name_every_key_that_differs(new, found):
    assert changes(BASE, new) == found


def test_no_changes_for_a_first_revision():
    assert changes(None, BASE) == []


@pytest.mark.parametrize("change, text, kind", [
    (("strategy.max_surge", 1, 2), "strategy.max_surge: 1 → 2", "changed"),
    (("app.env.DEBUG", MISSING, "1"), 'app.env.DEBUG: added "1"', "added"),
    (("health.timeout", "1s", MISSING), 'health.timeout: removed (was "1s")', "removed"),
    (("app.command", ["x" * 80], ["y"]), f'app.command: ["{"x" * 57}… → ["y"]', "changed"),
])
def test_a_change_in_words_and_as_json(change, text, kind):
    assert change_text(*change) == text
    d = change_dict(*change)
    assert d["change"] == kind and d["key"] == change[0]
    assert None not in (d["from"], d["to"]) or kind != "changed"
