"""The OpenAPI document (zerodown/api/openapi.py) says what the code serves, read from the
code, not from a list here: every route of routes.Api with its method, every query
parameter a route reads (with its bounds), every body field an action accepts
(daemon/actions.py's `fields(...)`, and no other), every error status the code raises.
It had drifted: allow_downtime missing from the bodies (`additionalProperties: false`,
so a client validating its request refused a valid field), `fresh`, `format` and the
events' `deployment` undeclared, 405/413/500/503 unsaid. Real answers are validated
against it in tests/component/test_api_openapi_answers.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from jsonschema import Draft202012Validator

from zerodown.api import openapi, routes
from zerodown.api.routes import Api
from zerodown.daemon import actions
from zerodown.daemon.actions import SIGNALS

ROOT = Path(__file__).resolve().parents[2]
DOC = openapi.document()
METHODS = ("get", "post", "put", "delete", "patch")
SAMPLE = {"id": "1", "file": "app.js"}  # a value for each path template's parameter


def tree(relative: str) -> ast.AST:
    return ast.parse((ROOT / relative).read_text())


def functions(relative: str, cls: str) -> dict[str, ast.FunctionDef]:
    """The methods of class `cls` in a file, by name."""
    found = next(n for n in ast.walk(tree(relative)) if isinstance(n, ast.ClassDef)
                 and n.name == cls)
    return {f.name: f for f in found.body if isinstance(f, ast.FunctionDef)}


def operations() -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, item in DOC["paths"].items()
            for method, op in item.items() if method in METHODS]


def sample(path: str, **values: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: {**SAMPLE, **values}[m.group(1)], path)


def route_of(method: str, url: str) -> tuple[str, re.Pattern, object] | None:
    api = Api(None, None, "shop", lambda: None)
    return next((r for r in api.routes if r[0] == method.upper() and r[1].match(url)), None)


def handler_name(route) -> str:
    return getattr(route[2], "__name__", "")


def parameters(path: str, method: str) -> list[dict]:
    item = DOC["paths"][path]
    return item.get("parameters", []) + item[method].get("parameters", [])


def test_every_route_the_api_serves_is_in_the_document_with_its_method():
    api = Api(None, None, "shop", lambda: None)
    for method, pattern, _ in api.routes:
        documented = [path for path, m, _ in operations()
                      if m == method.lower() and pattern.match(sample(path))]
        assert documented, f"{method} {pattern.pattern} is served and not in the document"
    for path, method, _ in operations():
        assert route_of(method, sample(path)), f"the document has {method.upper()} {path}: " \
                                               "no route serves it"
        if "{id}" in path:
            assert route_of(method, sample(path, id="current")), path


def test_each_action_the_signal_route_takes_has_its_path():
    """The route takes any word, and refuses (404) those not in SIGNALS."""
    signal = next(r for r in Api(None, None, "shop", lambda: None).routes
                  if handler_name(r) == "signal")
    documented = {path for path, method, _ in operations()
                  if method == "post" and signal[1].match(sample(path))}
    assert documented == {f"/api/v1/deployments/{{id}}/{verb}" for verb in SIGNALS}


def query_reads(function: ast.FunctionDef) -> dict[str, ast.Call | None]:
    """{name: its number(...) call, or None}: `request.query.get("x")`, `number(request.query,
    "x", default, low, high)` in a handler."""
    found: dict[str, ast.Call | None] = {}
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and \
                getattr(func.value, "attr", None) == "query":
            found.setdefault(node.args[0].value, None)
        elif getattr(func, "id", None) == "number" and \
                getattr(node.args[0], "attr", None) == "query":
            found[node.args[1].value] = node
    return found


def value(node: ast.expr) -> object:
    """A bound as routes.py writes it (a literal, MAX_WAIT, 2 ** 62), evaluated there."""
    return eval(compile(ast.Expression(node), "routes.py", "eval"), vars(routes))


def test_every_query_parameter_a_route_reads_is_declared_with_its_bounds():
    handlers = functions("zerodown/api/routes.py", "Api")
    assert {"fresh", "format", "deployment", "wait"} <= set(query_reads(handlers["events"])) | \
        set(query_reads(handlers["status"])), "the query parameters are no longer found"
    for path, method, _ in operations():
        name = handler_name(route_of(method, sample(path)))
        read = query_reads(handlers[name]) if name in handlers else {}
        declared = {p["name"]: p["schema"] for p in parameters(path, method)
                    if p["in"] == "query"}
        assert set(declared) == set(read), (f"{method.upper()} {path} ({name}) reads "
                                            f"{sorted(read)}, declares {sorted(declared)}")
        for key, call in read.items():
            if call is not None:  # number(query, key, default, low, high)
                low, high = value(call.args[3]), value(call.args[4])
                assert (declared[key].get("minimum"), declared[key].get("maximum")) == \
                    (low, high), f"{path}?{key}: the code takes {low}..{high}"


def body_rules(verb: str | None = None) -> dict[str, tuple[set[str], set[str]]]:
    """{action: (the fields it accepts, those it requires)} from daemon/actions.py."""
    out = {}
    for name, function in functions("zerodown/daemon/actions.py", "Actions").items():
        calls = [n for n in ast.walk(function) if isinstance(n, ast.Call)]
        allowed = [n.args[1] for n in calls if getattr(n.func, "id", None) == "fields"]
        if not allowed:
            continue
        accepted = eval(compile(ast.Expression(allowed[0]), "actions.py", "eval"),
                        {"verb": verb})
        required = {n.args[1].value for n in calls if getattr(n.func, "id", None) == "string"
                    and any(k.arg == "required" and k.value.value is True for k in n.keywords)}
        out[name] = set(accepted), required
    return out


def checked_as() -> dict[str, dict]:
    """{field: what its schema must say} by the function actions.py checks it with:
    `flag(body, "x")` a boolean, `string(body, "x", limit=N)` (or reason()) a string of
    at most N characters (REASON_MAX unless said)."""
    module = tree("zerodown/daemon/actions.py")
    out: dict[str, dict] = {"reason": {"maxLength": actions.REASON_MAX}}
    for n in ast.walk(module):
        kind = getattr(getattr(n, "func", None), "id", None) if isinstance(n, ast.Call) else None
        if kind == "flag" and isinstance(n.args[1], ast.Constant):
            out[n.args[1].value] = {"type": "boolean"}
        elif kind == "string" and isinstance(n.args[1], ast.Constant):
            limit = [k.value.value for k in n.keywords if k.arg == "limit"]
            out[n.args[1].value] = {"maxLength": limit[0] if limit else actions.REASON_MAX}
    return out


def test_every_body_field_an_action_accepts_is_in_its_schema_and_no_other():
    posts = {path: (op, handler_name(route_of("post", sample(path))))
             for path, method, op in operations() if method == "post"}
    assert {name for _, name in posts.values()} == set(body_rules())
    for path, (op, name) in posts.items():
        verb = path.rpartition("/")[2] if name == "signal" else None
        accepted, required = body_rules(verb)[name]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert schema["additionalProperties"] is False
        assert set(schema["properties"]) == accepted, \
            f"POST {path} accepts {sorted(accepted)}, documents {sorted(schema['properties'])}"
        assert set(schema.get("required", ())) == required, path
        for key, said in checked_as().items():
            if key in accepted:
                declared = schema["properties"][key]
                assert {k: declared.get(k) for k in said} == said, f"POST {path}: {key}"
    assert "allow_downtime" in body_rules()["rollback"][0]


def raised(node: ast.AST) -> set[int]:
    return {n.args[0].value for n in ast.walk(node) if isinstance(n, ast.Call)
            and getattr(n.func, "id", None) == "ApiError" and isinstance(n.args[0], ast.Constant)}


def helpers() -> dict[str, ast.FunctionDef]:
    """The module-level functions a handler may call: routes.py's, daemon/actions.py's."""
    return {n.name: n for relative in ("zerodown/api/routes.py", "zerodown/daemon/actions.py")
            for n in tree(relative).body if isinstance(n, ast.FunctionDef)}


def answers(handler: ast.FunctionDef) -> set[int]:
    """The statuses a handler raises, itself or in a function of the module it calls
    (number: 400; target: 404, 409)."""
    called = {n.func.id for n in ast.walk(handler) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Name)}
    return raised(handler).union(*(raised(f) for name, f in helpers().items() if name in called))


def test_every_error_status_the_code_raises_is_declared():
    everywhere = set().union(*(raised(tree(f"zerodown/api/{name}")) for name in
                               ("server.py", "routes.py", "auth.py")),
                             raised(tree("zerodown/daemon/actions.py")))
    assert {400, 401, 404, 405, 409, 413, 500, 503} <= everywhere
    assert {f"E{code}" for code in everywhere} <= set(DOC["components"]["responses"])
    handlers = functions("zerodown/api/routes.py", "Api")
    assert answers(handlers["status"]) == {400, 503}
    for path, method, op in operations():
        name = handler_name(route_of(method, sample(path)))
        own = answers(handlers[name]) if name in handlers else set()
        missing = sorted(own - {int(code) for code in op["responses"] if code.isdigit()})
        assert not missing, f"{method.upper()} {path} answers {missing}, undeclared"


def references(node: object) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values()
                                                       for r in references(v)]
    return [r for v in node for r in references(v)] if isinstance(node, list) else []


def test_every_schema_is_json_schema_2020_12_and_every_reference_resolves():
    for name, schema in DOC["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    for path, method, _ in operations():
        for p in parameters(path, method):
            Draft202012Validator.check_schema(p["schema"])
    for reference in references(DOC):
        node = DOC
        for part in reference.removeprefix("#/").split("/"):
            node = node[part]  # a KeyError names the reference that leads nowhere


def test_every_key_of_a_deployment_is_declared():
    """views.deployment_dict's keys: a deployment in the list and the status, and the
    detail (GET /api/v1/deployments/{id})."""
    from zerodown.views import DeploymentView, deployment_dict
    view = DeploymentView(id=1, kind="deploy", phase="running", source=None, target=None,
                          strategy="rolling", step=1, steps=2, step_text=None,
                          plan_kind="deploy", created=0.0, updated=0.0)
    schemas = DOC["components"]["schemas"]
    for name in ("Deployment", "DeploymentListed", "DeploymentDetail"):
        assert set(deployment_dict(view, 0.0)) <= set(schemas[name]["properties"]), name
