"""A small blocking client for the proxy's admin API (unix socket or TCP).

Used by the embedded router driver, the CLI and the tests; stdlib only.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

from zerodown import table_json
from zerodown.errors import RouterError, RouterUnavailable, StaleTableError, TableError
from zerodown.model import RoutingTable
from zerodown.socket_path import short


class Unreachable(RouterUnavailable):
    """No answer from the admin API: no proxy, or one restarting (a retry may succeed)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(short(self.path))
        self.sock = sock


class AdminClient:
    """`admin` is "unix:PATH" or "HOST:PORT" (then `token` is sent as a bearer token).
    `service`: one of several services sharing the proxy (its /services/NAME/... paths);
    None: the proxy's default service (/table, /stats, ...)."""

    def __init__(self, admin: str, token: str | None = None, timeout: float = 10.0,
                 service: str | None = None):
        self.admin, self.token, self.timeout, self.service = admin, token, timeout, service
        self.prefix = f"/services/{service}" if service else ""

    def _connection(self) -> http.client.HTTPConnection:
        if self.admin.startswith("unix:"):
            return _UnixConnection(self.admin[5:], self.timeout)
        host, _, port = self.admin.rpartition(":")
        return http.client.HTTPConnection(host.strip("[]"), int(port), timeout=self.timeout)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except OSError as e:
            raise Unreachable(f"proxy admin API at {self.admin} is unreachable: {e}") from None
        finally:
            conn.close()

    def _json(self, method: str, path: str, body: bytes | None = None) -> Any:
        status, data = self.request(method, path, body)
        payload = json.loads(data or b"{}")
        if status == 409:
            in_force = payload.get("epoch", 0), payload.get("version", 0)
            raise StaleTableError(payload.get("error", "stale table"), in_force=in_force)
        if status == 400:
            raise TableError(payload.get("error", "bad table"))
        if status != 200:
            raise RouterError(f"proxy admin API at {self.admin}: {method} {path} -> {status}: "
                              f"{payload.get('error', data[:200])}")
        return payload

    def apply(self, table: RoutingTable) -> bool:
        """Make the proxy serve `table`; True if that changed anything."""
        return bool(self._json("PUT", self.prefix + "/table",
                               table_json.dumps(table).encode())["changed"])

    def table(self) -> RoutingTable:
        return table_json.from_dict(self._json("GET", self.prefix + "/table"))

    def stats(self) -> dict:
        return self._json("GET", self.prefix + "/stats")

    def register(self, hosts: tuple[str, ...] | list[str], path_prefix: str = "/",
                 config: str = "", strip_prefix: bool = True) -> bool:
        """Register this client's service with its site (PUT /services/NAME); True if
        that changed anything. A conflict with another service raises RouterError (409).
        `strip_prefix`: its backends see paths without path_prefix (proxy/prefix.py)."""
        body = json.dumps({"hosts": list(hosts), "path_prefix": path_prefix,
                           "strip_path_prefix": strip_prefix, "config": config})
        status, data = self.request("PUT", self.prefix, body.encode())
        payload = json.loads(data or b"{}")
        if status != 200:
            raise RouterError(f"the proxy at {self.admin} refused service {self.service}: "
                              f"{payload.get('error', data[:200])}")
        return bool(payload["changed"])

    def unregister(self) -> list[str]:
        """Remove this client's service (its backends drain); the services that remain."""
        return list(self._json("DELETE", self.prefix)["remaining"])

    def services(self) -> dict:
        return self._json("GET", "/services")

    def shadow(self, settings: dict | None) -> dict | None:
        """Start a shadow (PUT /shadow, replacing any) or stop it (None: DELETE); its stats."""
        if settings is None:
            return self._json("DELETE", self.prefix + "/shadow")
        return self._json("PUT", self.prefix + "/shadow", json.dumps(settings).encode())

    def shadow_stats(self) -> dict | None:
        """The running shadow's counts and examples (GET /shadow); None when none runs."""
        return self._json("GET", self.prefix + "/shadow")

    def health(self) -> dict:
        return self._json("GET", "/healthz")

    def metrics(self) -> str:
        status, data = self.request("GET", self.prefix + "/metrics")
        if status != 200:
            raise RouterError(f"proxy admin API at {self.admin}: GET /metrics -> {status}")
        return data.decode()

    def drained(self, backend_id: str) -> bool:
        """True once `backend_id` is out of the table and has no request in flight."""
        return drained_in(self.stats()["backends"], backend_id)

    def unanswered(self, backend_id: str) -> tuple[int, int, int]:
        """(requests answered, in flight, in flight with no response byte yet) of a backend,
        its draining twins included."""
        return unanswered_in(self.stats()["backends"], backend_id)

    def drain_state(self, backend_ids) -> dict[str, tuple[bool, tuple[int, int, int]]]:
        """drained() and unanswered() of each backend, from one reading of the counters."""
        return _drain_of(self.stats()["backends"], backend_ids)

    def drain_look(self, backend_ids) -> tuple[dict[str, tuple[bool, tuple[int, int, int]]],
                                               RoutingTable]:
        """drain_state() and the table in force, from one reading (GET /stats?table=1). A
        proxy from before that query answers without the table: it is then asked for it."""
        payload = self._json("GET", self.prefix + "/stats?table=1")
        table = table_json.from_dict(payload["table"]) if "table" in payload else self.table()
        return _drain_of(payload["backends"], backend_ids), table

    def in_flight(self, backend_id: str) -> int:
        """In-flight requests of a backend (0 once it is drained and gone)."""
        backends = self.stats()["backends"]  # a draining twin of a re-added id is "id~..."
        return sum(int(e["in_flight"]) for k, e in backends.items()
                   if k == backend_id or k.startswith(backend_id + "~"))


def _drain_of(backends: dict, backend_ids) -> dict[str, tuple[bool, tuple[int, int, int]]]:
    return {b: (drained_in(backends, b), unanswered_in(backends, b)) for b in backend_ids}


def _entries(backends: dict, backend_id: str) -> list[dict]:
    # a draining twin of a re-added id is "id~..."
    return [e for k, e in backends.items() if k == backend_id or k.startswith(backend_id + "~")]


def drained_in(backends: dict, backend_id: str) -> bool:
    """In the stats' `backends`: is `backend_id` out of the table with nothing in flight?"""
    return all(e["state"] == "draining" and int(e["in_flight"]) == 0
               for e in _entries(backends, backend_id))


def unanswered_in(backends: dict, backend_id: str) -> tuple[int, int, int]:
    entries = _entries(backends, backend_id)
    return (sum(int(e["requests"]) for e in entries), sum(int(e["in_flight"]) for e in entries),
            sum(int(e.get("unanswered", 0)) for e in entries))
