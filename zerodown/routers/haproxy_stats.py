"""HAProxy's `show stat` rows -> zerodown's stats, in the shape EmbeddedRouter.stats() has. Pure.

Per server (= backend of the table) HAProxy counts responses by class, sessions
in flight (scur) and queued (qcur), connection/response errors and retries, and
an average total time over its last 1024 requests (ttime). It keeps no
histogram, so the percentiles are None and only the mean latency is given.
Servers deleted after their drain, and the counters a worker had before a
reload, survive in `retired` (per revision), kept by the driver in its state.
"""

from __future__ import annotations

from zerodown.routers.haproxy_render import lane_index

CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
COUNTERS = ("requests", *CLASSES, "errors", "retries", "time_ms")


def _int(row: dict[str, str], key: str) -> int:
    value = row.get(key) or "0"
    return int(value) if value.isdigit() else 0


def server_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows of servers in our lanes (not the BACKEND/FRONTEND summaries)."""
    return [r for r in rows if lane_index(r.get("pxname", "")) is not None
            and r.get("svname") not in ("BACKEND", "FRONTEND")]


def counters(row: dict[str, str]) -> dict[str, int]:
    """The monotonic counters of one server row."""
    by_class = {c: _int(row, f"hrsp_{c}") for c in CLASSES}
    requests = sum(by_class.values()) + _int(row, "hrsp_other")
    return {"requests": requests, **by_class,
            "errors": _int(row, "econ") + _int(row, "eresp"),
            "retries": _int(row, "wretr") + _int(row, "wredis"),
            "time_ms": _int(row, "ttime") * requests}  # ttime is a recent average: an estimate


def add(into: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    for key in COUNTERS:
        into[key] = into.get(key, 0) + more.get(key, 0)
    return into


def busy(row: dict[str, str]) -> int:
    """Requests in flight or queued on one `show stat` row's server."""
    return _int(row, "scur") + _int(row, "qcur")


def in_flight(rows: list[dict[str, str]], server: str) -> int:
    """Requests in flight or queued on `server`, over every worker's rows."""
    return sum(busy(r) for r in server_rows(rows) if r.get("svname") == server)


def _entry(c: dict[str, int], flight: int) -> dict:
    n = c.get("requests", 0)
    return {"requests": n, "responses": {k: c.get(k, 0) for k in CLASSES},
            "errors": c.get("errors", 0), "retries": c.get("retries", 0), "in_flight": flight,
            "latency_ms": {"p50": None, "p90": None, "p99": None,
                           "mean": round(c.get("time_ms", 0) / n, 3) if n else None}}


def stats(rows: list[dict[str, str]], owners: dict[str, tuple[str, str]],
          retired: dict[str, dict[str, int]], weights: dict[str, float]) -> dict:
    """{"revisions": {name: ...}, "backends": {id: ...}} from every worker's `show stat` rows.

    owners: server name -> (revision, backend id); retired: revision -> counters of
    servers gone; weights: revision -> its share in the table in force.
    """
    revisions = {name: dict(c) for name, c in retired.items()}
    flights: dict[str, int] = {}
    backends: dict[str, dict] = {}
    for row in server_rows(rows):
        owner = owners.get(row["svname"])
        if owner is None:
            continue  # a server zerodown did not make
        revision, backend_id = owner
        c, flight = counters(row), busy(row)
        add(revisions.setdefault(revision, {}), c)
        flights[revision] = flights.get(revision, 0) + flight
        entry = backends.get(backend_id)
        if entry is None or row.get("status") not in ("MAINT", "MAINT (resolution)"):
            backends[backend_id] = dict(_entry(c, flight), revision=revision,
                                        address=row.get("addr", ""),
                                        state=_state(row.get("status", "")))
    return {"revisions": {name: dict(_entry(c, flights.get(name, 0)),
                                     weight=weights.get(name, 0.0))
                          for name, c in revisions.items()},
            "backends": backends}


def _state(status: str) -> str:
    """HAProxy's server status in the embedded proxy's words."""
    if status.startswith("MAINT"):
        return "draining"
    if status.startswith("DOWN"):
        return "down"
    return "active"
