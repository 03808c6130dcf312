"""`zerodown validate` with a shared embedded proxy on router.host
(`router: {kind: embedded, host: lb1, shared: edge, hosts: [...]}`): the services already
registered there are read on that host (one read-only command over the ssh runtime's
connection) and judged as those of a shared proxy on this machine are at every load
(routers/shared_registry.py). A conflict is a configuration error naming the key and the
other zerodown.yaml; a host that does not answer is a warning naming it, not an error:
validate also runs offline, and `up` is refused by the proxy itself on a conflict.
"""

from __future__ import annotations

from zerodown.config import ServiceConfig, raise_errors
from zerodown.errors import ZerodownError
from zerodown.schema_sections import Context

ASK_TIMEOUT = 10.0  # s for the command there, once connected (runtime.connect_timeout first)


def check_remote_shared(ctl, cfg: ServiceConfig) -> str | None:
    """ConfigError for a conflict with a service on the shared proxy on router.host; a
    warning when that host could not be asked; None when it was, or nothing is to ask."""
    host = cfg.router.host
    if cfg.router.kind != "embedded" or host is None or not cfg.router.options.get("shared"):
        return None
    from zerodown.routers import EMBEDDED_DIR, on_host
    from zerodown.routers.embedded_options import parse_options
    from zerodown.routers.shared_registry import conflicts, read_on
    options = parse_options(cfg.router.options, file=cfg.file, lines=cfg.lines)
    runtime = ctl.runtime(cfg)
    name = f"{options.shared} on {host}"
    folder = on_host(runtime.router_dir(cfg.service, options.shared), EMBEDDED_DIR)
    try:
        runtime.host_named(host)  # an ssh_config Host outside runtime.hosts: known from now
        found = read_on(runtime.connections, host, folder,
                        min(ASK_TIMEOUT, runtime.options.command_timeout))
    except ZerodownError as e:
        return (f"router.host {host} was not asked which services shared proxy {name} "
                f"holds ({e}); a host or path prefix another zerodown.yaml holds there is "
                f"refused at `zerodown up`")
    finally:
        runtime.close()
    ctx = Context(cfg.file, cfg.lines)
    for key, why in conflicts(cfg.service, options, cfg.listen, cfg.file or "zerodown.yaml",
                              found, name):
        ctx.error(key, why)
    if ctx.errors:
        raise_errors(ctx.errors)
    return None
