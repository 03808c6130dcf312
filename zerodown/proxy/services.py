"""Several services on one proxy listener: each request to its service by Host and path.

    services = Services(front, folder)        # front: the --service plane (old admin paths)
    services.register("shop", Site("shop", ("shop.example.com",)), config="/srv/shop/zerodown.yaml")
    services.apply("shop", table)             # shop's own routing table, pools, stats, drain
    services.remove("shop")                   # its backends drain; the others are untouched

A registered service has a plane of its own (dataplane.DataPlane, a sibling of the
front's) and a site (hosts.Site: exact or `*.suffix` host names, a path prefix).
While only the front serves, requests never look at a Host (the plane's `sites` is
None: the single-service hot path). Once another service is registered, every
request is matched (hosts.HostTable) and one that no site claims gets 404, counted
in the front's `unknown_host`. The front takes part as "any host, /" while its own
table has a revision and no registered service claims that; a shared proxy started
for zerodown.yaml files keeps its front empty, so an unknown host always gets 404.

Each registered service is saved in `folder` (one JSON file per service: its site,
the zerodown.yaml that registered it, its table) before it is acted on, and read
back when the proxy starts; a handover passes snapshot() to the successor.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from zerodown import table_json
from zerodown.atomic_write import write_atomic
from zerodown.errors import TableError, UsageError
from zerodown.model import EMPTY_TABLE, RoutingTable
from zerodown.proxy.dataplane import DataPlane
from zerodown.proxy.headscan import merged
from zerodown.proxy.hosts import HostTable, Site, check_site
from zerodown.proxy.prefix import header_line, normal



class SiteConflict(UsageError):
    """Two services claim the same host and path prefix (HTTP 409)."""


class Services:
    def __init__(self, front: DataPlane, folder: str | None = None):
        self.front, self.folder = front, folder
        self.planes: dict[str, DataPlane] = {front.service: front}
        self.sites: dict[str, Site] = {}      # registered services only
        self.configs: dict[str, str] = {}     # the zerodown.yaml that registered each
        self.hosts: HostTable | None = None

    # -- the hot path's question -------------------------------------------
    def pick(self, host: bytes | None, head: bytes) -> DataPlane | None:
        """The plane of the service a request head is for; None (counted): 404."""
        if self.hosts is None:  # one service again: a connection last served by a removed one
            return self.front
        start = head.find(b" ") + 1
        name = self.hosts.pick(host, head[start:head.find(b" ", start)])
        if name is None:
            self.front.unknown_host += 1
            return None
        return self.planes[name]

    # -- changes ------------------------------------------------------------
    def plane(self, name: str) -> DataPlane | None:
        return self.planes.get(name)

    def register(self, name: str, site: Site, config: str = "",
                 restored: RoutingTable | None = None) -> bool:
        """Add a service (or change its site); False if it is registered so already.
        Raises SiteConflict naming the other service (and its zerodown.yaml).
        `restored`: its saved table, served at once (from the file or a handover)."""
        check_site(name, site)
        if name == self.front.service:
            raise SiteConflict(f"service {name!r} is this proxy's default service (--service): "
                               f"it takes whatever no other service claims; register another name")
        if self.sites.get(name) == site and self.configs.get(name, "") == config:
            return False
        self._check_conflicts({**self.sites, name: site}, {**self.configs, name: config})
        plane = self.planes.get(name)
        if restored is None:
            table = plane.table if plane is not None else EMPTY_TABLE
            self._save(name, site, config, table)  # durable before it is acted on
        if plane is None:
            def persist(t: RoutingTable, n: str = name) -> None:
                self._save(n, self.sites[n], self.configs[n], t)
            plane = self.planes[name] = self.front.sibling(name, persist)
        self.sites[name], self.configs[name] = site, config
        mount = normal(site.path_prefix)
        strip = site.strip_prefix and mount != "/"
        plane.strip_prefix = mount.encode() if strip else b""
        plane.prefix_line = header_line(mount) if strip else b""
        if restored is not None:
            plane.apply(restored, durable=False)
        self._rebuild()
        return True

    def apply(self, name: str, table: RoutingTable) -> bool:
        plane = self.planes[name]
        served = bool(plane.table.revisions)
        changed = plane.apply(table)  # its swap remarks the planes
        if plane is self.front and bool(table.revisions) != served:
            self._rebuild()  # the front now takes the hosts nobody claims, or leaves them
        return changed

    def remove(self, name: str) -> bool:
        """The service leaves: its routes go, its backends drain; False if it was not here."""
        if name not in self.sites:
            return False
        if self.folder is not None:
            try:
                os.unlink(self._file(name))
            except FileNotFoundError:
                pass
            _sync_dir(self.folder)
        del self.sites[name], self.configs[name]
        self.planes.pop(name).remove()
        self._rebuild()
        return True

    def _rebuild(self) -> None:
        if not self.sites:
            self.hosts = None
        else:
            sites = list(self.sites.values())
            claimed = any(not s.hosts and normal(s.path_prefix) == "/" for s in sites)
            if self.front.table.revisions and not claimed:
                sites.append(Site(self.front.service))
            self.hosts = HostTable(sites)
        for plane in self.front.planes:  # a removed one's clients ask again, whatever comes
            plane.sites = self if self.hosts is not None or plane.removed else None
        self.remark()

    def remark(self) -> None:
        """Each plane's `marks`, what the head scan flags. A head is scanned before its
        service is known: while several share the listener, what any of them looks at
        (a wider net never misses; a false alarm costs a look), so the scan need not run
        again once the service is picked."""
        planes = self.front.planes
        every = merged([p.routes.marks for p in planes if p.sites is not None])
        for plane in planes:
            plane.marks = every if plane.sites is not None else plane.routes.marks

    def _check_conflicts(self, sites: dict[str, Site], configs: dict[str, str]) -> None:
        try:
            HostTable(list(sites.values()))
        except UsageError as e:
            named = [f"{n} ({configs[n]})" if configs.get(n) else n
                     for n in sites if re.search(rf"\b{re.escape(n)}\b", str(e))]
            raise SiteConflict(f"{e}" + (f": {', '.join(named)}" if named else "")) from None

    # -- durability and handover ----------------------------------------------
    def _file(self, name: str) -> str:
        return os.path.join(self.folder or "", name + ".json")

    def _save(self, name: str, site: Site, config: str, table: RoutingTable) -> None:
        if self.folder is None:
            return
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        write_atomic(self._file(name), json.dumps(_entry(site, config, table)) + "\n")

    def snapshot(self) -> dict[str, Any]:
        return {name: _entry(site, self.configs[name], self.planes[name].table)
                for name, site in self.sites.items()}

    def restore(self, saved: dict[str, Any]) -> None:
        """Registered services as snapshot() or load() gave them, tables in force at once."""
        for name, entry in saved.items():
            site, config, table = _parse(name, entry, "saved services")
            self.register(name, site, config, restored=table)

    def listing(self) -> dict[str, Any]:
        return {"default": self.front.service,
                "default_routed": self.hosts is None or any(
                    service == self.front.service for _, service in self.hosts.anyhost),
                "unknown_host": self.front.unknown_host,
                "services": {name: {"hosts": list(site.hosts), "path_prefix": site.path_prefix,
                                    "strip_path_prefix": site.strip_prefix,
                                    "config": self.configs[name] or None,
                                    "version": self.planes[name].table.version}
                             for name, site in sorted(self.sites.items())}}


def load(folder: str) -> dict[str, Any]:
    """Every saved service in `folder` ({} if there is none); a clear error if one is damaged."""
    try:
        names = sorted(f for f in os.listdir(folder) if f.endswith(".json"))
    except FileNotFoundError:
        return {}
    saved = {}
    for file in names:
        path = os.path.join(folder, file)
        try:
            with open(path, "rb") as f:
                entry = json.loads(f.read())
            _parse(file[:-5], entry, path)
        except (OSError, ValueError, UsageError, TableError) as e:
            raise UsageError(f"{path}: a saved service of this proxy is damaged ({e}); fix or "
                             f"remove it (the service then registers again at its next "
                             f"`zerodown up`)") from None
        saved[file[:-5]] = entry
    return saved


def site_from(name: str, body: Any) -> tuple[Site, str]:
    """PUT /services/NAME's body: {"hosts": [...], "path_prefix": "/", "strip_path_prefix":
    true, "config": "..."} (a saved service without strip_path_prefix: true, the default)."""
    if not isinstance(body, dict):
        raise UsageError('expected {"hosts": ["shop.example.com"], "path_prefix": "/"}')
    unknown = sorted(set(body) - {"hosts", "path_prefix", "strip_path_prefix", "config"})
    if unknown:
        raise UsageError(f"unknown key {unknown[0]!r} (valid: hosts, path_prefix, "
                         f"strip_path_prefix, config)")
    hosts, prefix, config = body.get("hosts", []), body.get("path_prefix", "/"), body.get("config", "")
    strip = body.get("strip_path_prefix", True)
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise UsageError("hosts: a list of host names, e.g. [\"shop.example.com\", \"*.example.com\"]")
    if not isinstance(prefix, str) or not isinstance(config, str):
        raise UsageError("path_prefix and config are strings")
    if not isinstance(strip, bool):
        raise UsageError(f"strip_path_prefix: true (the backend sees paths without the "
                         f"prefix) or false (unchanged), got {json.dumps(strip)}")
    site = Site(name, tuple(h.strip().lower().rstrip(".") for h in hosts), prefix, strip)
    check_site(name, site)
    return site, config


def _entry(site: Site, config: str, table: RoutingTable) -> dict[str, Any]:
    return {"hosts": list(site.hosts), "path_prefix": site.path_prefix,
            "strip_path_prefix": site.strip_prefix, "config": config,
            "table": table_json.to_dict(table)}


def _parse(name: str, entry: Any, where: str) -> tuple[Site, str, RoutingTable]:
    if not isinstance(entry, dict) or "table" not in entry:
        raise UsageError(f"{where}: service {name}: expected hosts, path_prefix, config, table")
    site, config = site_from(name, {k: v for k, v in entry.items() if k != "table"})
    return site, config, table_json.from_dict(entry["table"])


def _sync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
