"""The proxy's admin API: a small HTTP/1.1 server on its own listener.

Never on the public listener. On a unix socket (mode 0600) it trusts the
file system; on TCP every request needs `Authorization: Bearer TOKEN`.

    GET  /table    the routing table in force (JSON)
    PUT  /table    apply a whole table: 200 {"version", "changed"}; 400 names
                   the problem; 409 {"error", "version", "epoch" in force} for an
                   older one (zerodown/table_version.py). The table in force
                   stays untouched on any error.
    GET  /stats    per revision and per backend counters, latency, in-flight,
                   backend state (active, ejected, draining) — drain is done
                   when a removed backend is gone from here or has in_flight 0;
                   /stats?table=1: and the table in force ("table"), read at the
                   same instant (a drain's last look is the stop's router check)
    GET  /metrics  the same in Prometheus text format
    GET  /healthz  200 while the proxy runs: {"version", "pid", "supervisor"}, the
                   supervisor's pid, or null if it is gone (or never was)
    GET  /services                   the services sharing the listener (services.py)
    PUT|GET|DELETE /services/NAME    register one ({"hosts", "path_prefix", "config"}),
                                     read it, remove it (its backends drain)
    /services/NAME/table|stats|metrics|shadow   as above, for that service; the paths
                   above without /services/NAME are the default service's (--service)

MetricsAPI is the read-only listener for a Prometheus to scrape (`--metrics
HOST:PORT`): GET /metrics and /healthz only, with a bearer token if one is set.
Scraping through the admin listener would hand the scraper the table too.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import json
from urllib.parse import parse_qs

from zerodown import table_json
from zerodown.errors import StaleTableError, TableError, UsageError
from zerodown.proxy.answers import answer
from zerodown.proxy.dataplane import DataPlane
from zerodown.proxy.services import Services, SiteConflict, site_from

MAX_BODY = 16 * 1024 * 1024


class AdminAPI:
    def __init__(self, plane: DataPlane, token: str | None = None, supervisor: int | None = None,
                 services: Services | None = None):
        self.plane, self.token, self.supervisor = plane, token, supervisor
        self.services = services if services is not None else Services(plane)
        self.accepting_writes = True
        self.open = 0  # connections being served; at most settings.max_admin_connections
        self.stopping = False  # this process stops (handed over): each answer closes

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One admin connection: bounded in number and in idle time, so unauthenticated
        connections cannot take the descriptors the public listener needs."""
        settings = self.plane.settings
        if self.open >= settings.max_admin_connections:
            self.plane.errors.line(f"admin: refused a connection, {self.open} are open "
                                   f"(--max-admin-connections)")
            writer.write(answer(*_json(503, {"error": "too many admin connections; retry"}),
                                keep=False))
            writer.close()
            return
        self.open += 1
        try:
            await self._serve(reader, writer, settings.admin_timeout)
        finally:
            self.open -= 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     timeout: float) -> None:
        try:
            while True:
                try:
                    request = await asyncio.wait_for(_read_request(reader), timeout)
                except asyncio.TimeoutError:
                    break  # idle, or a request too slow to come: the descriptor goes back
                if request is None:
                    break
                method, path, headers, body = request
                try:
                    status, ctype, payload = self.route(method, path, headers, body)
                except Exception as e:  # a bug must not look like a dead proxy
                    status, ctype, payload = _json(500, {"error": f"{type(e).__name__}: {e}"})
                keep = headers.get("connection", "").lower() != "close" and not self.stopping
                writer.write(answer(status, ctype, payload, keep))
                await writer.drain()
                if not keep:
                    break
        except _BadRequest as e:
            writer.write(answer(*_json(e.status, {"error": str(e)}), keep=False))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def route(self, method: str, path: str, headers: dict[str, str],
              body: bytes) -> tuple[int, str, bytes]:
        if self.token is not None and not hmac.compare_digest(
                headers.get("authorization", "").encode("latin-1"), f"Bearer {self.token}".encode()):
            return _json(401, {"error": "admin API needs 'Authorization: Bearer <token>'"})
        path, _, query = path.partition("?")
        if path == "/services" or path.startswith("/services/"):
            return self._services(method, path, body, query)
        return self._endpoint(method, path, body, self.plane, query)

    def _endpoint(self, method: str, path: str, body: bytes,
                  plane: DataPlane, query: str = "") -> tuple[int, str, bytes]:
        """/table, /shadow, /stats, /metrics of one service; /healthz of the proxy."""
        front = plane is self.plane
        if path == "/table":
            if method == "GET":
                return _json(200, table_json.to_dict(plane.table))
            if method in ("PUT", "POST"):
                return self._apply(body, plane)
            return _json(405, {"error": f"{method} /table: use GET or PUT"})
        if path == "/shadow":
            return self._shadow(method, body, plane)
        if method != "GET":
            return _json(405, {"error": f"{method} {path}: only GET is allowed here"})
        if path == "/stats":
            if "table" in parse_qs(query, keep_blank_values=True):
                return _json(200, dict(plane.stats(), table=table_json.to_dict(plane.table)))
            return _json(200, plane.stats())
        if path == "/metrics":  # without a service: every service's (one scrape for the proxy)
            return 200, "text/plain; version=0.0.4", plane.metrics_text(every=front).encode()
        if path == "/healthz" and front:
            supervised = self.supervisor is not None and os.getppid() == self.supervisor
            return _json(200, {"ok": True, "version": self.plane.table.version, "pid": os.getpid(),
                               "supervisor": self.supervisor if supervised else None})
        return _json(404, {"error": f"no such endpoint {path!r} (try /table, /stats, /metrics)"})

    def _services(self, method: str, path: str, body: bytes,
                  query: str = "") -> tuple[int, str, bytes]:
        """/services, /services/NAME and /services/NAME/<endpoint> (the module docstring)."""
        parts = path.split("/")[2:]
        services = self.services
        if not parts or parts == [""]:
            if method != "GET":
                return _json(405, {"error": f"{method} /services: use GET"})
            return _json(200, services.listing())
        name, rest = parts[0], "/".join(parts[1:])
        plane = services.plane(name)
        if rest:
            if plane is None:
                return _json(404, {"error": f"no service {name!r} on this proxy (it has: "
                                            f"{', '.join(services.planes)})"})
            if rest not in ("table", "stats", "metrics", "shadow"):
                return _json(404, {"error": f"no such endpoint {path!r} (try "
                                            f"/services/{name}/table, stats, metrics, shadow)"})
            return self._endpoint(method, "/" + rest, body, plane, query)
        if method == "GET":
            entry = services.listing()["services"].get(name)
            return _json(200 if entry else 404, entry or {"error": f"no service {name!r} "
                                                                   f"registered here"})
        if not self.accepting_writes:
            return _json(503, {"error": "this proxy is handing over to a new process; retry"})
        if method == "DELETE":
            return _json(200, {"removed": services.remove(name),
                               "remaining": sorted(services.sites)})
        if method != "PUT":
            return _json(405, {"error": f"{method} {path}: use GET, PUT or DELETE"})
        try:
            site, config = site_from(name, json.loads(body or b"null"))
            changed = services.register(name, site, config)
        except SiteConflict as e:
            return _json(409, {"error": str(e)})
        except ValueError as e:
            return _json(400, {"error": f"PUT {path}: body is not JSON: {e}"})
        except UsageError as e:
            return _json(400, {"error": f"PUT {path}: {e}"})
        except OSError as e:
            return _json(503, {"error": f"could not save the service durably: {e}"})
        return _json(200, {"changed": changed, "version": services.planes[name].table.version})

    def _shadow(self, method: str, body: bytes, plane: DataPlane) -> tuple[int, str, bytes]:
        """GET: the shadow's counts and examples; PUT: start one (replacing any); DELETE: stop."""
        if method == "GET":
            return _json(200, plane.mirror.owner.stats() if plane.mirror is not None else None)
        if method not in ("PUT", "DELETE"):
            return _json(405, {"error": f"{method} /shadow: use GET, PUT or DELETE"})
        old, plane.mirror = plane.mirror, None
        if old is not None:
            asyncio.ensure_future(old.owner.close())
        if method == "DELETE":
            return _json(200, old.owner.stats() if old is not None else None)
        from zerodown.shadow.mirror import from_settings  # only when a shadow is asked for
        try:
            made = from_settings(json.loads(body or b"null"))
        except ValueError as e:
            return _json(400, {"error": f"PUT /shadow: {e}"})
        made.start()
        plane.mirror = made.tap
        return _json(200, made.stats())

    def _apply(self, body: bytes, plane: DataPlane) -> tuple[int, str, bytes]:
        if not self.accepting_writes:
            return _json(503, {"error": "this proxy is handing over to a new process; retry"})
        try:
            table = table_json.loads(body)
            changed = self.services.apply(plane.service, table)
        except StaleTableError as e:
            return _json(409, {"error": str(e), "version": plane.table.version,
                               "epoch": plane.table.epoch})
        except TableError as e:
            return _json(400, {"error": str(e), "version": plane.table.version})
        except OSError as e:
            return _json(503, {"error": f"could not save the table durably: {e}"})
        return _json(200, {"version": table.version, "changed": changed})


class MetricsAPI(AdminAPI):
    """Read-only: /metrics and /healthz; nothing that reads or changes the table."""

    def route(self, method: str, path: str, headers: dict[str, str],
              body: bytes) -> tuple[int, str, bytes]:
        if self.token is not None and not hmac.compare_digest(
                headers.get("authorization", "").encode("latin-1"), f"Bearer {self.token}".encode()):
            return _json(401, {"error": "metrics need 'Authorization: Bearer <token>'"})
        path = path.split("?", 1)[0]
        if method != "GET":
            return _json(405, {"error": f"{method} {path}: this listener is read-only"})
        if path in ("/metrics", "/healthz"):
            return super().route(method, path, headers, b"")
        return _json(404, {"error": f"no such endpoint {path!r} here (try /metrics)"})


def _json(status: int, obj: object) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(obj).encode()


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def _read_request(reader: asyncio.StreamReader):
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise _BadRequest(400, "bad request line: expected METHOD PATH HTTP/1.1")
    method, path, _ = parts
    headers: dict[str, str] = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
        if len(headers) > 100:
            raise _BadRequest(400, "more than 100 headers")
    raw_length = headers.get("content-length", "0") or "0"
    if not raw_length.isdigit():
        raise _BadRequest(400, f"Content-Length must be a number of bytes, got {raw_length!r}")
    length = int(raw_length)
    if length > MAX_BODY:
        raise _BadRequest(413, f"body of {length} bytes is over the limit of {MAX_BODY}")
    body = await reader.readexactly(length) if length else b""
    return method, path, headers, body
