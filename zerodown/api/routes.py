"""Which handler answers which method and path of the API (docs/api.md), and the
static files of the dashboard. Reads come from the observer (memory) or one
store query; actions go to daemon/actions.py."""

from __future__ import annotations

import mimetypes
import re
import time
from pathlib import Path
from typing import Callable

from zerodown import render
from zerodown.api import openapi, sse
from zerodown.api.errors import ApiError
from zerodown.api.server import Reply, Request
from zerodown.controller import labels
from zerodown.gather import deployment_view, plan_steps, progress
from zerodown.daemon.actions import SIGNALS, target
from zerodown.daemon.observer import event_dict
from zerodown.views import deployment_dict, status_from_dict

DASHBOARD = Path(__file__).resolve().parent / "dashboard"
MAX_WAIT = openapi.MAX_WAIT
STATIC_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
         ".json": "application/json", ".ico": "image/x-icon", ".woff2": "font/woff2"}


class Api:
    def __init__(self, observer, actions, service: str, controller_pid: Callable[[], int | None],
                 settled: Callable[[int, float], bool] = lambda id, wait: True):
        self.observer, self.actions, self.service = observer, actions, service
        self.controller_pid = controller_pid
        # (deployment, seconds to wait) -> its run returned (daemon/runs.py Runner.settled)
        self.settled = settled
        self.routes: list[tuple[str, re.Pattern, Callable[..., Reply]]] = [
            ("GET", re.compile(r"^/$"), lambda r: redirect("/dashboard/")),
            ("GET", re.compile(r"^/dashboard(?:/(?P<name>.*))?$"), self.static),
            ("GET", re.compile(r"^/api/v1/status$"), self.status),
            ("GET", re.compile(r"^/api/v1/metrics$"), self.metrics),
            ("GET", re.compile(r"^/api/v1/table$"), self.table),
            ("GET", re.compile(r"^/api/v1/deployments$"), self.deployments),
            ("GET", re.compile(r"^/api/v1/deployments/(?P<id>\d+|current)$"), self.deployment),
            ("GET", re.compile(r"^/api/v1/events$"), self.events),
            ("GET", re.compile(r"^/api/v1/stream$"), self.stream),
            ("GET", re.compile(r"^/api/v1/openapi.json$"),
             lambda r: Reply.json(200, openapi.document())),
            ("POST", re.compile(r"^/api/v1/deployments$"), self.deploy),
            ("POST", re.compile(r"^/api/v1/deployments/(?P<id>\d+|current)/(?P<verb>\w+)$"),
             self.signal),
            ("POST", re.compile(r"^/api/v1/rollback$"), self.rollback),
        ]

    def __call__(self, request: Request) -> Reply:
        allowed = []
        for method, pattern, handler in self.routes:
            m = pattern.match(request.path)
            if m is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            return handler(request, **m.groupdict())
        if allowed:
            raise ApiError(405, f"{request.path} answers {', '.join(allowed)}, not "
                                f"{request.method}")
        raise ApiError(404, f"no such path {request.path} (see /api/v1/openapi.json)", "path")

    # --- reads --------------------------------------------------------------------------

    def status(self, request: Request) -> Reply:
        # ?fresh=1 (the CLI): look now, so what a command just did shows; else the last look
        doc = self.observer.tick() if request.query.get("fresh") else self.observer.status_doc
        if doc is None:
            raise ApiError(503, "the controller is starting; try again in a moment")
        form = request.query.get("format", "json")
        if form == "text":  # `zerodown status`: rendered here, where render is loaded already
            now = time.time()
            text = render.status_text(status_from_dict(doc, now), now) + "\n" + notes(doc)
            return Reply(200, text.encode(), "text/plain; charset=utf-8")
        if form != "json":
            raise ApiError(400, f"format must be json or text, got {form!r}", "format")
        return Reply.json(200, doc)

    def metrics(self, request: Request) -> Reply:
        window = number(request.query, "window", 300, 1, 600)
        return Reply.json(200, self.observer.metrics(window))

    def table(self, request: Request) -> Reply:
        return Reply.json(200, self.observer.table or {})

    def deployments(self, request: Request) -> Reply:
        limit = int(number(request.query, "limit", 20, 1, 1000))
        now = time.time()
        with self.observer.reading() as store:
            known = labels(store, self.service)
            rows = store.listed(self.service, limit=limit)
            pid = self.controller_pid()
            proofs, asked = store.proofs(d.id for d in rows), store.askers(d.id for d in rows)
            views = [deployment_dict(deployment_view(
                d, known, pid, proof=proofs.get(d.id), asked=asked.get(d.id)), now)
                | {"settled": self._settled(d)} for d in rows]
        return Reply.json(200, {"deployments": views})

    def _settled(self, d) -> bool:
        """Ended, and no run of this controller holds it (Runner.settled, not waited for)."""
        return d.phase.terminal and self.settled(d.id, 0)

    def deployment(self, request: Request, id: str) -> Reply:
        wait = number(request.query, "wait", 0, 0, MAX_WAIT)
        if wait:  # an ended deployment answered once its run returned: its proof written too
            with self.observer.reading() as store:
                d = target(store, self.service, id)
            if d.phase.terminal:
                self.settled(d.id, wait)
        now = time.time()
        with self.observer.reading() as store:
            d = target(store, self.service, id)
            cfg = self.observer.config()  # as the file is now (its last version that loaded)
            doc = deployment_dict(deployment_view(
                d, labels(store, self.service), self.controller_pid(), store, cfg,
                store.proofs([d.id]).get(d.id), store.askers([d.id]).get(d.id)), now)
            doc["summary"] = progress(store, self.service)
            doc["plan_steps"] = plan_steps(store, d, cfg)
        doc["controller_error"] = self.observer.controller_error(d.id)
        doc["settled"] = self._settled(d)
        return Reply.json(200, doc)

    def events(self, request: Request) -> Reply:
        after = int(number(request.query, "after", 0, 0, 2 ** 62))
        limit = int(number(request.query, "limit", 100, 1, 1000))
        deployment = request.query.get("deployment")
        if deployment is not None and not deployment.isdigit():
            raise ApiError(400, f"deployment must be a deployment id, got {deployment!r}",
                           "deployment")
        wait = number(request.query, "wait", 0, 0, MAX_WAIT)
        found = self._events_after(after, limit, None if deployment is None else int(deployment),
                                   wait)
        answer = {"events": found, "cursor": found[-1]["id"] if found else after}
        # said only when asked: a client that asked an older controller (which ignores
        # wait and answers at once) sees no "waited" and paces itself
        return Reply.json(200, answer | ({"waited": True} if wait else {}))

    def _events_after(self, after: int, limit: int = 1000, deployment: int | None = None,
                      wait: float = 0) -> list[dict]:
        """The events after `after`; with `wait`, none yet: asked again as each new event
        is known (another deployment's may come first), until one is or `wait` passed."""
        deadline = time.monotonic() + wait
        while True:
            newest = self.observer.newest()
            with self.observer.reading() as store:
                found = [event_dict(e) for e in store.events(
                    deployment=deployment, after=after, limit=limit)]
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            self.observer.wait_events(newest, left)

    def stream(self, request: Request) -> Reply:
        last = request.headers.get("last-event-id") or request.query.get("after")
        after = int(last) if last and last.isdigit() else None
        return Reply(200, content_type="text/event-stream", stream=lambda write: sse.stream(
            self.observer, write, after, self._events_after))

    def static(self, request: Request, name: str | None) -> Reply:
        if name is None:
            return redirect("/dashboard/")
        name = name or "index.html"
        path = DASHBOARD / name
        if not STATIC_NAME.match(name) or ".." in name.split("/") or not path.is_file():
            raise ApiError(404, f"no dashboard file {name!r}", "path")
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or \
            "application/octet-stream"
        return Reply(200, path.read_bytes(), kind, {"Cache-Control": "no-cache"})

    # --- actions -----------------------------------------------------------------------

    def deploy(self, request: Request) -> Reply:
        return Reply.json(202, self.actions.deploy(request.json(), request.who, request.origin))

    def rollback(self, request: Request) -> Reply:
        out = self.actions.rollback(request.json(), request.who, request.origin)
        return Reply.json(200 if out.get("aborted") else 202, out)

    def signal(self, request: Request, id: str, verb: str) -> Reply:
        if verb not in SIGNALS:
            raise ApiError(404, f"no action {verb!r} (actions: {', '.join(SIGNALS)})", "path")
        return Reply.json(200, self.actions.signal(id, verb, request.json(), request.who,
                                                   request.origin))


def notes(doc: dict) -> str:
    """The status's word on zerodown.yaml itself: the error that keeps its edit out (the
    status is of the last version that loaded) and what only a restart takes."""
    lines = [f"zerodown.yaml does not load; status as of its last version that did: "
             f"{doc['config_error']}"] if doc.get("config_error") else []
    lines += [f"restart needed: {note}" for note in doc.get("restart_needed") or ()]
    return "".join(line + "\n" for line in lines)


def redirect(to: str) -> Reply:
    return Reply(302, f"see {to}\n".encode(), "text/plain; charset=utf-8", {"Location": to})


def number(query: dict[str, str], key: str, default: float, low: float, high: float) -> float:
    text = query.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ApiError(400, f"{key} must be a number from {_plain(low)} to {_plain(high)}, "
                            f"got {text!r}", key)
    return value


def _plain(bound: float) -> str:
    """A bound as a person writes it: 4611686018427387904, not 4.61169e+18."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"
