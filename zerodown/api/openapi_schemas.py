"""The shapes of the API's answers, as OpenAPI 3.1 (JSON Schema 2020-12) component schemas:
what views.py, the observer and the routes write (docs/json.md, docs/api.md in prose).

Every key an answer always carries is `required` (docs/json.md: keys may be added, none is
removed); no schema refuses an unknown key, so a client of this version reads the answers
of a later one. tests/component/test_api_openapi_answers.py validates real answers
against these with every object closed, so a key the code adds and this file lacks fails."""

from __future__ import annotations

from zerodown.daemon.actions import STRATEGY_KINDS
from zerodown.engine.lifecycle import Phase


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(name: str) -> dict:
    return {"oneOf": [{"type": "null"}, ref(name)]}


def shape(properties: dict, *optional: str, description: str | None = None) -> dict:
    """An object whose keys are all required but those named `optional`."""
    out = {"type": "object", "required": [k for k in properties if k not in optional],
           "properties": properties}
    return out | ({"description": description} if description else {})


def maybe(kind: str) -> dict:
    return {"type": [kind, "null"]}


COUNT = {"type": "integer", "minimum": 0}
TEXT, NUMBER, INTEGER, FLAG = ({"type": t} for t in ("string", "number", "integer", "boolean"))
NAMES = {"type": "array", "items": TEXT}
PHASE = {"enum": [p.value for p in Phase]}

REVISION = shape({"revision": INTEGER, "version": maybe("string")})
DEPLOYMENT = shape({
    "id": INTEGER, "kind": {"enum": ["deploy", "rollback"]}, "phase": PHASE,
    "from": nullable("Revision"), "to": ref("Revision"),
    "strategy": {"enum": list(STRATEGY_KINDS)},
    "plan": {"enum": ["deploy", "promote", "rollback", "abort"]},
    "step": {"type": "integer", "description": "1-based step in progress (steps + 1: done)"},
    "steps": INTEGER, "step_text": maybe("string"),
    "step_hosts": NAMES | {"description": "runtime ssh: the hosts the step in progress acts "
                                          "on, as its start recorded them"},
    "error": maybe("string"), "controller_pid": maybe("integer"),
    "created": NUMBER, "duration_s": NUMBER,
    "step_started": maybe("number") | {"description": "when the step in progress began"},
    "step_limit_s": maybe("number") | {"description": "that step's bound: a pause's "
                                                      "duration, a health wait's timeout"},
    "proof": nullable("Proof") | {"description": "the zero-downtime proof, once the "
                                                 "deployment ended (null before, or when the "
                                                 "load balancer did not answer)"},
    "by": maybe("string") | {"description": "who asked for it: the local user or the "
                                            "token's name (null: no action asked for it)"},
    "reason": maybe("string") | {"description": "why, as they said (`--reason`, the body's "
                                                "reason)"},
    "holds_for": maybe("string") | {"description": "at an A/B test's hold: the decision it "
                                                   "waits for (promote or abort; a resume is "
                                                   "refused); null elsewhere"}},
    description="a deployment, as `zerodown status --json` and `history --json` print it "
                "(docs/json.md)")
LISTED = shape({
    **DEPLOYMENT["properties"],
    "settled": FLAG | {"description": (
        "ended, and no run of this controller holds it any more: its last old instances "
        "exited and are written stopped (they are awaited after the phase is written); "
        "false while it runs or they exit")}},
    description="a deployment in the API's list: one of status's, and whether it settled")
PLAN_STEP = shape({
    "index": INTEGER, "text": TEXT,
    "hosts": NAMES | {"description": "runtime ssh: the hosts a start, wait, drain or stop "
                                     "acts on, as `zerodown plan` names them (also at the "
                                     "end of text)"},
    "state": {"enum": ["done", "current", "pending"]}})
DETAIL = shape({
    **LISTED["properties"],
    "plan_steps": {"type": "array", "items": ref("PlanStep")},
    "summary": TEXT | {"description": "instances per revision and the traffic split, one "
                                      "line"},
    "controller_error": maybe("string") | {"description": (
        "why the controller cannot go on with it now (e.g. its state store's disk is full); "
        "it tries again every second")}},
    description="a deployment, with its plan")
PROOF = shape({
    "router": {"enum": ["embedded", "haproxy", "nginx"]}, "duration_s": NUMBER,
    "requests": COUNT,
    "revisions": {"type": "object", "additionalProperties": shape({
        "requests": COUNT, "responses": {"type": "object", "additionalProperties": COUNT}})},
    "responses": {"type": "object", "additionalProperties": COUNT,
                  "description": "by status class: 1xx..5xx"},
    "failed": COUNT, "lb_errors": COUNT, "unrouted": COUNT, "cut": COUNT,
    "app_5xx": COUNT, "retries": COUNT,
    "saved": maybe("integer") | {"description": "answered after a retry; null: this load "
                                                "balancer cannot tell"},
    "min_capacity": maybe("integer") | {"description": "fewest healthy backends with "
                                                       "traffic at one sample"},
    "overlap_s": NUMBER | {"description": "time two revisions answered at once"},
    "complete": FLAG | {"description": "false: counters were reset meanwhile"},
    "limits": NAMES, "required": FLAG | {"description": "require_zero_failed was set"}},
    description="What the load balancer's own counters saw during the whole deployment "
                "(zerodown/proof.py). `failed` = lb_errors + unrouted + cut: requests failed "
                "by the deployment; the application's own 5xx are apart in app_5xx; "
                "`limits` says what this load balancer cannot tell.")
EVENT = shape({
    "id": INTEGER, "deployment": maybe("integer"), "time": NUMBER, "kind": TEXT, "text": TEXT,
    "data": {"type": "object", "description": "absent when empty; for kind `action`: "
                                              "action, who, origin, reason"}}, "data")
EXAMPLE = shape({
    "request": TEXT | {"description": "the request line"},
    "what": {"enum": ["status", "header", "body"]},
    "where": TEXT | {"description": "`status`, a header's name, the first differing JSON "
                                    "path, or `byte N`"},
    "stable": TEXT, "shadow": TEXT})
SHADOW = shape({
    "deployment": INTEGER, "revision": INTEGER,
    "state": {"enum": ["running", "pass", "fail", "inconclusive", "stopped"]},
    **{k: COUNT for k in ("compared", "differing", "dropped", "timed_out", "failed")},
    "examples": {"type": "array", "description": "the latest differing pairs",
                 "items": EXAMPLE}},
    description="The latest deployment's shadow: users' requests copied to the new revision, "
                "its answers compared with the stable revision's (live while the step runs)")
INSTANCE = shape({
    "name": TEXT, "revision": INTEGER, "version": maybe("string"), "slot": INTEGER,
    "state": {"enum": ["starting", "healthy", "routed", "draining", "stopping", "failed",
                       "stopped", "skipped", "unrouted"]},
    "address": maybe("string"), "pid": maybe("integer"), "alive": maybe("boolean"),
    "healthy": maybe("boolean"), "health": TEXT | {"description": "what the probe saw"},
    "host": maybe("string") | {"description": "runtime ssh: the host it runs on"},
    "host_listed": maybe("boolean") | {"description": "runtime ssh: runtime.hosts still "
                                                      "lists host"}})
TRAFFIC = shape({
    "revision": TEXT | {"description": "the routing table's name: r2"},
    "version": maybe("string"), "weight": NUMBER | {"description": "percent"},
    "backends": NAMES, **{k: maybe("integer") for k in ("requests", "errors", "in_flight")},
    **{k: maybe("number") for k in ("rate", "p50_ms", "p99_ms")}})
PROXY = shape({"running": FLAG, "pid": maybe("integer"), "table_version": maybe("integer"),
               "host": maybe("string"), "unreachable": maybe("string")})
STATUS = shape({
    "service": TEXT, "listen": TEXT, "url": TEXT, "url_host": maybe("string"),
    "deployed": FLAG, "stable": nullable("Revision"), "proxy": ref("Proxy"),
    "deployment": nullable("Deployment"),
    "instances": {"type": "array", "items": ref("Instance")},
    "traffic": {"type": "array", "items": ref("Traffic")},
    "shadow": nullable("Shadow"), "left_by_down": NAMES,
    "dashboard": maybe("string") | {"description": "the dashboard's URL when TCP is on"},
    "revisions": {"type": "array", "items": shape({
        "revision": INTEGER, "version": maybe("string"), "created": NUMBER})},
    "config_error": maybe("string") | {"description": (
        "zerodown.yaml's error while it does not load (the status is by its last version "
        "that did)")},
    "restart_needed": NAMES | {"description": "what the file changed that the controller "
                                              "takes only as it starts"},
    "settled": FLAG | {"description": (
        "the service's latest deployment ended and no run of this controller holds it any "
        "more: its last old instances exited and are written stopped (`deployment` is the "
        "active one, null from its end on); false while one runs or they exit; true with "
        "none")}},
    description="what `zerodown status --json` prints (docs/json.md), plus dashboard, "
                "revisions, config_error, restart_needed and settled")
POINT = shape({k: maybe("number") for k in ("t", "rps", "error_rate", "p50_ms", "p99_ms")})
ACCEPTED = shape({
    "id": INTEGER, "phase": PHASE,
    "aborted": {"const": True, "description": "a rollback inside a deployment: aborted it"},
    "restart": maybe("string") | {"description": (
        "a deploy of the version that serves: every instance restarts as the new revision, "
        "said in these words (also its deployment.restart event); else null")}},
    "aborted", "restart", description="the action was recorded; the controller carries it out")
ERROR = shape({"error": shape({"message": TEXT, "field": maybe("string")})})

SCHEMAS = {"Error": ERROR, "Revision": REVISION, "Deployment": DEPLOYMENT,
           "DeploymentListed": LISTED, "DeploymentDetail": DETAIL, "PlanStep": PLAN_STEP,
           "Proof": PROOF, "Event": EVENT, "Shadow": SHADOW, "Instance": INSTANCE,
           "Traffic": TRAFFIC, "Proxy": PROXY, "Status": STATUS, "MetricPoint": POINT,
           "Accepted": ACCEPTED}
