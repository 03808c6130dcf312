"""The OpenAPI 3.1 document of the API, served at /api/v1/openapi.json (docs/api.md in prose):
every path and method routes.py serves, the query parameters each reads, the body fields
each action accepts (daemon/actions.py), the errors it answers with. The answers' shapes
are in openapi_schemas.py. tests/unit/test_api_openapi.py reads the code to keep this true;
tests/component/test_api_openapi_answers.py validates a real controller's answers."""

from __future__ import annotations

from functools import lru_cache

from zerodown.api.openapi_schemas import SCHEMAS, ref
from zerodown.daemon.actions import REASON_MAX, SIGNALS, STRATEGY_KINDS

# seconds an events (or deployment) request may be held for news, under the client's 30 s:
# routes.py enforces it, this document states it
MAX_WAIT = 10.0
ERROR_TEXT = {
    400: "a bad request: the field named is wrong; nothing was changed",
    401: "no valid bearer token (TCP only)",
    404: "no such deployment, path or dashboard file",
    405: "the path is served, by another method",
    409: "the action does not apply to the deployment's state now",
    413: "a request body over 1 MiB",
    500: "a bug in the controller, or a file of its own it cannot read (tokens.json), said "
         "in the message; it keeps serving",
    503: "the controller is still starting",
}
EVERY = (401, 405, 413, 500)  # any path: checked before (token, body size) or around a route
REASON = {"type": ["string", "null"], "minLength": 1, "maxLength": REASON_MAX,
          "description": "why: recorded in the event log with who asked and from where"}
DOWNTIME = {"type": "boolean", "description": "allow a plan that leaves no instance serving "
                                              "for a while (e.g. in-place with one instance)"}
ID = {"name": "id", "in": "path", "required": True,
      "schema": {"oneOf": [{"type": "integer", "minimum": 0}, {"const": "current"}]},
      "description": "a deployment id, or `current` for the active one (409 when none)"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int, public: bool = False) -> dict:
    """The error answers of an operation: `codes` and those of every path (but 401 for
    the dashboard's, which need no token)."""
    return {str(code): {"$ref": f"#/components/responses/E{code}"}
            for code in sorted({*EVERY, *codes} - ({401} if public else set()))}


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _number(low: float, high: float, kind: str = "number") -> dict:
    return {"type": kind, "minimum": low, "maximum": high}


def _get(summary: str, schema: dict | None, parameters: tuple = (), errors: tuple = (),
         response: dict | None = None) -> dict:
    return {"get": {"summary": summary, "parameters": list(parameters),
                    "responses": {"200": response or _json(schema or {}),
                                  **_errors(*errors, *((400,) if parameters else ()))}}}


def _action(summary: str, body: dict, ok: tuple[str, ...] = ("200",), errors=(404,),
            required: tuple[str, ...] = ()) -> dict:
    """An action: its body's fields (none required: an empty body is `{}`), what it
    answers. `additionalProperties: false`: the action refuses a field it does not know."""
    schema = {"type": "object", "additionalProperties": False, "properties": body}
    return {"post": {"summary": summary, "requestBody": {"required": bool(required), "content": {
        "application/json": {"schema": schema | ({"required": list(required)} if required
                                                 else {})}}},
        "responses": {**{code: _json(ref("Accepted")) for code in ok},
                      **_errors(400, 409, *errors)}}}


def _redirect(summary: str) -> dict:
    return {"get": {"summary": summary, "security": [], "responses": {"302": {
        "description": "to /dashboard/", "headers": {"Location": {"schema": {
            "type": "string"}}}}, **_errors(public=True)}}}


def _file(summary: str, parameters: tuple = ()) -> dict:
    return {"get": {"summary": summary, "security": [], "parameters": list(parameters),
                    "responses": {"200": {"description": "the file, with its content type",
                                          "content": {"*/*": {}}}, **_errors(404, public=True)}}}


SIGNAL_TEXT = {"pause": "hold after the step in progress",
               "resume": "continue a paused deployment (409 at an A/B test's hold: only "
                         "promote or abort decides it)",
               "promote": "go past the pause it holds at (full: skip every remaining pause "
                          "and analysis)",
               "abort": "all traffic back to the stable revision"}
FULL = {"type": "boolean", "description": "skip every remaining pause and analysis"}


def _signals() -> dict:
    return {f"/api/v1/deployments/{{id}}/{verb}": {"parameters": [ID], **_action(
        SIGNAL_TEXT[verb], {"reason": REASON, **({"full": FULL} if verb == "promote" else {})},
        errors=(404,))} for verb in SIGNALS}


def _paths() -> dict:
    return {
        "/": _redirect("the dashboard"),
        "/dashboard/": _file("the dashboard (no token needed: every figure comes through the "
                             "API; `/dashboard` redirects here)"),
        "/dashboard/{file}": _file("the dashboard's files (zerodown/api/dashboard/; `file` may "
                                   "name a sub-folder's file, a/b.js)", ({
                                       "name": "file", "in": "path", "required": True,
                                       "schema": {"type": "string"}},)),
        "/api/v1/status": {"get": {
            "summary": "what `zerodown status --json` prints, plus dashboard, revisions, "
                       "config_error, restart_needed and settled",
            "parameters": [
                _query("fresh", "any value: look now (what the CLI asks), not the last look "
                                "(at most 250 ms old)", {"type": "string"}),
                _query("format", "text: what `zerodown status` prints, as text/plain",
                       {"enum": ["json", "text"], "default": "json"})],
            "responses": {"200": {"description": "OK", "content": {
                "application/json": {"schema": ref("Status")},
                "text/plain": {"schema": {"type": "string"}}}}, **_errors(400, 503)}}},
        "/api/v1/metrics": _get(
            "per-revision req/s, error rate, p50/p99: one point per interval, newest last "
            "(ten minutes kept)", {"type": "object", "required": ["interval_s", "series"],
                                   "properties": {"interval_s": {"type": "number"}, "series": {
                                       "type": "object", "additionalProperties": {
                                           "type": "array", "items": ref("MetricPoint")}}}},
            (_query("window", "seconds back (default 300)", _number(1, 600)),)),
        "/api/v1/table": _get("the routing table in force (the proxy's admin JSON, "
                              "docs/proxy.md)", {"type": "object"}),
        "/api/v1/deployments": {
            **_get("deployments, newest first", {
                "type": "object", "required": ["deployments"], "properties": {
                    "deployments": {"type": "array", "items": ref("DeploymentListed")}}},
                (_query("limit", "at most this many (default 20)", _number(1, 1000, "integer")),)),
            **_action("deploy a version", {
                "version": {"type": "string", "minLength": 1, "maxLength": 100},
                "strategy": {"enum": [*STRATEGY_KINDS, None],
                             "description": "null: zerodown.yaml's"},
                "set": {"type": ["array", "null"], "items": {"type": "string", "pattern": "="},
                        "description": "key=value overrides of zerodown.yaml"},
                "allow_downtime": DOWNTIME, "reason": REASON}, ("202",), errors=(),
                required=("version",))},
        "/api/v1/deployments/{id}": {"parameters": [ID], **_get(
            "one deployment with its plan", ref("DeploymentDetail"),
            (_query("wait", "an ended deployment not yet settled: hold the answer until it "
                            "is, at most this many seconds (default 0)", _number(0, MAX_WAIT)),),
            (404, 409))},
        **_signals(),
        "/api/v1/rollback": _action(
            "deploy the previous revision again (inside a deployment: abort it, answered 200 "
            "with aborted: true)",
            {"to": {"type": ["string", "integer", "null"], "description":
                    "a revision (\"r3\", 3) or a version (\"v1\"); null: the previous"},
             "allow_downtime": DOWNTIME, "reason": REASON}, ("200", "202")),
        "/api/v1/events": _get("the event log after a cursor, oldest first", {
            "type": "object", "required": ["events", "cursor"], "properties": {
                "events": {"type": "array", "items": ref("Event")},
                "cursor": {"type": "integer"},
                "waited": {"const": True, "description": "only with wait: it was held"}}}, (
            _query("after", "the cursor of the last answer (default 0)",
                   _number(0, 2 ** 62, "integer")),
            _query("limit", "at most this many (default 100)", _number(1, 1000, "integer")),
            _query("deployment", "only this deployment's", {"type": "integer", "minimum": 0}),
            _query("wait", "none after the cursor yet: hold the answer until one is written, "
                           "at most this many seconds (default 0); the answer then says "
                           "\"waited\": true", _number(0, MAX_WAIT)))),
        "/api/v1/stream": _get(
            "Server-Sent Events: `status` on every change, `event` for each new event (its "
            "`id:` the event's), `: ping` every 15 s", None, (
                _query("after", "resume after this event id (as Last-Event-ID)",
                       {"type": "integer"}),
                {"name": "Last-Event-ID", "in": "header", "required": False,
                 "schema": {"type": "integer"},
                 "description": "a reconnecting client's last event id: it misses none"}),
            response={"description": "an event stream", "content": {"text/event-stream": {}}}),
        "/api/v1/openapi.json": _get("this document", {"type": "object"}),
    }


@lru_cache(maxsize=1)
def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "zerodown controller API", "version": "1",
                 "description": "A service's controller: status, deployments, events, metrics, "
                                "and the actions that steer deployments. On the unix socket the "
                                "file permission authenticates; on TCP a bearer token (or "
                                "`?token=`, so a dashboard link can carry it)."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "token": {"type": "apiKey", "in": "query", "name": "token"}},
            "schemas": SCHEMAS,
            "responses": {f"E{code}": _json(ref("Error"), text)
                          for code, text in ERROR_TEXT.items()},
        },
        "security": [{"bearer": []}, {"token": []}, {}],
        "paths": _paths(),
    }
