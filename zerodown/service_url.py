"""Where a person reaches the service: the address `status`, the dashboard and `up` show.

Alone on its listener, the service answers any request there: `http://LISTEN`. On a shared
embedded proxy (docs/proxy.md, "Several services") the proxy picks the service by the
request's Host and path prefix, so the listener's bare address gets its 404; the address
that reaches the service names one of its hosts and its prefix:
`http://shop.example.com:8080/shop/`. With only `*.` hosts no single name is the service's:
the listener, plus the Host to send (`curl -H 'Host: x.shop.example.com' http://...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from zerodown.proxy.prefix import normal

# A listener on every address is reached on this machine at the loopback one.
_LOCAL = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}
_DEFAULT_PORT = {"http": "80", "https": "443"}


@dataclass(frozen=True)
class ServiceUrl:
    url: str
    host_header: str | None = None  # the Host to send to `url` (only wildcard hosts); None: none

    def text(self) -> str:
        if self.host_header is None:
            return self.url
        return (f"{self.url} with Host: {self.host_header} (its hosts are all wildcards: "
                f"`curl -H 'Host: {self.host_header}' {self.url}`)")


def shared_site(router_kind: str, options: Mapping[str, Any]) -> tuple[tuple[str, ...], str] | None:
    """On a shared embedded proxy: (the service's host names, its path prefix); else None."""
    if router_kind != "embedded" or not options.get("shared"):
        return None
    return tuple(str(h) for h in options.get("hosts") or ()), str(options.get("path_prefix")
                                                                   or "/")


def named_host(hosts: tuple[str, ...]) -> str | None:
    """A Host name the service answers: its first exact one, else one its first wildcard
    covers (`*.example.com` -> `x.example.com`); None when it names none (it takes any)."""
    exact = next((h for h in hosts if not h.startswith("*.")), None)
    return exact if exact is not None or not hosts else "x" + hosts[0][1:]


def service_url(listen: str, scheme: str, router_kind: str,
                options: Mapping[str, Any]) -> ServiceUrl:
    """The address that reaches the service through its load balancer's `listen`."""
    site = shared_site(router_kind, options)
    if site is None:
        return ServiceUrl(f"{scheme}://{listen}")
    hosts, prefix = site
    path = prefix.rstrip("/") + "/"
    addr, _, port = listen.rpartition(":")
    name = named_host(hosts)
    if name is not None and name in hosts:  # an exact name: the URL says it
        shown_port = "" if _DEFAULT_PORT.get(scheme) == port else f":{port}"
        return ServiceUrl(f"{scheme}://{name}{shown_port}{path}")
    # no name (it takes any host) or only wildcards (send one of theirs): the listener here
    return ServiceUrl(f"{scheme}://{_LOCAL.get(addr, addr)}:{port}{path}", name)


def hook_address(listen: str, scheme: str, router_kind: str,
                 options: Mapping[str, Any]) -> tuple[str, str]:
    """(url, host): where a hook on this machine reaches the service through `listen`, and
    the Host header to send there (hooks' ZERODOWN_URL and ZERODOWN_HOST).

    Alone on its listener: `scheme://LISTEN` and LISTEN. On a shared proxy the URL is the
    listener's loopback address and the prefix (`http://127.0.0.1:8080/api`, no final
    slash: `$ZERODOWN_URL/healthz`), which needs no DNS, and the Host is one of the
    service's names with the port (what service_url shows): the proxy picks the service by
    it. Never empty: `curl -H "Host: "` would send no Host at all (a 400)."""
    site = shared_site(router_kind, options)
    if site is None:
        return f"{scheme}://{listen}", listen
    hosts, prefix = site
    addr, _, port = listen.rpartition(":")
    here = f"{_LOCAL.get(addr, addr)}:{port}"
    mount = normal(prefix)
    name = named_host(hosts)
    shown_port = "" if _DEFAULT_PORT.get(scheme) == port else f":{port}"
    return (f"{scheme}://{here}{'' if mount == '/' else mount}",
            f"{name}{shown_port}" if name is not None else here)


def config_url(cfg) -> ServiceUrl:
    """service_url of a ServiceConfig: https when it has `tls:`."""
    return service_url(cfg.listen, "https" if cfg.tls else "http", cfg.router.kind,
                       cfg.router.options)
