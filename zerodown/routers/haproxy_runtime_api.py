"""Routing table -> HAProxy's Runtime API, and HAProxy's answers read back. Pure.

What haproxy_render.py lays out (lanes, maps, the configuration) is carried to a
running HAProxy of the same shape with Runtime API commands: servers added or
updated before the maps point at them, maps swapped whole, servers put in
maintenance after, and deleted once drained. The driver (haproxy.py, and
haproxy_attach.py for one existing backend) sends them; `show servers state`,
`show map` and `show stat` come back through the parsers here.
"""

from __future__ import annotations

from dataclasses import dataclass

from zerodown.model import RoutingTable
from zerodown.routers.haproxy_render import (DYNAMIC_POOL, MAX_WEIGHT, Layout, check_options,
                                             lane_backend, lane_index, map_files, maxconn_option,
                                             server_name, servers)


@dataclass(frozen=True)
class LiveServer:
    """A server as `show servers state` reports it."""

    lane: int
    name: str
    address: str   # "ip:port"
    weight: int
    maint: bool


# --- commands ----------------------------------------------------------------------

@dataclass(frozen=True)
class RuntimePlan:
    """What makes a running HAProxy (of the same shape) serve the table, in order:
    servers in before the maps point at them, maps swapped whole, servers out after."""

    before: tuple[str, ...]
    maps: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (file name, entries) to commit
    after: tuple[str, ...]

    def empty(self) -> bool:
        return not (self.before or self.maps or self.after)


def plan_runtime(table: RoutingTable, layout: Layout, live: list[LiveServer],
                 live_maps: dict[str, list[tuple[str, str]]],
                 maxconn: int | None = None) -> RuntimePlan:
    """The Runtime API commands from what HAProxy has (`live`) to what `table` asks;
    servers it adds get `maxconn` (render.Settings.maxconn), as those in the file do."""
    wanted = servers(table, layout)
    hc = layout.shape.health_check
    have = {(s.lane, s.name): s for s in live}
    before: list[str] = []
    for (lane, name), (address, weight) in wanted.items():
        ref = f"{lane_backend(lane)}/{name}"
        s = have.get((lane, name))
        if s is None:  # added in maintenance: ready once it is complete
            before.append(f"add server {ref} {address} weight {weight} {DYNAMIC_POOL}"
                          f"{maxconn_option(maxconn)}{check_options(hc)}")
            if hc is not None:
                before.append(f"enable health {ref}")
            before.append(f"set server {ref} state ready")
            continue
        before += _update_commands(ref, s, address, weight)
    maps = tuple((f, tuple(entries)) for f, entries in map_files(table, layout).items()
                 if [tuple(e) for e in live_maps.get(f, [])] != entries)
    after = tuple(f"set server {lane_backend(s.lane)}/{s.name} state maint"
                  for s in live if (s.lane, s.name) not in wanted and not s.maint)
    return RuntimePlan(tuple(before), maps, after)


def _update_commands(ref: str, s: LiveServer, address: str, weight: int) -> list[str]:
    """What turns live server `s` (`ref` = backend/name) into `address` at `weight`, ready."""
    out = []
    if s.address != address:
        host, port = address.rsplit(":", 1)
        out.append(f"set server {ref} addr {host} port {port}")
    if s.weight != weight:
        out.append(f"set server {ref} weight {weight}")
    if s.maint:
        out.append(f"set server {ref} state ready")
    return out


def attached_servers(table: RoutingTable) -> dict[str, tuple[str, int]]:
    """Attach mode, one backend for all: server -> (address, weight), each revision's
    servers sharing its percent in proportion to their own weights (0 for weight 0)."""
    raw = {}
    for rev in table.revisions:
        total = sum(b.weight for b in rev.backends) or 1
        for b in rev.backends:
            raw[server_name(b.id)] = (b.address, rev.weight * b.weight / total)
    top = max((w for _, w in raw.values()), default=0.0)
    return {name: (addr, 0 if w == 0 else max(1, round(w * MAX_WEIGHT / top)))
            for name, (addr, w) in raw.items()}


def plan_attached(backend: str, wanted: dict[str, tuple[str, int]],
                  ours: list[LiveServer]) -> list[str]:
    """Attach mode: commands making `backend`'s servers (those zerodown made) match `wanted`."""
    have = {s.name: s for s in ours}
    out = []
    for name, (address, weight) in wanted.items():
        ref = f"{backend}/{name}"
        s = have.get(name)
        if s is None:  # checked the way the backend says: option httpchk, else a connect
            out += [f"add server {ref} {address} weight {weight} {DYNAMIC_POOL} check",
                    f"enable health {ref}", f"set server {ref} state ready"]
            continue
        out += _update_commands(ref, s, address, weight)
    out += [f"set server {backend}/{s.name} state maint" for s in ours
            if s.name not in wanted and not s.maint]
    return out


def map_commands(path: str, version: str, entries: tuple[tuple[str, str], ...]) -> list[str]:
    """Fill a prepared map version; `commit map @version path` then swaps it in."""
    return [f"add map @{version} {path} {key} {value}" for key, value in entries]


def deletable(live: list[LiveServer], table: RoutingTable, layout: Layout,
              busy: dict[tuple[int | None, str], int]) -> list[tuple[int, str]]:
    """Servers out of the table, in maintenance, with nothing in flight: safe to delete."""
    wanted = servers(table, layout)
    return [(s.lane, s.name) for s in live
            if s.maint and (s.lane, s.name) not in wanted and not busy.get((s.lane, s.name))]


# --- reading HAProxy's answers ------------------------------------------------------

def parse_servers_state(text: str, backend: str | None = None) -> list[LiveServer]:
    """`show servers state` -> the servers of our lanes, or of `backend` (as lane 0).
    srv_admin_state bit 0x01 is "forced maintenance"."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 19 or not f[0].isdigit():
            continue
        lane = lane_index(f[1]) if backend is None else (0 if f[1] == backend else None)
        if lane is None:
            continue
        out.append(LiveServer(lane, f[3], f"{f[4]}:{f[18]}", int(f[7]), bool(int(f[6]) & 0x01)))
    return out


def parse_map(text: str) -> list[tuple[str, str]]:
    """`show map FILE` lines "0xID key value" -> [(key, value)]."""
    out = []
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0].startswith("0x"):
            out.append((parts[1], parts[2]))
    return out


def parse_stat(text: str) -> list[dict[str, str]]:
    """`show stat` CSV -> one dict per row, keyed by the header's field names."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        return []
    names = lines[0][2:].split(",")
    return [dict(zip(names, line.split(","))) for line in lines[1:] if line.strip()]
