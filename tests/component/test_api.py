"""The controller's HTTP API v1 against the real daemon (real sockets, real processes):
reads, SSE, actions with who/where/why, bad requests, tokens on TCP, deadlines.
The contract is docs/api.md; the OpenAPI document is checked to cover it."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import stat
import threading
import time

import pytest

from tests.support import HOST, free_port, get
from tests.support.cli import Service
from tests.support.net import wait_until as wait_for

CANARY = ("--strategy", "canary", "--set",
          "strategy.steps=[{weight: 25}, {pause: {}}, {weight: 50}, {pause: {}}]")


@pytest.fixture
def api(tmp_path):
    """A service serving v1 whose controller listens on TCP too."""
    port = free_port()
    s = Service(tmp_path, extra=f"controller: {{listen: '{HOST}:{port}'}}\n")
    s.api_port = port
    assert "shop is up" in s.run("up").stdout
    yield s
    s.run("abort", code=None)
    left = s.cleanup()
    assert not left, f"processes left after the test: {left}"


class Raw:
    """Plain http.client over the controller's unix socket (or TCP), nothing of zerodown's."""

    def __init__(self, s: Service, tcp: bool = False, token: str | None = None):
        self.s, self.tcp, self.token = s, tcp, token

    def conn(self) -> http.client.HTTPConnection:
        if self.tcp:
            return http.client.HTTPConnection(HOST, self.s.api_port, timeout=10)
        conn = http.client.HTTPConnection("localhost", timeout=10)
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(self.s.state_dir / "controller.sock"))
        conn.sock = sock
        return conn

    def __call__(self, method: str, path: str, body=None, headers=None):
        conn = self.conn()
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        conn.request(method, path, data, hdrs)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        kind = r.getheader("Content-Type", "")
        return r.status, kind, json.loads(raw) if "json" in kind else raw

    def ok(self, method: str, path: str, body=None) -> dict:
        status, _, data = self(method, path, body)
        assert 200 <= status < 300, (status, data)
        return data


def test_an_events_request_with_wait_is_held_until_an_event_is_written(api):
    """`?wait=S`: with no event after the cursor yet, the answer waits for one (a
    follower learns of each event, and of the end, as it is written, not at its next
    poll), at most S seconds; "waited" says the controller held it."""
    raw = Raw(api)
    cursor = raw.ok("GET", "/api/v1/events?after=0&limit=1000")["cursor"]
    began = time.monotonic()
    assert raw.ok("GET", f"/api/v1/events?after={cursor}&wait=0.5") == \
        {"events": [], "cursor": cursor, "waited": True}
    assert time.monotonic() - began >= 0.5
    assert raw("GET", f"/api/v1/events?after={cursor}&wait=60")[0] == 400  # over MAX_WAIT
    held: dict = {}

    def ask():
        held["answer"] = raw.ok("GET", f"/api/v1/events?after={cursor}&wait=9")
        held["at"] = time.monotonic()
    asking = threading.Thread(target=ask)
    asking.start()
    began = time.monotonic()
    api.run("deploy", "v2", "--detach")
    asking.join(12)
    assert held["answer"]["events"] and held["answer"]["events"][0]["id"] > cursor, held
    assert held["at"] - began < 9, "answered at its wait's end, not at the deployment's events"


def test_reads_status_deployments_events_table_openapi_and_the_dashboard(api):
    raw = Raw(api)
    assert stat.S_IMODE(os.stat(api.state_dir / "controller.sock").st_mode) == 0o600
    status = raw.ok("GET", "/api/v1/status?fresh=1")  # the CLI's: a look now
    cli = api.status()
    for key in ("service", "listen", "stable", "proxy", "deployment", "shadow"):
        assert status[key] == cli[key]
    assert status["shadow"] is None  # no deployment had one
    assert status["dashboard"] == f"http://{HOST}:{api.api_port}/dashboard/"
    assert [(r["revision"], r["version"]) for r in status["revisions"]] == [(1, "v1")]
    assert status["revisions"][0]["created"] > time.time() - 120
    wait_for(lambda: raw.ok("GET", "/api/v1/status")["stable"] == cli["stable"], timeout=1,
             what="the cached status (at most a tick old) the same")
    status, kind, text = raw("GET", "/api/v1/status?format=text")  # what `zerodown status` prints
    assert status == 200 and kind.startswith("text/plain")
    assert text.decode().startswith("service shop at") and "stable: r1 (v1)" in text.decode()
    status, _, answer = raw("GET", "/api/v1/status?format=xml")
    assert status == 400 and answer["error"]["field"] == "format"

    listed = raw.ok("GET", "/api/v1/deployments?limit=5")["deployments"]
    assert [(d["id"], d["phase"], d["to"]) for d in listed] == \
        [(1, "succeeded", {"revision": 1, "version": "v1"})]
    one = raw.ok("GET", "/api/v1/deployments/1")
    assert one["plan_steps"] and {s["state"] for s in one["plan_steps"]} == {"done"}
    assert raw("GET", "/api/v1/deployments/current")[0] == 409  # none in progress
    assert raw("GET", "/api/v1/deployments/999")[0] == 404

    page = raw.ok("GET", "/api/v1/events?after=0&limit=3")
    assert len(page["events"]) == 3 and page["cursor"] == page["events"][-1]["id"]
    rest = raw.ok("GET", f"/api/v1/events?after={page['cursor']}&limit=1000")
    assert rest["events"][0]["id"] > page["cursor"]
    assert raw.ok("GET", f"/api/v1/events?after={rest['cursor']}") == \
        {"events": [], "cursor": rest["cursor"]}
    up_action = [e for e in page["events"] + rest["events"] if e["kind"] == "action"]
    assert up_action[0]["data"]["reason"] == "zerodown up"

    table = raw.ok("GET", "/api/v1/table")
    assert [r["name"] for r in table["revisions"]] == ["r1"]

    for _ in range(30):
        get(api.port, "/")
    wait_for(lambda: raw.ok("GET", "/api/v1/metrics?window=60")["series"].get("1"),
             timeout=10, what="a metrics point of r1")
    series = raw.ok("GET", "/api/v1/metrics?window=60")
    assert series["interval_s"] == 1.0
    assert set(series["series"]["1"][-1]) == {"t", "rps", "error_rate", "p50_ms", "p99_ms"}

    doc = raw.ok("GET", "/api/v1/openapi.json")
    assert doc["openapi"] == "3.1.0"
    for path in ("/api/v1/status", "/api/v1/metrics", "/api/v1/table", "/api/v1/deployments",
                 "/api/v1/deployments/{id}", "/api/v1/deployments/{id}/promote",
                 "/api/v1/rollback", "/api/v1/events", "/api/v1/stream"):
        assert path in doc["paths"], path
    assert "examples" in doc["components"]["schemas"]["Shadow"]["properties"]

    assert raw("GET", "/")[0] == 302
    status, kind, body = raw("GET", "/dashboard/")
    assert status == 200 and kind.startswith("text/html") and b"<html" in body.lower()
    for name, kind_wanted in (("app.js", "text/javascript"), ("app.css", "text/css")):
        status, kind, _ = raw("GET", f"/dashboard/{name}")
        assert status == 200 and kind.startswith(kind_wanted), (name, kind)
    assert raw("GET", "/dashboard/../controller.py")[0] == 404
    assert raw("GET", "/api/v1/nothing")[0] == 404
    assert raw("DELETE", "/api/v1/status")[0] == 405


def test_a_bad_request_names_the_field_and_changes_nothing(api):
    raw = Raw(api)
    before = (raw.ok("GET", "/api/v1/deployments")["deployments"],
              raw.ok("GET", "/api/v1/events?after=0&limit=1000")["cursor"])
    for body, field in (
            ({"version": ""}, "version"), ({}, "version"), ({"versio": "v2"}, "versio"),
            ({"version": "v2", "strategy": "sideways"}, "strategy"),
            ({"version": "v2", "set": "instances=3"}, "set"),
            ({"version": "v2", "set": ["instances=zero"]}, "set"),
            ({"version": "v2", "reason": "x" * 501}, "reason"),
            ({"version": "v2", "allow_downtime": "yes"}, "allow_downtime")):
        status, _, answer = raw("POST", "/api/v1/deployments", body)
        assert status == 400, (body, answer)
        assert answer["error"]["field"] == field and answer["error"]["message"], answer
    status, _, answer = raw("POST", "/api/v1/deployments", b"{not json")
    assert status == 400 and "not JSON" in answer["error"]["message"]
    assert raw("POST", "/api/v1/deployments/1/explode", {})[0] == 404
    status, _, answer = raw("POST", "/api/v1/deployments/1/promote", {"full": "yes"})
    assert status == 400 and answer["error"]["field"] == "full"
    status, _, answer = raw("POST", "/api/v1/deployments/1/pause", {})
    assert status == 409 and "succeeded" in answer["error"]["message"]
    status, _, answer = raw("POST", "/api/v1/rollback", {"to": "v9"})
    assert status == 400 and answer["error"]["field"] == "to"
    after = (raw.ok("GET", "/api/v1/deployments")["deployments"],
             raw.ok("GET", "/api/v1/events?after=0&limit=1000")["cursor"])
    assert [d["id"] for d in after[0]] == [d["id"] for d in before[0]] and after[1] == before[1]


def test_tcp_needs_a_token_and_the_cli_works_from_another_machine_with_one(api, tmp_path):
    raw = Raw(api, tcp=True)
    status, _, answer = raw("GET", "/api/v1/status")
    assert status == 401 and answer["error"]["field"] == "Authorization"
    assert Raw(api, tcp=True, token="zd_wrong")("GET", "/api/v1/status")[0] == 401
    token = api.run("token", "create", "ci").stdout.strip()
    assert token.startswith("zd_") and token not in (api.state_dir / "tokens.json").read_text()
    assert "exists" in api.run("token", "create", "ci", code=2).stderr
    assert Raw(api, tcp=True, token=token).ok("GET", "/api/v1/status")["service"] == "shop"
    assert Raw(api, tcp=True)("GET", f"/api/v1/status?token={token}")[0] == 200  # dashboard link

    # "another machine": another directory, no zerodown.yaml, only the URL and the token
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "ci.token").write_text(token + "\n")
    remote = Service(elsewhere)
    remote.file.unlink()
    server = ("--server", f"http://{HOST}:{api.api_port}", "--token-file", "ci.token")
    text = remote.run(*server, "status").stdout
    assert "service shop at" in text and "stable: r1 (v1)" in text
    assert json.loads(remote.run(*server, "status", "--json").stdout)["stable"]["version"] == "v1"
    out = remote.run(*server, "deploy", "v2", "--detach", "--reason", "ship it").stdout
    assert "deployment 2 runs in the background" in out
    wait_for(lambda: api.status()["deployment"] is None, timeout=30, what="v2 deployed")
    events = Raw(api).ok("GET", "/api/v1/events?deployment=2&limit=1000")["events"]
    action = next(e for e in events if e["kind"] == "action")
    assert action["data"]["who"] == "ci" and action["data"]["origin"].startswith("tcp 127.0.0.1:")
    assert action["data"]["reason"] == "ship it" and \
        "by ci over TCP from 127.0.0.1:" in action["text"]
    assert not list(elsewhere.glob(".zerodown")), "a remote command made local state"
    assert "revoked" in api.run("token", "revoke", "ci").stdout
    assert "not valid" in remote.run(*server, "status", code=2).stderr


class Stream:
    """An SSE client over the unix socket, collecting (event, data) in a thread."""

    def __init__(self, s: Service):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(s.state_dir / "controller.sock"))
        self.sock.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        self.frames: list[tuple[str, dict, float]] = []
        self.head = b""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            self._frames()
        except OSError:
            pass  # closed by close()

    def _frames(self) -> None:
        buf = b""
        while chunk := self.sock.recv(65536):
            buf += chunk
            if not self.head and b"\r\n\r\n" in buf:
                self.head, buf = buf.split(b"\r\n\r\n", 1)
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                fields = dict(line.split(": ", 1) for line in frame.decode().splitlines()
                              if ": " in line and not line.startswith(":"))
                if "event" in fields:
                    self.frames.append((fields["event"], json.loads(fields["data"]),
                                        time.monotonic()))

    def events(self) -> list[dict]:
        return [d for kind, d, _ in self.frames if kind == "event"]

    def weights(self) -> list[dict]:
        return [{t["revision"]: t["weight"] for t in d["traffic"]}
                for kind, d, _ in self.frames if kind == "status"]

    def close(self) -> None:
        self.sock.close()


def test_actions_recorded_with_who_and_why_and_streamed_live(api):
    raw = Raw(api)
    stream = Stream(api)
    wait_for(lambda: stream.weights(), what="the first status frame")
    assert b"text/event-stream" in stream.head
    answer = raw.ok("POST", "/api/v1/deployments", {
        "version": "v2", "strategy": "canary", "reason": "friday fun",
        "set": ["strategy.steps=[{weight: 25}, {pause: {}}, {weight: 50}, {pause: {}}]"]})
    id = answer["id"]
    wait_for(lambda: any(w.get("r2") == 25 for w in stream.weights()), timeout=20,
             what="the stream showing r2 at 25%")
    wait_for(lambda: raw.ok("GET", "/api/v1/deployments/current")["phase"] == "paused",
             timeout=20, what="held at the first pause")
    current = raw.ok("GET", "/api/v1/deployments/current")
    states = [s["state"] for s in current["plan_steps"]]
    assert states.count("current") == 1 and states.index("current") == current["step"] - 1
    assert raw.ok("POST", f"/api/v1/deployments/{id}/promote", {"reason": "looks good"}) == \
        {"id": id, "phase": "running"}
    wait_for(lambda: any(w.get("r2") == 50 for w in stream.weights()), timeout=20,
             what="the stream showing r2 at 50%")
    wait_for(lambda: raw.ok("GET", "/api/v1/deployments/current")["phase"] == "paused",
             timeout=20, what="held at the second pause")
    assert raw.ok("POST", "/api/v1/deployments/current/abort", {"reason": "enough"})["id"] == id
    wait_for(lambda: raw.ok("GET", f"/api/v1/deployments/{id}")["phase"] == "aborted",
             timeout=20, what="aborted")
    assert api.text() == "hello from v1\n"
    wait_for(lambda: any(w.get("r1") == 100 and not w.get("r2") for w in stream.weights()[-3:]),
             what="the stream showing all traffic back on r1")
    actions = [e for e in stream.events() if e["kind"] == "action"]
    assert [(a["data"]["action"], a["data"]["reason"]) for a in actions] == \
        [("deploy", "friday fun"), ("promote", "looks good"), ("abort", "enough")]
    user = actions[0]["data"]["who"]
    assert user and all(a["data"]["who"] == user for a in actions)
    assert all(a["data"]["origin"].startswith("unix socket (pid ") for a in actions)
    # said plainly, as history and the dashboard name who asked: no "(unix socket (pid N))"
    assert re.fullmatch(rf"deploy v2 by {re.escape(user)} over the unix socket, pid \d+: "
                        rf"friday fun", actions[0]["text"]), actions[0]["text"]
    ids = [e["id"] for e in stream.events()]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    stream.close()


def test_deadlines_promote_a_timed_out_pause_and_abort_a_step_that_makes_no_progress(api):
    raw = Raw(api)
    id = raw.ok("POST", "/api/v1/deployments", {
        "version": "v2", "strategy": "canary",
        "set": ["strategy.steps=[{weight: 25}, {pause: {timeout: 1s, then: promote}}]"]})["id"]
    wait_for(lambda: raw.ok("GET", f"/api/v1/deployments/{id}")["phase"] == "succeeded",
             timeout=30, what="promoted by the pause's timeout")
    events = raw.ok("GET", f"/api/v1/events?deployment={id}&limit=1000")["events"]
    assert any(e["kind"] == "action" and e["data"]["who"] == "controller"
               and "timed out after 1s (then: promote)" in e["text"] for e in events)

    id = raw.ok("POST", "/api/v1/deployments", {
        "version": "v3", "set": ["app.env.APP_START_DELAY=8", "progress_deadline=1s"]})["id"]
    wait_for(lambda: raw.ok("GET", f"/api/v1/deployments/{id}")["phase"] == "aborted",
             timeout=30, what="aborted by progress_deadline")
    events = raw.ok("GET", f"/api/v1/events?deployment={id}&limit=1000")["events"]
    assert any("made no progress within progress_deadline 1s" in e["text"] for e in events)
    assert api.text() == "hello from v2\n"
