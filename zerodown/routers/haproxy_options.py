"""The `haproxy` router's options (`router: {kind: haproxy, ...}`), checked.

`zerodown validate` runs parse_options (config_checks.option_checks) and so does
HAProxyRouter when it is built; OPTIONS is also what docs/config.md lists.
"""

from __future__ import annotations

from typing import Any

from zerodown.errors import ConfigError
from zerodown.schema import Invalid, duration, integer
from zerodown.schema_sections import refuse_managed_only, refuse_unlike

OPTIONS = {"socket": "path of the stats socket of an HAProxy to drive (attach mode)",
           "backend": "the backend to manage in attach mode",
           "lanes": "backends made ready for revisions side by side (1..64, default 4)",
           "binary": "the haproxy executable (default: haproxy on PATH)",
           "response_timeout": "an instance's wait for a response (timeout server, default "
                               "120s); past it an idempotent request is tried on another",
           "connect_timeout": "an instance's TCP connect (timeout connect, default 2s)",
           "max_conns_per_backend": "connections to one instance at most (server maxconn; "
                                    "default: no bound); more requests queue in HAProxy",
           "queue_timeout": "a request's wait in that queue (timeout queue, default 10s); "
                            "past it, 503"}
# Managed mode only: attach mode (router.socket) drives the servers of your backend over
# its stats socket, so an option that goes into the configuration zerodown renders, or into
# running HAProxy, would do nothing there; refused, saying where it is set instead.
_YOURS = "your HAProxy's configuration says {} (zerodown renders it only for an HAProxy it runs)"
MANAGED_ONLY = {
    "max_conns_per_backend": _YOURS.format("each server's maxconn"),
    "queue_timeout": _YOURS.format("timeout queue"),
    "response_timeout": _YOURS.format("timeout server"),
    "connect_timeout": _YOURS.format("timeout connect"),
    "lanes": "zerodown adds its servers to your one backend (router.backend); lanes are "
             "backends it renders only for an HAProxy it runs",
    "binary": "zerodown never runs HAProxy then: it drives yours over router.socket",
}


# Keys other routers take that HAProxy cannot honour: said so, not "unknown option"
UNLIKE_HAPROXY = {
    "body_timeout": "HAProxy has no timeout for a client's pause mid-body alone: `timeout "
                    "client` bounds every client-side inactivity (idle keep-alive, a slow "
                    "reader too; 60s as zerodown renders it) and `timeout http-request` the "
                    "whole request as total time, not a pause; leave it out, or use kind "
                    "embedded or nginx (client_body_timeout)",
}


def parse_options(options: dict[str, Any], file: str | None = None) -> dict[str, Any]:
    """router: options, checked; a ConfigError names `router.<key>` and what is valid."""
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(why, file=file, key=f"router.{key}")
    refuse_unlike(options, UNLIKE_HAPROXY, bad)
    for key in options:
        if key not in OPTIONS:
            raise bad(key, f"unknown option for kind haproxy; valid: {', '.join(OPTIONS)}")
    out = dict(options)
    for key in ("socket", "backend", "binary"):
        if key in out and (not isinstance(out[key], str) or not out[key]):
            raise bad(key, f"must be a non-empty string ({OPTIONS[key]}), got {out[key]!r}")
    if ("socket" in out) != ("backend" in out):
        missing = "backend" if "socket" in out else "socket"
        raise bad(missing, "attach mode needs both router.socket and router.backend")
    refuse_managed_only(out, "socket", MANAGED_ONLY, bad)
    try:
        out["lanes"] = integer(1, 64).parse(out.get("lanes", 4))
    except Invalid as e:
        raise bad("lanes", str(e)) from None
    if "queue_timeout" in out and "max_conns_per_backend" not in out:
        raise bad("queue_timeout", "HAProxy queues a request only behind an instance at its "
                                   "maxconn: add router.max_conns_per_backend")
    if "max_conns_per_backend" in out:
        try:
            out["max_conns_per_backend"] = integer(1, 1_000_000).parse(
                out["max_conns_per_backend"])
        except Invalid as e:
            raise bad("max_conns_per_backend", str(e)) from None
    for key in ("response_timeout", "connect_timeout", "queue_timeout"):
        if key in out:
            try:
                out[key] = duration(0.01, 24 * 3600).parse(out[key])
            except Invalid as e:
                raise bad(key, str(e)) from None
    return out
