"""`router: {kind: embedded, ...}` options, checked with errors that name `router.<key>`.

    router: embedded                                        # the proxy, admin on a unix socket
    router: {kind: embedded, metrics: 127.0.0.1:9464}       # + a read-only /metrics for Prometheus
    router: {kind: embedded, metrics: 127.0.0.1:9464, metrics_token_env: ZD_METRICS_TOKEN}
    router: {kind: embedded, http2_prior_knowledge: true}   # h2c on the plain listener
    router: {kind: embedded, shared: edge, hosts: [shop.example.com], path_prefix: /}

    router: {kind: embedded, host: lb1, python: /opt/zerodown/bin/python}  # on a fleet host

`python` (with router.host) is the interpreter that runs the proxy there: it needs the
proxy's modules (uvloop, httptools, google-re2); zerodown's own code is uploaded.
`metrics_token_env` names a variable of the controller's environment whose value the
scraper must send as a bearer token; it is handed to the proxy in its environment, never
on its command line (which `ps` shows) nor in a file.

`shared: NAME`: one proxy for every zerodown.yaml naming it (several services on one
listener, docs/proxy.md), each reached by `hosts` (exact or `*.example.com`; none: any
host no other service names) and `path_prefix` (default /), as kamal-proxy's `deploy
--host --path-prefix`; its backends get paths without the prefix (and X-Forwarded-Prefix)
unless `strip_path_prefix: false`, as kamal-proxy's `--strip-path-prefix`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

from zerodown.errors import UsageError
from zerodown.proxy.hosts import HOST, NAME, Site, check_site
from zerodown.schema import ENV_NAME, Invalid, address, boolean, duration, integer, shown, text
from zerodown.schema_sections import driver_options


@dataclass(frozen=True)
class EmbeddedOptions:
    metrics: str | None = None  # HOST:PORT of the proxy's read-only /metrics listener
    metrics_token_env: str | None = None  # the controller's variable holding its bearer token
    python: str | None = None  # the interpreter on router.host (default python3)
    http2_prior_knowledge: bool = False  # serve HTTP/2 to clients that open with its preface
    shared: str | None = None  # the proxy several zerodown.yaml files share, by name
    hosts: tuple[str, ...] | None = None  # this service's host names on the shared proxy
    path_prefix: str | None = None  # and its path prefix (None: /)
    strip_path_prefix: bool = True  # its backends see paths without the prefix (kamal-proxy's)
    # A backend's silence: to its first byte after the last request byte it took (past it,
    # ejected and an idempotent request retried elsewhere), and between two response reads
    # (past it, the response is cut); the proxy's default: 60s.
    response_timeout: float | None = None
    connect_timeout: float | None = None  # a backend's TCP connect (the proxy's default: 3s)
    # A request's wait for a backend connection (a full pool); then another backend, else 503,
    # never an ejection (the proxy's default: 3s)
    queue_timeout: float | None = None
    max_conns_per_backend: int | None = None  # the pool's bound (the proxy's default: 64)
    # A client's pause mid-body while its backend took all it was given; then 408, the
    # backend not blamed (the proxy's default: 60s)
    body_timeout: float | None = None

    def proxy_args(self) -> list[str]:
        """The `zerodown proxy` flags that say the same."""
        return ((["--metrics", self.metrics] if self.metrics else [])
                + (["--http2-prior-knowledge"] if self.http2_prior_knowledge else [])
                + ([f"--response-timeout={self.response_timeout:g}"]
                   if self.response_timeout is not None else [])
                + ([f"--connect-timeout={self.connect_timeout:g}"]
                   if self.connect_timeout is not None else [])
                + ([f"--queue-timeout={self.queue_timeout:g}"]
                   if self.queue_timeout is not None else [])
                + ([f"--max-conns-per-backend={self.max_conns_per_backend}"]
                   if self.max_conns_per_backend is not None else [])
                + ([f"--body-timeout={self.body_timeout:g}"]
                   if self.body_timeout is not None else []))


def _hosts(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(h, str) and HOST.match(h)
                                                   for h in v):
        raise Invalid(f"must be a list of host names like [shop.example.com, "
                      f"'*.example.com'], got {shown(v)}")
    return tuple(h.lower().rstrip(".") for h in v)


def _prefix(v: Any) -> str:
    try:
        check_site("x", Site("x", (), v if isinstance(v, str) else ""))
    except UsageError:
        raise Invalid(f"must be a path starting with / (no spaces, ? or #), got {shown(v)}") \
            from None
    return v


PARSERS = {"metrics": address().parse,
           "metrics_token_env": text(ENV_NAME.pattern, "an environment variable name").parse,
           "python": text(r"^\S{1,1024}$", "an interpreter's name or path on router.host").parse,
           "http2_prior_knowledge": boolean().parse,
           "shared": text(NAME.pattern, "a proxy name: letters, digits, '_', '.', '-'").parse,
           "hosts": _hosts, "path_prefix": _prefix, "strip_path_prefix": boolean().parse,
           "response_timeout": duration(0.01, 24 * 3600).parse,
           "connect_timeout": duration(0.01, 3600).parse,
           "queue_timeout": duration(0.01, 24 * 3600).parse,
           "max_conns_per_backend": integer(1, 1_000_000).parse,
           "body_timeout": duration(0.01, 24 * 3600).parse}


def parse_options(options: Mapping[str, Any], *, file: str | None = None,
                  lines: Mapping[str, int] | None = None) -> EmbeddedOptions:
    """EmbeddedOptions from `router:` options; a ConfigError naming router.<key> otherwise."""
    values, error = driver_options("router", "embedded", PARSERS, options, file=file,
                                   lines=lines)
    if "metrics_token_env" in values and "metrics" not in values:
        raise error("metrics_token_env", "protects the metrics listener: add router.metrics "
                                         "(HOST:PORT)")
    for key in ("hosts", "path_prefix", "strip_path_prefix"):
        if key in values and "shared" not in values:
            raise error(key, "routes this service on a proxy it shares: add router.shared "
                             "(the shared proxy's name)")
    return EmbeddedOptions(**values)


def shared_dir(name: str) -> str:
    """The state directory of shared proxy `name`, the same for every zerodown.yaml naming it:
    $ZERODOWN_SHARED_DIR/NAME, else $XDG_STATE_HOME (~/.local/state)/zerodown/proxies/NAME."""
    base = os.environ.get("ZERODOWN_SHARED_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"),
        "zerodown", "proxies")
    return os.path.join(base, name)
