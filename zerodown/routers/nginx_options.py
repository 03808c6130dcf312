"""`router: {kind: nginx, ...}` options, checked with errors that name `router.<key>`.

    router: {kind: nginx}                                     # managed: zerodown runs nginx
    router: {kind: nginx, workers: 2, keepalive_timeout: 75s}   # client keep-alive on
    router: {kind: nginx, config: /etc/nginx/zerodown/shop.conf, pid_file: /run/nginx.pid}

Managed mode (no `config`): zerodown writes a whole nginx.conf in its state
directory and runs its own nginx master. Attach mode (`config` and `pid_file`):
zerodown writes only the http-level file at `config` (the user's nginx.conf
includes it inside `http { }`) and reloads the master named by `pid_file`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from zerodown.schema import Invalid, duration, integer, parse_duration, shown
from zerodown.schema_sections import driver_options, refuse_managed_only


@dataclass(frozen=True)
class NginxOptions:
    workers: str = "auto"                 # worker_processes
    worker_connections: int = 4096
    worker_shutdown_timeout: float = 30.0  # bounds a drain: old workers are cut after this
    # Idle client keep-alive. 0 by default: a reload closes idle client connections, and a
    # client that sends on one at that instant and does not retry loses that request (2-4 per
    # reload); without keep-alive none is lost, at a cost in throughput (benchmarks/README.md,
    # nginx_reload.py). Clients that retry (browsers, urllib3) lose nothing with 75s either.
    keepalive_timeout: float = 0.0
    keepalive_requests: int = 10000
    upstream_keepalive: int = 64          # idle connections kept per revision and worker
    upstream_keepalive_timeout: float = 60.0
    nginx: str = "nginx"                  # the binary
    config: str | None = None             # attach mode: the include file zerodown writes
    pid_file: str | None = None           # attach mode: the running master's pid file
    main_config: str | None = None        # attach mode: what `nginx -t -c` checks
    # An instance that answers no first byte within this (its host cut off) has the request
    # tried on the next one of its revision (idempotent requests only: nginx's rule).
    response_timeout: float = 60.0        # proxy_read_timeout
    connect_timeout: float = 3.0          # proxy_connect_timeout
    # A client's pause between two reads of its request body, then 408: nginx's own
    # client_body_timeout (60s when left out), the embedded proxy's --body-timeout
    body_timeout: float | None = None     # client_body_timeout

    @property
    def attached(self) -> bool:
        return self.config is not None


def _workers(v: Any) -> str:
    if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 256):
        return str(v)
    raise Invalid(f'must be "auto" or a number of worker processes from 1 to 256, got {shown(v)}')


def _seconds(v: Any) -> float:
    seconds = parse_duration(v)
    if seconds > 24 * 3600:
        raise Invalid(f"must be at most 24h, got {shown(v)}")
    return seconds


def _path(v: Any) -> str:
    if not isinstance(v, str) or not v.strip() or any(c in v for c in "\n\r\0;{}"):
        raise Invalid(f"must be a file path, got {shown(v)}")
    return v


PARSERS = {
    "workers": _workers, "worker_connections": integer(16, 1_000_000).parse,
    "worker_shutdown_timeout": _seconds, "keepalive_timeout": _seconds,
    "keepalive_requests": integer(1, 10_000_000).parse,
    "upstream_keepalive": integer(0, 100_000).parse,
    "upstream_keepalive_timeout": _seconds, "nginx": _path, "config": _path,
    "pid_file": _path, "main_config": _path,
    "response_timeout": duration(0.01, 24 * 3600).parse,
    "connect_timeout": duration(0.01, 24 * 3600).parse,
    "body_timeout": duration(0.01, 24 * 3600).parse,
}


# Keys other routers take that nginx cannot honour: said so, not "unknown option"
UNLIKE_NGINX = {
    "queue_timeout": "nginx (open source) has no upstream queue: a request no instance can "
                     "take is answered at once (502), so there is no wait to bound (the "
                     "`queue` directive is NGINX Plus only); leave it out, or use kind "
                     "embedded or haproxy for a bounded queue",
    "max_conns_per_backend": "not rendered for nginx: its `max_conns` without a queue (NGINX "
                             "Plus only) answers 502 at the bound instead of waiting; leave it "
                             "out, or use kind embedded or haproxy",
}


# Managed mode only: attach mode writes an http-level include file, and these are
# directives of the whole nginx.conf, which is yours then
_YOURS = ("your nginx.conf says {} (zerodown writes only an http-level file there, and "
          "renders it only for an nginx it runs)")
MANAGED_ONLY = {key: _YOURS.format(directive) for key, directive in (
    ("workers", "worker_processes"), ("worker_connections", "worker_connections"),
    ("worker_shutdown_timeout", "worker_shutdown_timeout"))}


def parse_options(options: Mapping[str, Any], *, file: str | None = None,
                  lines: Mapping[str, int] | None = None) -> NginxOptions:
    """NginxOptions from `router:` options; a ConfigError naming router.<key> otherwise."""
    values, error = driver_options("router", "nginx", PARSERS, options, file=file, lines=lines,
                                   refused=UNLIKE_NGINX)
    if ("config" in values) != ("pid_file" in values):
        missing = "pid_file" if "config" in values else "config"
        raise error(missing, "attach mode needs both router.config (the file zerodown writes, "
                             "included in your nginx.conf's http block) and router.pid_file "
                             "(your nginx master's pid file)")
    refuse_managed_only(values, "config", MANAGED_ONLY, error)
    if "main_config" in values and "config" not in values:
        raise error("main_config", "only used in attach mode (with router.config and "
                                   "router.pid_file); managed mode checks its own nginx.conf")
    return NginxOptions(**values)
