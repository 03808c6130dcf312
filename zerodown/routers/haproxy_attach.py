"""HAProxy attach mode: zerodown's servers in one backend of an HAProxy the user runs.

    router: {kind: haproxy, socket: /run/haproxy/admin.sock, backend: app}

What the user's HAProxy must have (the README's "Attach mode" says the same):
- HAProxy 2.6 or later, and a stats socket at `level admin` (`add server` and
  `del server` need it): `stats socket /run/haproxy/admin.sock level admin`;
- in the named backend a balance algorithm that takes servers added at run time
  (roundrobin, leastconn, first, random; not static-rr or a hash);
- `option httpchk GET /healthz` in that backend if instances should be checked
  over HTTP: zerodown adds every server with `check`, which checks the way the
  backend says (a TCP connect without httpchk).

What zerodown does there, through the Runtime API only (it never writes the
user's configuration, nor starts or stops that HAProxy):
- every backend of the table is one server, named by its instance id
  (<service>-r<N>-s<M>), weighted so each revision gets its share; servers of
  that name are zerodown's, whoever's state directory added them;
- a server leaving the table is put in maintenance, and deleted (`del server`)
  once nothing is in flight on it, its counters kept for stats(); HAProxy
  refuses to delete a server while it keeps idle connections to it, which
  close when its instance stops: the driver tries again meanwhile (for up to
  LATER seconds, in the background) and at every later table;
- `zerodown down` (stop) takes every zerodown server out the same way;
- on start (`zerodown up`, ensure_running) servers named as zerodown's that the
  table in force does not hold are reconciled: one whose address accepts no
  connection is removed at once; a live one keeps serving until the next table
  (the deployment's first route) replaces it, then drains and is deleted.
Rules and stickiness need managed mode: `validate` refuses a strategy that asks
for them (routers/capabilities.py).
"""

from __future__ import annotations

import re
import socket
import time

from zerodown.errors import RouterError
from zerodown.model import RoutingTable
from zerodown.routers import haproxy_render as render
from zerodown.routers import haproxy_runtime_api as runtime_api
from zerodown.routers import haproxy_stats

PROBE_TIMEOUT = 0.5   # does an unknown zerodown server's instance accept a connection?
POLL = 0.05
IDLE_GRACE = 2.0      # how long withdraw() waits for idle connections to close
LATER = 60.0          # how long deletions blocked by idle connections are retried
LATER_POLL = 0.5


def ours(service: str, name: str, owners: dict) -> bool:
    """Is server `name` zerodown's: in its state, or named as its instances are."""
    return name in owners or re.fullmatch(rf"{re.escape(service)}-r\d+-s\d+", name) is not None


def apply(router, table: RoutingTable, target: RoutingTable, state) -> bool:
    """The table's backends as weighted servers of the one backend; True if any command ran."""
    if table.rules or table.sticky:
        raise RouterError("rules and sticky need the managed haproxy router; attach mode "
                          f"(router.socket) only splits by weight in backend "
                          f"{router.attach_backend}")
    wanted = runtime_api.attached_servers(target)
    live = _live(router)
    plan = runtime_api.plan_attached(router.attach_backend, wanted,
                                     [s for s in live if ours(router.service, s.name,
                                                              state.owners)])
    for command in plan:
        router.cli.run(command)
    collect(router, state, set(wanted))  # what an earlier table left behind
    return bool(plan)


def collect(router, state, keep: set[str]) -> tuple[list[str], list[str]]:
    """Delete zerodown's servers outside `keep` that are in maintenance with nothing in
    flight, their counters into state.retired. Returns those left: (busy: in rotation or
    with requests in flight; blocked: idle, but HAProxy still holds idle connections to
    them, which close once their instance stops)."""
    backend = router.attach_backend
    rows = {r["svname"]: r for r in runtime_api.parse_stat(router.cli.run("show stat"))
            if r.get("pxname") == backend and r.get("svname") not in ("BACKEND", "FRONTEND")}
    busy, blocked = [], []
    for s in _live(router):
        if s.name in keep or not ours(router.service, s.name, state.owners):
            continue
        row = rows.get(s.name)
        if not s.maint or row is None or haproxy_stats.busy(row):
            busy.append(s.name)
            continue
        try:
            router.cli.run(f"del server {backend}/{s.name}")
        except RouterError:  # idle connections still attached: a later look deletes it
            blocked.append(s.name)
            continue
        owner = state.owners.get(s.name)
        if owner is not None:
            haproxy_stats.add(state.retired.setdefault(owner[0], {}),
                              haproxy_stats.counters(row))
    return busy, blocked


def withdraw(router, state, timeout: float) -> list[str]:
    """Every zerodown server out of rotation now, deleted as each drains (within
    `timeout`); the names of any with requests still in flight then (in maintenance: no
    new request). One whose idle connections outlive IDLE_GRACE stays in maintenance and
    goes at the next call, once its instance has stopped (`zerodown down` calls again)."""
    for s in _live(router):
        if ours(router.service, s.name, state.owners) and not s.maint:
            router.cli.run(f"set server {router.attach_backend}/{s.name} state maint")
    deadline = time.monotonic() + timeout
    while (left := collect(router, state, set()))[0] and time.monotonic() < deadline:
        time.sleep(POLL)
    grace = time.monotonic() + IDLE_GRACE
    while not left[0] and left[1] and time.monotonic() < grace:
        time.sleep(POLL)
        left = collect(router, state, set())
    return left[0]


def reconcile(router, state) -> None:
    """On start: zerodown servers the table in force does not hold and whose instance is
    gone leave at once; live ones serve on until the next table replaces them."""
    keep = {render.server_name(b) for b in state.table.backends()}
    for s in _live(router):
        if (s.name not in keep and not s.maint and ours(router.service, s.name, state.owners)
                and not _accepts(s.address)):
            router.cli.run(f"set server {router.attach_backend}/{s.name} state maint")
    collect(router, state, keep | {s.name for s in _live(router) if not s.maint})


def _live(router) -> list[runtime_api.LiveServer]:
    backend = router.attach_backend
    return runtime_api.parse_servers_state(router.cli.run(f"show servers state {backend}"),
                                      backend=backend)


def _accepts(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False
