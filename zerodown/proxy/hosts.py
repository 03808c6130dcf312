"""Which service a request belongs to, on a listener several services share (issue 16.2).

Pure: services.py builds one from the registered services' sites and asks it
once per request head while several services share the listener.

    sites = HostTable([Site("shop", ("shop.example.com", "*.shop.example.com")),
                       Site("api", ("example.com",), "/api"),
                       Site("www", ("example.com",))])
    sites.pick(b"example.com:443", b"/api/v1?x=1")  -> "api"
    sites.pick(b"nope.test", b"/")                  -> None (the proxy answers 404)

Host first: an exact name, else the longest `*.suffix` that matches (any depth,
as nginx does: `*.example.com` takes `a.b.example.com`), else the sites that
name no host. Then, among that host's sites, the longest path prefix that
matches on a segment boundary (`/api` takes `/api`, `/api/x` and `/api?q`,
never `/apix`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from zerodown.errors import UsageError
from zerodown.proxy.prefix import normal


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # a service's: a file and URL segment
HOST = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z",
                  re.I)


@dataclass(frozen=True)
class Site:
    service: str
    hosts: tuple[str, ...] = ()  # exact names or "*.suffix"; (): any host no other site names
    path_prefix: str = "/"
    # the backend sees the path without path_prefix (kamal-proxy's default), told it in
    # X-Forwarded-Prefix (prefix.py); False: the path goes unchanged
    strip_prefix: bool = True


def check_site(name: str, site: Site) -> None:
    if not NAME.match(name):
        raise UsageError(f"service name {name!r}: letters, digits, '_', '.', '-' "
                         f"(at most 64, starting with a letter or digit)")
    for host in site.hosts:
        if not HOST.match(host):
            raise UsageError(f"host {host!r} of service {name}: a host name like "
                             f"shop.example.com or *.example.com")
    if not site.path_prefix.startswith("/") or any(c in site.path_prefix for c in " ?#"):
        raise UsageError(f"path prefix {site.path_prefix!r} of service {name}: a path "
                         f"starting with /, without spaces, ? or #")


def _norm_host(host: bytes) -> bytes:
    """`Shop.Example.com.:8443` -> `shop.example.com` (an IPv6 literal keeps its brackets)."""
    host = host.strip().lower()
    if host.startswith(b"["):
        return host[:host.find(b"]") + 1]
    return host.partition(b":")[0].rstrip(b".")


def _prefix_matches(prefix: bytes, path: bytes) -> bool:
    if prefix == b"/":
        return True
    if not path.startswith(prefix):
        return False
    return len(path) == len(prefix) or path[len(prefix)] in b"/?#" or prefix.endswith(b"/")


class HostTable:
    def __init__(self, sites: Sequence[Site]):
        # per host key: (prefix, service), longest prefix first
        self.exact: dict[bytes, list[tuple[bytes, str]]] = {}
        self.wildcard: dict[bytes, list[tuple[bytes, str]]] = {}  # b".example.com" for *.example.com
        self.anyhost: list[tuple[bytes, str]] = []
        seen: dict[tuple[str, bytes], str] = {}
        for site in sites:
            prefix = normal(site.path_prefix)
            if not site.path_prefix.startswith("/"):
                raise UsageError(f"service {site.service}: path prefix {site.path_prefix!r} "
                                 f"must start with /")
            p = prefix.encode()
            for name in site.hosts or ("",):
                low = name.strip().lower().rstrip(".")
                other = seen.setdefault((low, p), site.service)
                if other != site.service:
                    raise UsageError(f"services {other} and {site.service} both claim host "
                                     f"{low or '(any)'} with path prefix {prefix}")
                if not low:
                    self.anyhost.append((p, site.service))
                elif low.startswith("*."):
                    self.wildcard.setdefault(low[1:].encode(), []).append((p, site.service))
                else:
                    self.exact.setdefault(low.encode(), []).append((p, site.service))
        for table in (*self.exact.values(), *self.wildcard.values(), self.anyhost):
            table.sort(key=lambda entry: -len(entry[0]))
        self.suffixes = sorted(self.wildcard, key=len, reverse=True)

    def pick(self, host: bytes | None, path: bytes) -> str | None:
        """The service for this Host header value and request target; None: no site (404)."""
        candidates = self._by_host(_norm_host(host) if host else b"")
        for prefix, service in candidates:
            if _prefix_matches(prefix, path):
                return service
        return None

    def _by_host(self, host: bytes) -> list[tuple[bytes, str]]:
        found = self.exact.get(host)
        if found is not None:
            return found
        for suffix in self.suffixes:
            if host.endswith(suffix) and len(host) > len(suffix):
                return self.wildcard[suffix]
        return self.anyhost
