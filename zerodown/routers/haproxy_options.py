"""The `haproxy` router's options (`router: {kind: haproxy, ...}`), checked.

`zerodown validate` runs parse_options (config_checks.option_checks) and so does
HAProxyRouter when it is built; OPTIONS is also what docs/config.md lists.
"""

from __future__ import annotations

from typing import Any

from zerodown.errors import ConfigError
from zerodown.schema import Invalid, duration, integer

OPTIONS = {"socket": "path of the stats socket of an HAProxy to drive (attach mode)",
           "backend": "the backend to manage in attach mode",
           "lanes": "backends made ready for revisions side by side (1..64, default 4)",
           "binary": "the haproxy executable (default: haproxy on PATH)",
           "response_timeout": "an instance's wait for a response (timeout server, default "
                               "120s); past it an idempotent request is tried on another",
           "connect_timeout": "an instance's TCP connect (timeout connect, default 2s)"}


def parse_options(options: dict[str, Any], file: str | None = None) -> dict[str, Any]:
    """router: options, checked; a ConfigError names `router.<key>` and what is valid."""
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(why, file=file, key=f"router.{key}")
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
    try:
        out["lanes"] = integer(1, 64).parse(out.get("lanes", 4))
    except Invalid as e:
        raise bad("lanes", str(e)) from None
    for key in ("response_timeout", "connect_timeout"):
        if key in out:
            try:
                out[key] = duration(0.01, 24 * 3600).parse(out[key])
            except Invalid as e:
                raise bad(key, str(e)) from None
    return out
