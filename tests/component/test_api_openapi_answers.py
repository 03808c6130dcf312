"""A real controller's answers validate against the OpenAPI document it serves.

Every answer below, of every status, is checked: its status is declared by the operation
of its path and method, its content type too, and a JSON body validates against the
declared schema with every object of it closed (no key the document does not name), so a
key the code adds and the document lacks fails here, and so does a key the document
requires that the code no longer sends. The status and events streamed over SSE too.
Each action's body is validated against the document's request schema before it is
sent. What the code reads and accepts is checked against the document in
tests/unit/test_api_openapi.py."""

from __future__ import annotations

import copy
import http.client
import json
import re
import socket

from jsonschema import Draft202012Validator

from tests.component.test_api import Raw, Stream, api  # noqa: F401 (the fixture: v1 served)
from tests.support import get
from tests.support.net import wait_until

METHODS = ("get", "post", "put", "delete", "patch")
STEPS = "strategy.steps=[{weight: 25}, {pause: {}}, {weight: 50}, {pause: {}}]"


def closed(node: object) -> object:
    """A copy in which an object schema naming its properties allows no other key."""
    if isinstance(node, list):
        return [closed(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: closed(v) for k, v in node.items()}
    if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


class Contract:
    """The served document, and the answers checked against it."""

    def __init__(self, raw: Raw, doc: dict):
        self.raw, self.doc = raw, doc
        self.components = closed(doc["components"])
        self.seen: set[int] = set()

    def validate(self, schema: dict, instance: object, where: str, strict: bool = True) -> None:
        # the components beside the schema: "#/components/schemas/X" resolves in it
        root = {**(closed(schema) if strict else copy.deepcopy(schema)),
                "components": self.components}
        errors = list(Draft202012Validator(root).iter_errors(instance))
        assert not errors, f"{where}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}"
            for e in errors[:5])

    def item(self, url: str) -> dict:
        path = url.split("?")[0]
        for template, item in self.doc["paths"].items():
            if re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)), path):
                return item
        raise AssertionError(f"{path} is in no path of the document")

    def ask(self, method: str, url: str, body: dict | None = None) -> tuple[int, object]:
        item = self.item(url)
        operation = item.get(method.lower())
        if body is not None:
            assert operation, f"{method} {url}: no such operation in the document"
            self.validate(operation["requestBody"]["content"]["application/json"]["schema"],
                          body, f"the body of {method} {url}", strict=False)
        status, kind, data = self.raw(method, url, body)
        self.answered(method, url, operation or next(
            op for m, op in item.items() if m in METHODS), status, kind, data)
        return status, data

    def answered(self, method: str, url: str, operation: dict, status: int, kind: str,
                 data: object) -> None:
        where = f"{method} {url} answered {status}"
        response = operation["responses"].get(str(status))
        assert response, f"{where}, which its operation does not declare"
        if "$ref" in response:
            response = self.doc["components"]["responses"][response["$ref"].rpartition("/")[2]]
        content = response.get("content")
        if content is not None:
            media = kind.split(";")[0]
            assert media in content or "*/*" in content, f"{where} as {media}: undeclared"
            if media == "application/json":
                self.validate(content[media]["schema"], data, where)
        self.seen.add(status)


def over_size(s) -> tuple[int, dict]:
    """A POST whose Content-Length is over the limit: answered before its body is read."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(s.state_dir / "controller.sock"))
        sock.sendall(b"POST /api/v1/deployments HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n")
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        return reply.status, json.loads(reply.read())


def test_a_real_controllers_answers_validate_against_its_document(api):
    raw = Raw(api)
    contract = Contract(raw, raw.ok("GET", "/api/v1/openapi.json"))
    ask = contract.ask
    stream = Stream(api)
    for _ in range(20):
        get(api.port, "/")  # counters for the status's traffic and the metrics

    assert ask("GET", "/api/v1/status?fresh=1")[0] == 200
    assert ask("GET", "/api/v1/status?format=text")[0] == 200
    assert ask("GET", "/api/v1/deployments?limit=5")[0] == 200
    status, first = ask("GET", "/api/v1/deployments/1?wait=5")
    assert status == 200 and first["settled"] and first["proof"], first
    status, page = ask("GET", "/api/v1/events?after=0&limit=1000&deployment=1")
    assert status == 200 and any("data" in e for e in page["events"])
    assert ask("GET", f"/api/v1/events?after={page['cursor']}&wait=0.05")[1]["waited"] is True
    for url in ("/api/v1/table", "/", "/dashboard/", "/dashboard/app.js"):
        assert ask("GET", url)[0] in (200, 302), url

    status, accepted = ask("POST", "/api/v1/deployments", {
        "version": "v2", "strategy": "canary", "set": [STEPS], "allow_downtime": False,
        "reason": "the contract"})
    assert status == 202, accepted
    wait_until(lambda: raw.ok("GET", "/api/v1/deployments/current")["phase"] == "paused",
               timeout=20, what="held at the first pause")
    status, current = ask("GET", "/api/v1/deployments/current")
    assert current["step_started"] is not None, current
    status, now = ask("GET", "/api/v1/status?fresh=1")
    assert now["deployment"]["id"] == accepted["id"] and len(now["traffic"]) == 2, now
    assert ask("POST", "/api/v1/deployments/current/promote",
               {"full": False, "reason": "looks good"})[0] == 200
    assert ask("POST", "/api/v1/deployments/current/pause", {"reason": "hold"})[0] in (200, 409)
    status, back = ask("POST", "/api/v1/rollback", {"to": None, "allow_downtime": False})
    assert (status, back.get("aborted")) == (200, True), back
    wait_until(lambda: ask("GET", f"/api/v1/deployments/{accepted['id']}?wait=5")[1]["settled"],
               timeout=20, what="the deployment aborted and settled")
    assert ask("POST", f"/api/v1/deployments/{accepted['id']}/resume", {})[0] == 409

    for method, url, body, wanted in (
            ("POST", "/api/v1/deployments", {"reason": "no version"}, 400),
            ("GET", "/api/v1/status?format=xml", None, 400),
            ("GET", "/api/v1/events?deployment=x", None, 400),
            ("GET", "/api/v1/deployments/999", None, 404),
            ("GET", "/dashboard/nope.js", None, 404),
            ("DELETE", "/api/v1/status", None, 405),
            ("GET", "/api/v1/deployments/current", None, 409)):
        status, kind, data = raw(method, url, body)  # bodies the document refuses: sent raw
        assert status == wanted, (method, url, status, data)
        item = contract.item(url)
        contract.answered(method, url, item.get(method.lower()) or item["get"], status, kind,
                          data)
    status, data = over_size(api)
    contract.answered("POST", "/api/v1/deployments", contract.item("/api/v1/deployments")[
        "post"], status, "application/json", data)
    tcp = Raw(api, tcp=True)  # no token
    contract.raw = tcp
    assert ask("GET", "/api/v1/status")[0] == 401
    contract.raw = raw

    series = wait_until(lambda: raw.ok("GET", "/api/v1/metrics?window=60")["series"],
                        timeout=10, what="a metrics point")
    assert ask("GET", "/api/v1/metrics?window=60")[0] == 200 and series
    stream.close()
    schemas = contract.doc["components"]["schemas"]
    frames = {kind: [d for k, d, _ in stream.frames if k == kind] for kind in ("status", "event")}
    assert frames["status"] and frames["event"], stream.frames
    for kind, schema in (("status", schemas["Status"]), ("event", schemas["Event"])):
        for data in frames[kind]:
            contract.validate(schema, data, f"the stream's {kind} frame")
    assert contract.seen >= {200, 202, 302, 400, 401, 404, 405, 409, 413}, contract.seen
