"""Load balancers made to match a routing table: the `embedded` proxy, HAProxy or nginx.

    router = router_for(config, state_dir)   # a Router (zerodown.protocols)
"""

from __future__ import annotations

import os

from zerodown.config import ServiceConfig
from zerodown.errors import UsageError
from zerodown.hosts.local import LOCAL
from zerodown.protocols import Host

__all__ = ["router_for"]

EMBEDDED_DIR = "proxy"  # the embedded proxy's folder in its host_dir on router.host


def on_host(host_dir: str, name: str) -> str:
    """Folder `name` of a load balancer in its `host_dir` on router.host."""
    return f"{host_dir.rstrip('/')}/{name}"


def router_for(config: ServiceConfig, state_dir: str | os.PathLike, host: Host = LOCAL,
               host_dir: str | None = None):
    """The router `config.router.kind` names, for the service's listener, state in `state_dir`.

    `host`: where the load balancer runs (router.host; the controller gives the ssh
    runtime's host of that name), its files in `host_dir` there; `state_dir` keeps what
    stays on this machine (the lock that makes one controller at a time its writer)."""
    remote = host_dir is not None

    def where(name: str) -> str:
        return on_host(host_dir, name) if host_dir is not None else os.path.join(state_dir, name)
    tls = config.tls
    files: dict[str, str] = {}
    if remote and tls is not None and config.router.kind in ("embedded", "nginx"):
        from zerodown.routers.common import tls_on_host  # copies there, sent at each start
        tls, files = tls_on_host(tls, where("tls"))
    if config.router.kind == "embedded":
        # imported here, as the others: loading a config imports this package (its option
        # checks), and the proxy's client under it costs a command ~20 ms (asyncio)
        from zerodown.routers.embedded import EmbeddedRouter
        from zerodown.routers.embedded_options import parse_options as embedded_options
        from zerodown.routers.embedded_options import shared_dir
        options = embedded_options(config.router.options, file=config.file, lines=config.lines)
        # shared on router.host: host_dir is the shared proxy's there (runtime.router_dir),
        # and the lock that makes one of this machine's controllers at a time change it is
        # here, apart from a proxy of the same name on this machine
        lock_dir = (shared_dir(f"{options.shared}@{host.name}") if remote else
                    shared_dir(options.shared)) if options.shared else state_dir
        return EmbeddedRouter(where(EMBEDDED_DIR) if remote else
                              shared_dir(options.shared) if options.shared else state_dir,
                              config.listen,
                              service=config.service,
                              args=options.proxy_args()
                              + (tls.proxy_args() if tls else []), files=files,
                              metrics_token_env=options.metrics_token_env, host=host,
                              local_dir=lock_dir,
                              python=options.python, shared=options.shared,
                              hosts=options.hosts or (), path_prefix=options.path_prefix or "/",
                              strip_prefix=options.strip_path_prefix,
                              config_file=os.path.abspath(config.file) if config.file else "")
    if config.router.kind == "nginx":
        from zerodown.routers.nginx import NginxRouter
        from zerodown.routers.nginx_options import parse_options as nginx_options
        return NginxRouter(where("nginx"), config.listen,
                           service=config.service,
                           options=nginx_options(config.router.options, file=config.file,
                                                 lines=config.lines), tls=tls, host=host,
                           local_dir=os.path.join(state_dir, "nginx"), files=files)
    if config.router.kind == "haproxy":
        from zerodown.routers.haproxy import HAProxyRouter
        return HAProxyRouter(where("haproxy"), config.listen,
                             service=config.service, options=config.router.options,
                             config_file=config.file, reserve=expected_shape(config),
                             tls=config.tls, host=host,
                             local_dir=os.path.join(state_dir, "haproxy"))
    raise UsageError(f"router kind {config.router.kind!r} is not available yet "
                     f"(available: embedded, nginx, haproxy)")


def expected_shape(config: ServiceConfig):
    """What the configured strategy will ask of a load balancer whose shape is fixed at
    start (HAProxy): the headers and cookies its rules read, and its sticky split."""
    from zerodown.routers.haproxy_render import Shape, rule_source
    strategy = config.strategy
    sources: list[tuple[str, str]] = []
    if header := getattr(strategy, "preview_header", None):
        sources.append(("header", header))
    for m in getattr(strategy, "match", ()):
        source = rule_source(m)
        if source not in sources:
            sources.append(source)
    return Shape(0, tuple(sources), getattr(strategy, "sticky", None))
