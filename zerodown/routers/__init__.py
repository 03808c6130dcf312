"""Load balancers made to match a routing table: the `embedded` proxy (HAProxy, nginx later).

    router = router_for(config, state_dir)   # a Router (zerodown.protocols)
"""

from __future__ import annotations

import os

from zerodown.config import ServiceConfig
from zerodown.errors import UsageError
from zerodown.routers.embedded import EmbeddedRouter

__all__ = ["EmbeddedRouter", "router_for"]


def router_for(config: ServiceConfig, state_dir: str | os.PathLike):
    """The router `config.router.kind` names, for the service's listener, state in `state_dir`."""
    if config.router.kind == "embedded":
        from zerodown.routers.embedded_options import parse_options
        options = parse_options(config.router.options, file=config.file, lines=config.lines)
        return EmbeddedRouter(state_dir, config.listen, service=config.service,
                              args=(["--metrics", options.metrics] if options.metrics else [])
                              + (config.tls.proxy_args() if config.tls else []),
                              metrics_token_env=options.metrics_token_env)
    if config.router.kind == "nginx":
        from zerodown.routers.nginx import NginxRouter
        from zerodown.routers.nginx_options import parse_options
        return NginxRouter(os.path.join(state_dir, "nginx"), config.listen,
                           service=config.service,
                           options=parse_options(config.router.options, file=config.file,
                                                 lines=config.lines), tls=config.tls)
    if config.router.kind == "haproxy":
        from zerodown.routers.haproxy import HAProxyRouter
        return HAProxyRouter(os.path.join(state_dir, "haproxy"), config.listen,
                             service=config.service, options=config.router.options,
                             config_file=config.file, reserve=expected_shape(config),
                             tls=config.tls)
    raise UsageError(f"router kind {config.router.kind!r} is not available yet "
                     f"(available: embedded, nginx, haproxy)")


def expected_shape(config: ServiceConfig):
    """What the configured strategy will ask of a load balancer whose shape is fixed at
    start (HAProxy): the headers and cookies its rules read, and its sticky split."""
    from zerodown.routers.haproxy_render import Shape, rule_source
    strategy = config.strategy
    sources: list[tuple[str, str]] = []
    if getattr(strategy, "preview_header", None):
        sources.append(("header", strategy.preview_header))
    for m in getattr(strategy, "match", ()):
        source = rule_source(m)
        if source not in sources:
            sources.append(source)
    return Shape(0, tuple(sources), getattr(strategy, "sticky", None))
