"""docs/api.md names what the API's code reads and adds: every query parameter a route
reads, every key a route adds to an answer, and every field an action's body may carry.
Found in the source, not listed here (`GET /api/v1/status?format=text` was served and
not said, nor five of a deployment's keys in the list's answer)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "api.md").read_text()


def tree(relative: str) -> ast.AST:
    return ast.parse((ROOT / relative).read_text())


def strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


def query_parameters() -> set[str]:
    """`request.query.get("x")` and `number(request.query, "x", ...)` in routes.py."""
    found = set()
    for node in ast.walk(tree("zerodown/api/routes.py")):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and \
                isinstance(func.value, ast.Attribute) and func.value.attr == "query":
            found |= set(strings(node.args[0])) if node.args else set()
        elif isinstance(func, ast.Name) and func.id == "number" and len(node.args) > 1:
            found |= set(strings(node.args[1]))
    return found


def added_keys() -> set[str]:
    """`doc["x"] = ...` in routes.py: keys a route adds to a view's dict."""
    return {t.slice.value for node in ast.walk(tree("zerodown/api/routes.py"))
            if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant)}


def body_fields() -> set[str]:
    """`fields(body, ("a", "b"))` in daemon/actions.py: what an action's body may carry."""
    return {e.value for node in ast.walk(tree("zerodown/daemon/actions.py"))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "fields"
            for allowed in ast.walk(node.args[1]) if isinstance(allowed, ast.Tuple)
            for e in allowed.elts if isinstance(e, ast.Constant)}


def test_every_query_parameter_is_documented():
    found = query_parameters()
    assert {"fresh", "format", "window", "limit", "wait", "after", "deployment"} <= found
    missing = sorted(p for p in found if not re.search(rf"[?&]{p}=|`{p}=", DOC))
    assert not missing, f"docs/api.md does not name the query parameters {missing}"


def test_every_key_a_route_adds_is_documented():
    found = added_keys()
    assert {"summary", "plan_steps", "controller_error", "settled"} <= found
    missing = sorted(k for k in found if f"`{k}`" not in DOC)
    assert not missing, f"docs/api.md does not name the keys {missing}"


def test_every_body_field_is_documented():
    found = body_fields()
    assert {"version", "strategy", "set", "allow_downtime", "reason", "to", "full"} <= found
    missing = sorted(f for f in found if f'"{f}"' not in DOC)
    assert not missing, f"docs/api.md's bodies do not name {missing}"


def test_every_key_of_a_deployment_is_in_the_api_list():
    from zerodown.views import DeploymentView, deployment_dict
    view = DeploymentView(id=1, kind="deploy", phase="running", source=None, target=None,
                          strategy="rolling", step=1, steps=2, step_text=None,
                          plan_kind="deploy", created=0.0, updated=0.0)
    listed = DOC.split("| `GET /api/v1/deployments?limit=20` |", 1)[1].split("\n", 1)[0]
    missing = sorted(k for k in deployment_dict(view, 0.0) if f"`{k}`" not in listed)
    assert not missing, f"docs/api.md's deployments list does not name {missing}"
