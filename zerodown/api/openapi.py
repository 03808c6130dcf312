"""The OpenAPI 3.1 document of the API, served at /api/v1/openapi.json (docs/api.md in prose)."""

from __future__ import annotations

from functools import lru_cache


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {str(code): {"$ref": f"#/components/responses/E{code}"} for code in (400, 401, 404, 409)}
REASON = {"type": ["string", "null"], "maxLength": 500,
          "description": "why: recorded in the event log with who asked and from where"}
ID = {"name": "id", "in": "path", "required": True,
      "schema": {"oneOf": [{"type": "integer"}, {"const": "current"}]},
      "description": "a deployment id, or `current` for the active one"}


def _action(summary: str, body: dict, ok: str = "200") -> dict:
    return {"summary": summary, "requestBody": {"required": False, "content": {
        "application/json": {"schema": {"type": "object", "additionalProperties": False,
                                        "properties": body}}}},
            "responses": {ok: _json(_ref("Accepted")), **ERRORS}}


def _get(summary: str, schema: dict, parameters: list | None = None, **more) -> dict:
    return {"get": {"summary": summary, "parameters": parameters or [],
                    "responses": {"200": more.get("response") or _json(schema), **ERRORS}}}


def _query(name: str, description: str, kind: str = "integer") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind},
            "description": description}


REVISION = {"type": ["object", "null"], "properties": {"revision": {"type": "integer"},
                                                       "version": {"type": ["string", "null"]}}}
DEPLOYMENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "kind": {"enum": ["deploy", "rollback"]},
    "phase": {"enum": ["pending", "running", "paused", "promoting", "rolling_back", "aborting",
                       "succeeded", "failed", "rolled_back", "aborted"]},
    "from": REVISION, "to": REVISION, "strategy": {"type": "string"},
    "plan": {"enum": ["deploy", "promote", "rollback", "abort"]},
    "step": {"type": "integer", "description": "1-based step in progress (steps + 1: done)"},
    "steps": {"type": "integer"}, "step_text": {"type": ["string", "null"]},
    "step_hosts": {"type": "array", "items": {"type": "string"},
                   "description": "runtime ssh: the hosts the step in progress acts on, as "
                                  "its start recorded them"},
    "error": {"type": ["string", "null"]}, "controller_pid": {"type": ["integer", "null"]},
    "created": {"type": "number"}, "duration_s": {"type": "number"},
    "proof": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Proof"}],
              "description": "the zero-downtime proof, once the deployment ended (null before, "
                             "or when the load balancer did not answer)"}}}
_COUNT = {"type": "integer", "minimum": 0}
PROOF = {"type": "object", "description": (
    "What the load balancer's own counters saw during the whole deployment (zerodown/proof.py)."
    " `failed` = lb_errors + unrouted + cut: requests failed by the deployment; the "
    "application's own 5xx are apart in app_5xx; `limits` says what this load balancer "
    "cannot tell."), "properties": {
    "router": {"enum": ["embedded", "haproxy", "nginx"]}, "duration_s": {"type": "number"},
    "requests": _COUNT,
    "revisions": {"type": "object", "additionalProperties": {"type": "object", "properties": {
        "requests": _COUNT, "responses": {"type": "object", "additionalProperties": _COUNT}}}},
    "responses": {"type": "object", "additionalProperties": _COUNT,
                  "description": "by status class: 1xx..5xx"},
    "failed": _COUNT, "lb_errors": _COUNT, "unrouted": _COUNT, "cut": _COUNT,
    "app_5xx": _COUNT, "retries": _COUNT,
    "saved": {"type": ["integer", "null"], "description": "answered after a retry; null: "
                                                          "this load balancer cannot tell"},
    "min_capacity": {"type": ["integer", "null"],
                     "description": "fewest healthy backends with traffic at one sample"},
    "overlap_s": {"type": "number", "description": "time two revisions answered at once"},
    "complete": {"type": "boolean", "description": "false: counters were reset meanwhile"},
    "limits": {"type": "array", "items": {"type": "string"}},
    "required": {"type": "boolean", "description": "require_zero_failed was set"}}}
EVENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "deployment": {"type": ["integer", "null"]},
    "time": {"type": "number"}, "kind": {"type": "string"}, "text": {"type": "string"},
    "data": {"type": "object", "description": "for kind `action`: action, who, origin, reason"}}}
SHADOW = {"type": "object", "description": (
    "The latest deployment's shadow: users' requests copied to the new revision, its answers "
    "compared with the stable revision's (live while the step runs)"), "properties": {
    "deployment": {"type": "integer"}, "revision": {"type": "integer"},
    "state": {"enum": ["running", "pass", "fail", "inconclusive", "stopped"]},
    **{k: _COUNT for k in ("compared", "differing", "dropped", "timed_out", "failed")},
    "examples": {"type": "array", "description": "the latest differing pairs", "items": {
        "type": "object", "properties": {
            "request": {"type": "string", "description": "the request line"},
            "what": {"enum": ["status", "header", "body"]},
            "where": {"type": "string", "description": "`status`, a header's name, the first "
                                                       "differing JSON path, or `byte N`"},
            "stable": {"type": "string"}, "shadow": {"type": "string"}}}}}}
POINT = {"type": "object", "properties": {k: {"type": ["number", "null"]} for k in
                                          ("t", "rps", "error_rate", "p50_ms", "p99_ms")}}


@lru_cache(maxsize=1)
def document() -> dict:
    detail = {"allOf": [_ref("Deployment"), {"type": "object", "properties": {"plan_steps": {
        "type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "text": {"type": "string"},
            "hosts": {"type": "array", "items": {"type": "string"}, "description":
                      "runtime ssh: the hosts a start, wait, drain or stop acts on, as "
                      "`zerodown plan` names them (also at the end of text)"},
            "state": {"enum": ["done", "current", "pending"]}}}},
        "controller_error": {"type": ["string", "null"], "description":
                             "why the controller cannot go on with it now (e.g. its state "
                             "store's disk is full); it tries again every second"},
        "settled": {"type": "boolean", "description":
                    "ended, and no run of this controller holds it any more: its last old "
                    "instances exited and are written stopped (they are awaited after the "
                    "phase is written); false while it runs or they exit"}}}]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "zerodown controller API", "version": "1",
                 "description": "A service's controller: status, deployments, events, metrics, "
                                "and the actions that steer deployments. On the unix socket the "
                                "file permission authenticates; on TCP a bearer token."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "properties": {"message": {"type": "string"},
                                                     "field": {"type": ["string", "null"]}}}}},
                "Deployment": DEPLOYMENT, "Proof": PROOF, "Event": EVENT, "MetricPoint": POINT,
                "Shadow": SHADOW,
                "Accepted": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "phase": {"type": "string"},
                    "aborted": {"type": "boolean"},
                    "restart": {"type": ["string", "null"], "description":
                                "a deploy of the version that serves: every instance "
                                "restarts as the new revision, said in these words (also "
                                "its deployment.restart event); else null"}}},
            },
            "responses": {f"E{code}": _json(_ref("Error"), text) for code, text in (
                (400, "a bad request: the field named is wrong; nothing was changed"),
                (401, "no valid bearer token (TCP only)"),
                (404, "no such deployment or path"),
                (409, "the action does not apply to the deployment's state now"))},
        },
        "security": [{"bearer": []}, {}],
        "paths": {
            "/api/v1/status": _get("what `zerodown status --json` prints, plus dashboard, "
                                   "revisions, config_error and restart_needed", {
                "type": "object", "properties": {
                    "shadow": {"oneOf": [{"type": "null"}, _ref("Shadow")]},
                    "config_error": {"type": ["string", "null"], "description":
                                     "zerodown.yaml's error while it does not load (the "
                                     "status is by its last version that did)"},
                    "restart_needed": {"type": "array", "items": {"type": "string"},
                                       "description": "what the file changed that the "
                                       "controller takes only as it starts"}}}),
            "/api/v1/metrics": _get("per-revision req/s, error rate, p50/p99: one point per "
                                    "interval, newest last (ten minutes kept)", {
                "type": "object", "properties": {"interval_s": {"type": "number"}, "series": {
                    "type": "object", "additionalProperties": {"type": "array",
                                                               "items": _ref("MetricPoint")}}}},
                [_query("window", "seconds back, 1-600 (default 300)", "number")]),
            "/api/v1/table": _get("the routing table in force (the proxy's admin JSON)",
                                  {"type": "object"}),
            "/api/v1/deployments": {
                **_get("deployments, newest first", {"type": "object", "properties": {
                    "deployments": {"type": "array", "items": _ref("Deployment")}}},
                    [_query("limit", "at most this many, 1-1000 (default 20)")]),
                "post": _action("deploy a version", {
                    "version": {"type": "string"},
                    "strategy": {"type": ["string", "null"],
                                 "enum": ["in-place", "rolling", "blue-green", "canary",
                                          "ab-test", None]},
                    "set": {"type": "array", "items": {"type": "string"},
                            "description": "key=value overrides of zerodown.yaml"},
                    "reason": REASON}, "202")},
            "/api/v1/deployments/{id}": {"parameters": [ID], **_get(
                "one deployment with its plan", detail,
                [_query("wait", "an ended deployment not yet settled: hold the answer until "
                                "it is, at most this many seconds, 0-10 (default 0)",
                        "number")])},
            **{f"/api/v1/deployments/{{id}}/{verb}": {"parameters": [ID], "post": _action(
                text, {"reason": REASON, **({"full": {"type": "boolean"}}
                                            if verb == "promote" else {})})}
               for verb, text in (("pause", "hold after the step in progress"),
                                  ("resume", "continue a paused deployment"),
                                  ("promote", "go past the pause it holds at (full: skip every "
                                              "remaining pause and analysis)"),
                                  ("abort", "all traffic back to the stable revision"))},
            "/api/v1/rollback": {"post": _action(
                "deploy the previous revision again (inside a deployment: abort it)",
                {"to": {"type": ["string", "integer", "null"]}, "reason": REASON}, "202")},
            "/api/v1/events": _get("the event log after a cursor, oldest first", {
                "type": "object", "properties": {"events": {"type": "array",
                                                            "items": _ref("Event")},
                                                 "cursor": {"type": "integer"},
                                                 "waited": {"type": "boolean"}}},
                [_query("after", "the cursor of the last answer (default 0)"),
                 _query("limit", "at most this many, 1-1000 (default 100)"),
                 _query("wait", "none after the cursor yet: hold the answer until one is "
                                "written, at most this many seconds, 0-10 (default 0); "
                                "the answer then says \"waited\": true")]),
            "/api/v1/stream": _get("Server-Sent Events: `status` on every change, `event` for "
                                   "each new event, `: ping` every 15 s", {}, response={
                                       "description": "an event stream",
                                       "content": {"text/event-stream": {}}}),
            "/api/v1/openapi.json": _get("this document", {"type": "object"}),
        },
    }
